import { expect } from 'chai';
import * as path from 'path';
import { MessageStore } from '../../lib/store/message-store';
import { audit } from '../../lib/store/audit';
import type { StoreOptions, RecoveryProgress } from '../../lib/store/options';
import type { PutResult } from '../../lib/common/message';
import { segmentName } from '../../lib/store/segment-file';
import { DISKS, SMALL, readQueue, type StoreEnv } from '../support/store-env';
import { rejectKeelCode } from '../support/reject-code';
import { SimDisk } from '../../lib/io/sim-disk';

/** Files the store holds, lost or damaged by hand (or by a failing file system) while it was closed. */
for (const [diskName, makeEnv] of DISKS) {
  describe(`integrity of the files at open, on the ${diskName}`, function () {
    let env: StoreEnv;
    let store: MessageStore | null = null;
    const open = async (extra: Partial<StoreOptions> = {}) => {
      store = await MessageStore.open(env.dir, { io: env.io, ...SMALL, ...extra });
      return store;
    };
    const close = async () => { await store?.close(); store = null; };
    const clFile = (start: number) => path.join(env.dir, 'commitlog', segmentName(start));
    const cqFile = (topic: string, q: number, start = 0) => path.join(env.dir, 'consumequeue', topic, String(q), segmentName(start));
    const sizeOf = async (file: string) => (await env.io.stat(file))?.size ?? null;
    const cut = async (file: string, size: number) => {
      const h = await env.io.open(file);
      await h.truncate(size);
      await h.datasync();
      await h.close();
    };
    const overwrite = async (file: string, at: number, bytes: Buffer) => {
      const h = await env.io.open(file);
      await h.write(bytes, 0, bytes.length, at);
      await h.datasync();
      await h.close();
    };
    /** 400 messages of ~600 bytes in one queue: segments 0, 64K, 128K, 192K (partly) and a pre-created 256K. */
    const fill = async (n = 400) => {
      const s = await open();
      const acks: PutResult[] = [];
      for (let i = 0; i < n; i++) acks.push(await s.put({ topic: 'A', queueId: 0, body: Buffer.alloc(500, i & 0xff), properties: { i: String(i) } }));
      await close();
      const last = acks[n - 1];
      return { acks, end: last.physicalOffset + last.storeSize };
    };
    const SEG = SMALL.commitLogSegmentSize;

    beforeEach(() => { env = makeEnv(); });
    afterEach(async () => {
      await close();
      env.cleanup();
    });

    it('integrity - a CommitLog segment cut below the durable position: open refuses CORRUPT_STORE naming it, changes nothing; acceptDataLoss cuts the log there and says what went', async () => {
      const { acks, end } = await fill();
      await cut(clFile(3 * SEG), 1000);
      const err = await rejectKeelCode(open(), 'CORRUPT_STORE');
      expect(err.message).to.contain(segmentName(3 * SEG));
      expect(err.message).to.contain('acceptDataLoss');
      // A refused open leaves the evidence as it was (opening would have extended the file).
      expect(await sizeOf(clFile(3 * SEG))).to.equal(1000);
      const r = await audit(env.dir, { io: env.io });
      expect(r.damage.filter((d) => d.kind === 'missing-data').map((d) => d.file)).to.deep.equal([path.join('commitlog', segmentName(3 * SEG))]);

      const s = await open({ acceptDataLoss: true });
      // The segment's first record is the last whole one before the cut.
      const firstOf3 = acks.find((a) => a.physicalOffset === 3 * SEG)!;
      expect(firstOf3.storeSize).to.be.below(1000);
      expect(s.recovery.lostData).to.deep.equal({ from: 3 * SEG + firstOf3.storeSize, to: end, files: [path.join('commitlog', segmentName(3 * SEG))] });
      expect(s.recovery.truncatedBelowDurable).to.equal(true);
      const kept = await readQueue(s, 'A', 0);
      expect(kept.length).to.equal(s.getMaxOffsetInQueue('A', 0));
      expect(kept.map((m) => Number(m.properties['i']))).to.deep.equal([...kept.keys()]);
      const p = await s.put({ topic: 'A', queueId: 0, body: 'next' });
      expect(p.queueOffset).to.equal(kept.length);
      expect(p.physicalOffset).to.equal(3 * SEG + firstOf3.storeSize);
      await close();
      expect((await audit(env.dir, { io: env.io })).damage).to.deep.equal([]);
      expect((await open()).recovery.lostData).to.equal(null);
    });

    it('integrity - deleted tail segments: open refuses CORRUPT_STORE naming the missing file; acceptDataLoss keeps the log below it', async () => {
      const { acks, end } = await fill();
      await env.io.unlink(clFile(4 * SEG));
      await env.io.unlink(clFile(3 * SEG));
      const err = await rejectKeelCode(open(), 'CORRUPT_STORE');
      expect(err.message).to.contain(`${segmentName(3 * SEG)} is missing`);
      const r = await audit(env.dir, { io: env.io });
      expect(r.damage.map((d) => d.kind)).to.include('missing-data');

      const s = await open({ acceptDataLoss: true });
      const before3 = acks.filter((a) => a.physicalOffset < 3 * SEG).length;
      expect(s.recovery.lostData).to.deep.equal({ from: 3 * SEG, to: end, files: [path.join('commitlog', segmentName(3 * SEG))] });
      expect((await readQueue(s, 'A', 0)).length).to.equal(before3);
      expect((await s.put({ topic: 'A', queueId: 0, body: 'next' })).queueOffset).to.equal(before3);
      await close();
      expect((await audit(env.dir, { io: env.io })).damage).to.deep.equal([]);
    });

    it('integrity - every segment deleted: open refuses CORRUPT_STORE; acceptDataLoss starts an empty log and empties the queues', async () => {
      const { end } = await fill(50);
      for (const name of await env.io.readdir(path.join(env.dir, 'commitlog'))) await env.io.unlink(path.join(env.dir, 'commitlog', name));
      await rejectKeelCode(open(), 'CORRUPT_STORE');
      expect((await audit(env.dir, { io: env.io })).damage.map((d) => d.kind)).to.include('missing-data');
      const s = await open({ acceptDataLoss: true });
      expect(s.recovery.lostData).to.include({ from: 0, to: end });
      expect(s.getMaxOffsetInQueue('A', 0)).to.equal(0);
      expect((await s.put({ topic: 'A', queueId: 0, body: 'again' })).queueOffset).to.equal(0);
    });

    it('integrity - acceptDataLoss must be a boolean (OPTION_INVALID, nothing written)', async () => {
      await rejectKeelCode(open({ acceptDataLoss: 'yes' as unknown as boolean }), 'OPTION_INVALID');
      expect(await env.io.stat(env.dir)).to.equal(null);
    });

    it('integrity - a hand-deleted first segment: readers move to the new minimum; a record that cannot be read is CORRUPT_STORE, never OFFSET_MOVED back to the same offset', async () => {
      const { acks } = await fill();
      await env.io.unlink(clFile(0));
      const s = await open();
      const first = acks.findIndex((a) => a.physicalOffset >= SEG);
      const r = await s.getMessages('A', 0, 0, 8);
      expect(r.status).to.equal('OFFSET_MOVED');
      expect(r.nextBeginOffset).to.equal(first);
      expect((await readQueue(s, 'A', 0)).length).to.equal(400 - first);

      // The same file cut under the open store (by hand, or a failing disk): the read must not send the reader back where it was.
      await cut(clFile(SEG), 0);
      let moved: number | null = null;
      try {
        const again = await s.getMessages('A', 0, first, 8);
        moved = again.nextBeginOffset;
      } catch (e) {
        expect((e as { code?: string }).code).to.equal('CORRUPT_STORE');
      }
      expect(moved, 'OFFSET_MOVED to the offset asked: a reader would loop').to.equal(null);
    });

    it('integrity - a ConsumeQueue file cut to 200 bytes is rebuilt at open: every message readable, the next put takes the next queue offset', async () => {
      const s = await open();
      for (let i = 0; i < 25; i++) await s.put({ topic: 'A', queueId: 0, body: `m${i}` });
      // The last record belongs to another queue, so the scan of the log's tail at open does not see queue A.
      await s.put({ topic: 'B', queueId: 0, body: 'last' });
      await close();
      await cut(cqFile('A', 0), 200);
      const s2 = await open();
      expect((await readQueue(s2, 'A', 0)).map((m) => m.body.toString())).to.deep.equal(Array.from({ length: 25 }, (_, i) => `m${i}`));
      expect((await s2.put({ topic: 'A', queueId: 0, body: 'm25' })).queueOffset).to.equal(25);
      expect(s2.recovery.rebuiltQueues).to.deep.equal(['A:0']);
      expect(s2.recovery.rebuildReasons['A:0']).to.match(/200 bytes/);
      await close();
      expect((await audit(env.dir, { io: env.io })).damage).to.deep.equal([]);
    });

    it('integrity - garbage at the start of a ConsumeQueue file, or a first entry pointing elsewhere, is rebuilt at open: no message hidden', async () => {
      const s = await open();
      for (let i = 0; i < 25; i++) await s.put({ topic: 'A', queueId: i % 2, body: `m${i}` });
      await close();
      const bodies = (q: number) => Array.from({ length: 25 }, (_, i) => `m${i}`).filter((_, i) => i % 2 === q);
      await overwrite(cqFile('A', 0), 0, Buffer.alloc(200, 0xab));
      const s1 = await open();
      expect(s1.recovery.rebuiltQueues).to.deep.equal(['A:0']);
      expect(s1.recovery.rebuildReasons['A:0']).to.match(/before its first valid entry/);
      expect((await readQueue(s1, 'A', 0)).map((m) => m.body.toString())).to.deep.equal(bodies(0));
      await close();
      // Entry 0 of queue 1 made to point at queue 0's first record: well formed, but not its message.
      const e = Buffer.alloc(20);
      e.writeInt32BE(await recordSize(env, 0), 8);
      await overwrite(cqFile('A', 1), 0, e);
      const s2 = await open();
      expect(s2.recovery.rebuiltQueues).to.deep.equal(['A:1']);
      expect(s2.recovery.rebuildReasons['A:1']).to.match(/first entry/);
      for (const q of [0, 1]) expect((await readQueue(s2, 'A', q)).map((m) => m.body.toString())).to.deep.equal(bodies(q));
    });

    it('integrity - checking the ConsumeQueues reports progress in the consumequeue phase', async () => {
      const s = await open();
      for (let q = 0; q < 40; q++) await s.put({ topic: 'P', queueId: q, body: 'x' });
      await close();
      // A clock that moves 100 ms each time it is read makes the check "take" long.
      let t = 0;
      const clock = { now: () => (t += 100), setTimeout: () => ({ cancel() { /* services do not run here */ } }) };
      const seen: RecoveryProgress[] = [];
      await open({ clock, onProgress: (p) => seen.push(p) });
      const cq = seen.filter((p) => p.phase === 'consumequeue');
      expect(cq.length).to.be.greaterThan(0);
      for (const p of cq) {
        expect(p.total).to.equal(40);
        expect(p.done).to.be.within(0, 40);
      }
    });
  });
}

/** The size of the record at physical offset 0 (its first 4 bytes). */
async function recordSize(env: StoreEnv, at: number): Promise<number> {
  const h = await env.io.open(path.join(env.dir, 'commitlog', segmentName(0)));
  const b = Buffer.alloc(4);
  await h.read(b, 0, 4, at);
  await h.close();
  return b.readInt32BE(0);
}

describe('integrity - the ConsumeQueue check at a clean open', () => {
  /** ConsumeQueue file reads of a clean open of a store whose one queue holds `n` entries. */
  async function readsAtCleanOpen(n: number): Promise<number> {
    const io = new SimDisk({ dirs: ['/data'] });
    const first = await MessageStore.open('/data/store', { io, ...SMALL });
    for (let i = 0; i < n; i += 256) {
      await Promise.all(Array.from({ length: Math.min(256, n - i) }, () => first.put({ topic: 'A', queueId: 0, body: 'x' })));
    }
    await first.close();
    let reads = 0;
    io.fail({ match: (op) => { if (op.kind === 'read' && op.path.includes('/consumequeue/')) reads++; return false; } });
    const again = await MessageStore.open('/data/store', { io, ...SMALL });
    try {
      expect(again.recovery.clean).to.equal(true);
      expect(again.recovery.rebuiltQueues).to.deep.equal([]);
      expect(again.getMaxOffsetInQueue('A', 0)).to.equal(n);
      return reads;
    } finally {
      await again.close();
    }
  }

  it('integrity - a clean open checks each queue with a few reads, not by reading it: 20 files cost about what 1 does', async () => {
    const short = await readsAtCleanOpen(10);
    // 20 full files of 256 entries; the last one is found by a binary search (8 reads).
    const long = await readsAtCleanOpen(20 * SMALL.consumeQueueEntries);
    expect(long, `${long} reads for 20 files, ${short} for 1`).to.be.at.most(short + 10);
  });
});
