import type { MessageExt } from '../common/message';
import type { Clock, TimerHandle } from '../common/clock';
import { isKeelError, KeelError } from '../common/errors';
import { checkOptions, epochMs, fn, integer, oneOf, string, timerMs, type OptionRules } from '../common/options-check';
import { isGroupName } from '../common/names';
import { isRetryTopic, retryTopic } from '../common/message-const';
import { ConsumePool } from './consume-pool';
import { keepAlive } from '../common/keep-alive';
import { ProcessQueue } from './process-queue';
import { asOriginal, DEFAULT_MAX_RECONSUME_TIMES } from '../common/retry';
import { parseSubscription, type Subscription } from '../common/tag-filter';
import { transportOf, type EmbeddedBroker } from './in-process-transport';
import type { ClientTransport, MessageQueue } from './transport';

/**
 * What a listener returns. A constant object as well as a type, so that an
 * async listener can `return ConsumeStatus.CONSUME_SUCCESS` (TypeScript widens
 * a bare string literal returned from an async function to string).
 */
export const ConsumeStatus = { CONSUME_SUCCESS: 'CONSUME_SUCCESS', RECONSUME_LATER: 'RECONSUME_LATER' } as const;
export type ConsumeStatus = typeof ConsumeStatus[keyof typeof ConsumeStatus];
export type ConsumeFromWhere = 'CONSUME_FROM_LAST_OFFSET' | 'CONSUME_FROM_FIRST_OFFSET' | 'CONSUME_FROM_TIMESTAMP';

export interface ConsumeContext {
  group: string;
  /** The topic and queue the batch was read from (the retry topic for retried messages). */
  topic: string;
  queueId: number;
  /**
   * Delay level for messages of this batch that fail: 0 (default) lets the
   * retry count decide, a level picks that delay, -1 sends them straight to
   * the dead-letter topic.
   */
  delayLevelWhenNextConsume: number;
}

/**
 * Gets a batch of messages (one unless consumeBatchSize says more). A retried
 * message arrives with the topic, queueId and queueOffset it was first
 * consumed from (see asOriginal) and its reconsumeTimes; its first id is in
 * properties.ORIGIN_MESSAGE_ID. Returning RECONSUME_LATER,
 * or throwing, sends the whole batch back for a retry.
 */
export type MessageListener = (msgs: MessageExt[], ctx: ConsumeContext) => ConsumeStatus | Promise<ConsumeStatus>;

export interface PushConsumerOptions {
  group: string;
  listener: MessageListener;
  /** Where a group with no committed offset in a queue starts (default last). */
  consumeFromWhere?: ConsumeFromWhere;
  /** For CONSUME_FROM_TIMESTAMP (default: 30 minutes ago). */
  consumeTimestamp?: number;
  /** Batches consumed at the same time (default 20). */
  consumeConcurrency?: number;
  /** Messages per listener call (default 1). */
  consumeBatchSize?: number;
  /** Messages per read from a queue (default 32). */
  pullBatchSize?: number;
  /**
   * A queue is not read further while this many of its offsets are read but
   * not committed (default 1000): the most a crash re-delivers per queue, plus
   * one pull batch and what was committed since the last offset write.
   */
  maxInFlightPerQueue?: number;
  /** Retries before a message goes to the dead-letter topic (default 16). */
  maxReconsumeTimes?: number;
  /**
   * A batch whose listener has not returned after this long is retried as if
   * it returned RECONSUME_LATER, and its listener's late answer is ignored
   * (default 15 min; RocketMQ's consumeTimeout, in minutes there).
   */
  consumeTimeoutMs?: number;
  /**
   * How long shutdown() waits for batches being consumed (default 30 s;
   * RocketMQ's awaitTerminationMillisWhenShutdown). Batches still running then
   * stay uncommitted: they are delivered again after a restart.
   */
  awaitTerminationMs?: number;
  /**
   * Called on every failed read of a queue, the consumer's own error event.
   * A record that fails CORRUPT_STORE_ATTEMPTS reads with CORRUPT_STORE is
   * skipped (`skipped: true`, listed in stats()) so that one damaged record
   * does not stop its queue; other errors are retried every 3 s.
   */
  onReadError?: (e: ReadErrorEvent) => void;
}

export interface ReadErrorEvent {
  topic: string;
  queueId: number;
  /** The offset the read started at; for a damaged record, the record's. */
  queueOffset: number;
  error: unknown;
  /** Failed reads in a row at this offset. */
  attempt: number;
  /** The record was given up on: the queue continues after it and the offset passes it. */
  skipped: boolean;
}

export interface SkippedRecord {
  topic: string;
  queueId: number;
  queueOffset: number;
  /** The last error's message. */
  reason: string;
  /** Clock time of the skip. */
  at: number;
}

export interface PushConsumerStats {
  /** Failed reads since start(). */
  readErrors: number;
  /** Damaged records skipped since start(), oldest first (the last 1000). */
  skipped: SkippedRecord[];
}

const PUSH_CONSUMER_OPTION_RULES: OptionRules<PushConsumerOptions> = {
  group: string,
  listener: fn,
  consumeFromWhere: oneOf('CONSUME_FROM_LAST_OFFSET', 'CONSUME_FROM_FIRST_OFFSET', 'CONSUME_FROM_TIMESTAMP'),
  consumeTimestamp: epochMs,
  consumeConcurrency: integer(1),
  consumeBatchSize: integer(1),
  pullBatchSize: integer(1),
  maxInFlightPerQueue: integer(1),
  maxReconsumeTimes: integer(0),
  consumeTimeoutMs: timerMs(),
  awaitTerminationMs: timerMs(0),
  onReadError: fn,
};

/** After a failed read, try that queue again this much later (RocketMQ: 3 s). */
const PULL_RETRY_MS = 3000;
/** Reads of a damaged record (CORRUPT_STORE), PULL_RETRY_MS apart, before it is skipped. */
export const CORRUPT_STORE_ATTEMPTS = 3;
const SKIPPED_KEPT = 1000;
/** When a message can be sent back neither for retry nor to the DLQ, consume it again locally after this. */
const LOCAL_RETRY_MS = 5000;
/** How long a pull of a drained queue is held for an arrival (RocketMQ's BROKER_SUSPEND_MAX_TIME_MILLIS). */
const PULL_SUSPEND_MS = 15_000;
/** How often the routes of the subscriptions are read again, to take up queues added since (RocketMQ's rebalance interval). */
const ROUTE_REFRESH_MS = 20_000;
let clientSeq = 0;

interface Task { pq: ProcessQueue; msgs: MessageExt[] }

/**
 * A consumer that reads its subscriptions and calls the listener (RocketMQ's
 * DefaultMQPushConsumer, concurrent mode), in-process over an EmbeddedBroker or
 * over any ClientTransport. Every queue of every subscribed topic, and the
 * group's retry topic, is read by its own loop whose pulls are held by the
 * broker while the queue is drained (long polling), and that stops
 * reading while the queue has maxInFlightPerQueue messages in flight. Batches
 * go to a pool that runs consumeConcurrency of them at once.
 * The committed offset is the queue's lowest offset still in flight, so a
 * crash re-delivers what was in flight and never skips (at-least-once).
 */
export class PushConsumer {
  readonly group: string;
  /** How the brokers know this consumer (HEART_BEAT's clientID). */
  readonly clientId = `${process.pid}@keelmq#${++clientSeq}`;
  private readonly transport: ClientTransport;
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly queues = new Map<string, ProcessQueue>();
  private state: 'created' | 'running' | 'stopping' | 'stopped' = 'created';
  private pool: ConsumePool<Task> | null = null;
  private unregister: (() => Promise<void>) | null = null;
  private refresh: TimerHandle | null = null;
  private readonly loops = new Set<Promise<void>>();
  private stopping: Promise<void> | null = null;
  private release: (() => void) | null = null;
  private readErrors = 0;
  private readonly skipped: SkippedRecord[] = [];
  private readonly o: Required<Omit<PushConsumerOptions, 'consumeTimestamp' | 'onReadError'>> & Pick<PushConsumerOptions, 'consumeTimestamp' | 'onReadError'>;

  constructor(target: EmbeddedBroker | ClientTransport, options: PushConsumerOptions) {
    if (!isGroupName(options?.group)) {
      throw new KeelError('OPTION_INVALID', `group ${JSON.stringify(options?.group)} must be 1..120 characters of [a-zA-Z0-9_|-]`);
    }
    if (typeof options.listener !== 'function') throw new TypeError('listener must be a function');
    // NaN would start every queue of the group at its first offset.
    if (options.consumeTimestamp !== undefined && !Number.isFinite(options.consumeTimestamp)) throw new TypeError(`consumeTimestamp must be a finite number of ms since the epoch, got ${String(options.consumeTimestamp)}`);
    const o = checkOptions('push consumer', options, PUSH_CONSUMER_OPTION_RULES);
    this.transport = transportOf(target);
    this.group = options.group;
    this.o = {
      group: options.group,
      listener: options.listener,
      consumeFromWhere: o.consumeFromWhere ?? 'CONSUME_FROM_LAST_OFFSET',
      consumeTimestamp: o.consumeTimestamp,
      consumeConcurrency: o.consumeConcurrency ?? 20,
      consumeBatchSize: o.consumeBatchSize ?? 1,
      pullBatchSize: o.pullBatchSize ?? 32,
      maxInFlightPerQueue: o.maxInFlightPerQueue ?? 1000,
      maxReconsumeTimes: o.maxReconsumeTimes ?? DEFAULT_MAX_RECONSUME_TIMES,
      consumeTimeoutMs: o.consumeTimeoutMs ?? 15 * 60_000,
      awaitTerminationMs: o.awaitTerminationMs ?? 30_000,
      onReadError: o.onReadError,
    };
  }

  /** Adds a topic with a tag expression (`*`, `TagA || TagB`); before start(). */
  subscribe(topic: string, expression = '*'): this {
    if (this.state !== 'created') throw new KeelError('CLIENT_STATE', 'subscribe before start()');
    this.subscriptions.set(topic, parseSubscription(expression));
    return this;
  }

  async start(): Promise<void> {
    if (this.state !== 'created') throw new KeelError('CLIENT_STATE', `consumer of group ${this.group} was already started`);
    if (this.subscriptions.size === 0) throw new KeelError('CLIENT_STATE', 'subscribe to a topic before start()');
    // Retries reach the group through its own retry topic, whatever the subscription's tags.
    const subscriptions = new Map(this.subscriptions).set(retryTopic(this.group), parseSubscription('*'));
    this.unregister = await this.transport.registerConsumer({
      group: this.group, clientId: this.clientId, consumeType: 'CONSUME_PASSIVELY', subscriptions,
      shutdown: () => this.shutdown(), resetOffsets: (topic, offsets) => this.resetOffsets(topic, offsets),
    });
    this.subscriptions.set(retryTopic(this.group), parseSubscription('*'));
    this.state = 'running';
    this.release = keepAlive();
    try {
      this.pool = new ConsumePool<Task>(this.o.consumeConcurrency, (task) => this.consume(task));
      await this.openQueues();
      this.scheduleRefresh();
    } catch (e) {
      await this.shutdown();
      throw e;
    }
  }

  /**
   * Stops reading, lets the batches being consumed finish for up to
   * awaitTerminationMs (batches not yet started, and those still running
   * then, are re-delivered), and writes the offsets. A second call returns
   * the first one's promise.
   */
  shutdown(): Promise<void> {
    this.stopping ??= this.stop();
    return this.stopping;
  }

  private async stop(): Promise<void> {
    this.state = 'stopping';
    this.refresh?.cancel();
    for (const pq of this.queues.values()) pq.drop();
    await Promise.all([...this.loops]);
    this.pool?.clear();
    // A listener that never returns must not hold shutdown, and broker.close(), for ever.
    if (this.pool) await within(this.transport.clock, this.pool.idle(), this.o.awaitTerminationMs);
    for (const pq of this.queues.values()) this.commit(pq);
    this.queues.clear();
    let unregisterFailed: unknown;
    try {
      await this.unregister?.();
    } catch (e) {
      // The offsets are still written; the failure is reported after.
      unregisterFailed = e;
    }
    this.state = 'stopped';
    this.release?.();
    await this.transport.flushOffsets(this.group);
    if (unregisterFailed !== undefined) throw unregisterFailed;
  }

  /** Read errors and skipped damaged records since start(). */
  stats(): PushConsumerStats {
    return { readErrors: this.readErrors, skipped: this.skipped.map((s) => ({ ...s })) };
  }

  /** @internal the broker reset the group's offsets in `topic`: drop what is in flight and restart there. */
  resetOffsets(topic: string, offsets: ReadonlyMap<number, number>): void {
    if (this.state !== 'running') return;
    for (const old of [...this.queues.values()]) {
      const offset = offsets.get(old.queueId);
      if (old.topic !== topic || offset === undefined) continue;
      old.drop();
      this.startQueue(new ProcessQueue(old.mq, offset));
    }
  }

  /** Opens every queue of the subscriptions' routes not open yet. */
  private async openQueues(): Promise<void> {
    for (const topic of this.subscriptions.keys()) {
      const route = await this.transport.route(topic);
      for (const mq of route.readQueues) await this.openQueue(mq);
    }
  }

  private scheduleRefresh(): void {
    if (this.state !== 'running') return;
    this.refresh = this.transport.clock.setTimeout(() => {
      // A failed refresh keeps the queues already open; the next one tries again.
      this.openQueues().catch(() => undefined).finally(() => this.scheduleRefresh());
    }, ROUTE_REFRESH_MS);
  }

  private async openQueue(mq: MessageQueue): Promise<void> {
    const k = queueKey(mq);
    if (this.queues.has(k) || this.state !== 'running') return;
    const offset = await this.initialOffset(mq);
    if (this.queues.has(k) || this.state !== 'running') return;
    // Recorded at once, so that a restart resumes here instead of computing "last" anew and skipping.
    this.transport.commitOffset(this.group, mq, offset);
    this.startQueue(new ProcessQueue(mq, offset));
  }

  private async initialOffset(mq: MessageQueue): Promise<number> {
    const committed = await this.transport.queryOffset(this.group, mq);
    if (committed !== undefined) return committed;
    const t = this.transport;
    // A retry topic holds only this group's failures: all of it is wanted.
    if (isRetryTopic(mq.topic)) return t.minOffset(mq);
    switch (this.o.consumeFromWhere) {
      case 'CONSUME_FROM_FIRST_OFFSET': return t.minOffset(mq);
      case 'CONSUME_FROM_TIMESTAMP': return t.searchOffset(mq, this.o.consumeTimestamp ?? t.clock.now() - 30 * 60_000);
      default: return t.maxOffset(mq);
    }
  }

  private startQueue(pq: ProcessQueue): void {
    this.queues.set(queueKey(pq.mq), pq);
    const loop = this.pullLoop(pq).finally(() => this.loops.delete(loop));
    this.loops.add(loop);
  }

  private async pullLoop(pq: ProcessQueue): Promise<void> {
    const clock = this.transport.clock;
    const sub = this.subscriptions.get(pq.topic)!;
    // A damaged record fails the whole read it is in: after one, the queue is read a message at a time up to here, to find it.
    let singlyUntil = 0;
    let failures = 0;
    while (!pq.dropped) {
      if (pq.span >= this.o.maxInFlightPerQueue) { await pq.wait(); continue; }
      const at = pq.nextOffset;
      let r;
      try {
        r = await this.transport.pull({
          group: this.group, mq: pq.mq, offset: at, maxMessages: at < singlyUntil ? 1 : this.o.pullBatchSize, subscription: sub,
          suspendMs: PULL_SUSPEND_MS, signal: pq.signalOnDrop,
        });
        failures = 0;
      } catch (e) {
        if (pq.dropped) return;
        const corrupt = isKeelError(e, 'CORRUPT_STORE');
        if (corrupt && at >= singlyUntil) { singlyUntil = at + this.o.pullBatchSize; continue; }
        failures++;
        const skip = corrupt && failures >= CORRUPT_STORE_ATTEMPTS;
        this.readFailed(pq, at, e, failures, skip);
        if (skip) {
          failures = 0;
          pq.add([], at + 1);
          this.commit(pq);
          continue;
        }
        const timer = clock.setTimeout(() => pq.signal(), PULL_RETRY_MS);
        await pq.wait();
        timer.cancel();
        continue;
      }
      if (pq.dropped) return;
      switch (r.status) {
        case 'FOUND':
          pq.add(r.messages.map((m) => m.queueOffset), r.nextBeginOffset);
          for (let i = 0; i < r.messages.length; i += this.o.consumeBatchSize) {
            this.pool!.push({ pq, msgs: r.messages.slice(i, i + this.o.consumeBatchSize) });
          }
          break;
        case 'NO_MATCHED_MSG':
        case 'OFFSET_MOVED':
          pq.add([], r.nextBeginOffset);
          this.commit(pq);
          break;
        default:
          // Nothing new: the pull was held for an arrival already (long polling), so pull again.
      }
    }
  }

  private readFailed(pq: ProcessQueue, queueOffset: number, error: unknown, attempt: number, skipped: boolean): void {
    this.readErrors++;
    if (skipped) {
      this.skipped.push({ topic: pq.topic, queueId: pq.queueId, queueOffset, reason: (error as Error).message, at: this.transport.clock.now() });
      if (this.skipped.length > SKIPPED_KEPT) this.skipped.shift();
    }
    try {
      this.o.onReadError?.({ topic: pq.topic, queueId: pq.queueId, queueOffset, error, attempt, skipped });
    } catch {
      // The application's handler failing must not stop the queue's reader.
    }
  }

  private async consume(task: Task): Promise<void> {
    const { pq, msgs } = task;
    // Batches of a dropped queue are not consumed: the queue's new reader gets them again.
    if (pq.dropped) return;
    const ctx: ConsumeContext = { group: this.group, topic: pq.topic, queueId: pq.queueId, delayLevelWhenNextConsume: 0 };
    const status = (await within(this.transport.clock, this.listen(msgs, ctx), this.o.consumeTimeoutMs)) ?? 'RECONSUME_LATER';
    // Shutdown stopped waiting for this batch and committed below it: it comes again after a restart.
    if (this.state === 'stopped') return;
    if (status === 'CONSUME_SUCCESS') {
      this.finish(pq, msgs);
      return;
    }
    const sentBack: MessageExt[] = [];
    const kept: MessageExt[] = [];
    await Promise.all(msgs.map(async (m) => {
      try {
        await this.transport.sendBack({ brokerName: pq.mq.brokerName, group: this.group, msg: m, delayLevel: ctx.delayLevelWhenNextConsume, maxReconsumeTimes: this.o.maxReconsumeTimes });
        sentBack.push(m);
      } catch {
        kept.push(m);
      }
    }));
    this.finish(pq, sentBack);
    if (kept.length > 0 && !pq.dropped) {
      // Still in flight, so the offset waits for them.
      this.transport.clock.setTimeout(() => { if (!pq.dropped && this.pool) this.pool.push({ pq, msgs: kept }); }, LOCAL_RETRY_MS);
    }
  }

  /** The listener's answer; a throw is RECONSUME_LATER. */
  private async listen(msgs: MessageExt[], ctx: ConsumeContext): Promise<ConsumeStatus> {
    try {
      return await this.o.listener(msgs.map(asOriginal), ctx);
    } catch {
      return 'RECONSUME_LATER';
    }
  }

  private finish(pq: ProcessQueue, msgs: MessageExt[]): void {
    if (pq.finish(msgs.map((m) => m.queueOffset))) this.commit(pq);
  }

  /** Only the queue's current reader commits: a reader replaced by an offset reset must not move the offset back. */
  private commit(pq: ProcessQueue): void {
    if (this.queues.get(queueKey(pq.mq)) === pq) this.transport.commitOffset(this.group, pq.mq, pq.committed);
  }
}

function queueKey(mq: MessageQueue): string { return `${mq.topic}\u0000${mq.brokerName}\u0000${mq.queueId}`; }

/** `p`'s value, or undefined when `ms` of the clock pass first. */
function within<T>(clock: Clock, p: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const timer = clock.setTimeout(() => resolve(undefined), ms);
    p.then((v) => { timer.cancel(); resolve(v); }, (e: unknown) => { timer.cancel(); reject(e); });
  });
}
