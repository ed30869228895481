import { expect } from 'chai';
import { MessageStore } from '../../lib/store/message-store';
import type { FlushMode } from '../../lib/store/options';
import type { PutResult } from '../../lib/common/message';
import { putAgainAfterCutBack, untilTurns } from './cut-back';
import type { FileHandle, FileIO } from '../../lib/io/file-io';
import { SimDisk } from '../../lib/io/sim-disk';

const DIR = '/data/store';
const TOPIC = 'm';

/**
 * A SimDisk whose CommitLog handles count the reads and writes done on the
 * main thread (readSync, writeSync) and through the thread pool (read), and
 * whose datasyncs can be held (a slow fsync).
 */
function countingDisk(): { disk: SimDisk; io: FileIO; counts: { syncReads: number; asyncReads: number; syncWrites: number }; holdSyncs(on: boolean): void } {
  const disk = new SimDisk({ dirs: ['/data'] });
  const counts = { syncReads: 0, asyncReads: 0, syncWrites: 0 };
  let hold = false;
  const held: (() => void)[] = [];
  const wrap = (h: FileHandle): FileHandle => ({
    path: h.path,
    read: (buf, off, len, pos) => { counts.asyncReads++; return h.read(buf, off, len, pos); },
    readSync: (buf, off, len, pos) => { counts.syncReads++; return h.readSync!(buf, off, len, pos); },
    write: (buf, off, len, pos) => h.write(buf, off, len, pos),
    writeSync: (buf, off, len, pos) => { counts.syncWrites++; h.writeSync!(buf, off, len, pos); },
    datasync: async () => {
      if (hold) await new Promise<void>((r) => held.push(r));
      return h.datasync();
    },
    truncate: (size) => h.truncate(size),
    size: () => h.size(),
    close: () => h.close(),
  });
  const io: FileIO = {
    open: async (p, o) => {
      const h = await disk.open(p, o);
      return p.includes('/commitlog/') ? wrap(h) : h;
    },
    readdir: (p) => disk.readdir(p), mkdirp: (p) => disk.mkdirp(p), stat: (p) => disk.stat(p), unlink: (p) => disk.unlink(p),
    rmdir: (p) => disk.rmdir(p), rename: (a, b) => disk.rename(a, b), syncDir: (p) => disk.syncDir(p), lock: (p) => disk.lock(p),
    statfs: (p) => disk.statfs(p),
  };
  return {
    disk, io, counts,
    holdSyncs(on) {
      hold = on;
      if (!on) for (const r of held.splice(0)) r();
    },
  };
}


function body(tag: string, i: number): string {
  return `${tag}-${i}-${'y'.repeat(100)}`;
}

/** What a consumer gets through the queue from `from` on, and by lookup at each offset. */
async function visible(store: MessageStore, from: number, results: PutResult[]): Promise<{ queue: string[]; lookups: (string | null)[] }> {
  const q = await store.getMessages(TOPIC, 0, from, 1000);
  const lookups: (string | null)[] = [];
  for (const r of results) lookups.push((await store.getMessage(r.physicalOffset))?.body.toString() ?? null);
  return { queue: q.messages.map((m) => m.body.toString()), lookups };
}

describe('store - writes and reads on the main thread', function () {
  this.timeout(20_000);

  for (const mode of ['ASYNC', 'SYNC'] as FlushMode[]) {
    it(`main thread - ${mode}: a consumer never reads beyond the durable position, also right after a failed write was cut back`, async () => {
      const t = countingDisk();
      const store = await MessageStore.open(DIR, { io: t.io, flushMode: mode });
      try {
        // One producer awaiting each put: each write is small and nothing else is in flight.
        const first: PutResult[] = [];
        for (let i = 0; i < 20; i++) first.push(await store.put({ topic: TOPIC, queueId: 0, body: body('a', i) }));
        expect(t.counts.syncWrites, 'puts written on the main thread').to.be.greaterThan(0);
        const asyncReads = t.counts.asyncReads;
        const syncReads = t.counts.syncReads;
        const bodiesA = first.map((_, i) => body('a', i));
        expect(await visible(store, 0, first)).to.deep.equal({ queue: bodiesA, lookups: bodiesA });
        expect(t.counts.syncReads, 'fresh records read on the main thread').to.be.greaterThan(syncReads);
        expect(t.counts.asyncReads).to.equal(asyncReads);

        // A write on the main thread that fails after storing part of itself: its puts are rejected and the file cut back.
        const syncWrites = t.counts.syncWrites;
        t.disk.failWrite({ code: 'EIO', partialBytes: 300, match: (op) => op.path.includes('/commitlog/') });
        const failed = store.putBatch(Array.from({ length: 10 }, (_, i) => ({ topic: TOPIC, queueId: 0, body: body('lost', i) })));
        await failed.then(() => expect.fail('the failed write was acknowledged'), (e: { code?: string }) => expect(e.code).to.equal('WRITE_FAILED'));
        expect(t.counts.syncWrites, 'the failed write was issued on the main thread').to.equal(syncWrites + 1);
        await untilTurns(() => store.stats().writeError === null);
        const end = first[first.length - 1]!;
        const cutAt = end.physicalOffset + end.storeSize;
        expect(store.stats().appendOffset).to.equal(cutAt);
        expect(await store.getMessage(cutAt)).to.equal(null);
        expect((await store.getMessages(TOPIC, 0, 20, 32)).status).to.equal('NO_NEW_MSG');

        // The next puts take the same offsets. In SYNC mode, written but not yet fsynced is not visible.
        const second = await putAgainAfterCutBack({ store, mode, topic: TOPIC, cutAt, holdSyncs: (on) => t.holdSyncs(on), body: (i) => body('b', i) });
        const bodiesB = second.map((_, i) => body('b', i));
        expect(await visible(store, 0, [...first, ...second])).to.deep.equal({ queue: [...bodiesA, ...bodiesB], lookups: [...bodiesA, ...bodiesB] });
      } finally {
        t.holdSyncs(false);
        await store.close();
      }
    });
  }

  for (const mode of ['ASYNC', 'SYNC'] as FlushMode[]) {
    it(`fresh tail - ${mode}: a consumer following the producers reads from memory, never beyond the durable position, also right after a failed write was cut back`, async () => {
      const t = countingDisk();
      const store = await MessageStore.open(DIR, { io: t.io, flushMode: mode });
      const reads = () => t.counts.syncReads + t.counts.asyncReads;
      const queue = async (from: number) => (await store.getMessages(TOPIC, 0, from, 1000)).messages.map((m) => m.body.toString());
      try {
        // A consumer waiting at the end of the queue (as a long poll does) before the producers write on.
        await store.put({ topic: TOPIC, queueId: 0, body: body('a', 0) });
        expect((await store.getMessages(TOPIC, 0, 1, 32)).status).to.equal('NO_NEW_MSG');
        const first: PutResult[] = [];
        for (let i = 1; i < 20; i++) first.push(await store.put({ topic: TOPIC, queueId: 0, body: body('a', i) }));
        const bodiesA = first.map((_, i) => body('a', i + 1));
        let before = reads();
        expect(await queue(1)).to.deep.equal(bodiesA);
        expect(reads(), 'records just written are served without a file read').to.equal(before);

        const next = 1 + bodiesA.length;

        // A failed write, cut back: none of its bytes is served, from memory or the file.
        t.disk.failWrite({ code: 'EIO', partialBytes: 300, match: (op) => op.path.includes('/commitlog/') });
        const failed = store.putBatch(Array.from({ length: 10 }, (_, i) => ({ topic: TOPIC, queueId: 0, body: body('lost', i) })));
        await failed.then(() => expect.fail('the failed write was acknowledged'), (e: { code?: string }) => expect(e.code).to.equal('WRITE_FAILED'));
        await untilTurns(() => store.stats().writeError === null);
        expect((await store.getMessages(TOPIC, 0, next, 32)).status).to.equal('NO_NEW_MSG');
        const end = first[first.length - 1]!;
        const cutAt = end.physicalOffset + end.storeSize;

        // The puts after the cut take the same offsets; what is served is theirs, from memory.
        const second = await putAgainAfterCutBack({ store, mode, topic: TOPIC, cutAt, holdSyncs: (on) => t.holdSyncs(on), body: (i) => body('b', i) });
        expect(second[0]!.physicalOffset).to.equal(cutAt);
        before = reads();
        expect(await queue(next)).to.deep.equal(second.map((_, i) => body('b', i)));
        expect(reads(), 'the puts after the cut are served from memory').to.equal(before);
        expect(await queue(0)).to.deep.equal([body('a', 0), ...bodiesA, ...second.map((_, i) => body('b', i))]);
      } finally {
        t.holdSyncs(false);
        await store.close();
      }
    });
  }

  it('main thread - entries not yet in the ConsumeQueue files are served, and survive a crash of the process', async () => {
    const disk = new SimDisk({ dirs: ['/data'] });
    let store = await MessageStore.open(DIR, { io: disk, flushMode: 'ASYNC' });
    const results: PutResult[] = [];
    for (let i = 0; i < 30; i++) results.push(await store.put({ topic: TOPIC, queueId: 0, body: body('c', i) }));
    const bodies = results.map((_, i) => body('c', i));
    expect(await visible(store, 0, results)).to.deep.equal({ queue: bodies, lookups: bodies });
    // Killed before the index writes of the last turns: recovery finds every acknowledged put in the CommitLog.
    disk.killProcess();
    store = await MessageStore.open(DIR, { io: disk, flushMode: 'ASYNC' });
    try {
      expect(await visible(store, 0, results)).to.deep.equal({ queue: bodies, lookups: bodies });
    } finally {
      await store.close();
    }
  });
});
