import { expect } from 'chai';
import * as path from 'path';
import { MessageStore } from '../../lib/store/message-store';
import type { PutResult } from '../../lib/common/message';
import type { StoreOptions } from '../../lib/store/options';
import { VirtualClock } from '../../lib/common/clock';
import { SimDisk } from '../../lib/io/sim-disk';
import { DISKS, SMALL, readQueue, removeTree, type StoreEnv } from '../support/store-env';
import { rejectKeelCode } from '../support/reject-code';

function bodyOf(i: number): Buffer {
  // Varying sizes and contents, so misplaced bytes cannot go unnoticed.
  const b = Buffer.alloc(16 + (i % 97));
  for (let k = 0; k < b.length; k++) b[k] = (i * 31 + k * 7) & 0xff;
  return b;
}

const readAll = (store: MessageStore, topic: string, queueId: number) => readQueue(store, topic, queueId);
const expectCode = rejectKeelCode;

for (const [diskName, makeEnv] of DISKS) {
  describe(`store on the ${diskName}`, function () {
    let env: StoreEnv;
    let store: MessageStore | null = null;
    const open = async (extra: Partial<StoreOptions> = {}) => {
      store = await MessageStore.open(env.dir, { io: env.io, ...SMALL, ...extra });
      return store;
    };
    beforeEach(() => { env = makeEnv(); });
    afterEach(async () => {
      if (store) await store.close();
      store = null;
      env.cleanup();
    });

    it('store - 100,000 messages over 20+ rolled segments and 8 queues read back byte-identical after reopen', async function () {
      this.timeout(120_000);
      const s = await open({ commitLogSegmentSize: 512 * 1024 });
      const N = 100_000;
      const results: Promise<PutResult>[] = [];
      for (let i = 0; i < N; i++) {
        results.push(s.put({ topic: `topic-${i % 2}`, queueId: i % 8, body: bodyOf(i), tags: `T${i % 5}`, keys: [`k${i}`], properties: { seq: String(i) } }));
        if (results.length % 2000 === 0) await Promise.all(results.slice(-2000));
      }
      const acks = await Promise.all(results);
      expect(acks.every((a) => a.status === 'PUT_OK')).to.equal(true);
      await s.close();
      store = null;
      const segs = (await env.io.readdir(path.join(env.dir, 'commitlog'))).length;
      expect(segs).to.be.at.least(20);
      const s2 = await open({ commitLogSegmentSize: 512 * 1024 });
      expect(s2.recovery.clean).to.equal(true);
      const seen = new Set<number>();
      for (let t = 0; t < 2; t++) {
        for (let q = 0; q < 8; q++) {
          const msgs = await readAll(s2, `topic-${t}`, q);
          let expectedQo = 0;
          for (const m of msgs) {
            const i = Number(m.properties.seq);
            expect(m.queueOffset).to.equal(expectedQo++);
            expect(i % 2).to.equal(t);
            expect(i % 8).to.equal(q);
            expect(m.body.equals(bodyOf(i))).to.equal(true, `body of message ${i}`);
            expect(m.tags).to.equal(`T${i % 5}`);
            expect(m.keys).to.deep.equal([`k${i}`]);
            expect(m.physicalOffset).to.equal(acks[i].physicalOffset);
            expect(m.msgId).to.equal(acks[i].msgId);
            seen.add(i);
          }
        }
      }
      expect(seen.size).to.equal(N);
    });

    it('store - a deleted consumequeue directory is rebuilt identical on reopen', async () => {
      const s = await open();
      const puts: Promise<PutResult>[] = [];
      for (let i = 0; i < 3000; i++) puts.push(s.put({ topic: i % 3 ? 'A' : 'B', queueId: i % 4, body: bodyOf(i), tags: `t${i % 3}` }));
      await Promise.all(puts);
      const before = await snapshotQueues(s);
      await s.close();
      store = null;
      await removeTree(env.io, path.join(env.dir, 'consumequeue'));
      const s2 = await open();
      expect(s2.recovery.fullRebuild).to.equal(true);
      expect(await snapshotQueues(s2)).to.deep.equal(before);
      // And the rebuilt queues keep working.
      const r = await s2.put({ topic: 'A', queueId: 1, body: 'after' });
      expect(r.queueOffset).to.equal(before['A:1'].length);
    });

    it('store - a corrupted queue file tail is detected and the queue rebuilt', async () => {
      const s = await open();
      for (let i = 0; i < 500; i++) await s.put({ topic: 'A', queueId: 0, body: bodyOf(i) });
      const before = await snapshotQueues(s);
      await s.close();
      store = null;
      // Point the last entry somewhere else.
      const file = path.join(env.dir, 'consumequeue', 'A', '0', String(256 * 20).padStart(20, '0'));
      const h = await env.io.open(file);
      const junk = Buffer.alloc(8);
      junk.writeUInt32BE(7, 4);
      await h.write(junk, 0, 8, (499 - 256) * 20);
      await h.datasync();
      await h.close();
      const s2 = await open();
      expect(s2.recovery.rebuiltQueues).to.deep.equal(['A:0']);
      expect(await snapshotQueues(s2)).to.deep.equal(before);
    });

    it('store - bad input is rejected with a stable code and writes nothing', async () => {
      const s = await open();
      await s.put({ topic: 'ok', body: 'x' });
      const before = s.stats().appendOffset;
      await expectCode(s.put({ topic: 'ok', body: Buffer.alloc(SMALL.maxBodySize + 1) }), 'BODY_TOO_LARGE');
      await expectCode(s.put({ topic: 'x'.repeat(128), body: 'x' }), 'TOPIC_INVALID');
      await expectCode(s.put({ topic: '', body: 'x' }), 'TOPIC_INVALID');
      await expectCode(s.put({ topic: 'ok', body: 'x', properties: { big: 'v'.repeat(SMALL.maxPropertiesLength) } }), 'PROPERTIES_TOO_LONG');
      await expectCode(s.put({ topic: 'ok', body: 'x', properties: { 'a\u0001b': 'v' } }), 'PROPERTY_INVALID');
      await expectCode(s.put({ topic: 'ok', queueId: -1, body: 'x' }), 'QUEUE_INVALID');
      await expectCode(s.put({ topic: 'ok', queueId: 1.5, body: 'x' }), 'QUEUE_INVALID');
      await expectCode(s.put({ topic: 'ok', queueId: 1024, body: 'x' }), 'QUEUE_INVALID');
      await expectCode(s.putBatch([{ topic: 'ok', body: 'fine' }, { topic: 'ok', body: Buffer.alloc(SMALL.maxBodySize + 1) }]), 'BODY_TOO_LARGE');
      expect(s.stats().appendOffset).to.equal(before);
      expect(s.getMaxOffsetInQueue('ok', 0)).to.equal(1);
      await s.close();
      store = null;
      await expectCode(s.put({ topic: 'ok', body: 'x' }), 'STORE_CLOSED');
      await expectCode(s.getMessages('ok', 0, 0, 1), 'STORE_CLOSED');
    });

    it('store - a batch goes whole into one segment, in order, never split', async () => {
      const s = await open({ commitLogSegmentSize: 8192, maxBodySize: 1024, maxPropertiesLength: 256 });
      const first = await s.put({ topic: 'b', body: Buffer.alloc(700) });
      const batch = Array.from({ length: 8 }, (_, i) => ({ topic: 'b', body: Buffer.alloc(900, i) }));
      const rs = await s.putBatch(batch);
      expect(rs.map((r) => r.queueOffset)).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8]);
      // 700 + 8 × ~900 bytes cannot share the first 8 KiB segment: the whole batch moved to the second.
      expect(first.physicalOffset).to.equal(0);
      expect(rs[0].physicalOffset).to.equal(8192);
      for (let i = 1; i < rs.length; i++) expect(rs[i].physicalOffset).to.equal(rs[i - 1].physicalOffset + rs[i - 1].storeSize);
      await expectCode(s.putBatch(Array.from({ length: 20 }, () => ({ topic: 'b', body: Buffer.alloc(800) }))), 'BATCH_TOO_LARGE');
      const got = await readAll(s, 'b', 0);
      expect(got.map((m) => m.body.length)).to.deep.equal([700, ...batch.map(() => 900)]);
    });

    it('store - getMessage and lookupMessageById find what put returned', async () => {
      const s = await open();
      const r = await s.put({ topic: 'id', queueId: 2, body: 'find me', keys: 'k1 k2' });
      const byOffset = await s.getMessage(r.physicalOffset);
      expect(byOffset?.body.toString()).to.equal('find me');
      const byId = await s.lookupMessageById(r.msgId);
      expect(byId?.queueId).to.equal(2);
      expect(byId?.keys).to.deep.equal(['k1', 'k2']);
      expect(await s.getMessage(r.physicalOffset + 1)).to.equal(null);
      expect(await s.getMessage(10 ** 9)).to.equal(null);
    });

    it('store - getOffsetByTime finds the first message stored at or after a time, equal times to the first', async () => {
      const clock = new VirtualClock(1_000_000);
      const s = await open({ clock });
      const times: number[] = [];
      for (let i = 0; i < 60; i++) {
        if (i % 3 === 0) await clock.advance(10);
        times.push(clock.now());
        await s.put({ topic: 'time', queueId: 0, body: String(i) });
      }
      for (let i = 0; i < 60; i++) {
        const off = await s.getOffsetByTime('time', 0, times[i]);
        expect(off).to.equal(times.indexOf(times[i]));
      }
      expect(await s.getOffsetByTime('time', 0, 0)).to.equal(0);
      expect(await s.getOffsetByTime('time', 0, times[59] + 1)).to.equal(60);
      expect(await s.getOffsetByTime('time', 0, times[10] - 1)).to.equal(times.indexOf(times[10]));
    });

    it('store - the last record damaged in any region is dropped alone, after a clean or an unclean stop', async function () {
      this.timeout(60_000);
      // Regions of a record with a 10-byte body, topic "c", and TAGS + the CRC property.
      const regions: [string, number][] = [
        ['totalSize', 2], ['magic', 5], ['bodyCRC', 9], ['queueId', 15], ['flag', 17], ['queueOffset', 27],
        ['physicalOffset', 35], ['sysFlag', 39], ['bornTimestamp', 45], ['bornHost', 50], ['storeTimestamp', 60],
        ['storeHost', 66], ['reconsumeTimes', 73], ['preparedTransactionOffset', 80], ['bodyLength', 86],
        ['body', 92], ['topicLength', 98], ['topic', 99], ['propertiesLength', 101], ['properties', 104], ['crc property', -3],
      ];
      for (const clean of [true, false]) {
        for (const [region, at] of regions) {
          const e = makeEnv();
          try {
            let s = await MessageStore.open(e.dir, { io: e.io, ...SMALL });
            let last!: PutResult;
            for (let i = 0; i < 5; i++) last = await s.put({ topic: 'c', queueId: 0, body: Buffer.alloc(10, i), tags: 'x' });
            const appendBefore = s.stats().appendOffset;
            if (clean) await s.close();
            else await s.flush();
            const file = path.join(e.dir, 'commitlog', '0'.repeat(20));
            const pos = last.physicalOffset + (at >= 0 ? at : last.storeSize + at);
            const h = await e.io.open(file);
            const b = Buffer.alloc(1);
            await h.read(b, 0, 1, pos);
            b[0] ^= 0x5a;
            await h.write(b, 0, 1, pos);
            await h.datasync();
            await h.close();
            if (!clean) (e.io as SimDisk).killProcess?.();
            if (!clean && !(e.io instanceof SimDisk)) { await s.close(); /* real disk: make the stop unclean by restoring the marker */ await markUnclean(e); }
            s = await MessageStore.open(e.dir, { io: e.io, ...SMALL });
            expect(s.recovery.clean, region).to.equal(clean);
            expect(s.getMaxOffsetInQueue('c', 0), region).to.equal(4);
            expect(s.stats().appendOffset, region).to.equal(appendBefore - last.storeSize);
            const msgs = await readAll(s, 'c', 0);
            expect(msgs.map((m) => m.body[0]), region).to.deep.equal([0, 1, 2, 3]);
            // The slot is reused by the next put.
            const again = await s.put({ topic: 'c', queueId: 0, body: 'again' });
            expect(again.physicalOffset, region).to.equal(last.physicalOffset);
            await s.close();
          } finally {
            e.cleanup();
          }
        }
      }
    });

    it('store - SYNC mode: consumers never see a message before the fsync that covers it', async () => {
      if (!(env.io instanceof SimDisk)) return; // The real disk cannot hold an fsync back; the simulated one can.
      const held: (() => void)[] = [];
      const gate = { blocked: false };
      const io = new SimDisk({ dirs: ['/data'], pause: async (kind) => {
        await new Promise((r) => setImmediate(r));
        if (kind === 'datasync' && gate.blocked) await new Promise<void>((r) => held.push(r));
      } });
      env = { io, dir: '/data/store', cleanup: () => undefined };
      const s = await open({ flushMode: 'SYNC' });
      const violations: string[] = [];
      s.onArrival(() => {
        const st = s.stats();
        if (st.confirmedOffset > st.flushedOffset) violations.push(`confirmed ${st.confirmedOffset} > flushed ${st.flushedOffset}`);
      });
      await s.put({ topic: 'v', body: 'first' });
      gate.blocked = true;
      let acked = false;
      const pending = s.put({ topic: 'v', body: 'second' }).then((r) => { acked = true; return r; });
      // Wait until the put is written while every fsync is held.
      for (let i = 0; i < 200 && s.stats().writtenOffset <= s.stats().flushedOffset; i++) await new Promise((r) => setImmediate(r));
      expect(s.stats().writtenOffset).to.be.greaterThan(s.stats().flushedOffset);
      expect(acked).to.equal(false);
      const r = await s.getMessages('v', 0, 1, 10);
      expect(r.status).to.equal('NO_NEW_MSG');
      expect(s.getMaxOffsetInQueue('v', 0)).to.equal(1);
      gate.blocked = false;
      for (const release of held.splice(0)) release();
      const ack = await pending;
      expect(ack.status).to.equal('PUT_OK');
      expect((await s.getMessages('v', 0, 1, 10)).messages.map((m) => m.body.toString())).to.deep.equal(['second']);
      expect(violations).to.deep.equal([]);
    });

    it('store - a SYNC put whose fsync hangs past syncFlushTimeoutMs resolves FLUSH_DISK_TIMEOUT, then becomes visible when it lands', async () => {
      if (!(env.io instanceof SimDisk)) return;
      const held: (() => void)[] = [];
      let hold = false;
      const io = new SimDisk({ dirs: ['/data'], pause: async (kind) => {
        await new Promise((r) => setImmediate(r));
        if (kind === 'datasync' && hold) await new Promise<void>((r) => held.push(r));
      } });
      env = { io, dir: '/data/store', cleanup: () => undefined };
      const clock = new VirtualClock(0);
      const s = await open({ flushMode: 'SYNC', clock });
      // The first segment must exist before fsyncs are held: creating it takes one.
      await s.put({ topic: 'warm', body: 'up' });
      hold = true;
      const p = s.put({ topic: 'slow', body: 'x' });
      const before = s.stats().writtenOffset;
      for (let i = 0; i < 200 && s.stats().writtenOffset === before; i++) await new Promise((r) => setImmediate(r));
      expect(s.stats().writtenOffset).to.be.greaterThan(before);
      await clock.advance(5001);
      const r = await p;
      expect(r.status).to.equal('FLUSH_DISK_TIMEOUT');
      expect(s.getMaxOffsetInQueue('slow', 0)).to.equal(0);
      hold = false;
      for (const release of held.splice(0)) release();
      for (let i = 0; i < 200 && s.getMaxOffsetInQueue('slow', 0) === 0; i++) await new Promise((r) => setImmediate(r));
      expect(s.getMaxOffsetInQueue('slow', 0)).to.equal(1);
    });

    it('store - a disk error during open is a typed IO_ERROR with the errno as its cause, and the lock is released', async () => {
      if (!(env.io instanceof SimDisk)) return;
      env.io.fail({ kinds: ['open'], match: (op) => op.path.endsWith('/checkpoint'), code: 'EIO' });
      const e = await expectCode(MessageStore.open(env.dir, { io: env.io, ...SMALL }), 'IO_ERROR');
      expect((e.cause as { code?: string }).code).to.equal('EIO');
      // The fault was once: the next open works, so the lock was given back.
      await open();
    });

    it('store - the flush mode switches on a running store', async () => {
      const s = await open();
      await s.put({ topic: 'm', body: 'async' });
      expect(s.flushMode).to.equal('ASYNC');
      s.setFlushMode('SYNC');
      const r = await s.put({ topic: 'm', body: 'sync' });
      expect(s.stats().flushedOffset).to.be.at.least(r.physicalOffset + r.storeSize);
      s.setFlushMode('ASYNC');
      const r2 = await s.put({ topic: 'm', body: 'async again' });
      expect(r2.status).to.equal('PUT_OK');
      expect(() => s.setFlushMode('LATER' as never)).to.throw(TypeError);
    });

    it('store - a second open of the same directory in this process fails with STORE_LOCKED', async () => {
      await open();
      await expectCode(MessageStore.open(env.dir, { io: env.io, ...SMALL }), 'STORE_LOCKED');
    });

    it('store - a long recovery reports progress', async () => {
      // A clock that moves 100 ms each time it is read makes the scan "take" long.
      let t = 0;
      const clock = { now: () => (t += 100), setTimeout: () => ({ cancel() { /* services do not run here */ } }) };
      const s = await open();
      for (let i = 0; i < 200; i++) await s.put({ topic: 'p', body: bodyOf(i) });
      await s.close();
      store = null;
      await removeTree(env.io, path.join(env.dir, 'consumequeue'));
      const seen: number[] = [];
      store = await MessageStore.open(env.dir, { io: env.io, ...SMALL, clock, onProgress: (p) => seen.push(p.done) });
      expect(seen.length).to.be.greaterThan(0);
      for (let i = 1; i < seen.length; i++) expect(seen[i]).to.be.at.least(seen[i - 1]);
    });
  });
}

async function snapshotQueues(s: MessageStore): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const topic of s.topics().sort()) {
    for (const q of s.queueIds(topic)) {
      const msgs = await readAll(s, topic, q);
      out[`${topic}:${q}`] = msgs.map((m) => [m.queueOffset, m.physicalOffset, m.storeSize, m.tags ?? null]);
    }
  }
  return out;
}

/** Recreates the abort marker of a closed store on the real disk, as a crash would have left it. */
async function markUnclean(e: StoreEnv): Promise<void> {
  const h = await e.io.open(path.join(e.dir, 'abort'), { create: true });
  await h.close();
}
