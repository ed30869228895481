import { expect } from 'chai';
import { MessageStore } from '../../lib/store/message-store';
import type { FlushMode, StoreOptions } from '../../lib/store/options';
import { VirtualClock } from '../../lib/common/clock';
import { SimDisk } from '../../lib/io/sim-disk';
import { audit } from '../../lib/store/audit';
import { CQ_ENTRY_SIZE, decodeEntry } from '../../lib/store/consume-queue';
import { DATA_DIR, EPOCH, formatDamage, readAll, simOptions } from '../faults/harness';

/** Options where nothing flushes the CommitLog in ASYNC mode but flush() and close(): the tail stays in the page cache. */
function lazy(disk: SimDisk, clock: VirtualClock, mode: FlushMode): Partial<StoreOptions> {
  return { ...simOptions(disk, clock, mode), asyncFlushIntervalMs: 1e9, asyncFlushThoroughIntervalMs: 1e9, asyncFlushLeastBytes: 1 << 30 };
}

function body(i: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let k = 0; k < size; k++) b[k] = (i * 31 + k * 7) & 0xff;
  return b;
}

async function putMany(store: MessageStore, from: number, n: number, size: number): Promise<void> {
  await Promise.all(Array.from({ length: n }, (_, i) => store.put({ topic: 'orders', queueId: (from + i) % 2, body: body(from + i, size), properties: { N: String(from + i) } })));
}

/** Every message readable through the queues (throws CORRUPT_STORE on a damaged record), by its N property. */
async function readNs(store: MessageStore): Promise<number[]> {
  const r = await readAll(store);
  expect(r.violations).to.deep.equal([]);
  return r.msgs.map((m) => Number(m.properties['N'])).sort((a, b) => a - b);
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

async function auditClean(disk: SimDisk): Promise<void> {
  expect(formatDamage(await audit(DATA_DIR, { io: disk }))).to.deep.equal([]);
}

/** How many ConsumeQueue entries of topic orders on `disk` point at or past `offset` of the CommitLog. */
async function indexEntriesFrom(disk: SimDisk, offset: number): Promise<number> {
  let n = 0;
  for (const q of ['0', '1']) {
    const dir = `${DATA_DIR}/consumequeue/orders/${q}`;
    for (const name of await disk.readdir(dir)) {
      const h = await disk.open(`${dir}/${name}`);
      const size = (await disk.stat(`${dir}/${name}`))!.size;
      const buf = Buffer.alloc(size);
      await h.read(buf, 0, size, 0);
      await h.close();
      for (let at = 0; at + CQ_ENTRY_SIZE <= size; at += CQ_ENTRY_SIZE) {
        const e = decodeEntry(buf, at, 0);
        if (e.size > 0 && e.physicalOffset >= offset) n++;
      }
    }
  }
  return n;
}

describe('recovery durability (issue 10 items 1-3, on SimDisk)', function () {
  this.timeout(30_000);

  for (const mode of ['SYNC', 'ASYNC'] as const) {
    it(`kill, reopen (${mode}), power cut: the tail recovered from the page cache across several segments is durable before it is served (item 1)`, async () => {
      const clock = new VirtualClock(EPOCH);
      const disk = new SimDisk({ now: () => clock.now(), dirs: ['/'] });
      const first = await MessageStore.open(DATA_DIR, lazy(disk, clock, 'ASYNC'));
      // 40 records of ~400 bytes: a tail of four 4 KiB segments, written and never fsynced.
      await putMany(first, 0, 40, 300);
      expect(first.stats().writtenOffset - first.stats().flushedOffset).to.be.greaterThan(3 * 4096);
      // The process dies; the page cache keeps the tail. The next process validates it there.
      const afterKill = disk.killed();
      const clock2 = new VirtualClock(EPOCH + 60_000);
      const second = await MessageStore.open(DATA_DIR, lazy(afterKill, clock2, mode));
      expect(await readNs(second)).to.deep.equal(range(40));
      await clock2.advance(100);
      // Power goes before this process syncs anything itself.
      const afterCut = afterKill.crash({ keepUnsynced: 'none' });
      const third = await MessageStore.open(DATA_DIR, lazy(afterCut, new VirtualClock(EPOCH + 120_000), mode));
      try {
        // What the second process served is still there, and nothing damaged is served.
        expect(await readNs(third)).to.deep.equal(range(40));
      } finally {
        await third.close();
      }
      await auditClean(afterCut);
    });
  }

  it('a power cut in a store\'s first lifetime keeps every directory it made: consumequeue/ survives, index recovery is incremental (item 2)', async () => {
    const clock = new VirtualClock(EPOCH);
    const disk = new SimDisk({ now: () => clock.now(), dirs: ['/'] });
    // Two levels above the data directory are made by open() too.
    const dir = '/srv/keelmq/data';
    const store = await MessageStore.open(dir, simOptions(disk, clock, 'SYNC'));
    await putMany(store, 0, 10, 100);
    await store.flush();
    // A checkpoint that knows the queues.
    await clock.advance(100);
    const after = disk.crash({ keepUnsynced: 'none' });
    expect(await after.stat(`${dir}/consumequeue/orders/0`)).to.not.equal(null);
    const again = await MessageStore.open(dir, simOptions(after, new VirtualClock(EPOCH + 60_000), 'SYNC'));
    try {
      expect(again.recovery.fullRebuild).to.equal(false);
      expect(again.recovery.rebuiltQueues).to.deep.equal([]);
      expect(await readNs(again)).to.deep.equal(range(10));
    } finally {
      await again.close();
    }
  });

  it('ASYNC: after a power cut, recovery scans the unflushed tail, not the whole log; no queue is rebuilt (item 3)', async () => {
    const clock = new VirtualClock(EPOCH);
    const disk = new SimDisk({ now: () => clock.now(), dirs: ['/'] });
    const store = await MessageStore.open(DATA_DIR, lazy(disk, clock, 'ASYNC'));
    // ~60 KiB over 15 segments, durable, with a checkpoint saying so.
    await putMany(store, 0, 150, 300);
    await store.flush();
    await clock.advance(100);
    // A small tail, acknowledged (in the OS) but not flushed, and checkpoints written meanwhile: each
    // fsyncs the tail's ConsumeQueue entries. Real time between the turns lets the last one land.
    await putMany(store, 150, 5, 100);
    for (let i = 0; i < 2; i++) {
      await clock.advance(100);
      await new Promise((r) => setTimeout(r, 20));
    }
    const logEnd = store.stats().writtenOffset;
    const durableEnd = store.stats().flushedOffset;
    const after = disk.crash({ keepUnsynced: 'none' });
    // The state the checkpoint must not mistake for a durable index: entries on disk for records the cut took.
    expect(await indexEntriesFrom(after, durableEnd), 'ConsumeQueue entries on disk for the lost tail').to.be.greaterThan(0);
    const again = await MessageStore.open(DATA_DIR, lazy(after, new VirtualClock(EPOCH + 60_000), 'ASYNC'));
    try {
      expect(again.recovery.rebuiltQueues).to.deep.equal([]);
      expect(again.recovery.fullRebuild).to.equal(false);
      // The last durable record and what survived of the tail: far below the 60 KiB of the log.
      expect(again.recovery.scannedBytes).to.be.lessThan(4096);
      expect(logEnd).to.be.greaterThan(15 * 4096);
      expect(await readNs(again)).to.deep.equal(range(150));
    } finally {
      await again.close();
    }
    await auditClean(after);
  });
});
