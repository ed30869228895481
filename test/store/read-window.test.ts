import { expect } from 'chai';
import { MessageStore } from '../../lib/store/message-store';
import type { FlushMode } from '../../lib/store/options';
import type { PutResult } from '../../lib/common/message';
import { putAgainAfterCutBack, untilTurns } from './cut-back';
import { SimDisk, type OpKind } from '../../lib/io/sim-disk';
import { SMALL } from '../support/store-env';

const DIR = '/data/store';
const TOPIC = 'w';
const WINDOW = 1024 * 1024;

/**
 * A SimDisk whose datasyncs can be held (a slow fsync), and that counts reads:
 * a lookup that reads nothing from the disk was served from the read window.
 */
function heldDisk(): { disk: SimDisk; holdSyncs(on: boolean): void; reads(): number } {
  let hold = false;
  let reads = 0;
  const held: (() => void)[] = [];
  const disk = new SimDisk({
    dirs: ['/data'],
    pause: async (kind: OpKind) => {
      if (kind === 'read') reads++;
      await new Promise((r) => setImmediate(r));
      if (kind === 'datasync' && hold) await new Promise<void>((r) => held.push(r));
    },
  });
  return {
    disk,
    holdSyncs(on) {
      hold = on;
      if (!on) for (const r of held.splice(0)) r();
    },
    reads: () => reads,
  };
}


function body(tag: string, i: number): Buffer {
  return Buffer.from(`${tag}-${i}-${'x'.repeat(100)}`);
}

/** What a consumer can get at each of these offsets, by lookup and through the queue. */
async function visibleBodies(store: MessageStore, results: PutResult[]): Promise<(string | null)[]> {
  const out: (string | null)[] = [];
  for (const r of results) out.push((await store.getMessage(r.physicalOffset))?.body.toString() ?? null);
  return out;
}

describe('store - reads served from memory (read window, read-ahead)', function () {
  this.timeout(20_000);

  for (const mode of ['ASYNC', 'SYNC'] as FlushMode[]) {
    it(`read window - ${mode}: a lookup never returns a record beyond the durable position, also right after a failed write was cut back`, async () => {
      const h = heldDisk();
      const store = await MessageStore.open(DIR, { io: h.disk, flushMode: mode, readWindowBytes: WINDOW });
      try {
        const first = await store.putBatch(Array.from({ length: 20 }, (_, i) => ({ topic: TOPIC, queueId: 0, body: body('a', i) })));
        // Acknowledged messages come from memory: no disk read.
        const readsBefore = h.reads();
        expect(await visibleBodies(store, first)).to.deep.equal(first.map((_, i) => body('a', i).toString()));
        expect(h.reads()).to.equal(readsBefore);

        // A write that fails after storing part of itself: its puts are rejected and the file cut back.
        h.disk.failWrite({ code: 'EIO', partialBytes: 300 });
        const failed = store.putBatch(Array.from({ length: 10 }, (_, i) => ({ topic: TOPIC, queueId: 0, body: body('lost', i) })));
        await failed.then(() => expect.fail('the failed write was acknowledged'), (e: { code?: string }) => expect(e.code).to.equal('WRITE_FAILED'));
        await untilTurns(() => store.stats().writeError === null);
        const end = first[first.length - 1]!;
        const cutAt = end.physicalOffset + end.storeSize;
        expect(store.stats().appendOffset).to.equal(cutAt);
        expect(await store.getMessage(cutAt)).to.equal(null);

        // The next puts take the same offsets. In SYNC mode, written but not yet fsynced is not visible.
        const second = await putAgainAfterCutBack({ store, mode, topic: TOPIC, cutAt, holdSyncs: (on) => h.holdSyncs(on), body: (i) => body('b', i) });
        const readsAfter = h.reads();
        expect(await visibleBodies(store, second)).to.deep.equal(second.map((_, i) => body('b', i).toString()));
        const q = await store.getMessages(TOPIC, 0, 0, 64);
        expect(q.messages.map((m) => m.body.toString())).to.deep.equal([
          ...first.map((_, i) => body('a', i).toString()),
          ...second.map((_, i) => body('b', i).toString()),
        ]);
        expect(h.reads(), 'served from memory').to.equal(readsAfter);
      } finally {
        h.holdSyncs(false);
        await store.close();
      }
    });
  }

  it('read window - a lookup of a record still being written finds nothing; then finds the record', async () => {
    const h = heldDisk();
    const store = await MessageStore.open(DIR, { io: h.disk, flushMode: 'ASYNC', readWindowBytes: WINDOW });
    try {
      const a = await store.put({ topic: TOPIC, queueId: 0, body: body('a', 0) });
      const next = a.physicalOffset + a.storeSize;
      const p = store.put({ topic: TOPIC, queueId: 0, body: body('a', 1) });
      // Encoded into the write buffer, not yet written: nothing there for a reader.
      expect(store.stats().appendOffset).to.be.greaterThan(next);
      expect(await store.getMessage(next)).to.equal(null);
      const r = await p;
      expect((await store.getMessage(r.physicalOffset))?.body.toString()).to.equal(body('a', 1).toString());
    } finally {
      await store.close();
    }
  });

  it('read-ahead - a consumer reading in order gets OFFSET_MOVED, never bytes kept in memory, once the reaper deleted the segment', async () => {
    // No read window: the reads go to the disk, and what they read past the request is kept.
    const store = await MessageStore.open(DIR, { io: new SimDisk({ dirs: ['/data'] }), flushMode: 'ASYNC', ...SMALL, consumeQueueEntries: 1024, readWindowBytes: 0, deleteFileBatchMax: 1 });
    try {
      const sent: string[] = [];
      for (let i = 0; i < 1200; i += 100) {
        const batch = Array.from({ length: 100 }, (_, k) => ({ topic: TOPIC, queueId: 0, body: body('r', i + k) }));
        await store.putBatch(batch);
        sent.push(...batch.map((m) => m.body.toString()));
      }
      // The reaper deletes only flushed segments.
      await store.flush();
      const firstSegmentEnd = SMALL.commitLogSegmentSize;
      // Reads the first 10 messages: the rest of the first segment is now in memory. The queue's first file
      // outlives the segment (it also points into later ones), so the next read asks for deleted records.
      const head = await store.getMessages(TOPIC, 0, 0, 10);
      expect(head.messages.map((m) => m.body.toString())).to.deep.equal(sent.slice(0, 10));
      expect(head.messages[9]!.physicalOffset).to.be.lessThan(firstSegmentEnd);
      // The consumer asks while the reaper is at work: the segment is gone, the queue not yet corrected.
      const deleting = store.deleteExpired({ force: true });
      await untilTurns(() => store.stats().minOffset === firstSegmentEnd);
      const next = await store.getMessages(TOPIC, 0, 10, 10);
      expect((await deleting).deletedSegments.length).to.equal(1);
      expect(next.status).to.equal('OFFSET_MOVED');
      expect(next.messages).to.deep.equal([]);
      // The consumer goes on from the new minimum with what is still stored.
      const after = await store.getMessages(TOPIC, 0, next.nextBeginOffset, 5);
      expect(after.messages.every((m) => m.physicalOffset >= firstSegmentEnd)).to.equal(true);
      expect(after.messages.map((m) => m.body.toString())).to.deep.equal(sent.slice(next.nextBeginOffset, next.nextBeginOffset + 5));
    } finally {
      await store.close();
    }
  });

  it('read window - off by default: every read goes to the disk', async () => {
    const h = heldDisk();
    const store = await MessageStore.open(DIR, { io: h.disk, flushMode: 'ASYNC' });
    try {
      const r = await store.put({ topic: TOPIC, queueId: 0, body: body('a', 0) });
      const before = h.reads();
      expect((await store.getMessage(r.physicalOffset))?.body.toString()).to.equal(body('a', 0).toString());
      expect(h.reads()).to.be.greaterThan(before);
    } finally {
      await store.close();
    }
  });

  it('read window - a window smaller than one write keeps its newest bytes and reads the rest from the disk', async () => {
    const store = await MessageStore.open(DIR, { io: new SimDisk({ dirs: ['/data'] }), flushMode: 'ASYNC', readWindowBytes: 1000 });
    try {
      const rs = await store.putBatch(Array.from({ length: 30 }, (_, i) => ({ topic: TOPIC, queueId: 0, body: body('a', i) })));
      expect(await visibleBodies(store, rs)).to.deep.equal(rs.map((_, i) => body('a', i).toString()));
      const more = await store.putBatch(Array.from({ length: 30 }, (_, i) => ({ topic: TOPIC, queueId: 0, body: body('b', i) })));
      expect(await visibleBodies(store, [...rs, ...more])).to.deep.equal([
        ...rs.map((_, i) => body('a', i).toString()),
        ...more.map((_, i) => body('b', i).toString()),
      ]);
    } finally {
      await store.close();
    }
  });
});
