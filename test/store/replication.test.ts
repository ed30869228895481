import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { MessageStore } from '../../lib/store/message-store';
import { audit } from '../../lib/store/audit';
import type { ReplicationHook, ReplicationStatus } from '../../lib/store/replication';
import { SimDisk } from '../../lib/io/sim-disk';
import { SMALL, readQueue } from '../support/store-env';
import { tmpDir } from '../support/tmp';
import { rejectKeelCode } from '../support/reject-code';

const SEG = 64 * 1024;

function body(i: number): Buffer {
  const b = Buffer.alloc(20 + ((i * 37) % 700));
  for (let k = 0; k < b.length; k++) b[k] = (i * 13 + k) & 0xff;
  return b;
}

async function fill(store: MessageStore, n: number, from = 0): Promise<void> {
  const ps = [];
  for (let i = from; i < from + n; i++) ps.push(store.put({ topic: `T${i % 3}`, queueId: i % 2, body: body(i), tags: `tag${i % 5}` }));
  await Promise.all(ps);
}

/** Copies the master's committed log into the replica the way a slave does: chunks of odd sizes, the incomplete tail offered again. */
async function copy(master: MessageStore, replica: MessageStore, from: number, chunk: number): Promise<void> {
  let base = from;
  let expected = from;
  let pending = Buffer.alloc(0);
  for (;;) {
    const b = await master.readCommitLog(expected, chunk);
    if (!b) break;
    expected += b.length;
    const data = base > expected - b.length ? b.subarray(Math.min(b.length, base - (expected - b.length))) : b;
    pending = Buffer.concat([pending, data]);
    const end = await replica.appendReplica(base, pending);
    pending = pending.subarray(Math.min(pending.length, end - base));
    base = end;
  }
}

function logBytes(dir: string, from: number): Buffer {
  const files = fs.readdirSync(path.join(dir, 'commitlog')).sort();
  const all = Buffer.concat(files.map((f) => fs.readFileSync(path.join(dir, 'commitlog', f))));
  const first = Number(files[0]);
  return all.subarray(from - first);
}

describe('store replication hook and replica appends', function () {
  this.timeout(30_000);
  let t: { dir: string; cleanup(): void };
  const open: MessageStore[] = [];
  const openStore = async (name: string, extra = {}) => {
    const s = await MessageStore.open(path.join(t.dir, name), { ...SMALL, commitLogSegmentSize: SEG, ...extra });
    open.push(s);
    return s;
  };
  beforeEach(() => { t = tmpDir(); });
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
    t.cleanup();
  });

  it('replication - the hook is told of every committed range, contiguous and in order, and no put resolves before its range was told', async () => {
    const s = await openStore('m');
    await fill(s, 10);
    const ranges: [number, number][] = [];
    let told = 0;
    let heldBeyondTold = 0;
    const hook: ReplicationHook = {
      attached: (from) => { ranges.push([from, from]); },
      committed: (from, to) => { ranges.push([from, to]); told = to; },
      waitFor: () => new Promise<ReplicationStatus>((res) => setImmediate(() => res('PUT_OK'))),
    };
    s.setReplicationHook(hook);
    const ps = [];
    for (let i = 0; i < 500; i++) {
      ps.push(s.put({ topic: 'T', body: body(i) }).then((r) => { if (r.physicalOffset + r.storeSize > told) heldBeyondTold++; }));
    }
    await Promise.all(ps);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i][0]).to.equal(ranges[i - 1][1]);
    expect(ranges[ranges.length - 1][1]).to.equal(s.stats().writtenOffset);
    expect(heldBeyondTold).to.equal(0);
  });

  it('replication - a put is acknowledged only when the hook says so, with the status the hook gives (it outranks the flush status)', async () => {
    const s = await openStore('m', { flushMode: 'SYNC' });
    let release!: (st: ReplicationStatus) => void;
    s.setReplicationHook({ committed: () => undefined, waitFor: () => new Promise((r) => { release = r; }) });
    let done = false;
    const p = s.put({ topic: 'A', body: 'x' }).then((r) => { done = true; return r; });
    await s.flush();
    await new Promise((r) => setTimeout(r, 20));
    expect(done).to.equal(false);
    release('FLUSH_SLAVE_TIMEOUT');
    expect((await p).status).to.equal('FLUSH_SLAVE_TIMEOUT');
    s.setReplicationHook({ committed: () => undefined, waitFor: () => Promise.resolve('SLAVE_NOT_AVAILABLE') });
    const b = await s.putBatch([{ topic: 'A', body: 'y' }, { topic: 'A', body: 'z' }]);
    expect(b.map((r) => r.status)).to.deep.equal(['SLAVE_NOT_AVAILABLE', 'SLAVE_NOT_AVAILABLE']);
    s.setReplicationHook({ committed: () => undefined, waitFor: () => null });
    expect((await s.put({ topic: 'A', body: 'w' })).status).to.equal('PUT_OK');
    s.setReplicationHook(null);
    expect((await s.put({ topic: 'A', body: 'v' })).status).to.equal('PUT_OK');
  });

  it('replication - a replica fed odd-sized chunks holds a byte-identical log over rolled segments, the same queues, and audits clean', async () => {
    const m = await openStore('m');
    await fill(m, 600);
    expect(m.stats().minOffset).to.equal(0);
    expect(m.stats().appendOffset).to.be.greaterThan(3 * SEG);
    const r = await openStore('r');
    await copy(m, r, 0, 1000 + 333);
    expect(r.stats().appendOffset).to.equal(m.stats().appendOffset);
    for (const topic of m.topics()) {
      for (const q of m.queueIds(topic)) {
        const a = (await readQueue(m, topic, q)).map((x) => [x.physicalOffset, x.queueOffset, x.body.toString('hex')]);
        const b = (await readQueue(r, topic, q)).map((x) => [x.physicalOffset, x.queueOffset, x.body.toString('hex')]);
        expect(b).to.deep.equal(a);
      }
    }
    const end = m.stats().appendOffset;
    await m.close();
    await r.close();
    open.length = 0;
    expect(logBytes(path.join(t.dir, 'r'), 0).subarray(0, end).equals(logBytes(path.join(t.dir, 'm'), 0).subarray(0, end))).to.equal(true);
    for (const d of ['m', 'r']) expect((await audit(path.join(t.dir, d))).ok).to.equal(true);
    // The replica reopens (recovery accepts what it wrote) and keeps its queues.
    const again = await openStore('r');
    expect(again.stats().appendOffset).to.equal(end);
  });

  it('replication - an empty replica may start at a segment start (RocketMQ: the master\'s last segment); its queues start mid-way', async () => {
    const m = await openStore('m');
    await fill(m, 600);
    const last = m.stats().appendOffset - (m.stats().appendOffset % SEG);
    const r = await openStore('r');
    await rejectKeelCode(r.appendReplica(last + 100, Buffer.alloc(10)), 'REPLICA_INVALID');
    await copy(m, r, last, 4096);
    expect(r.stats().minOffset).to.equal(last);
    expect(r.stats().appendOffset).to.equal(m.stats().appendOffset);
    const mq = await readQueue(m, 'T0', 0);
    const rq = await readQueue(r, 'T0', 0);
    expect(rq.length).to.be.greaterThan(0);
    expect(rq.map((x) => x.queueOffset)).to.deep.equal(mq.filter((x) => x.physicalOffset >= last).map((x) => x.queueOffset));
    await r.close();
    open.splice(open.indexOf(r), 1);
    expect((await audit(path.join(t.dir, 'r'))).ok).to.equal(true);
  });

  it('replication - torn, damaged, repeated or misplaced bytes are refused whole and change nothing', async () => {
    const m = await openStore('m');
    await fill(m, 50);
    const r = await openStore('r');
    const bytes = (await m.readCommitLog(0, 8000))!;
    // A flipped body byte of the third record: the first two are not taken either.
    const bad = Buffer.from(bytes);
    const size0 = bad.readInt32BE(0);
    const size1 = bad.readInt32BE(size0);
    bad[size0 + size1 + 120] ^= 1;
    await rejectKeelCode(r.appendReplica(0, bad), 'REPLICA_INVALID');
    expect(r.stats().appendOffset).to.equal(0);
    expect(r.topics()).to.have.length.lessThanOrEqual(3);
    // A torn record is simply not taken yet.
    expect(await r.appendReplica(0, bytes.subarray(0, size0 + 10))).to.equal(size0);
    // The same bytes again, at the new end: their physical offset fields say they belong elsewhere.
    await rejectKeelCode(r.appendReplica(size0, bytes.subarray(0, size0)), 'REPLICA_INVALID');
    // Bytes for another place than the end.
    await rejectKeelCode(r.appendReplica(size0 + size1, bytes.subarray(size0 + size1)), 'REPLICA_INVALID');
    expect(await r.appendReplica(size0, bytes.subarray(size0))).to.be.greaterThan(size0);
    expect((await readQueue(r, 'T0', 0)).length).to.be.greaterThan(0);
  });

  it('replication - truncate cuts the log and the queues back to a record boundary, durably, and the replica follows again from there', async () => {
    const m = await openStore('m');
    await fill(m, 400);
    const r = await openStore('r');
    await copy(m, r, 0, 5000);
    const recs = await readQueue(r, 'T1', 1);
    const cut = recs[Math.floor(recs.length / 2)].physicalOffset;
    await rejectKeelCode(r.truncate(cut + 1), 'REPLICA_INVALID');
    await r.truncate(cut);
    expect(r.stats().appendOffset).to.equal(cut);
    expect((await readQueue(r, 'T1', 1)).map((x) => x.physicalOffset)).to.deep.equal(recs.filter((x) => x.physicalOffset < cut).map((x) => x.physicalOffset));
    await r.close();
    open.splice(open.indexOf(r), 1);
    expect((await audit(path.join(t.dir, 'r'))).ok).to.equal(true);
    const r2 = await openStore('r');
    expect(r2.stats().appendOffset).to.equal(cut);
    await copy(m, r2, cut, 3000);
    expect((await readQueue(r2, 'T1', 1)).map((x) => x.physicalOffset)).to.deep.equal(recs.map((x) => x.physicalOffset));
  });

  it('replication - on the simulated disk, a replica\'s SYNC appends survive a power cut; nothing torn comes back', async () => {
    const io = new SimDisk({ dirs: ['/d'] });
    const m = await openStore('m');
    await fill(m, 300);
    const r = await MessageStore.open('/d/r', { ...SMALL, commitLogSegmentSize: SEG, io, flushMode: 'SYNC' });
    await copy(m, r, 0, 2222);
    const end = r.stats().appendOffset;
    const more = (await m.readCommitLog(end, 100)) ?? Buffer.alloc(0);
    void r.appendReplica(end, more).catch(() => undefined);
    const after = io.crash();
    const r2 = await MessageStore.open('/d/r', { ...SMALL, commitLogSegmentSize: SEG, io: after });
    try {
      expect(r2.stats().appendOffset).to.be.at.least(end);
      await r2.close();
      expect((await audit('/d/r', { io: after })).ok).to.equal(true);
    } finally {
      await r2.close();
    }
  });
});
