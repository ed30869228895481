/**
 * keelmq driven through the same System interface as the peers, plus the
 * workloads only a message store has: lookup by physical offset, and the
 * fast fill that the recovery and rebuild workloads start from.
 */
import { MessageStore, type Message, type MessageExt, type PutResult } from '../lib/index';
import type { Budget } from './loops';
import type { Progress } from './progress';
import { now, secondsSince, type Measurement } from './stats';
import type { BodyPool, System, SystemStore } from './system';

export const TOPIC = 'bench';
export const QUEUE_ID = 0;
/** Messages per getMessages call; RocketMQ's pull batch is 32, a bench consumer can ask for more. */
const PULL_BATCH = 256;

function toMessages(bodies: readonly Buffer[]): Message[] {
  return bodies.map((body) => ({ topic: TOPIC, queueId: QUEUE_ID, body }));
}

/** A put that is stored but not known durable (FLUSH_DISK_TIMEOUT) must not be counted as an acknowledged durable put. */
function checkStatus(r: PutResult): void {
  if (r.status !== 'PUT_OK') throw new Error(`keelmq put at offset ${r.physicalOffset} returned ${r.status}`);
}

/** Reads the queue from its first offset to its end, PULL_BATCH at a time. */
export async function readQueue(store: MessageStore, visit: (m: MessageExt) => void): Promise<void> {
  let offset = store.getMinOffsetInQueue(TOPIC, QUEUE_ID);
  for (;;) {
    const r = await store.getMessages(TOPIC, QUEUE_ID, offset, PULL_BATCH);
    if (r.status === 'NO_NEW_MSG') return;
    if (r.status !== 'FOUND') throw new Error(`keelmq getMessages(${TOPIC}, ${QUEUE_ID}, ${offset}) returned ${r.status}`);
    for (const m of r.messages) visit(m);
    offset = r.nextBeginOffset;
  }
}

export const keelmq: System = {
  name: 'keelmq',
  settings: {
    async: 'flushMode ASYNC (timed flush)',
    sync: 'flushMode SYNC (group commit)',
    'per-put-fsync': 'flushMode SYNC, one producer: one fsync per put',
  },
  concurrentPuts: true,
  async open(dir: string, durable: boolean): Promise<SystemStore> {
    const store = await MessageStore.open(dir, { flushMode: durable ? 'SYNC' : 'ASYNC' });
    return {
      async appendBatch(bodies) {
        for (const r of await store.putBatch(toMessages(bodies))) checkStatus(r);
      },
      async append(body) {
        checkStatus(await store.put({ topic: TOPIC, queueId: QUEUE_ID, body }));
      },
      readAll(visit) {
        return readQueue(store, (m) => visit(m.body));
      },
      close() {
        return store.close();
      },
    };
  },
};

/** getMessage(physicalOffset) at random offsets of a store written by the append workload, after reopening it. */
export async function lookupByOffset(dir: string, pool: BodyPool, budget: Budget, progress: Progress): Promise<Measurement> {
  const store = await MessageStore.open(dir, { flushMode: 'ASYNC' });
  try {
    return await timedLookups(store, pool, budget, progress);
  } finally {
    await store.close();
  }
}

/** The target range for lookups of fresh messages, and the read window the row opens its store with. */
export const RECENT_BYTES = 64 * 1024 * 1024;

/**
 * getMessage(physicalOffset) at random offsets among the messages a store
 * just wrote (the newest RECENT_BYTES, written untimed with putBatch by the
 * same open store): lookups of fresh messages, as a consumer of what was
 * just produced makes them.
 */
export async function lookupRecent(dir: string, pool: BodyPool, budget: Budget, progress: Progress): Promise<Measurement> {
  const store = await MessageStore.open(dir, { flushMode: 'ASYNC', readWindowBytes: RECENT_BYTES });
  try {
    await fill(store, pool, RECENT_BYTES - 2 * 1024 * 1024);
    return await timedLookups(store, pool, budget, progress);
  } finally {
    await store.close();
  }
}

/**
 * Offsets are collected through the ConsumeQueue first (untimed) and
 * shuffled; each lookup is timed and its body checked.
 */
async function timedLookups(store: MessageStore, pool: BodyPool, budget: Budget, progress: Progress): Promise<Measurement> {
  const offsets: number[] = [];
  await readQueue(store, (m) => offsets.push(m.physicalOffset));
  const order = Uint32Array.from(offsets.keys());
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const latenciesNs: number[] = [];
  const deadline = now() + BigInt(Math.round(budget.seconds * 1e9));
  const total = Math.min(budget.count, order.length);
  const start = now();
  let done = 0;
  while (done < total && now() < deadline) {
    const queueOffset = order[done]!;
    const t = now();
    const m = await store.getMessage(offsets[queueOffset]!);
    latenciesNs.push(Number(now() - t));
    if (m === null || !m.body.equals(pool.at(queueOffset))) {
      throw new Error(`keelmq getMessage(${offsets[queueOffset]}) did not return message ${queueOffset}`);
    }
    done++;
    progress.update(done, total);
  }
  return { messages: done, bodyBytes: pool.bodyBytes, seconds: secondsSince(start), latenciesNs };
}

/**
 * Appends ASYNC with putBatch until at least `bytes` more CommitLog is
 * written; returns the messages stored and the CommitLog's new end offset.
 * Body i of the queue is pool.at(i), as everywhere in the bench.
 */
export async function fill(
  store: MessageStore,
  pool: BodyPool,
  bytes: number,
  progress?: Progress,
): Promise<{ messages: number; endOffset: number }> {
  const firstQueueOffset = store.getMaxOffsetInQueue(TOPIC, QUEUE_ID);
  let firstOffset = -1;
  let endOffset = 0;
  let messages = 0;
  while (firstOffset < 0 || endOffset - firstOffset < bytes) {
    const results = await store.putBatch(toMessages(pool.slice(firstQueueOffset + messages, 1000)));
    for (const r of results) checkStatus(r);
    if (firstOffset < 0) firstOffset = results[0]!.physicalOffset;
    const last = results[results.length - 1]!;
    endOffset = last.physicalOffset + last.storeSize;
    messages += results.length;
    progress?.update(Math.floor((endOffset - firstOffset) / 1024 / 1024), Math.ceil(bytes / 1024 / 1024), 'MiB');
  }
  return { messages, endOffset };
}
