import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { MessageStore } from '../../lib/store/message-store';
import type { Message, PutResult } from '../../lib/common/message';
import type { StoreOptions } from '../../lib/store/options';
import { audit } from '../../lib/store/audit';
import { VirtualClock } from '../../lib/common/clock';
import { readQueue } from '../support/store-env';
import { tmpDir } from '../support/tmp';

const EPOCH = Date.UTC(2026, 0, 1);
const BATCHES = 60;
const PER_BATCH = 150;

/** Batch b, message i: sizes from 1 byte to ~1.5 KiB, some with properties, spread over 3 queues. */
function batchOf(b: number): Message[] {
  return Array.from({ length: PER_BATCH }, (_, i) => {
    const n = b * PER_BATCH + i;
    const body = Buffer.alloc(1 + ((n * 37) % 1500));
    for (let k = 0; k < body.length; k++) body[k] = (n * 13 + k * 5) & 0xff;
    return { topic: 'crc', queueId: n % 3, body, tags: n % 4 ? `t${n % 7}` : undefined, properties: n % 5 ? undefined : { seq: String(n) } };
  });
}

interface Acked { ack: PutResult; body: Buffer }

/**
 * Four producers, each putting its next batch once the last is acknowledged:
 * producer k puts ids[k], ids[k + 4], ... Acknowledgements come in log order, so
 * the producers take turns and the log holds the batches in the order of `ids`.
 * The worker is used only in such a pipeline: a write is sent to it while puts
 * of other writes are in flight.
 */
async function pipeline(store: MessageStore, ids: number[]): Promise<Acked[]> {
  const out: Acked[][] = ids.map(() => []);
  await Promise.all([0, 1, 2, 3].map(async (k) => {
    for (let j = k; j < ids.length; j += 4) {
      const msgs = batchOf(ids[j]!);
      const acks = await store.putBatch(msgs);
      out[j] = acks.map((ack, i) => ({ ack, body: msgs[i]!.body as Buffer }));
    }
  }));
  return out.flat();
}

const writeAll = (store: MessageStore): Promise<Acked[]> => pipeline(store, Array.from({ length: BATCHES }, (_, b) => b));

/**
 * Puts batches 15-17 (~336 KB, a write of their own), a ~1.6 MB batch (1 to 14)
 * and batch 18 in one go. The big one is sealed when batch 18 arrives, with
 * 15-17 still in flight, so it goes to the worker (when online), which needs
 * milliseconds for it.
 */
function handOff(store: MessageStore): { batches: Message[][]; outcomes: Promise<PutResult[]>[] } {
  const batches = [batchOf(15), batchOf(16), batchOf(17), Array.from({ length: 14 }, (_, k) => batchOf(k + 1)).flat(), batchOf(18)];
  return { batches, outcomes: batches.map((msgs) => store.putBatch(msgs)) };
}
handOff.messages = 18 * PER_BATCH;

async function handOffAll(store: MessageStore): Promise<Acked[]> {
  const { batches, outcomes } = handOff(store);
  const acks = await Promise.all(outcomes);
  return acks.flatMap((a, k) => a.map((ack, i) => ({ ack, body: batches[k]![i]!.body as Buffer })));
}

function commitLogBytes(dir: string): Buffer {
  const cl = path.join(dir, 'commitlog');
  return Buffer.concat(fs.readdirSync(cl).sort().map((f) => fs.readFileSync(path.join(cl, f))));
}

describe('CRC worker', function () {
  this.timeout(60_000);
  const base = (extra: Partial<StoreOptions>): Partial<StoreOptions> => ({ commitLogSegmentSize: 4 * 1024 * 1024, maxBodySize: 64 * 1024, crcWorkerMinBytes: 4096, ...extra });

  /**
   * Opens a store and repeats handOff() until a write was stamped on the worker:
   * it starts on first use, which takes a while on a busy machine.
   */
  async function openWithWorkerOnline(dir: string, clock: VirtualClock): Promise<{ store: MessageStore; warmups: number }> {
    const store = await MessageStore.open(dir, base({ clock }));
    let warmups = 0;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && store.stats().crcWorkerWrites === 0) {
      await handOffAll(store);
      warmups++;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(store.stats().crcWorkerWrites, 'the worker never came online').to.be.above(0);
    return { store, warmups };
  }

  it('crc worker - a log checksummed on the worker is byte for byte the log checksummed inline', async () => {
    const t = tmpDir();
    try {
      const withWorker = path.join(t.dir, 'worker');
      const inline = path.join(t.dir, 'inline');
      // The same clock reading on both sides, so every store timestamp matches.
      const { store: a, warmups } = await openWithWorkerOnline(withWorker, new VirtualClock(EPOCH));
      const b = await MessageStore.open(inline, base({ clock: new VirtualClock(EPOCH), crcWorker: false }));
      for (let i = 0; i < warmups; i++) await handOffAll(b);
      expect(b.stats().appendOffset).to.equal(a.stats().appendOffset);
      const before = a.stats().crcWorkerWrites;
      for (const store of [a, b]) {
        await writeAll(store);
        await handOffAll(store);
        await writeAll(store);
      }
      expect(a.stats().crcWorkerWrites - before).to.be.at.least(1);
      expect(b.stats().crcWorkerWrites).to.equal(0);
      await a.close();
      await b.close();
      const la = commitLogBytes(withWorker);
      const lb = commitLogBytes(inline);
      expect(la.length).to.equal(lb.length);
      expect(la.equals(lb)).to.equal(true, 'the two CommitLogs differ');
      for (const dir of [withWorker, inline]) {
        const report = await audit(dir);
        expect(report.damage).to.deep.equal([]);
      }
    } finally {
      t.cleanup();
    }
  });

  /** One kill of the worker with handOff() in flight; returns how many of its puts failed. Checks everything else. */
  async function killWorkerOnce(): Promise<number> {
    const t = tmpDir();
    try {
      const { store, warmups } = await openWithWorkerOnline(t.dir, new VirtualClock(EPOCH));
      const acked: Acked[] = await writeAll(store);
      // Kill the thread from outside, as a crash of the worker would.
      const worker = (store as unknown as { commitLog: { crc: { worker: { terminate(): Promise<number> } | null } } }).commitLog.crc.worker;
      expect(worker).to.not.equal(null);
      const { batches, outcomes } = handOff(store);
      await worker!.terminate();
      const settled = await Promise.allSettled(outcomes);
      let failed = 0;
      settled.forEach((o, k) => {
        if (o.status === 'fulfilled') o.value.forEach((ack, i) => acked.push({ ack, body: batches[k]![i]!.body as Buffer }));
        else { expect((o.reason as { code?: string }).code).to.equal('WRITE_FAILED'); failed++; }
      });
      // The failed write is cut off before puts are taken again.
      for (let i = 0; i < 500 && store.stats().writeError !== null; i++) await new Promise((r) => setTimeout(r, 2));
      expect(store.stats().writeError).to.equal(null);
      const after = store.stats().crcWorkerWrites;
      acked.push(...(await writeAll(store)));
      expect(store.stats().crcWorkerWrites).to.equal(after, 'a dead worker was still given work');
      expect(acked.every((r) => r.ack.status === 'PUT_OK')).to.equal(true);
      await store.close();
      expect((await audit(t.dir)).damage).to.deep.equal([]);
      const reopened = await MessageStore.open(t.dir, base({}));
      try {
        const byOffset = new Map(acked.map((r) => [r.ack.physicalOffset, r.body]));
        let n = 0;
        let checked = 0;
        for (let q = 0; q < 3; q++) {
          for (const m of await readQueue(reopened, 'crc', q)) {
            n++;
            const body = byOffset.get(m.physicalOffset);
            if (body) { expect(m.body.equals(body)).to.equal(true, `body at ${m.physicalOffset}`); checked++; }
          }
        }
        // Every acknowledged message, and nothing of the failed puts.
        expect(checked).to.equal(acked.length);
        expect(n).to.equal(acked.length + warmups * handOff.messages);
      } finally {
        await reopened.close();
      }
      return failed;
    } finally {
      t.cleanup();
    }
  }

  it('crc worker - a worker that dies holding writes fails just those puts (WRITE_FAILED, rolled back); later puts are stamped inline', async () => {
    // The kill normally lands while the worker stamps the 1.6 MB batch (milliseconds of work);
    // on a starved machine the worker may finish first, so the kill is tried again.
    let failed = 0;
    for (let attempt = 0; attempt < 5 && failed === 0; attempt++) failed = await killWorkerOnce();
    expect(failed, 'the worker never died holding a write').to.be.above(0);
  });
});
