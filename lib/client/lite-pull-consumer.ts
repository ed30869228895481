/**
 * RocketMQ 4.9.7's DefaultLitePullConsumer: the application calls poll() and gets what background
 * pulls have put in a local buffer. Queues come from subscribe() (clustering: the group's queues
 * shared out by the allocation strategy, again every rebalance interval) or from assign().
 * Progress is the offset after the last message poll() returned from a queue (in-flight messages
 * are never passed); it reaches the broker by commitSync(), by auto-commit (checked at each poll,
 * every autoCommitIntervalMs, as Java does) and at shutdown with auto-commit on.
 */
import type { TimerHandle } from '../common/clock';
import { KeelError } from '../common/errors';
import { keepAlive } from '../common/keep-alive';
import type { MessageExt } from '../common/message';
import { isGroupName } from '../common/names';
import { boolean, checkOptions, epochMs, implementing, integer, oneOf, string, timerMs, type OptionRules } from '../common/options-check';
import { parseSubscription, type Subscription } from '../common/tag-filter';
import { allocateAveragely, allocateQueues, type AllocateMessageQueueStrategy } from './allocate-strategy';
import { startOffset, type ConsumeFromWhere } from './consume-from-where';
import { transportOf, type EmbeddedBroker } from './in-process-transport';
import { messageQueueKey, sortMessageQueues } from './message-queue';
import { ProcessQueue } from './process-queue';
import type { ClientTransport, MessageQueue } from './transport';

export interface LitePullConsumerOptions {
  group: string;
  /** Commit what poll() returned every autoCommitIntervalMs (checked at each poll) and at shutdown (default true). */
  autoCommit?: boolean;
  /** Default 5 s; at least 1 s, as in Java. */
  autoCommitIntervalMs?: number;
  /** Messages per pull, and so at most per poll() (default 10). */
  pullBatchSize?: number;
  /** A queue is not pulled while this many of its messages wait in the buffer (default 1000). */
  pullThresholdForQueue?: number;
  /** No queue is pulled while this many messages wait in the buffer in all (default 10000). */
  pullThresholdForAll?: number;
  /** poll()'s default timeout (default 5 s). */
  pollTimeoutMs?: number;
  /** Where a queue without a committed offset starts (default last). */
  consumeFromWhere?: ConsumeFromWhere;
  /** For CONSUME_FROM_TIMESTAMP (default: 30 minutes ago). */
  consumeTimestamp?: number;
  /** Who takes which queue in subscribe mode (default AVG). */
  allocateStrategy?: AllocateMessageQueueStrategy;
  /** How often subscribe mode reads routes and the group's members again (default 20 s). */
  rebalanceIntervalMs?: number;
}

const OPTION_RULES: OptionRules<LitePullConsumerOptions> = {
  group: string,
  autoCommit: boolean,
  autoCommitIntervalMs: timerMs(1000),
  pullBatchSize: integer(1, 1024),
  pullThresholdForQueue: integer(1),
  pullThresholdForAll: integer(1),
  pollTimeoutMs: timerMs(0),
  consumeFromWhere: oneOf('CONSUME_FROM_LAST_OFFSET', 'CONSUME_FROM_FIRST_OFFSET', 'CONSUME_FROM_TIMESTAMP'),
  consumeTimestamp: epochMs,
  allocateStrategy: implementing('allocate'),
  rebalanceIntervalMs: timerMs(),
};

/** How long a pull is held on the broker for an arrival (Java lite pull: BROKER_SUSPEND_MAX_TIME_MILLIS 20 s). */
const PULL_SUSPEND_MS = 20_000;
/** Java's PULL_TIME_DELAY_MILLS_ON_EXCEPTION, _WHEN_PAUSE and _WHEN_CACHE_FLOW_CONTROL. */
const DELAY_ON_ERROR_MS = 3000;
const DELAY_WHEN_PAUSED_MS = 1000;
const DELAY_WHEN_FULL_MS = 50;

let clientSeq = 0;

/** One assigned queue: its reader (null until its start offset is known) and whether it is paused. */
interface Assigned { mq: MessageQueue; pq: ProcessQueue | null; paused: boolean }

/** What one pull put in the buffer: poll() hands it out whole (Java's ConsumeRequest). */
interface Batch { a: Assigned; pq: ProcessQueue; msgs: MessageExt[] }

export class LitePullConsumer {
  readonly group: string;
  /** How the brokers know this consumer (HEART_BEAT's clientID, consumeType CONSUME_ACTIVELY). */
  readonly clientId = `${process.pid}@keelmq-lite#${++clientSeq}`;
  private readonly transport: ClientTransport;
  private readonly o: Required<Omit<LitePullConsumerOptions, 'consumeTimestamp'>> & Pick<LitePullConsumerOptions, 'consumeTimestamp'>;
  private mode: 'none' | 'subscribe' | 'assign' = 'none';
  /** Subscribe mode: topic → tag expression. */
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly assigned = new Map<string, Assigned>();
  private readonly buffer: Batch[] = [];
  private buffered = 0;
  /** Wakes of poll() calls waiting for a batch. */
  private readonly waiters = new Set<() => void>();
  private readonly loops = new Set<Promise<void>>();
  private state: 'created' | 'running' | 'stopped' = 'created';
  private unregister: (() => Promise<void>) | null = null;
  private rebalanceTimer: TimerHandle | null = null;
  private rebalancing: Promise<void> = Promise.resolve();
  private lastAutoCommit = 0;
  private release: (() => void) | null = null;
  private stopping: Promise<void> | null = null;

  constructor(target: EmbeddedBroker | ClientTransport, options: LitePullConsumerOptions) {
    if (!isGroupName(options?.group)) {
      throw new KeelError('OPTION_INVALID', `group ${JSON.stringify(options?.group)} must be 1..120 characters of [a-zA-Z0-9_|-]`);
    }
    const o = checkOptions('lite pull consumer', options, OPTION_RULES);
    this.transport = transportOf(target);
    this.group = options.group;
    this.o = {
      group: options.group,
      autoCommit: o.autoCommit ?? true,
      autoCommitIntervalMs: o.autoCommitIntervalMs ?? 5000,
      pullBatchSize: o.pullBatchSize ?? 10,
      pullThresholdForQueue: o.pullThresholdForQueue ?? 1000,
      pullThresholdForAll: o.pullThresholdForAll ?? 10_000,
      pollTimeoutMs: o.pollTimeoutMs ?? 5000,
      consumeFromWhere: o.consumeFromWhere ?? 'CONSUME_FROM_LAST_OFFSET',
      consumeTimestamp: o.consumeTimestamp,
      allocateStrategy: o.allocateStrategy ?? allocateAveragely,
      rebalanceIntervalMs: o.rebalanceIntervalMs ?? 20_000,
    };
  }

  /**
   * Reads `topic` (tags `expression`) in subscribe mode: the group's consumers share its queues.
   * Before or after start(); not together with assign().
   */
  subscribe(topic: string, expression = '*'): this {
    this.checkMode('subscribe');
    this.subscriptions.set(topic, parseSubscription(expression));
    if (this.state === 'running') void this.rebalanceSoon();
    return this;
  }

  unsubscribe(topic: string): void {
    this.subscriptions.delete(topic);
    if (this.state === 'running') void this.rebalanceSoon();
  }

  /** Reads exactly these queues (assign mode, no rebalance); replaces the previous assignment. */
  assign(mqs: readonly MessageQueue[]): void {
    this.checkMode('assign');
    if (this.state === 'stopped') throw new KeelError('CLIENT_STATE', 'the consumer is shut down');
    const wanted = mqs.map((q) => ({ topic: q.topic, brokerName: q.brokerName, queueId: q.queueId }));
    if (this.state === 'running') this.updateAssignment(wanted);
    else for (const mq of wanted) this.assigned.set(messageQueueKey(mq), { mq, pq: null, paused: false });
  }

  async start(): Promise<void> {
    if (this.state !== 'created') throw new KeelError('CLIENT_STATE', `lite pull consumer of group ${this.group} was already started`);
    this.state = 'running';
    this.release = keepAlive();
    this.lastAutoCommit = this.transport.clock.now();
    try {
      if (this.mode === 'subscribe') {
        this.unregister = await this.transport.registerConsumer({
          group: this.group, clientId: this.clientId, consumeType: 'CONSUME_ACTIVELY', subscriptions: this.subscriptions,
          shutdown: () => this.shutdown(), resetOffsets: (topic, offsets, brokerName) => this.resetOffsets(topic, offsets, brokerName),
        });
        await this.rebalanceSoon();
        this.scheduleRebalance();
      } else {
        for (const a of this.assigned.values()) this.open(a);
      }
    } catch (e) {
      await this.shutdown();
      throw e;
    }
  }

  /**
   * The messages of the next batch in the buffer (one pull's worth, in queue order), or none when
   * nothing comes within `timeoutMs`. What it returns counts as consumed at the next commit.
   */
  async poll(timeoutMs = this.o.pollTimeoutMs): Promise<MessageExt[]> {
    if (this.state !== 'running') throw new KeelError('CLIENT_STATE', 'poll() needs a started consumer');
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 0) throw new KeelError('OPTION_INVALID', `poll timeout must be a non-negative integer, got ${timeoutMs}`);
    const clock = this.transport.clock;
    if (this.o.autoCommit && clock.now() - this.lastAutoCommit >= this.o.autoCommitIntervalMs) {
      this.lastAutoCommit = clock.now();
      this.commitAll();
      // Written in the background: a poll does not wait for the network; a failed write is retried at the next.
      this.transport.flushOffsets(this.group).catch(() => undefined);
    }
    const deadline = clock.now() + timeoutMs;
    for (;;) {
      // Batches of paused queues wait in the buffer for resume().
      const i = this.buffer.findIndex((b) => !b.a.paused);
      if (i >= 0) {
        const b = this.buffer.splice(i, 1)[0]!;
        this.buffered -= b.msgs.length;
        // A batch of a queue that was sought or reassigned meanwhile is stale.
        if (b.pq.dropped) continue;
        b.pq.finish(b.msgs.map((m) => m.queueOffset));
        return b.msgs;
      }
      const left = deadline - clock.now();
      if (left <= 0 || this.state !== 'running') return [];
      await this.wakeable(left);
    }
  }

  /**
   * The next poll() of `mq` starts at `offset` (between the queue's min and max offsets); what
   * is buffered for it is discarded, and a commit now stores `offset`.
   */
  async seek(mq: MessageQueue, offset: number): Promise<void> {
    const a = this.assignedOrThrow(mq);
    const [min, max] = await Promise.all([this.transport.minOffset(a.mq), this.transport.maxOffset(a.mq)]);
    if (!Number.isSafeInteger(offset) || offset < min || offset > max) {
      throw new KeelError('OFFSET_INVALID', `seek offset ${offset} of ${describe(mq)} is not within [${min}, ${max}]`);
    }
    this.restartAt(a, offset);
  }

  async seekToBegin(mq: MessageQueue): Promise<void> {
    const a = this.assignedOrThrow(mq);
    this.restartAt(a, await this.transport.minOffset(a.mq));
  }

  async seekToEnd(mq: MessageQueue): Promise<void> {
    const a = this.assignedOrThrow(mq);
    this.restartAt(a, await this.transport.maxOffset(a.mq));
  }

  /** The first offset of `mq` stored at or after `timestamp` (for seek). */
  offsetForTimestamp(mq: MessageQueue, timestamp: number): Promise<number> { return this.transport.searchOffset(mq, timestamp); }

  /** Stops pulling `mqs` (assigned ones); poll() returns nothing of them until resume(), what is buffered is kept. */
  pause(mqs: readonly MessageQueue[]): void {
    for (const q of mqs) { const a = this.assigned.get(messageQueueKey(q)); if (a) a.paused = true; }
  }

  resume(mqs: readonly MessageQueue[]): void {
    for (const q of mqs) {
      const a = this.assigned.get(messageQueueKey(q));
      if (a) { a.paused = false; a.pq?.signal(); }
    }
    if (this.buffer.length > 0) for (const w of [...this.waiters]) w();
  }

  isPaused(mq: MessageQueue): boolean { return this.assigned.get(messageQueueKey(mq))?.paused ?? false; }

  /** The queues read now (subscribe mode: this consumer's share). */
  assignment(): MessageQueue[] { return sortMessageQueues([...this.assigned.values()].map((a) => a.mq)); }

  /** The readable queues of `topic` (for assign). */
  async fetchMessageQueues(topic: string): Promise<MessageQueue[]> { return (await this.transport.route(topic)).readQueues; }

  /** The group's offset in `mq` as stored (by this consumer or another). */
  committed(mq: MessageQueue): Promise<number | undefined> { return this.transport.queryOffset(this.group, mq); }

  /** Stores, and writes to the broker now, the offsets after what poll() returned. */
  async commitSync(): Promise<void> {
    this.commitAll();
    await this.transport.flushOffsets(this.group);
  }

  /**
   * Stops pulling and rebalancing, commits (with auto-commit on), unregisters and writes the
   * offsets. Buffered messages not polled are pulled again by the next consumer. A second call
   * returns the first one's promise.
   */
  shutdown(): Promise<void> {
    this.stopping ??= this.stop();
    return this.stopping;
  }

  private async stop(): Promise<void> {
    const wasRunning = this.state === 'running';
    this.state = 'stopped';
    this.rebalanceTimer?.cancel();
    await this.rebalancing.catch(() => undefined);
    if (wasRunning && this.o.autoCommit) this.commitAll();
    for (const a of this.assigned.values()) a.pq?.drop();
    for (const w of [...this.waiters]) w();
    await Promise.all([...this.loops]);
    this.buffer.length = 0;
    this.buffered = 0;
    let unregisterFailed: unknown;
    try {
      await this.unregister?.();
    } catch (e) {
      // The offsets are still written; the failure is reported after.
      unregisterFailed = e;
    }
    this.release?.();
    if (wasRunning) await this.transport.flushOffsets(this.group);
    if (unregisterFailed !== undefined) throw unregisterFailed;
  }

  /** The broker reset the group's offsets in `topic` (RESET_CONSUMER_CLIENT_OFFSET): read on from there. */
  private resetOffsets(topic: string, offsets: ReadonlyMap<number, number>, brokerName?: string): void {
    if (this.state !== 'running') return;
    for (const a of this.assigned.values()) {
      const offset = offsets.get(a.mq.queueId);
      if (a.mq.topic === topic && (brokerName === undefined || a.mq.brokerName === brokerName) && offset !== undefined) this.restartAt(a, offset);
    }
  }

  private checkMode(mode: 'subscribe' | 'assign'): void {
    if (this.mode !== 'none' && this.mode !== mode) throw new KeelError('CLIENT_STATE', `subscribe and assign are exclusive: this consumer uses ${this.mode}`);
    this.mode = mode;
  }

  private assignedOrThrow(mq: MessageQueue): Assigned {
    if (this.state !== 'running') throw new KeelError('CLIENT_STATE', 'seek needs a started consumer');
    const a = this.assigned.get(messageQueueKey(mq));
    if (!a) throw new KeelError('QUEUE_INVALID', `${describe(mq)} is not assigned to this consumer (it may be rebalancing)`);
    return a;
  }

  /** Records, per queue, the offset after what poll() returned. */
  private commitAll(): void {
    for (const a of this.assigned.values()) if (a.pq) this.transport.commitOffset(this.group, a.mq, a.pq.committed);
  }

  private restartAt(a: Assigned, offset: number): void {
    a.pq?.drop();
    this.purge();
    this.startReader(a, new ProcessQueue(a.mq, offset));
  }

  /** Forgets the buffered batches of dropped readers (Java's clearMessageQueueInCache). */
  private purge(): void {
    const live = this.buffer.filter((b) => !b.pq.dropped);
    this.buffer.length = 0;
    this.buffer.push(...live);
    this.buffered = live.reduce((n, b) => n + b.msgs.length, 0);
  }

  /** Starts reading a newly assigned queue from the group's offset (or consumeFromWhere). */
  private open(a: Assigned): void {
    const loop = (async () => {
      let offset: number;
      for (;;) {
        try {
          offset = await startOffset(this.transport, this.group, a.mq, this.o.consumeFromWhere, this.o.consumeTimestamp);
          break;
        } catch {
          if (!this.isCurrent(a)) return;
          await this.wakeable(DELAY_ON_ERROR_MS);
          if (!this.isCurrent(a)) return;
        }
      }
      // A seek while the offset was being read wins.
      if (a.pq === null && this.isCurrent(a)) this.startReader(a, new ProcessQueue(a.mq, offset));
    })().finally(() => this.loops.delete(loop));
    this.loops.add(loop);
  }

  private isCurrent(a: Assigned): boolean {
    return this.state === 'running' && this.assigned.get(messageQueueKey(a.mq)) === a;
  }

  private startReader(a: Assigned, pq: ProcessQueue): void {
    a.pq = pq;
    const loop = this.pullLoop(a, pq).finally(() => this.loops.delete(loop));
    this.loops.add(loop);
  }

  private async pullLoop(a: Assigned, pq: ProcessQueue): Promise<void> {
    const sub = this.mode === 'subscribe' ? this.subscriptions.get(a.mq.topic) ?? parseSubscription('*') : parseSubscription('*');
    while (!pq.dropped) {
      if (a.paused) { await this.delay(pq, DELAY_WHEN_PAUSED_MS); continue; }
      if (pq.span >= this.o.pullThresholdForQueue || this.buffered >= this.o.pullThresholdForAll) { await this.delay(pq, DELAY_WHEN_FULL_MS); continue; }
      let r;
      try {
        r = await this.transport.pull({
          group: this.group, mq: a.mq, offset: pq.nextOffset, maxMessages: this.o.pullBatchSize, subscription: sub, suspendMs: PULL_SUSPEND_MS, signal: pq.signalOnDrop,
        });
      } catch {
        if (pq.dropped) return;
        await this.delay(pq, DELAY_ON_ERROR_MS);
        continue;
      }
      if (pq.dropped) return;
      if (r.status === 'FOUND') {
        pq.add(r.messages.map((m) => m.queueOffset), r.nextBeginOffset);
        this.buffer.push({ a, pq, msgs: r.messages });
        this.buffered += r.messages.length;
        const w = this.waiters.values().next().value;
        if (w) w();
      } else if (r.status === 'NO_MATCHED_MSG' || r.status === 'OFFSET_MOVED') {
        pq.add([], r.nextBeginOffset);
      }
      // NO_NEW_MSG: the pull was held for an arrival already, so pull again.
    }
  }

  /** Resolves after `ms`, or earlier on the queue's signal (resume, drop). */
  private async delay(pq: ProcessQueue, ms: number): Promise<void> {
    const timer = this.transport.clock.setTimeout(() => pq.signal(), ms);
    await pq.wait();
    timer.cancel();
  }

  /** Resolves when a batch arrives, `ms` pass, or the consumer stops. */
  private wakeable(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => { timer.cancel(); this.waiters.delete(done); resolve(); };
      const timer = this.transport.clock.setTimeout(done, ms);
      this.waiters.add(done);
    });
  }

  private rebalanceSoon(): Promise<void> {
    const next = this.rebalancing.catch(() => undefined).then(() => this.rebalance());
    this.rebalancing = next;
    return next;
  }

  private scheduleRebalance(): void {
    if (this.state !== 'running') return;
    this.rebalanceTimer = this.transport.clock.setTimeout(() => {
      // A failed rebalance keeps the queues held; the next one tries again.
      this.rebalanceSoon().catch(() => undefined).finally(() => this.scheduleRebalance());
    }, this.o.rebalanceIntervalMs);
  }

  /** Subscribe mode: this consumer's share of each subscribed topic's queues among the group's consumers. */
  private async rebalance(): Promise<void> {
    if (this.state !== 'running') return;
    const wanted: MessageQueue[] = [];
    for (const topic of this.subscriptions.keys()) {
      const mqs = (await this.transport.route(topic)).readQueues;
      if (mqs.length === 0) continue;
      const cids = await this.transport.consumerIds(this.group, mqs[0]!.brokerName);
      if (cids.length === 0) continue;
      wanted.push(...allocateQueues(this.o.allocateStrategy, this.group, this.clientId, mqs, cids));
    }
    if (this.state === 'running') this.updateAssignment(wanted);
  }

  /** Drops the queues no longer wanted (committing them first, with auto-commit on) and opens the new ones. */
  private updateAssignment(wanted: readonly MessageQueue[]): void {
    const keys = new Set(wanted.map(messageQueueKey));
    for (const [k, a] of this.assigned) {
      if (keys.has(k)) continue;
      if (this.o.autoCommit && a.pq) this.transport.commitOffset(this.group, a.mq, a.pq.committed);
      a.pq?.drop();
      this.assigned.delete(k);
    }
    this.purge();
    for (const mq of wanted) {
      const k = messageQueueKey(mq);
      if (this.assigned.has(k)) continue;
      const a: Assigned = { mq, pq: null, paused: false };
      this.assigned.set(k, a);
      this.open(a);
    }
  }
}

function describe(mq: MessageQueue): string { return `queue ${mq.queueId} of ${mq.topic} on ${mq.brokerName}`; }
