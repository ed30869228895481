import type { MessageExt } from '../common/message';
import type { Clock, TimerHandle } from '../common/clock';
import { isKeelError, KeelError } from '../common/errors';
import { checkOptions, epochMs, fn, implementing, integer, oneOf, string, timerMs, type OptionRules } from '../common/options-check';
import { isGroupName } from '../common/names';
import { retryTopic } from '../common/message-const';
import { ConsumePool } from './consume-pool';
import { offsetFromWhere, type ConsumeFromWhere } from './consume-from-where';
import { keepAlive } from '../common/keep-alive';
import { ProcessQueue } from './process-queue';
import { asOriginal, DEFAULT_MAX_RECONSUME_TIMES } from '../common/retry';
import { parseSubscription, type Subscription } from '../common/tag-filter';
import { transportOf, type EmbeddedBroker } from './in-process-transport';
import type { ClientTransport, MessageQueue } from './transport';
import { allocateAveragely, allocateQueues, type AllocateMessageQueueStrategy } from './allocate-strategy';
import { buildClientId, defaultInstanceName } from './client-id';
import { DEFAULT_LOCAL_OFFSET_DIR, LocalOffsetStore } from './local-offset-store';
import { messageQueueKey } from './message-queue';
import {
  OrderlyProcessQueue, ORDERLY_DEFAULT_MAX_RECONSUME_TIMES, processOrderlyResult, REBALANCE_LOCK_INTERVAL_MS,
  type ConsumeOrderlyStatus as OrderlyStatus,
} from './orderly-process-queue';
import { DEFAULT_PULL_FLOW_CONTROL, pullFlowControl, type PullFlowControlOptions } from './pull-flow-control';

/**
 * What a listener returns. A constant object as well as a type, so that an
 * async listener can `return ConsumeStatus.CONSUME_SUCCESS` (TypeScript widens
 * a bare string literal returned from an async function to string).
 */
export const ConsumeStatus = { CONSUME_SUCCESS: 'CONSUME_SUCCESS', RECONSUME_LATER: 'RECONSUME_LATER' } as const;
export type ConsumeStatus = typeof ConsumeStatus[keyof typeof ConsumeStatus];
/** What an orderly listener returns (COMMIT and ROLLBACK, deprecated in RocketMQ, act only with autoCommit off). */
export const ConsumeOrderlyStatus = { SUCCESS: 'SUCCESS', SUSPEND_CURRENT_QUEUE_A_MOMENT: 'SUSPEND_CURRENT_QUEUE_A_MOMENT' } as const;
export type ConsumeOrderlyStatus = OrderlyStatus;
export type { ConsumeFromWhere };
/** CLUSTERING: the group's consumers share its queues out; BROADCASTING: each consumer reads every queue, with offsets of its own. */
export type MessageModel = 'CLUSTERING' | 'BROADCASTING';

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

export interface ConsumeOrderlyContext {
  group: string;
  topic: string;
  queueId: number;
  mq: MessageQueue;
  /** Commit the queue's offset after each batch (default true); with false, the listener returns COMMIT or ROLLBACK. */
  autoCommit: boolean;
  /** How long SUSPEND_CURRENT_QUEUE_A_MOMENT holds the queue (default the consumer's suspendCurrentQueueTimeMillis). */
  suspendCurrentQueueTimeMillis: number;
}

/**
 * Gets a batch of messages (one unless consumeBatchSize says more). A retried
 * message arrives with the topic, queueId and queueOffset it was first
 * consumed from (see asOriginal) and its reconsumeTimes; its first id is in
 * properties.ORIGIN_MESSAGE_ID. Returning RECONSUME_LATER,
 * or throwing, sends the whole batch back for a retry.
 */
export type MessageListener = (msgs: MessageExt[], ctx: ConsumeContext) => ConsumeStatus | Promise<ConsumeStatus>;

/**
 * Gets the next batch of one queue, in queue order; the queue's next batch waits for the answer.
 * SUSPEND_CURRENT_QUEUE_A_MOMENT (or a throw) gives the same batch again after the suspend time,
 * its reconsumeTimes one higher; past maxReconsumeTimes it goes to the dead-letter topic.
 */
export type OrderlyMessageListener = (msgs: MessageExt[], ctx: ConsumeOrderlyContext) => ConsumeOrderlyStatus | Promise<ConsumeOrderlyStatus>;

export interface PushConsumerOptions {
  group: string;
  /** The concurrent listener; give this or orderlyListener. */
  listener?: MessageListener;
  /** The orderly listener (RocketMQ's MessageListenerOrderly): queues locked in the broker, one batch at a time per queue. */
  orderlyListener?: OrderlyMessageListener;
  /** Default CLUSTERING. */
  messageModel?: MessageModel;
  /**
   * The client id is `ip@instanceName`. Default: `pid#nanoTime` in clustering mode (Java 4.9.7,
   * so consumers of a group in one process differ), `DEFAULT` in broadcasting mode (stable across
   * restarts: it names the local offset file).
   */
  instanceName?: string;
  /** Which queues this consumer takes in clustering mode (default allocateAveragely, RocketMQ's AVG). */
  allocateStrategy?: AllocateMessageQueueStrategy;
  /** How often the queues are shared out again besides on a change in the group (default 20 s). */
  rebalanceIntervalMs?: number;
  /** Broadcasting mode: where the local offsets are kept (default ~/.keelmq_offsets). */
  offsetStoreDir?: string;
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
  /** A queue is not read further while more than this many of its messages are cached (default 1000). */
  pullThresholdForQueue?: number;
  /** ... or more than this many MiB of message bodies (default 100). */
  pullThresholdSizeForQueue?: number;
  /** Retries before a message goes to the dead-letter topic (default 16; orderly: unlimited). */
  maxReconsumeTimes?: number;
  /** Orderly: how long SUSPEND_CURRENT_QUEUE_A_MOMENT holds a queue (default 1000 ms). */
  suspendCurrentQueueTimeMillis?: number;
  /**
   * A batch whose listener has not returned after this long is retried as if
   * it returned RECONSUME_LATER, and its listener's late answer is ignored
   * (default 15 min; RocketMQ's consumeTimeout, in minutes there). Concurrent only.
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
  orderlyListener: fn,
  messageModel: oneOf('CLUSTERING', 'BROADCASTING'),
  instanceName: string,
  allocateStrategy: implementing('allocate'),
  rebalanceIntervalMs: timerMs(),
  offsetStoreDir: string,
  consumeFromWhere: oneOf('CONSUME_FROM_LAST_OFFSET', 'CONSUME_FROM_FIRST_OFFSET', 'CONSUME_FROM_TIMESTAMP'),
  consumeTimestamp: epochMs,
  consumeConcurrency: integer(1),
  consumeBatchSize: integer(1),
  pullBatchSize: integer(1),
  maxInFlightPerQueue: integer(1),
  pullThresholdForQueue: integer(1),
  pullThresholdSizeForQueue: integer(1),
  maxReconsumeTimes: integer(0),
  suspendCurrentQueueTimeMillis: timerMs(),
  consumeTimeoutMs: timerMs(),
  awaitTerminationMs: timerMs(0),
  onReadError: fn,
};

/** After a failed read, try that queue again this much later (RocketMQ: 3 s). */
const PULL_RETRY_MS = 3000;
/** Reads of a damaged record (CORRUPT_STORE), PULL_RETRY_MS apart, before it is skipped. */
export const CORRUPT_STORE_ATTEMPTS = 3;
const SKIPPED_KEPT = 1000;
/** When a message can be sent back neither for retry nor to the DLQ, consume it again locally after this (submitConsumeRequestLater). */
const LOCAL_RETRY_MS = 5000;
/** How long a pull of a drained queue is held for an arrival (RocketMQ's BROKER_SUSPEND_MAX_TIME_MILLIS). */
const PULL_SUSPEND_MS = 15_000;
/** RocketMQ's rebalance interval. */
const REBALANCE_INTERVAL_MS = 20_000;
/** Local offsets of a broadcasting consumer are written this often (persistConsumerOffsetInterval). */
const LOCAL_OFFSET_PERSIST_MS = 5000;
/** An orderly queue found unlocked is locked again and retried after this (tryLockLaterAndReconsume). */
const ORDERLY_RELOCK_MS = 10;

/** One queue this consumer reads. */
interface QueueEntry {
  readonly mq: MessageQueue;
  /** messageQueueKey(mq), its key in the queue table (looked up on every commit). */
  readonly key: string;
  /** The pull position, the in-flight offsets (concurrent) and the drop signal. */
  readonly pq: ProcessQueue;
  /** The orderly cache and lock state; null for a concurrent listener. */
  readonly orderly: OrderlyProcessQueue<MessageExt> | null;
  /** Concurrent flow control: messages pulled and not finished, and their body bytes. */
  cachedCount: number;
  cachedBytes: number;
  /** Orderly: the queue's consume task while one runs. */
  consuming: Promise<void> | null;
}

interface Task { e: QueueEntry; msgs: MessageExt[] }

type ResolvedOptions = Required<Omit<PushConsumerOptions, 'consumeTimestamp' | 'onReadError' | 'listener' | 'orderlyListener' | 'instanceName'>>
  & Pick<PushConsumerOptions, 'consumeTimestamp' | 'onReadError' | 'listener' | 'orderlyListener'>;

/**
 * A consumer that reads its subscriptions and calls the listener (RocketMQ's
 * DefaultMQPushConsumer), in-process over an EmbeddedBroker or over any
 * ClientTransport.
 *
 * Clustering mode: the group's consumers share out the queues of each
 * subscribed topic and of the group's retry topic (rebalance: the queues and
 * the group's client ids sorted, then allocateStrategy), every
 * rebalanceIntervalMs and at once when the broker says the group changed. A
 * queue taken away stops being read, its offset is written and it is
 * forgotten; a queue gained starts at the group's committed offset, or where
 * consumeFromWhere says for a new group. Broadcasting mode: every consumer
 * reads every queue, its offsets in a local file.
 *
 * Each queue is read by its own loop whose pulls are held by the broker while
 * the queue is drained (long polling), paused by flow control (messages and
 * bytes cached, offsets in flight). Concurrent: batches go to a pool that runs
 * consumeConcurrency of them at once, the committed offset is the queue's
 * lowest offset still in flight. Orderly: each queue is locked in the broker
 * (LOCK_BATCH_MQ, renewed every 20 s) and consumed one batch at a time, the
 * committed offset one past the last finished batch. Either way a crash
 * re-delivers what was in flight and never skips (at-least-once).
 */
export class PushConsumer {
  readonly group: string;
  /** How the brokers know this consumer (HEART_BEAT's clientID): `ip@instanceName`. */
  readonly clientId: string;
  readonly messageModel: MessageModel;
  private readonly transport: ClientTransport;
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly queues = new Map<string, QueueEntry>();
  private state: 'created' | 'running' | 'stopping' | 'stopped' = 'created';
  private pool: ConsumePool<Task> | null = null;
  /**
   * Orderly in clustering mode: a queue is consumed only while its lock in the broker is held, so
   * that two consumers of the group never consume one queue at once across a rebalance. A
   * broadcasting consumer reads every queue for itself and needs none (RocketMQ would lock there
   * too, and so keep a second broadcasting consumer off the queue).
   */
  private readonly lockQueues: boolean;
  private unregister: (() => Promise<void>) | null = null;
  private localOffsets: LocalOffsetStore | null = null;
  private rebalanceTimer: TimerHandle | null = null;
  private lockTimer: TimerHandle | null = null;
  private rebalancing: Promise<void> | null = null;
  private rebalanceAgain = false;
  /** Timers of local re-consumption and orderly suspends, cancelled at shutdown. */
  private readonly timers = new Set<TimerHandle>();
  private readonly loops = new Set<Promise<void>>();
  private readonly orderlyTasks = new Set<Promise<void>>();
  private stopping: Promise<void> | null = null;
  private release: (() => void) | null = null;
  private readErrors = 0;
  private readonly skipped: SkippedRecord[] = [];
  private readonly flow: PullFlowControlOptions;
  private readonly o: ResolvedOptions;

  constructor(target: EmbeddedBroker | ClientTransport, options: PushConsumerOptions) {
    if (!isGroupName(options?.group)) {
      throw new KeelError('OPTION_INVALID', `group ${JSON.stringify(options?.group)} must be 1..120 characters of [a-zA-Z0-9_|-]`);
    }
    if ((typeof options.listener === 'function') === (typeof options.orderlyListener === 'function')) {
      throw new TypeError('give one of listener (concurrent) and orderlyListener, a function');
    }
    // NaN would start every queue of the group at its first offset.
    if (options.consumeTimestamp !== undefined && !Number.isFinite(options.consumeTimestamp)) throw new TypeError(`consumeTimestamp must be a finite number of ms since the epoch, got ${String(options.consumeTimestamp)}`);
    const o = checkOptions('push consumer', options, PUSH_CONSUMER_OPTION_RULES);
    this.transport = transportOf(target);
    this.group = options.group;
    this.messageModel = o.messageModel ?? 'CLUSTERING';
    this.clientId = buildClientId(o.instanceName ?? defaultInstanceName(this.messageModel));
    const orderly = options.orderlyListener !== undefined;
    this.lockQueues = orderly && this.messageModel === 'CLUSTERING';
    this.o = {
      group: options.group,
      listener: options.listener,
      orderlyListener: options.orderlyListener,
      messageModel: this.messageModel,
      allocateStrategy: o.allocateStrategy ?? allocateAveragely,
      rebalanceIntervalMs: o.rebalanceIntervalMs ?? REBALANCE_INTERVAL_MS,
      offsetStoreDir: o.offsetStoreDir ?? DEFAULT_LOCAL_OFFSET_DIR,
      consumeFromWhere: o.consumeFromWhere ?? 'CONSUME_FROM_LAST_OFFSET',
      consumeTimestamp: o.consumeTimestamp,
      consumeConcurrency: o.consumeConcurrency ?? 20,
      consumeBatchSize: o.consumeBatchSize ?? 1,
      pullBatchSize: o.pullBatchSize ?? 32,
      maxInFlightPerQueue: o.maxInFlightPerQueue ?? 1000,
      pullThresholdForQueue: o.pullThresholdForQueue ?? DEFAULT_PULL_FLOW_CONTROL.pullThresholdForQueue,
      pullThresholdSizeForQueue: o.pullThresholdSizeForQueue ?? DEFAULT_PULL_FLOW_CONTROL.pullThresholdSizeForQueue,
      maxReconsumeTimes: o.maxReconsumeTimes ?? (orderly ? ORDERLY_DEFAULT_MAX_RECONSUME_TIMES : DEFAULT_MAX_RECONSUME_TIMES),
      suspendCurrentQueueTimeMillis: o.suspendCurrentQueueTimeMillis ?? 1000,
      consumeTimeoutMs: o.consumeTimeoutMs ?? 15 * 60_000,
      awaitTerminationMs: o.awaitTerminationMs ?? 30_000,
      onReadError: o.onReadError,
    };
    this.flow = {
      pullThresholdForQueue: this.o.pullThresholdForQueue,
      pullThresholdSizeForQueue: this.o.pullThresholdSizeForQueue,
      // The span is the offsets read and not committed, which maxInFlightPerQueue bounds.
      consumeConcurrentlyMaxSpan: this.o.maxInFlightPerQueue - 1,
      pullTimeDelayMillsWhenException: PULL_RETRY_MS,
    };
  }

  /** Adds a topic with a tag expression (`*`, `TagA || TagB`); before start(). */
  subscribe(topic: string, expression = '*'): this {
    if (this.state !== 'created') throw new KeelError('CLIENT_STATE', 'subscribe before start()');
    this.subscriptions.set(topic, parseSubscription(expression));
    return this;
  }

  /** The queues this consumer reads now, sorted. */
  assignedQueues(): MessageQueue[] {
    return [...this.queues.values()].map((e) => ({ ...e.mq })).sort((a, b) => (messageQueueKey(a) < messageQueueKey(b) ? -1 : 1));
  }

  async start(): Promise<void> {
    if (this.state !== 'created') throw new KeelError('CLIENT_STATE', `consumer of group ${this.group} was already started`);
    if (this.subscriptions.size === 0) throw new KeelError('CLIENT_STATE', 'subscribe to a topic before start()');
    // Retries reach a clustering group through its own retry topic, whatever the subscription's tags.
    // A broadcasting group has none: RocketMQ drops what fails there.
    if (this.messageModel === 'CLUSTERING') this.subscriptions.set(retryTopic(this.group), parseSubscription('*'));
    if (this.messageModel === 'BROADCASTING') {
      this.localOffsets = await LocalOffsetStore.open(this.o.offsetStoreDir, this.clientId, this.group, this.transport.clock, LOCAL_OFFSET_PERSIST_MS);
    }
    try {
      this.unregister = await this.transport.registerConsumer({
        group: this.group, clientId: this.clientId, consumeType: 'CONSUME_PASSIVELY', subscriptions: new Map(this.subscriptions),
        shutdown: () => this.shutdown(),
        resetOffsets: (topic, offsets, brokerName) => this.resetOffsets(topic, offsets, brokerName),
        idsChanged: () => this.requestRebalance(),
        messageModel: this.messageModel,
        consumeFromWhere: this.o.consumeFromWhere,
      });
    } catch (e) {
      await this.localOffsets?.close();
      throw e;
    }
    this.state = 'running';
    this.release = keepAlive();
    try {
      this.pool = new ConsumePool<Task>(this.o.consumeConcurrency, (task) => this.consume(task));
      // The first rebalance's failures (a topic with no route) are the caller's; later ones are retried.
      this.rebalancing = this.rebalanceAll(true).finally(() => { this.rebalancing = null; });
      await this.rebalancing;
      this.scheduleRebalance();
      if (this.lockQueues) this.scheduleLockRenewal();
    } catch (e) {
      await this.shutdown();
      throw e;
    }
  }

  /**
   * Stops reading, lets the batches being consumed finish for up to
   * awaitTerminationMs (batches not yet started, and those still running
   * then, are re-delivered), writes the offsets, unlocks orderly queues and
   * unregisters. A second call returns the first one's promise.
   */
  shutdown(): Promise<void> {
    this.stopping ??= this.stop();
    return this.stopping;
  }

  private async stop(): Promise<void> {
    this.state = 'stopping';
    this.rebalanceTimer?.cancel();
    this.lockTimer?.cancel();
    for (const t of this.timers) t.cancel();
    this.timers.clear();
    await this.rebalancing?.catch(() => undefined);
    // Reading stops; orderly batches being consumed still commit (their queue is not dropped).
    for (const e of this.queues.values()) e.pq.drop();
    await Promise.all([...this.loops]);
    this.pool?.clear();
    // A listener that never returns must not hold shutdown, and broker.close(), for ever.
    const busy = Promise.all([this.pool?.idle(), ...this.orderlyTasks]);
    await within(this.transport.clock, busy, this.o.awaitTerminationMs);
    for (const e of this.queues.values()) if (!e.orderly) this.commit(e);
    const entries = [...this.queues.values()];
    this.state = 'stopped';
    let failure: unknown;
    const attempt = async (f: () => Promise<void> | undefined) => {
      try {
        await f();
      } catch (e) {
        // Every step still runs; the first failure is reported after.
        failure ??= e;
      }
    };
    // Offsets first, so that the consumers taking the queues over on the unregistration read them.
    await attempt(() => this.flushOffsets());
    const locked = this.lockQueues ? entries.filter((e) => e.orderly?.locked).map((e) => e.mq) : [];
    if (locked.length > 0) await attempt(() => this.transport.unlockBatch(this.group, this.clientId, locked));
    this.queues.clear();
    await attempt(() => this.unregister?.());
    await attempt(() => this.localOffsets?.close());
    this.release?.();
    if (failure !== undefined) throw failure;
  }

  /** Read errors and skipped damaged records since start(). */
  stats(): PushConsumerStats {
    return { readErrors: this.readErrors, skipped: this.skipped.map((s) => ({ ...s })) };
  }

  /**
   * @internal the group's offsets in `topic` were reset (by the broker): drop what is in flight
   * and restart there. `brokerName`: only that broker's queues.
   */
  resetOffsets(topic: string, offsets: ReadonlyMap<number, number>, brokerName?: string): void {
    if (this.state !== 'running') return;
    for (const old of [...this.queues.values()]) {
      const offset = offsets.get(old.mq.queueId);
      if (old.mq.topic !== topic || offset === undefined || (brokerName !== undefined && old.mq.brokerName !== brokerName)) continue;
      this.dropEntry(old);
      this.writeOffset(old.mq, offset);
      this.startQueue(old.mq, offset, old.orderly?.locked ?? false);
    }
  }

  /** Runs a rebalance now, or once more after the one running (NOTIFY_CONSUMER_IDS_CHANGED, the timer). */
  private requestRebalance(): void {
    if (this.state !== 'running') return;
    if (this.rebalancing) {
      this.rebalanceAgain = true;
      return;
    }
    this.rebalancing = (async () => {
      do {
        this.rebalanceAgain = false;
        await this.rebalanceAll(false);
      } while (this.rebalanceAgain && this.state === 'running');
    })().finally(() => { this.rebalancing = null; });
  }

  private scheduleRebalance(): void {
    if (this.state !== 'running') return;
    this.rebalanceTimer = this.transport.clock.setTimeout(() => {
      this.requestRebalance();
      this.scheduleRebalance();
    }, this.o.rebalanceIntervalMs);
  }

  /**
   * RebalanceImpl.doRebalance: every subscribed topic; a failure leaves that topic's queues as they
   * are. `strict` (start) reports a subscribed topic's failure, never the group's retry topic's: a
   * broker creates that one on the first heartbeat and tells a Java name server by a oneway
   * registration, so its route can come after start; a later rebalance takes its queues, as in Java.
   */
  private async rebalanceAll(strict: boolean): Promise<void> {
    for (const topic of [...this.subscriptions.keys()]) {
      try {
        await this.rebalanceTopic(topic);
      } catch (e) {
        if (strict && topic !== retryTopic(this.group)) throw e;
      }
    }
  }

  private async rebalanceTopic(topic: string): Promise<void> {
    const all = (await this.transport.route(topic)).readQueues;
    let mine: MessageQueue[];
    if (this.messageModel === 'BROADCASTING' || all.length === 0) {
      mine = all;
    } else {
      const cids = await this.transport.consumerIds(this.group, all[0]!.brokerName);
      // The broker knows no member yet (a heartbeat on its way): nothing to go by, keep what is read.
      if (cids.length === 0) return;
      mine = allocateQueues(this.o.allocateStrategy, this.group, this.clientId, all, cids);
    }
    if (this.state !== 'running') return;
    const wanted = new Set(mine.map(messageQueueKey));
    for (const e of [...this.queues.values()]) {
      if (e.mq.topic === topic && !wanted.has(messageQueueKey(e.mq))) await this.removeQueue(e);
    }
    for (const mq of mine) {
      if (this.queues.has(messageQueueKey(mq))) continue;
      try {
        await this.addQueue(mq);
      } catch {
        // Its offset or lock could not be had now: the next rebalance tries again, as RocketMQ does.
      }
    }
  }

  /** A queue taken away: stop reading it, write its offset and forget it; an orderly queue is unlocked once its batch is done. */
  private async removeQueue(e: QueueEntry): Promise<void> {
    if (!e.orderly) this.commit(e);
    this.dropEntry(e);
    if (this.localOffsets === null) await this.transport.dropOffset(this.group, e.mq).catch(() => undefined);
    if (this.lockQueues) {
      const unlock = () => this.transport.unlockBatch(this.group, this.clientId, [e.mq]).catch(() => undefined);
      void (e.consuming ?? Promise.resolve()).then(unlock);
    }
  }

  private dropEntry(e: QueueEntry): void {
    if (this.queues.get(e.key) === e) this.queues.delete(e.key);
    e.pq.drop();
    if (e.orderly) e.orderly.dropped = true;
  }

  private async addQueue(mq: MessageQueue): Promise<void> {
    const k = messageQueueKey(mq);
    if (this.lockQueues) {
      const got = await this.transport.lockBatch(this.group, this.clientId, [mq]);
      // Another consumer still holds it (it lets go when its batch is done): the next rebalance tries again.
      if (!got.some((q) => messageQueueKey(q) === k)) return;
    }
    if (this.queues.has(k) || this.state !== 'running') return;
    const offset = await this.initialOffset(mq);
    if (this.queues.has(k) || this.state !== 'running') return;
    // Recorded at once, so that a restart resumes here instead of computing "last" anew and skipping.
    this.writeOffset(mq, offset);
    this.startQueue(mq, offset, true);
  }

  /** RebalancePushImpl.computePullFromWhere. */
  private async initialOffset(mq: MessageQueue): Promise<number> {
    const committed = this.localOffsets ? this.localOffsets.read(mq) : await this.transport.queryOffset(this.group, mq);
    return committed ?? offsetFromWhere(this.transport, mq, this.o.consumeFromWhere, this.o.consumeTimestamp);
  }

  private startQueue(mq: MessageQueue, offset: number, locked: boolean): void {
    const e: QueueEntry = {
      mq, key: messageQueueKey(mq), pq: new ProcessQueue(mq, offset), orderly: this.o.orderlyListener ? new OrderlyProcessQueue<MessageExt>(this.transport.clock) : null,
      cachedCount: 0, cachedBytes: 0, consuming: null,
    };
    if (e.orderly && locked) e.orderly.lockGranted();
    this.queues.set(e.key, e);
    const loop = this.pullLoop(e).finally(() => this.loops.delete(loop));
    this.loops.add(loop);
  }

  /** Orderly: LOCK_BATCH_MQ for every queue read, every 20 s (RebalanceImpl.lockAll); a queue not granted is not consumed. */
  private scheduleLockRenewal(): void {
    if (this.state !== 'running') return;
    this.lockTimer = this.transport.clock.setTimeout(() => {
      this.renewLocks().catch(() => undefined).finally(() => this.scheduleLockRenewal());
    }, REBALANCE_LOCK_INTERVAL_MS);
  }

  private async renewLocks(): Promise<void> {
    const entries = [...this.queues.values()].filter((e) => e.orderly);
    if (entries.length === 0) return;
    const got = new Set((await this.transport.lockBatch(this.group, this.clientId, entries.map((e) => e.mq))).map(messageQueueKey));
    for (const e of entries) {
      if (got.has(messageQueueKey(e.mq))) e.orderly!.lockGranted();
      else e.orderly!.locked = false;
    }
  }

  private async pullLoop(e: QueueEntry): Promise<void> {
    const { pq } = e;
    const clock = this.transport.clock;
    const sub = this.subscriptions.get(pq.topic)!;
    // A damaged record fails the whole read it is in: after one, the queue is read a message at a time up to here, to find it.
    let singlyUntil = 0;
    let failures = 0;
    while (!pq.dropped) {
      const held = pullFlowControl(e.orderly
        ? { cachedMessageCount: e.orderly.msgCount, cachedMessageBytes: e.orderly.msgSize, maxSpan: e.orderly.getMaxSpan(), orderly: true, locked: e.orderly.locked }
        : { cachedMessageCount: e.cachedCount, cachedMessageBytes: e.cachedBytes, maxSpan: pq.span, orderly: false }, this.flow);
      if (held) {
        // Consumption signals the queue as it makes room; the delay covers what does not (a lock granted).
        await pause(clock, pq, held.delayMs);
        continue;
      }
      const at = pq.nextOffset;
      let r;
      try {
        r = await this.transport.pull({
          group: this.group, mq: pq.mq, offset: at, maxMessages: at < singlyUntil ? 1 : this.o.pullBatchSize, subscription: sub,
          suspendMs: PULL_SUSPEND_MS, signal: pq.signalOnDrop,
        });
        failures = 0;
      } catch (err) {
        if (pq.dropped) return;
        const corrupt = isKeelError(err, 'CORRUPT_STORE');
        if (corrupt && at >= singlyUntil) { singlyUntil = at + this.o.pullBatchSize; continue; }
        failures++;
        const skip = corrupt && failures >= CORRUPT_STORE_ATTEMPTS;
        this.readFailed(pq, at, err, failures, skip);
        if (skip) {
          failures = 0;
          pq.add([], at + 1);
          if (!e.orderly) this.commit(e);
          continue;
        }
        await pause(clock, pq, PULL_RETRY_MS);
        continue;
      }
      if (pq.dropped) return;
      switch (r.status) {
        case 'FOUND':
          if (e.orderly) {
            pq.add([], r.nextBeginOffset);
            if (e.orderly.putMessage(r.messages)) this.runOrderly(e);
            break;
          }
          pq.add(r.messages.map((m) => m.queueOffset), r.nextBeginOffset);
          e.cachedCount += r.messages.length;
          for (const m of r.messages) e.cachedBytes += m.body.length;
          for (let i = 0; i < r.messages.length; i += this.o.consumeBatchSize) {
            this.pool!.push({ e, msgs: r.messages.slice(i, i + this.o.consumeBatchSize) });
          }
          break;
        case 'NO_MATCHED_MSG':
        case 'OFFSET_MOVED':
          pq.add([], r.nextBeginOffset);
          // correctTagsOffset: the offset moves past what matched nothing only when nothing is cached.
          if (!e.orderly) this.commit(e);
          else if (e.orderly.msgCount === 0) this.writeEntryOffset(e, r.nextBeginOffset);
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

  /** ConsumeMessageConcurrentlyService: one batch, then its result. */
  private async consume(task: Task): Promise<void> {
    const { e, msgs } = task;
    // Batches of a dropped queue are not consumed: the queue's new reader gets them again.
    if (e.pq.dropped) return;
    const ctx: ConsumeContext = { group: this.group, topic: e.pq.topic, queueId: e.pq.queueId, delayLevelWhenNextConsume: 0 };
    const answer = this.listen(msgs, ctx);
    // A listener that answered synchronously cannot time out: no timer raced against it.
    const status = typeof answer === 'string' ? answer : (await within(this.transport.clock, answer, this.o.consumeTimeoutMs)) ?? 'RECONSUME_LATER';
    // Shutdown stopped waiting for this batch and committed below it: it comes again after a restart.
    if (this.state === 'stopped') return;
    // Broadcasting has no retry topic: RocketMQ drops what fails there.
    if (status === 'CONSUME_SUCCESS' || this.messageModel === 'BROADCASTING') {
      this.finish(e, msgs);
      return;
    }
    const sentBack: MessageExt[] = [];
    const kept: MessageExt[] = [];
    await Promise.all(msgs.map(async (m) => {
      try {
        await this.transport.sendBack({ brokerName: e.mq.brokerName, group: this.group, msg: m, delayLevel: ctx.delayLevelWhenNextConsume, maxReconsumeTimes: this.o.maxReconsumeTimes });
        sentBack.push(m);
      } catch {
        kept.push(m);
      }
    }));
    this.finish(e, sentBack);
    if (kept.length > 0 && !e.pq.dropped) {
      // Still in flight, so the offset waits for them; consumed again here, one retry more (submitConsumeRequestLater).
      for (const m of kept) m.reconsumeTimes++;
      this.later(() => { if (!e.pq.dropped && this.pool) this.pool.push({ e, msgs: kept }); }, LOCAL_RETRY_MS);
    }
  }

  /** The listener's answer, as it gave it (a promise, or at once); a throw or a rejection is RECONSUME_LATER. */
  private listen(msgs: MessageExt[], ctx: ConsumeContext): ConsumeStatus | Promise<ConsumeStatus> {
    let answer: ConsumeStatus | Promise<ConsumeStatus>;
    try {
      answer = this.o.listener!(msgs.map(asOriginal), ctx);
    } catch {
      return 'RECONSUME_LATER';
    }
    return typeof answer === 'string' ? answer : Promise.resolve(answer).catch(() => 'RECONSUME_LATER' as const);
  }

  private finish(e: QueueEntry, msgs: MessageExt[]): void {
    e.cachedCount -= msgs.length;
    for (const m of msgs) e.cachedBytes -= m.body.length;
    if (e.pq.finish(msgs.map((m) => m.queueOffset))) this.commit(e);
  }

  private runOrderly(e: QueueEntry): void {
    const task: Promise<void> = this.consumeOrderly(e).catch(() => undefined).finally(() => {
      this.orderlyTasks.delete(task);
      if (e.consuming === task) e.consuming = null;
    });
    e.consuming = task;
    this.orderlyTasks.add(task);
  }

  /** ConsumeMessageOrderlyService.ConsumeRequest: the queue's batches in order while it is locked and read. */
  private async consumeOrderly(e: QueueEntry): Promise<void> {
    const opq = e.orderly!;
    while (!e.pq.dropped && this.state === 'running') {
      if (this.lockQueues && (!opq.locked || opq.isLockExpired())) {
        this.later(() => this.relock(e), ORDERLY_RELOCK_MS);
        return;
      }
      const msgs = opq.takeMessages(this.o.consumeBatchSize);
      if (msgs.length === 0) return;
      const ctx: ConsumeOrderlyContext = {
        group: this.group, topic: e.mq.topic, queueId: e.mq.queueId, mq: { ...e.mq }, autoCommit: true,
        suspendCurrentQueueTimeMillis: this.o.suspendCurrentQueueTimeMillis,
      };
      let status: ConsumeOrderlyStatus;
      try {
        // Copies: the retry count of the batch's messages moves on after the listener returns.
        status = await this.o.orderlyListener!(msgs.map((m) => ({ ...asOriginal(m) })), ctx);
      } catch {
        status = 'SUSPEND_CURRENT_QUEUE_A_MOMENT';
      }
      // Shutdown gave up waiting for this batch and wrote the offsets: it comes again after a restart.
      if ((this.state as string) === 'stopped') return;
      const r = await processOrderlyResult(opq, msgs, status, ctx.autoCommit, this.o.maxReconsumeTimes, (m) => this.deadLetter(e, m));
      if (r.commitOffset >= 0) this.writeEntryOffset(e, r.commitOffset);
      // Room in the cache for the reader.
      e.pq.signal();
      if (!r.continueConsume) {
        this.later(() => this.runOrderly(e), ctx.suspendCurrentQueueTimeMillis);
        return;
      }
    }
  }

  /** tryLockLaterAndReconsume: lock the queue again; consume at once if granted, else in 3 s. */
  private relock(e: QueueEntry): void {
    if (e.pq.dropped || this.state !== 'running') return;
    this.transport.lockBatch(this.group, this.clientId, [e.mq]).then((got) => {
      if (got.length > 0) e.orderly!.lockGranted();
      return got.length > 0;
    }, () => false).then((ok) => {
      if (ok) this.runOrderly(e);
      else this.later(() => this.relock(e), PULL_RETRY_MS);
    });
  }

  /** Orderly past maxReconsumeTimes: to the dead-letter topic (delay level -1); false when that failed. */
  private async deadLetter(e: QueueEntry, m: MessageExt): Promise<boolean> {
    try {
      await this.transport.sendBack({ brokerName: e.mq.brokerName, group: this.group, msg: m, delayLevel: -1, maxReconsumeTimes: this.o.maxReconsumeTimes });
      return true;
    } catch {
      return false;
    }
  }

  private later(f: () => void, ms: number): void {
    const t = this.transport.clock.setTimeout(() => {
      this.timers.delete(t);
      f();
    }, ms);
    this.timers.add(t);
  }

  /** Only the queue's current reader commits: a reader replaced by an offset reset or a rebalance must not move the offset. */
  private commit(e: QueueEntry): void {
    this.writeEntryOffset(e, e.pq.committed);
  }

  private writeEntryOffset(e: QueueEntry, offset: number): void {
    if (this.queues.get(e.key) === e) this.writeOffset(e.mq, offset);
  }

  private writeOffset(mq: MessageQueue, offset: number): void {
    if (this.localOffsets) this.localOffsets.update(mq, offset);
    else this.transport.commitOffset(this.group, mq, offset);
  }

  private flushOffsets(): Promise<void> {
    return this.localOffsets ? this.localOffsets.persist() : this.transport.flushOffsets(this.group);
  }
}

/** Waits for the queue's next signal, or `ms` of the clock. */
async function pause(clock: Clock, pq: ProcessQueue, ms: number): Promise<void> {
  const timer = clock.setTimeout(() => pq.signal(), ms);
  await pq.wait();
  timer.cancel();
}

/** `p`'s value, or undefined when `ms` of the clock pass first. */
function within<T>(clock: Clock, p: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const timer = clock.setTimeout(() => resolve(undefined), ms);
    p.then((v) => { timer.cancel(); resolve(v); }, (e: unknown) => { timer.cancel(); reject(e); });
  });
}
