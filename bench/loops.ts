/**
 * The timed loops, shared by keelmq and every peer. Each stops at whichever
 * comes first, the message count or the time budget, and times every
 * operation with process.hrtime.bigint.
 */
import type { Progress } from './progress';
import { now, secondsSince, type Measurement } from './stats';
import type { BodyPool, SystemStore } from './system';

export interface Budget {
  count: number;
  seconds: number;
}

/**
 * A synchronous API (better-sqlite3) or a run of already-resolved promises
 * never returns to the event loop; yielding every 50 ms lets timers (such as
 * a store's timed flush) run as they would in an application.
 */
class Yielder {
  private last = now();
  async maybe(): Promise<void> {
    const t = now();
    if (t - this.last < 50_000_000n) return;
    this.last = t;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/**
 * `producers` loops appending batches back to back (each awaits its batch before
 * the next, so several keep a pipeline full); one latency per batch call.
 */
export async function appendBatches(
  store: SystemStore,
  pool: BodyPool,
  batchSize: number,
  budget: Budget,
  progress: Progress,
  producers = 1,
): Promise<Measurement> {
  const latenciesNs: number[] = [];
  const deadline = now() + BigInt(Math.round(budget.seconds * 1e9));
  const yielder = new Yielder();
  const start = now();
  let taken = 0;
  let done = 0;
  const producer = async (): Promise<void> => {
    while (taken < budget.count && now() < deadline) {
      const batch = pool.slice(taken, Math.min(batchSize, budget.count - taken));
      taken += batch.length;
      const t = now();
      await store.appendBatch(batch);
      latenciesNs.push(Number(now() - t));
      done += batch.length;
      progress.update(done, budget.count);
      await yielder.maybe();
    }
  };
  await Promise.all(Array.from({ length: producers }, producer));
  return { messages: done, bodyBytes: pool.bodyBytes, seconds: secondsSince(start), latenciesNs };
}

/**
 * `producers` concurrent producers, each awaiting every put before the next:
 * the shape that makes group commit pay. Bodies are taken in order, so what
 * is stored is body 0, 1, 2, … as for appendBatches.
 */
export async function concurrentPuts(
  store: SystemStore,
  pool: BodyPool,
  producers: number,
  budget: Budget,
  progress: Progress,
): Promise<Measurement> {
  const latenciesNs: number[] = [];
  const deadline = now() + BigInt(Math.round(budget.seconds * 1e9));
  const yielder = new Yielder();
  let next = 0;
  let done = 0;
  const producer = async (): Promise<void> => {
    while (next < budget.count && now() < deadline) {
      const body = pool.at(next++);
      const t = now();
      await store.append(body);
      latenciesNs.push(Number(now() - t));
      done++;
      progress.update(done, budget.count);
      await yielder.maybe();
    }
  };
  const start = now();
  await Promise.all(Array.from({ length: producers }, producer));
  return { messages: done, bodyBytes: pool.bodyBytes, seconds: secondsSince(start), latenciesNs };
}

/**
 * Reads everything back in order and checks it: the count, every length, and
 * every 64th body byte for byte. The latency of a message is the time since
 * the previous one was delivered, i.e. what a sequential consumer waits.
 */
export async function readBack(store: SystemStore, pool: BodyPool, expected: number, progress: Progress): Promise<Measurement> {
  const latenciesNs: number[] = [];
  let n = 0;
  const start = now();
  let last = start;
  await store.readAll((body) => {
    const t = now();
    latenciesNs.push(Number(t - last));
    last = t;
    if (body.length !== pool.bodyBytes || ((n & 63) === 0 && !body.equals(pool.at(n)))) {
      throw new Error(`read back message ${n}: ${body.length} bytes, not the ${pool.bodyBytes}-byte body that was appended`);
    }
    n++;
    progress.update(n, expected);
  });
  const seconds = secondsSince(start);
  if (n !== expected) throw new Error(`read back ${n} messages, expected ${expected}`);
  return { messages: n, bodyBytes: pool.bodyBytes, seconds, latenciesNs };
}
