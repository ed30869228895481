/**
 * The cache of one queue under an orderly listener: the orderly half of RocketMQ 4.9.7's
 * `ProcessQueue` (msgTreeMap + consumingMsgOrderlyTreeMap, takeMessages / commit / rollback /
 * makeMessageToConsumeAgain, the broker-lock bookkeeping) and
 * `ConsumeMessageOrderlyService.processConsumeResult`.
 *
 * Messages are handed out strictly in offset order, one batch at a time; the offset to commit is
 * one past the last message of the batches finished so far, so it never passes a message that is
 * not finished. A suspended batch goes back in front of the cache and is taken again first.
 *
 * The concurrent half (commit point = lowest unfinished offset, span flow control) is
 * lib/consumer/process-queue.ts; the count and size checks both share are pull-flow-control.ts.
 * Deliberate difference: `commit` with nothing taken returns -1 where Java's `lastKey()` throws.
 */
import { systemClock, type Clock } from '../common/clock';

/** ProcessQueue.REBALANCE_LOCK_MAX_LIVE_TIME: a lock not renewed for this long is not trusted. */
export const REBALANCE_LOCK_MAX_LIVE_TIME_MS = 30000;
/** ProcessQueue.REBALANCE_LOCK_INTERVAL: how often held locks are renewed (LOCK_BATCH_MQ). */
export const REBALANCE_LOCK_INTERVAL_MS = 20000;
/** DefaultMQPushConsumer.maxReconsumeTimes = -1 means this for orderly consumers. */
export const ORDERLY_DEFAULT_MAX_RECONSUME_TIMES = 0x7fffffff;

export interface OrderlyMessage {
  queueOffset: number;
  body: Buffer;
  reconsumeTimes: number;
}

export type ConsumeOrderlyStatus = 'SUCCESS' | 'SUSPEND_CURRENT_QUEUE_A_MOMENT' | 'COMMIT' | 'ROLLBACK';

/** Sorted by offset, offsets unique. */
class OffsetMap<M extends OrderlyMessage> {
  items: M[] = [];

  /** Inserts or replaces; returns the replaced message. */
  put(m: M): M | undefined {
    const a = this.items;
    if (a.length === 0 || a[a.length - 1]!.queueOffset < m.queueOffset) {
      a.push(m);
      return undefined;
    }
    let lo = 0;
    let hi = a.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (a[mid]!.queueOffset < m.queueOffset) lo = mid + 1;
      else hi = mid;
    }
    const old = a[lo]?.queueOffset === m.queueOffset ? a[lo] : undefined;
    a.splice(lo, old ? 1 : 0, m);
    return old;
  }

  remove(offset: number): M | undefined {
    const i = this.items.findIndex((m) => m.queueOffset === offset);
    return i < 0 ? undefined : this.items.splice(i, 1)[0];
  }
}

export class OrderlyProcessQueue<M extends OrderlyMessage = OrderlyMessage> {
  /** Pulled, not yet taken. */
  private readonly cached = new OffsetMap<M>();
  /** Taken by the listener, not yet committed. */
  private readonly consuming = new OffsetMap<M>();
  private count = 0;
  private bytes = 0;
  private consumingFlag = false;
  /** Offset of the last message added (ProcessQueue.queueOffsetMax). */
  queueOffsetMax = 0;
  dropped = false;
  locked = false;
  lastLockTimestamp: number;

  constructor(private readonly clock: Clock = systemClock) {
    this.lastLockTimestamp = clock.now();
  }

  /** Messages cached, taken ones included, as flow control counts them. */
  get msgCount(): number { return this.count; }
  get msgSize(): number { return this.bytes; }

  /**
   * Adds pulled messages (a repeated offset replaces the cached one and is not counted twice).
   * True when a consume task should be started: something is cached and none is running.
   */
  putMessage(msgs: readonly M[]): boolean {
    for (const m of msgs) {
      if (this.cached.put(m) === undefined) {
        this.count++;
        this.bytes += m.body.length;
        this.queueOffsetMax = m.queueOffset;
      }
    }
    if (this.cached.items.length > 0 && !this.consumingFlag) {
      this.consumingFlag = true;
      return true;
    }
    return false;
  }

  /** Up to `batchSize` messages, lowest offsets first; an empty answer ends the consume task. */
  takeMessages(batchSize: number): M[] {
    const taken = this.cached.items.splice(0, Math.max(0, batchSize));
    for (const m of taken) this.consuming.put(m);
    if (taken.length === 0) this.consumingFlag = false;
    return taken;
  }

  /** Finishes everything taken; returns the offset to store (one past the last taken), or -1. */
  commit(): number {
    const done = this.consuming.items;
    if (done.length === 0) return -1;
    this.count -= done.length;
    for (const m of done) this.bytes -= m.body.length;
    this.consuming.items = [];
    return done[done.length - 1]!.queueOffset + 1;
  }

  /** Puts everything taken back to be taken again (ROLLBACK without auto-commit). */
  rollback(): void {
    for (const m of this.consuming.items) this.cached.put(m);
    this.consuming.items = [];
  }

  /** Puts these taken messages back in front of the cache (SUSPEND_CURRENT_QUEUE_A_MOMENT). */
  makeMessageToConsumeAgain(msgs: readonly M[]): void {
    for (const m of msgs) {
      this.consuming.remove(m.queueOffset);
      this.cached.put(m);
    }
  }

  hasTempMessage(): boolean { return this.cached.items.length > 0; }

  /** The span of the cache, for the record (orderly consumption has no span limit). */
  getMaxSpan(): number {
    const a = this.cached.items;
    return a.length === 0 ? 0 : a[a.length - 1]!.queueOffset - a[0]!.queueOffset;
  }

  clear(): void {
    this.cached.items = [];
    this.consuming.items = [];
    this.count = 0;
    this.bytes = 0;
    this.queueOffsetMax = 0;
  }

  /** The lock was granted or renewed by the broker now. */
  lockGranted(): void {
    this.locked = true;
    this.lastLockTimestamp = this.clock.now();
  }

  isLockExpired(): boolean {
    return this.clock.now() - this.lastLockTimestamp > REBALANCE_LOCK_MAX_LIVE_TIME_MS;
  }
}

export interface OrderlyResult {
  /** False: stop taking from this queue now; a consume task is due again after the suspend time. */
  continueConsume: boolean;
  /** The offset to store for the queue, or -1 for none. */
  commitOffset: number;
}

/**
 * `processConsumeResult` for a batch taken from `pq`. On SUSPEND, messages at or over
 * `maxReconsumeTimes` are handed to `sendBack` (to the retry topic, and from it the DLQ); if every
 * such send-back succeeds and no message is under the limit, the batch is committed; otherwise the
 * batch, reconsumeTimes incremented for each message not sent back, is put back in front.
 * commitOffset is -1 as well when the queue was dropped meanwhile (its offsets are no longer ours).
 */
export async function processOrderlyResult<M extends OrderlyMessage>(
  pq: OrderlyProcessQueue<M>,
  msgs: readonly M[],
  status: ConsumeOrderlyStatus,
  autoCommit: boolean,
  maxReconsumeTimes: number,
  sendBack: (m: M) => Promise<boolean>,
): Promise<OrderlyResult> {
  let continueConsume = true;
  let commitOffset = -1;
  const suspend = async (): Promise<boolean> => {
    let again = false;
    for (const m of msgs) {
      if (m.reconsumeTimes >= maxReconsumeTimes && (await sendBack(m))) continue;
      again = true;
      m.reconsumeTimes++;
    }
    return again;
  };
  if (autoCommit) {
    if (status === 'SUSPEND_CURRENT_QUEUE_A_MOMENT') {
      if (await suspend()) {
        pq.makeMessageToConsumeAgain(msgs);
        continueConsume = false;
      } else {
        commitOffset = pq.commit();
      }
    } else {
      // COMMIT and ROLLBACK are deprecated under auto-commit and act as SUCCESS.
      commitOffset = pq.commit();
    }
  } else if (status === 'COMMIT') {
    commitOffset = pq.commit();
  } else if (status === 'ROLLBACK') {
    pq.rollback();
    continueConsume = false;
  } else if (status === 'SUSPEND_CURRENT_QUEUE_A_MOMENT') {
    if (await suspend()) {
      pq.makeMessageToConsumeAgain(msgs);
      continueConsume = false;
    }
  }
  return { continueConsume, commitOffset: pq.dropped ? -1 : commitOffset };
}
