import { expect } from 'chai';
import { rejectKeelCode } from '../support/reject-code';
import { readQueue as readQueueOf } from '../support/store-env';
import { MessageStore } from '../../lib/store/message-store';
import type { PutResult } from '../../lib/common/message';
import { resolveOptions, type StoreOptions } from '../../lib/store/options';
import { FIRST_PASS_DELAY_MS } from '../../lib/store/reaper';
import { audit } from '../../lib/store/audit';
import { VirtualClock } from '../../lib/common/clock';
import { KeelError } from '../../lib/common/errors';
import { SimDisk } from '../../lib/io/sim-disk';
import type { FileHandle, FileIO } from '../../lib/io/file-io';

const HOUR = 3600_000;
const SEG = 4096;
const DIR = '/data/store';
/** Segments of 4 KiB, so a few dozen puts roll several; limits lowered to fit the largest record in one. */
const TINY: Partial<StoreOptions> = { commitLogSegmentSize: SEG, consumeQueueEntries: 16, maxBodySize: 1024, maxPropertiesLength: 512 };

/** A local time on 2024-01-01 (deleteWhen hours are local, as in RocketMQ). */
function localTime(hour: number, minute = 0): number {
  return new Date(2024, 0, 1, hour, minute).getTime();
}

function bodyOf(i: number): Buffer {
  const b = Buffer.alloc(300);
  for (let k = 0; k < b.length; k++) b[k] = (i * 31 + k * 7) & 0xff;
  return b;
}

/** Lets background I/O run until `cond` holds. */
async function until(cond: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 10_000; i++) {
    if (await cond()) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error('condition never became true');
}

const expectCode = rejectKeelCode;

/** Gates reads of files whose path passes `match`: a reader can be held in the middle of a read. */
class GatedIO {
  private gate: Promise<void> | null = null;
  private openGate: (() => void) | null = null;
  held = 0;

  constructor(readonly disk: SimDisk, private readonly match: (p: string) => boolean) {}

  hold(): void { this.gate = new Promise((r) => { this.openGate = r; }); }
  release(): void { this.openGate?.(); this.gate = null; }

  io(): FileIO {
    const d = this.disk;
    return {
      open: async (p, o) => {
        const h = await d.open(p, o);
        return this.match(p) ? this.gated(h) : h;
      },
      readdir: (p) => d.readdir(p), mkdirp: (p) => d.mkdirp(p), stat: (p) => d.stat(p), unlink: (p) => d.unlink(p),
      rmdir: (p) => d.rmdir(p), rename: (a, b) => d.rename(a, b), syncDir: (p) => d.syncDir(p), lock: (p) => d.lock(p),
      statfs: (p) => d.statfs(p),
    };
  }

  private gated(h: FileHandle): FileHandle {
    return {
      ...h,
      read: async (buf, off, len, pos) => {
        const g = this.gate;
        if (g) { this.held++; await g; }
        return h.read(buf, off, len, pos);
      },
    };
  }
}

describe('reaper', () => {
  let clock: VirtualClock;
  let disk: SimDisk;
  let store: MessageStore | null;
  let results: PutResult[];

  /** Store on a SimDisk whose mtimes follow the virtual clock; background intervals stretched so hours of virtual time pass quickly. */
  async function open(extra: Partial<StoreOptions> = {}, start = localTime(10)): Promise<MessageStore> {
    clock ??= new VirtualClock(start);
    disk ??= new SimDisk({ dirs: ['/data'], now: () => clock.now() });
    store = await MessageStore.open(DIR, {
      io: disk, clock, ...TINY,
      asyncFlushIntervalMs: 60_000, asyncFlushThoroughIntervalMs: 60_000, checkpointIntervalMs: 60_000,
      ...extra,
    });
    return store;
  }

  /** Moves virtual time on, then lets the reaper pass it started finish (a pass takes several disk operations). */
  async function advance(ms: number): Promise<void> {
    await clock.advance(ms);
    for (let i = 0; i < 200; i++) await new Promise((r) => setImmediate(r));
  }

  async function reopen(extra: Partial<StoreOptions> = {}): Promise<MessageStore> {
    await store!.close();
    return open(extra);
  }

  /** Puts messages (round robin over `queues`) until `segments` more segments are full, then makes them durable. */
  async function fill(segments: number, queues = 1, topic = 'T'): Promise<PutResult[]> {
    const s = store!;
    const goal = (Math.floor(s.stats().appendOffset / SEG) + segments) * SEG;
    const out: PutResult[] = [];
    for (let i = results.length; s.stats().appendOffset < goal; i++) {
      const r = await s.put({ topic, queueId: i % queues, body: bodyOf(i) });
      out.push(r);
      results.push(r);
    }
    await s.flush();
    return out;
  }

  function segmentFiles(): Promise<string[]> {
    return disk.readdir(`${DIR}/commitlog`);
  }

  function queueFiles(topic: string, queueId: number): Promise<string[]> {
    return disk.readdir(`${DIR}/consumequeue/${topic}/${queueId}`);
  }

  const readQueue = (topic: string, queueId: number) => readQueueOf(store!, topic, queueId, 64);

  /** Every message still stored reads back as put; everything below the CommitLog minimum is gone from every queue. */
  async function expectConsistent(topic = 'T', queues = 1): Promise<void> {
    const s = store!;
    const min = s.stats().minOffset;
    for (let q = 0; q < queues; q++) {
      const mine = results.filter((r) => r.topic === topic && r.queueId === q);
      const kept = mine.filter((r) => r.physicalOffset >= min);
      const got = await readQueue(topic, q);
      expect(got.map((m) => m.queueOffset)).to.deep.equal(kept.map((r) => r.queueOffset));
      for (const m of got) expect(m.body.equals(bodyOf(results.indexOf(results.find((r) => r.physicalOffset === m.physicalOffset)!)))).to.equal(true);
      // The queue's minimum is its first entry at or above the CommitLog minimum.
      expect(s.getMinOffsetInQueue(topic, q)).to.equal(kept.length ? kept[0].queueOffset : s.getMaxOffsetInQueue(topic, q));
    }
  }

  beforeEach(() => {
    // Fresh clock and disk per test; open() makes them.
    (clock as unknown) = undefined;
    (disk as unknown) = undefined;
    store = null;
    results = [];
  });
  afterEach(async () => {
    if (store) await store.close();
  });

  describe('options', () => {
    it('reaper - defaults are RocketMQ\'s', () => {
      const o = resolveOptions();
      expect(o.fileReservedTimeMs).to.equal(72 * HOUR);
      expect(o.deleteWhen).to.equal('04');
      expect([o.diskMaxUsedSpaceRatio, o.diskSpaceCleanForciblyRatio, o.diskSpaceWarningLevelRatio]).to.deep.equal([0.75, 0.85, 0.9]);
      expect(o.cleanResourceIntervalMs).to.equal(10_000);
      expect(o.deleteFileBatchMax).to.equal(10);
      expect(o.destroyMappedFileIntervalForciblyMs).to.equal(120_000);
    });

    it('reaper - bad hours and disordered ratios are OPTION_INVALID', () => {
      for (const bad of ['4;', '24', 'four', '04,05'] as const) {
        expect(() => resolveOptions({ deleteWhen: bad })).to.throw(KeelError).with.property('code', 'OPTION_INVALID');
      }
      expect(() => resolveOptions({ deleteWhen: '04;5;23' })).not.to.throw();
      expect(() => resolveOptions({ deleteWhen: '' })).not.to.throw();
      expect(() => resolveOptions({ diskMaxUsedSpaceRatio: 0.9, diskSpaceCleanForciblyRatio: 0.85 })).to.throw(KeelError).with.property('code', 'OPTION_INVALID');
      expect(() => resolveOptions({ diskSpaceWarningLevelRatio: 1.5 })).to.throw(KeelError).with.property('code', 'OPTION_INVALID');
      expect(() => resolveOptions({ diskMaxUsedSpaceRatio: 0 })).to.throw(KeelError).with.property('code', 'OPTION_INVALID');
      expect(() => resolveOptions({ deleteFileBatchMax: 0 })).to.throw(KeelError).with.property('code', 'OPTION_INVALID');
    });
  });

  describe('commitlog', () => {
    it('reaper - first pass after 60 s, then every cleanResourceIntervalMs', async () => {
      const s = await open();
      await advance(FIRST_PASS_DELAY_MS - 1);
      expect(s.stats().reaper.lastPass).to.equal(null);
      await advance(1);
      expect(s.stats().reaper.lastPass!.at).to.equal(localTime(10, 1));
      await advance(10_000);
      expect(s.stats().reaper.lastPass!.at).to.equal(localTime(10, 1) + 10_000);
    });

    it('reaper - segments older than the retention go at the deleteWhen hour only, oldest first, stopping at the first young one', async () => {
      const s = await open({ deleteWhen: '04;05' });
      await fill(3);
      // 80 h later (a Thursday 18:00): expired, but not the hour.
      await advance(80 * HOUR);
      const young = await fill(2);
      const before = await segmentFiles();
      expect(before.length).to.be.greaterThanOrEqual(6);
      expect(s.stats().minOffset).to.equal(0);
      // To 04:00: the three old segments go; the two written at 18:00 (10 h old) stay, as does everything after them.
      await advance(10 * HOUR + 10_000);
      const pass = s.stats().reaper.lastPass!;
      expect(new Date(pass.at).getHours()).to.equal(4);
      expect(await segmentFiles()).to.deep.equal(before.slice(3));
      expect(s.stats().minOffset).to.equal(3 * SEG);
      expect(s.stats().minOffset).to.be.lessThanOrEqual(young[0].physicalOffset);
      // 05:00 is listed too; 06:00 is not. At 70 h old (still young) nothing more goes.
      await advance(2 * HOUR);
      expect(await segmentFiles()).to.deep.equal(before.slice(3));
      await expectConsistent();
    });

    it('reaper - a segment rewritten recently is young: age is the mtime, and no later segment goes past it', async () => {
      const s = await open({ deleteWhen: '' });
      await fill(4);
      await advance(100 * HOUR);
      // Touch the second segment (a no-op rewrite of its first bytes) so that its mtime is now.
      const h = await disk.open(`${DIR}/commitlog/${String(SEG).padStart(20, '0')}`);
      const b = Buffer.alloc(8);
      await h.read(b, 0, 8, 0);
      await h.write(b, 0, 8, 0);
      await h.close();
      const r = await s.deleteExpired();
      expect(r.deletedSegments).to.deep.equal([0]);
      expect(r.trigger).to.equal('manual');
      expect(r.forced).to.equal(false);
      expect(s.stats().minOffset).to.equal(SEG);
    });

    it('reaper - above diskMaxUsedSpaceRatio expired segments go at any hour; young ones stay', async () => {
      const s = await open();
      await fill(3);
      await advance(73 * HOUR);
      await fill(3);
      // 11:00, not a deleteWhen hour; usage 80 %.
      disk.setSpace({ totalBytes: 1000, freeBytes: 200 });
      await advance(10_000);
      const pass = s.stats().reaper.lastPass!;
      expect(pass.trigger).to.equal('disk');
      expect(pass.forced).to.equal(false);
      expect(pass.deletedSegments).to.deep.equal([0, SEG, 2 * SEG]);
      expect(s.stats().minOffset).to.equal(3 * SEG);
      await advance(60_000);
      expect(s.stats().minOffset).to.equal(3 * SEG);
      await expectConsistent();
    });

    it('reaper - below the thresholds and outside the hours nothing goes, however old', async () => {
      const s = await open();
      await fill(3);
      disk.setSpace({ totalBytes: 1000, freeBytes: 260 }); // 74 %
      // To 03:00 four days on: 89 h old, but the last 04:00 came at 66 h.
      await advance(89 * HOUR);
      expect(s.stats().reaper.lastPass!.trigger).to.equal(null);
      expect(s.stats().minOffset).to.equal(0);
      await advance(HOUR);
      expect(s.stats().reaper.lastPass!.trigger).to.equal('hour');
      expect(s.stats().minOffset).to.equal(3 * SEG);
    });

    it('reaper - above diskSpaceCleanForciblyRatio the oldest go whatever their age, 10 per pass, never the active or pre-created segment', async () => {
      const s = await open();
      await fill(24);
      const files = await segmentFiles();
      const active = Math.floor(s.stats().appendOffset / SEG);
      expect(files.length).to.equal(active + 2); // the active segment and the one pre-created after it
      disk.setSpace({ totalBytes: 1000, freeBytes: 140 }); // 86 %
      await advance(FIRST_PASS_DELAY_MS);
      let pass = s.stats().reaper.lastPass!;
      expect(pass.forced).to.equal(true);
      expect(pass.deletedSegments).to.deep.equal([...Array(10).keys()].map((i) => i * SEG));
      expect(await segmentFiles()).to.deep.equal(files.slice(10));
      await advance(10_000);
      expect(s.stats().reaper.lastPass!.deletedSegments.length).to.equal(10);
      await advance(10_000);
      pass = s.stats().reaper.lastPass!;
      // Only what lies wholly before the active segment.
      expect(pass.deletedSegments).to.deep.equal([...Array(active - 20).keys()].map((i) => (i + 20) * SEG));
      await advance(10_000);
      expect(s.stats().reaper.lastPass!.deletedSegments).to.deep.equal([]);
      expect(await segmentFiles()).to.deep.equal(files.slice(active));
      expect(s.stats().minOffset).to.equal(active * SEG);
      // The store still takes and serves puts, and what is left on disk audits clean.
      await fill(2);
      await expectConsistent();
      await s.close();
      store = null;
      expect((await audit(DIR, { io: disk })).damage).to.deep.equal([]);
    });

    it('reaper - deleteExpired({ force }) deletes young segments now and says what it deleted', async () => {
      const s = await open({ deleteFileBatchMax: 2 });
      await fill(5);
      expect((await s.deleteExpired()).deletedSegments).to.deep.equal([]);
      const r = await s.deleteExpired({ force: true });
      expect(r).to.include({ trigger: 'manual', forced: true, minOffset: 2 * SEG });
      expect(r.deletedSegments).to.deep.equal([0, SEG]);
      expect(s.stats().reaper.commitLogBytes).to.equal((await segmentFiles()).length * SEG);
      await expectConsistent();
    });
  });

  describe('disk full', () => {
    it('reaper - above 90 % every put fails fast with DISK_FULL and writes nothing; the flag clears below 85 %', async () => {
      const s = await open();
      await fill(1);
      disk.setSpace({ totalBytes: 1000, freeBytes: 95 });
      await advance(FIRST_PASS_DELAY_MS);
      expect(s.stats().diskFull).to.equal(true);
      expect(s.stats().reaper.diskUsedRatio).to.be.closeTo(0.905, 1e-9);
      const before = s.stats().appendOffset;
      await expectCode(s.put({ topic: 'T', body: 'x' }), 'DISK_FULL');
      await expectCode(s.putBatch([{ topic: 'T', body: 'x' }]), 'DISK_FULL');
      expect(s.stats().appendOffset).to.equal(before);
      // 87 %: still refused (no flapping between 85 and 90).
      disk.setSpace({ totalBytes: 1000, freeBytes: 130 });
      await advance(10_000);
      expect(s.stats().diskFull).to.equal(true);
      await expectCode(s.put({ topic: 'T', body: 'x' }), 'DISK_FULL');
      disk.setSpace({ totalBytes: 1000, freeBytes: 160 });
      await advance(10_000);
      expect(s.stats().diskFull).to.equal(false);
      await s.put({ topic: 'T', body: 'x' });
    });

    it('reaper - a store opened on a full disk refuses puts from the start', async () => {
      await open();
      await store!.close();
      disk.setSpace({ totalBytes: 1000, freeBytes: 50 });
      const s = await open();
      expect(s.stats().diskFull).to.equal(true);
      await expectCode(s.put({ topic: 'T', body: 'x' }), 'DISK_FULL');
    });

    it('reaper - deleteExpired frees a full disk and clears the flag at once', async () => {
      await open();
      await fill(4);
      await store!.close();
      // A disk 95 % full whose usage follows the files.
      const total = Math.floor(disk.usedBytes() / 0.95);
      disk.setSpace(() => ({ totalBytes: total, freeBytes: total - disk.usedBytes() }));
      const s = await open();
      await expectCode(s.put({ topic: 'T', body: 'x' }), 'DISK_FULL');
      const r = await s.deleteExpired({ force: true });
      expect(r.deletedSegments.length).to.equal(4);
      expect(r.diskUsedRatio).to.be.lessThan(0.85);
      expect(s.stats().diskFull).to.equal(false);
      await s.put({ topic: 'T', body: 'x' });
    });

    it('reaper - disk full and a failed store are separate flags: a put reports read-only first, stats show both', async () => {
      const s = await open({ flushMode: 'SYNC' });
      await fill(1);
      // The CommitLog's fsync, not a background one (ConsumeQueue directories, segment creation).
      disk.failSync({ match: (op) => op.kind === 'datasync' && op.path.includes('/commitlog/') });
      await expectCode(s.put({ topic: 'T', body: 'x' }), 'FLUSH_FAILED');
      expect(s.stats()).to.include({ state: 'read-only', writeError: 'FLUSH_FAILED', diskFull: false });
      await expectCode(s.put({ topic: 'T', body: 'x' }), 'STORE_READ_ONLY');
      disk.setSpace({ totalBytes: 1000, freeBytes: 10 });
      await advance(FIRST_PASS_DELAY_MS);
      expect(s.stats()).to.include({ state: 'read-only', writeError: 'FLUSH_FAILED', diskFull: true });
      // Freeing space does not cure a failed fsync: the put says what does (reopen).
      await expectCode(s.put({ topic: 'T', body: 'x' }), 'STORE_READ_ONLY');
      disk.setSpace({ totalBytes: 1000, freeBytes: 900 });
      await advance(10_000);
      expect(s.stats()).to.include({ state: 'read-only', writeError: 'FLUSH_FAILED', diskFull: false });
      await expectCode(s.put({ topic: 'T', body: 'x' }), 'STORE_READ_ONLY');
    });

    it('reaper - a failed write does not set the disk-full flag, and disk full does not outlive the space', async () => {
      const s = await open();
      await fill(1);
      disk.failWrite({ code: 'ENOSPC', partialBytes: 100 });
      await expectCode(s.put({ topic: 'T', body: 'x' }), 'WRITE_FAILED');
      expect(s.stats()).to.include({ diskFull: false, writeError: 'WRITE_FAILED' });
      // While the partial write is cut, puts say so; then they go again.
      await expectCode(s.put({ topic: 'T', body: 'x' }), 'WRITE_FAILED');
      await until(() => s.stats().writeError === null);
      expect(s.stats().state).to.equal('open');
      await s.put({ topic: 'T', body: 'y' });
    });
  });

  describe('consumequeue', () => {
    it('reaper - queue files wholly below the CommitLog minimum go (never the last), minimums move to the first surviving entry', async () => {
      const s = await open();
      // Queue 0 gets 3 of 4 messages, queue 1 one of 4: their files roll at different rates (16 entries a file).
      for (let i = 0; s.stats().appendOffset < 12 * SEG; i++) {
        const r = await s.put({ topic: 'T', queueId: i % 4 === 3 ? 1 : 0, body: bodyOf(results.length) });
        results.push(r);
      }
      await s.flush();
      const q0 = (await queueFiles('T', 0)).length;
      expect(q0).to.be.greaterThan(4);
      const r = await s.deleteExpired({ force: true });
      expect(r.deletedSegments.length).to.equal(10);
      const min = s.stats().minOffset;
      expect(min).to.equal(10 * SEG);
      for (const q of [0, 1]) {
        const files = (await queueFiles('T', q)).map(Number);
        const first = s.getMinOffsetInQueue('T', q);
        // The first file holds the queue's minimum; every earlier file is gone.
        expect(files[0]).to.equal(first * 20 - ((first * 20) % (16 * 20)));
        const kept = results.filter((x) => x.queueId === q && x.physicalOffset >= min);
        expect(first).to.equal(kept[0].queueOffset);
      }
      expect(r.deletedQueueFiles).to.be.greaterThan(0);
      await expectConsistent('T', 2);
    });

    it('reaper - a read below a queue\'s minimum answers OFFSET_MOVED with the new minimum, at the old offset too', async () => {
      const s = await open();
      await fill(6);
      const r0 = await s.getMessages('T', 0, 0, 4);
      expect(r0.status).to.equal('FOUND');
      await s.deleteExpired({ force: true });
      const min = s.getMinOffsetInQueue('T', 0);
      expect(min).to.be.greaterThan(0);
      for (const at of [0, r0.nextBeginOffset, min - 1]) {
        const r = await s.getMessages('T', 0, at, 4);
        expect(r).to.include({ status: 'OFFSET_MOVED', nextBeginOffset: min, minOffset: min });
        expect(r.messages).to.deep.equal([]);
      }
      const ok = await s.getMessages('T', 0, min, 4);
      expect(ok.status).to.equal('FOUND');
      expect(ok.messages[0].physicalOffset).to.be.greaterThanOrEqual(s.stats().minOffset);
      expect(ok.messages[0].body.equals(bodyOf(min))).to.equal(true);
    });

    it('reaper - an idle queue whose every message expired keeps its offsets (empty, min = max) across a reopen', async () => {
      const s = await open();
      for (let i = 0; i < 40; i++) results.push(await s.put({ topic: 'IDLE', body: bodyOf(i) }));
      for (let i = 0; i < 3; i++) results.push(await s.put({ topic: 'IDLE', queueId: 1, body: bodyOf(i) }));
      await fill(5);
      await s.deleteExpired({ force: true });
      await s.deleteExpired({ force: true });
      expect(s.stats().minOffset).to.be.greaterThan(Math.max(...results.filter((r) => r.topic === 'IDLE').map((r) => r.physicalOffset)));
      for (const [q, n] of [[0, 40], [1, 3]]) {
        expect(s.getMinOffsetInQueue('IDLE', q)).to.equal(n);
        expect(s.getMaxOffsetInQueue('IDLE', q)).to.equal(n);
        expect((await queueFiles('IDLE', q)).length).to.equal(1);
        expect(await s.getMessages('IDLE', q, 0, 4)).to.include({ status: 'OFFSET_MOVED', nextBeginOffset: n });
      }
      const s2 = await reopen();
      for (const [q, n] of [[0, 40], [1, 3]]) {
        expect(s2.getMaxOffsetInQueue('IDLE', q)).to.equal(n);
        expect(s2.getMinOffsetInQueue('IDLE', q)).to.equal(n);
        expect(await s2.getMessages('IDLE', q, 0, 4)).to.include({ status: 'OFFSET_MOVED', nextBeginOffset: n });
      }
      // New messages continue the queue's offsets.
      expect((await s2.put({ topic: 'IDLE', body: 'again' })).queueOffset).to.equal(40);
      await expectConsistent();
      await s2.close();
      store = null;
      expect((await audit(DIR, { io: disk })).damage).to.deep.equal([]);
    });

    it('reaper - a crash between the CommitLog and the ConsumeQueue deletions is repaired at open', async () => {
      await open();
      await fill(6);
      // The CommitLog's first segments vanish (as after a crash right after the reaper unlinked them), the queues still point there.
      await advance(60_000); // a checkpoint covers every entry
      for (const f of (await segmentFiles()).slice(0, 3)) await disk.unlink(`${DIR}/commitlog/${f}`);
      await disk.syncDir(`${DIR}/commitlog`);
      disk.killProcess();
      store = null;
      const s2 = await open();
      expect(s2.stats().minOffset).to.equal(3 * SEG);
      await expectConsistent();
    });
  });

  describe('readers', () => {
    /** A store of four segments with a getMessages held in the middle of reading the first one. */
    async function readerInFirstSegment(): Promise<{ gated: GatedIO; s: MessageStore; reading: ReturnType<MessageStore['getMessages']> }> {
      const gated = new GatedIO(new SimDisk({ dirs: ['/data'], now: () => Date.now() }), (p) => p.includes('/commitlog/'));
      clock = new VirtualClock(localTime(10));
      disk = gated.disk;
      const s = await open({ io: gated.io() });
      await fill(4);
      gated.hold();
      const reading = s.getMessages('T', 0, 0, 4);
      await until(() => gated.held > 0);
      return { gated, s, reading };
    }

    it('reaper - a reader holding a segment during its deletion reads valid data; the file goes when it is done', async () => {
      const { gated, s, reading } = await readerInFirstSegment();
      const deleting = s.deleteExpired({ force: true });
      // The segment left the store at once, and the file stays for its reader.
      await until(() => s.stats().reaper.pendingRemovals > 0);
      expect(s.stats().minOffset).to.equal(4 * SEG);
      expect(await disk.stat(`${DIR}/commitlog/${'0'.padStart(20, '0')}`)).to.not.equal(null);
      expect((await s.getMessages('T', 0, 0, 4)).status).to.equal('OFFSET_MOVED');
      gated.release();
      const r = await reading;
      expect(r.status).to.equal('FOUND');
      expect(r.messages.map((m) => m.body.equals(bodyOf(m.queueOffset)))).to.deep.equal([true, true, true, true]);
      await deleting;
      expect(await disk.stat(`${DIR}/commitlog/${'0'.padStart(20, '0')}`)).to.equal(null);
      expect(s.stats().reaper.pendingRemovals).to.equal(0);
    });

    it('reaper - a hung reader loses its file after destroyMappedFileIntervalForciblyMs and reads nothing, never garbage', async () => {
      const { gated, s, reading } = await readerInFirstSegment();
      disk.setSpace({ totalBytes: 1000, freeBytes: 100 }); // forced deletion at the first pass
      await advance(FIRST_PASS_DELAY_MS);
      const first = `${DIR}/commitlog/${'0'.padStart(20, '0')}`;
      expect(await disk.stat(first)).to.not.equal(null);
      await advance(120_000 - 1);
      expect(await disk.stat(first)).to.not.equal(null);
      await advance(1);
      await until(async () => (await disk.stat(first)) === null);
      gated.release();
      const r = await reading;
      expect(r.status).to.equal('OFFSET_MOVED');
      expect(r.messages).to.deep.equal([]);
      expect(r.nextBeginOffset).to.equal(s.getMinOffsetInQueue('T', 0));
    });
  });
});
