import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { MessageStore } from '../../lib/store/message-store';
import type { PutResult } from '../../lib/common/message';
import type { StoreOptions } from '../../lib/store/options';
import { resolveOptions } from '../../lib/store/options';
import { KeelError } from '../../lib/common/errors';
import { VirtualClock, type Clock } from '../../lib/common/clock';
import { SimDisk } from '../../lib/io/sim-disk';
import type { OpKind } from '../../lib/io/sim-disk';
import { DISKS, SMALL, readQueue, type StoreEnv } from '../support/store-env';
import { rejectKeelCode } from '../support/reject-code';
import { tmpDir } from '../support/tmp';

const settle = () => new Promise<void>((r) => setImmediate(r));

/** Resolves to `p`'s value, or to 'pending' when it has not settled within `ms` of real time. */
function within<T>(p: Promise<T>, ms: number): Promise<T | 'pending'> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<'pending'>((r) => { timer = setTimeout(() => r('pending'), ms); })]).finally(() => clearTimeout(timer));
}

/** A SimDisk whose operations of the held kinds wait until released. */
function holdingDisk(): { io: SimDisk; hold(kind: OpKind): void; release(): void } {
  const held = new Set<OpKind>();
  const waiting: (() => void)[] = [];
  const io = new SimDisk({ dirs: ['/data'], pause: async (kind) => {
    await settle();
    if (held.has(kind)) await new Promise<void>((r) => waiting.push(r));
  } });
  return {
    io,
    hold: (kind) => held.add(kind),
    release: () => { held.clear(); for (const r of waiting.splice(0)) r(); },
  };
}

for (const [diskName, makeEnv] of DISKS) {
  describe(`flush and API contract on the ${diskName}`, function () {
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

    it('flush - resolves while producers keep putting, with every put made before it durable', async () => {
      const s = await open();
      let stop = false;
      let sent = 0;
      const producer = async (p: number) => {
        while (!stop) {
          const batch: Promise<PutResult>[] = [];
          for (let i = 0; i < 16; i++) batch.push(s.put({ topic: 'load', queueId: p, body: `m${sent++}` }));
          await Promise.all(batch);
        }
      };
      const producers = [0, 1, 2, 3].map(producer);
      while (sent < 2000) await settle();
      const goal = s.stats().appendOffset;
      const sentBefore = sent;
      // Before the fix, flush waited for a moment with no put in flight, which never came.
      const outcome = await within(s.flush(), 10_000);
      const flushedAtResolve = s.stats().flushedOffset;
      stop = true;
      await Promise.all(producers);
      expect(outcome).to.not.equal('pending');
      expect(flushedAtResolve).to.be.at.least(goal);
      if (!(env.io instanceof SimDisk)) return;
      // A power cut now loses what was not synced: every put made before the flush call must survive it.
      const after = env.io.crash({ keepUnsynced: 'none' });
      await s.close().catch(() => undefined);
      store = null;
      env = { ...env, io: after };
      const reopened = await open();
      const bodies = new Set<string>();
      for (let p = 0; p < 4; p++) for (const m of await readQueue(reopened, 'load', p)) bodies.add(m.body.toString());
      const missing = Array.from({ length: sentBefore }, (_, i) => `m${i}`).filter((b) => !bodies.has(b));
      expect(missing, `${missing.length} of ${sentBefore} puts made before flush() lost`).to.deep.equal([]);
    });

    it('flush - SYNC puts in flight when the mode turns ASYNC complete normally, not with FLUSH_DISK_TIMEOUT', async () => {
      const clock = new VirtualClock(0);
      const s = await open({ flushMode: 'SYNC', clock });
      await s.put({ topic: 'warm', body: 'up' });
      const puts: Promise<PutResult>[] = [];
      for (let i = 0; i < 50; i++) puts.push(s.put({ topic: 'switch', queueId: i % 4, body: `s${i}` }));
      s.setFlushMode('ASYNC');
      // Acknowledged by a prompt flush, in real time; before the fix they waited for a timer...
      await within(Promise.all(puts), 10_000);
      // ...and the first to fire (syncFlushTimeoutMs, before the thorough ASYNC flush at 10 s) timed them out.
      await clock.advance(5001);
      const acks = await Promise.all(puts);
      expect(acks.map((a) => a.status)).to.deep.equal(acks.map(() => 'PUT_OK'));
      const last = acks[acks.length - 1];
      expect(s.stats().flushedOffset).to.be.at.least(last.physicalOffset + last.storeSize);
    });

    it('flush - a failed fsync makes flush() reject FLUSH_FAILED with the errno as cause, and every later flush() too', async () => {
      if (!(env.io instanceof SimDisk)) return; // Only the simulated disk fails an fsync on demand.
      const s = await open();
      await s.put({ topic: 'f', body: 'before' });
      await s.flush();
      env.io.fail({ kinds: ['datasync'], code: 'EIO', match: (op) => op.path.includes('/commitlog/') });
      const put = s.put({ topic: 'f', body: 'lost' });
      const e = await rejectKeelCode(s.flush(), 'FLUSH_FAILED');
      expect((e.cause as { code?: string }).code).to.equal('EIO');
      expect((await put).status).to.equal('PUT_OK'); // ASYNC: acknowledged when written, before the fsync.
      const again = await rejectKeelCode(s.flush(), 'FLUSH_FAILED');
      expect((again.cause as { code?: string }).code).to.equal('EIO');
      await rejectKeelCode(s.put({ topic: 'f', body: 'after' }), 'STORE_READ_ONLY');
    });

    it('flush - a failed ConsumeQueue fsync makes flush() reject STORE_READ_ONLY with the errno as cause', async () => {
      if (!(env.io instanceof SimDisk)) return;
      const s = await open();
      await s.put({ topic: 'q', body: 'x' });
      env.io.failSync({ code: 'EIO', match: (op) => op.path.includes('consumequeue') });
      const e = await rejectKeelCode(s.flush(), 'STORE_READ_ONLY');
      expect((e.cause as { code?: string }).code).to.equal('EIO');
      expect(s.stats().state).to.equal('read-only');
    });

    it('flush - a SYNC put whose write hangs past syncFlushTimeoutMs arms no timer meanwhile, and times out when the write lands', async () => {
      if (!(env.io instanceof SimDisk)) return; // Only the simulated disk can hold a write.
      const disk = holdingDisk();
      env = { io: disk.io, dir: '/data/store', cleanup: () => undefined };
      const virtual = new VirtualClock(0);
      const delays: number[] = [];
      const clock: Clock = { now: () => virtual.now(), setTimeout: (fn, ms) => { delays.push(ms); return virtual.setTimeout(fn, ms); } };
      const s = await open({ flushMode: 'SYNC', clock });
      await s.put({ topic: 'warm', body: 'up' });
      disk.hold('write');
      const p = s.put({ topic: 'hang', body: 'x' });
      for (let i = 0; i < 10; i++) await settle();
      await virtual.advance(5001);
      delays.length = 0;
      // Another second of a hanging write: before the fix, the put's timer re-armed every 1 ms.
      await virtual.advance(1000);
      expect(delays.length).to.be.below(10, `timers armed while the write hung: ${delays.length}`);
      disk.release();
      expect((await p).status).to.equal('FLUSH_DISK_TIMEOUT');
    });

    it('arrival - a listener that throws breaks no put and no other listener; the error is reported and counted', async () => {
      const reported: unknown[] = [];
      const s = await open({ onListenerError: (e, topic, queueId) => reported.push([(e as Error).message, topic, queueId]) });
      const seen: string[] = [];
      s.onArrival(() => { throw new Error('listener bug'); });
      s.onArrival(async () => { throw new Error('async listener bug'); });
      s.onArrival((topic) => seen.push(topic));
      const r = await within(s.put({ topic: 'arr', queueId: 1, body: 'x' }), 5000);
      expect(r).to.not.equal('pending');
      expect((r as PutResult).status).to.equal('PUT_OK');
      await settle();
      expect(seen).to.deep.equal(['arr']);
      expect(reported).to.deep.equal([['listener bug', 'arr', 1], ['async listener bug', 'arr', 1]]);
      expect(s.stats().listenerErrors).to.equal(2);
      expect((await s.put({ topic: 'arr', queueId: 1, body: 'y' })).status).to.equal('PUT_OK');
      expect((await readQueue(s, 'arr', 1)).map((m) => m.body.toString())).to.deep.equal(['x', 'y']);
    });

    it('arrival - without onListenerError, listener failures make one process warning', async () => {
      const warnings: Error[] = [];
      const onWarning = (w: Error) => { if (w.name === 'KeelListenerWarning') warnings.push(w); };
      process.on('warning', onWarning);
      try {
        const s = await open();
        s.onArrival(() => { throw new Error('again and again'); });
        for (let i = 0; i < 3; i++) expect((await s.put({ topic: 'w', body: `${i}` })).status).to.equal('PUT_OK');
        await settle();
        expect(warnings.length).to.equal(1);
        expect(warnings[0].message).to.contain('again and again');
        expect(s.stats().listenerErrors).to.equal(3);
      } finally {
        process.off('warning', onWarning);
      }
    });

    it('api - time arguments that are not finite numbers are TypeErrors', async () => {
      const s = await open();
      for (let i = 0; i < 5; i++) await s.put({ topic: 't', body: `${i}` });
      for (const bad of [NaN, Infinity, undefined, '1000']) {
        let error: unknown;
        try { await s.getOffsetByTime('t', 0, bad as number); } catch (e) { error = e; }
        expect(error, `getOffsetByTime(${String(bad)})`).to.be.instanceOf(TypeError);
      }
    });

    it('api - queries, setFlushMode and onArrival on a closed store are STORE_CLOSED', async () => {
      const s = await open();
      await s.put({ topic: 'c', body: 'x' });
      await s.close();
      store = null;
      const calls: [string, () => unknown][] = [
        ['getMaxOffsetInQueue', () => s.getMaxOffsetInQueue('c', 0)],
        ['getMinOffsetInQueue', () => s.getMinOffsetInQueue('c', 0)],
        ['setFlushMode', () => s.setFlushMode('SYNC')],
        ['onArrival', () => s.onArrival(() => undefined)],
        ['topics', () => s.topics()],
      ];
      for (const [name, call] of calls) {
        expect(call, name).to.throw(KeelError).with.property('code', 'STORE_CLOSED');
      }
      await rejectKeelCode(s.flush(), 'STORE_CLOSED');
    });
  });
}

describe('store options', () => {
  const bad: [string, unknown][] = [
    ['an unknown name', { flushmode: 'SYNC' }],
    ['a boolean given as a string', { wholeRecordCrc: 'yes' }],
    ['a string for the whole object', 'SYNC'],
    ['null', null],
    ['an array', []],
    ['a timer of 2^31 ms', { checkpointIntervalMs: 2 ** 31 }],
    ['a sync timeout of 2^31 ms', { syncFlushTimeoutMs: 2 ** 31 }],
    ['a fractional size', { commitLogSegmentSize: 65536.5 }],
    ['a port above 65535', { storeHost: '1.2.3.4:70000' }],
    ['an octet above 255', { storeHost: '1.2.3.256:10911' }],
    ['an io without methods', { io: {} }],
    ['a clock that is a number', { clock: 5 }],
  ];
  for (const [what, options] of bad) {
    it(`options - ${what} is OPTION_INVALID and creates no file`, async () => {
      const t = tmpDir();
      try {
        const dir = path.join(t.dir, 'store');
        const e = await rejectKeelCode(MessageStore.open(dir, options as Partial<StoreOptions>), 'OPTION_INVALID');
        expect(e.message).to.be.a('string').and.not.equal('');
        expect(fs.existsSync(dir), 'the data directory was created').to.equal(false);
      } finally {
        t.cleanup();
      }
    });
  }

  it('options - an unknown name close to a known one is named in the message', () => {
    expect(() => resolveOptions({ flushmode: 'SYNC' } as never)).to.throw(KeelError, /flushMode/);
  });

  it('options - valid options and undefined values pass', () => {
    const o = resolveOptions({ flushMode: 'SYNC', wholeRecordCrc: undefined, checkpointIntervalMs: 2 ** 31 - 1, fileReservedTimeMs: 30 * 24 * 3600 * 1000 });
    expect(o.flushMode).to.equal('SYNC');
    expect(o.wholeRecordCrc).to.equal(true);
  });
});
