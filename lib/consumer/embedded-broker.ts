import type { MessageStore } from '../store/message-store';
import type { GetMessagesResult, Message, MessageExt, PutResult, SendResult } from '../common/message';
import { KeelError } from '../common/errors';
import { boolean, checkOptions, integer, string, timerMs, type OptionRules } from '../common/options-check';
import { isTopicName } from '../common/names';
import { checkKey, dlqTopic, retryTopic, PROPERTY_DLQ_MESSAGE_ID, SCHEDULE_TOPIC } from '../common/message-const';
import { OffsetStore } from './offset-store';
import { planSendBack } from '../common/retry';
import { DEFAULT_DELAY_LEVELS, parseDelayLevels, ScheduleMessageService } from './schedule-service';
import { TopicConfigManager, type TopicConfig } from './topic-config';
import { QueueLockTable } from './queue-lock-table';
import { ResendLedger } from './resend-ledger';
import { keepAlive } from '../common/keep-alive';

export interface BrokerOptions {
  /** Create a topic on its first send or subscription (default true); otherwise TOPIC_NOT_FOUND. */
  autoCreateTopics: boolean;
  /** Queues of a topic created without a count (default 4). */
  defaultTopicQueues: number;
  /** Must not exceed the store's maxQueuesPerTopic (default 1024). */
  maxQueuesPerTopic: number;
  /** Delay of each level, level 1 first (RocketMQ's messageDelayLevel). */
  delayLevels: string;
  /** How often consumer offsets are written when they changed (default 5 s). */
  offsetPersistIntervalMs: number;
  /** How often delay-level progress is written when it changed (default 10 s). */
  delayOffsetPersistIntervalMs: number;
}

export const DEFAULT_TOPIC_QUEUES = 4;

/** Topics an admin may not create or delete (`TopicValidator.isSystemTopic`, plus keelmq's schedule topic). */
export const SYSTEM_TOPICS: ReadonlySet<string> = new Set(['TBW102', SCHEDULE_TOPIC, 'RMQ_SYS_TRANS_HALF_TOPIC', 'RMQ_SYS_TRANS_OP_HALF_TOPIC', 'RMQ_SYS_TRACE_TOPIC', 'OFFSET_MOVED_EVENT']);

export function defaultBrokerOptions(): BrokerOptions {
  return {
    autoCreateTopics: true,
    defaultTopicQueues: DEFAULT_TOPIC_QUEUES,
    maxQueuesPerTopic: 1024,
    delayLevels: DEFAULT_DELAY_LEVELS,
    offsetPersistIntervalMs: 5000,
    delayOffsetPersistIntervalMs: 10_000,
  };
}

const BROKER_OPTION_RULES: OptionRules<BrokerOptions> = {
  autoCreateTopics: boolean,
  defaultTopicQueues: integer(1),
  maxQueuesPerTopic: integer(1),
  delayLevels: string,
  offsetPersistIntervalMs: timerMs(),
  delayOffsetPersistIntervalMs: timerMs(),
};

/** Topic names the store accepts; checked before a name is written to topics.json. */

export interface QueryByKeyOptions {
  /** Store-time window, inclusive (default: all). */
  begin?: number;
  end?: number;
  /** Stop after this many matches (default 64). */
  max?: number;
  /** Match the producer's unique id (UNIQ_KEY) instead of KEYS, as RocketMQ's unique-key query does. */
  uniqKey?: boolean;
}

/**
 * A push consumer running on a broker in the same process, as the broker sees
 * it (lib/client's ConsumerRegistration): closing the broker shuts it down, and
 * an offset reset reaches it.
 */
export interface RegisteredConsumer {
  readonly group: string;
  readonly clientId: string;
  shutdown(): Promise<void>;
  resetOffsets(topic: string, offsets: ReadonlyMap<number, number>): void;
  /** Another consumer of the group started or stopped: rebalance. */
  idsChanged?(): void;
}

/**
 * The broker-side services over one open MessageStore, in the same process:
 * topics and their queues, consumer offsets, delay levels, retries and dead
 * letters, key query and the arrival wait of long polls. Producers and
 * consumers reach it through lib/client's in-process transport
 * (`new Producer(broker)`), the networked Broker through its request
 * processors. It keeps its state in
 * `<store>/config/` and its timers on the store's clock. A store has at most
 * one broker (BROKER_IN_USE otherwise); closing the store closes its broker
 * first.
 */
export class EmbeddedBroker {
  private readonly consumers = new Set<RegisteredConsumer>();
  private readonly resends: ResendLedger;
  /** Queue locks of orderly consumers. */
  readonly locks: QueueLockTable;
  /** Wakes of the long polls waiting (see waitForArrival). */
  private readonly waits = new Set<() => void>();
  /** The same wakes by topic and queue, for the one arrival listener (see waitForArrival). */
  private readonly waitsByQueue = new Map<string, Map<number, Set<() => void>>>();
  /** Unsubscribes the arrival listener, subscribed at the first long poll; null before. */
  private offArrival: (() => void) | null = null;
  /** Holds the process open while any long poll waits. */
  private releaseWaits: (() => void) | null = null;
  /**
   * The same wakes by abort signal: one 'abort' listener per signal (a consumer queue's, for its
   * life), not one added and removed per wait (EventTarget's bookkeeping cost more than the wait).
   */
  private readonly waitsBySignal = new WeakMap<AbortSignal, Set<() => void>>();
  private closing: Promise<void> | null = null;
  private closed = false;

  private constructor(
    readonly store: MessageStore,
    readonly options: BrokerOptions,
    readonly topicConfig: TopicConfigManager,
    readonly offsets: OffsetStore,
    readonly schedule: ScheduleMessageService,
    private readonly detach: () => void,
  ) {
    this.resends = new ResendLedger(store);
    this.locks = new QueueLockTable(store.clock);
  }

  static async open(store: MessageStore, partial?: Partial<BrokerOptions>): Promise<EmbeddedBroker> {
    const options = { ...defaultBrokerOptions(), ...checkOptions('broker', partial, BROKER_OPTION_RULES) };
    const levels = parseDelayLevels(options.delayLevels);
    let broker: EmbeddedBroker | null = null;
    // Claimed before anything starts, so that a second broker fails before it runs a delay level.
    const detach = store.attach({ close: () => broker?.close() ?? Promise.resolve() });
    try {
      const topics = await TopicConfigManager.load(store, options.maxQueuesPerTopic);
      const offsets = await OffsetStore.load(store, store.clock, options.offsetPersistIntervalMs);
      const schedule = await ScheduleMessageService.start(store, topics, store.clock, levels, options.delayOffsetPersistIntervalMs);
      broker = new EmbeddedBroker(store, options, topics, offsets, schedule, detach);
      return broker;
    } catch (e) {
      detach();
      throw e;
    }
  }

  /** Creates a topic with `queues` queues (default 4), or grows an existing one. */
  async createTopic(name: string, queues = this.options.defaultTopicQueues): Promise<TopicConfig> {
    this.checkOpen();
    if (!isTopicName(name)) throw new KeelError('TOPIC_INVALID', `topic ${JSON.stringify(name)} must be 1..127 characters of [%|a-zA-Z0-9_-]`);
    return this.topicConfig.ensure(name, queues);
  }

  /**
   * Forgets a topic (its messages stay in the store until they expire); TOPIC_RESERVED for the
   * system topics (`TopicValidator.isSystemTopic` and the schedule topic). False when it did not exist.
   */
  async deleteTopic(name: string): Promise<boolean> {
    this.checkOpen();
    if (SYSTEM_TOPICS.has(name)) throw new KeelError('TOPIC_RESERVED', `The topic[${name}] is conflict with system topic.`);
    return this.topicConfig.remove(name);
  }

  topic(name: string): TopicConfig | undefined { return this.topicConfig.get(name); }
  topics(): TopicConfig[] { return this.topicConfig.list(); }

  /** The topic's config; creates it when autoCreateTopics is on. */
  async resolveTopic(name: string): Promise<TopicConfig> {
    const t = this.topicConfig.get(name);
    if (t) return t;
    if (!this.options.autoCreateTopics) throw new KeelError('TOPIC_NOT_FOUND', `topic ${name} does not exist (autoCreateTopics is off)`);
    return this.createTopic(name);
  }

  /**
   * @internal Stores a message in its queue, or in the schedule topic when it
   * has a delay level. Applications send with a Producer, which refuses the
   * internal topics and what would not read back as sent.
   */
  putMessage(msg: Message & { queueId: number }, delayLevel = 0): Promise<PutResult> {
    this.checkOpen();
    return this.store.put(delayLevel > 0 ? this.schedule.toScheduled(msg, delayLevel) : msg);
  }

  /**
   * Sends a failed message back for a later retry, or to the dead-letter
   * topic (see planSendBack). `msg` must be the message as stored.
   */
  async sendBack(group: string, msg: MessageExt, delayLevel: number, maxReconsumeTimes: number): Promise<PutResult> {
    const plan = planSendBack(msg, group, delayLevel, maxReconsumeTimes, this.schedule.levels.length);
    await this.topicConfig.ensure(plan.message.topic, 1);
    return this.putMessage(plan.message, plan.delayLevel);
  }

  /** Messages in a group's dead-letter topic, from `offset`. */
  async deadLetters(group: string, offset = 0, max = 32): Promise<GetMessagesResult> {
    this.checkOpen();
    return this.store.getMessages(dlqTopic(group), 0, offset, max);
  }

  /**
   * Puts a dead letter back into its group's retry topic, at once and with
   * its retry count cleared, so the group's push consumer gets it again. The
   * result says where the copy was stored: `%RETRY%<group>`, queue 0 (the
   * listener still sees the message at its original topic, queue and offset).
   * A dead letter is resent once: a second resend of the same id rejects with
   * DEAD_LETTER_RESENT, also after a restart (if the copy fails again until it
   * is dead-lettered anew, that new dead letter can be resent). Undeliverable
   * schedule entries (group SCHEDULE_TOPIC_XXXX) are not resent: TOPIC_RESERVED.
   */
  async resendDeadLetter(group: string, msgId: string): Promise<SendResult> {
    this.checkOpen();
    if (group === SCHEDULE_TOPIC) throw new KeelError('TOPIC_RESERVED', 'undeliverable schedule entries cannot be resent: send a corrected message instead');
    const m = await this.store.lookupMessageById(msgId);
    if (!m || m.topic !== dlqTopic(group)) throw new KeelError('NOT_FOUND', `no message ${msgId} in ${dlqTopic(group)}`);
    const topic = retryTopic(group);
    await this.topicConfig.ensure(topic, 1);
    return this.resends.once(group, m.msgId, async () => {
      const r = await this.putMessage({
        topic, queueId: 0, body: m.body, properties: { ...m.properties, [PROPERTY_DLQ_MESSAGE_ID]: m.msgId }, flag: m.flag,
        bornTimestamp: m.bornTimestamp, bornHost: m.bornHost, reconsumeTimes: 0,
      });
      return { status: r.status, msgId: r.msgId, topic, queueId: 0, queueOffset: r.queueOffset, storeTimestamp: r.storeTimestamp };
    });
  }

  /**
   * Moves every queue of the group in `topic` to the first message stored at
   * or after `timestamp` (-1: the end), forward or back; running push consumers of the group
   * drop what they have in flight and continue from there.
   */
  async resetOffsetByTime(group: string, topic: string, timestamp: number): Promise<Map<number, number>> {
    this.checkOpen();
    const t = this.topicConfig.get(topic);
    if (!t) throw new KeelError('TOPIC_NOT_FOUND', `topic ${topic} does not exist`);
    const at = timestamp === -1 ? Number.MAX_SAFE_INTEGER : timestamp;
    const offsets = new Map<number, number>();
    for (let q = 0; q < t.queues; q++) offsets.set(q, await this.store.getOffsetByTime(topic, q, at));
    for (const [q, off] of offsets) this.offsets.update(group, topic, q, off);
    for (const c of this.consumers) if (c.group === group) c.resetOffsets(topic, offsets);
    await this.offsets.persist();
    return offsets;
  }

  /**
   * Each queue of `topic`: its min and max offset and the store time of its last message (0 when
   * empty), as mqadmin topicStatus shows them; TOPIC_NOT_FOUND for an unknown topic.
   */
  async topicStats(topic: string): Promise<{ queueId: number; minOffset: number; maxOffset: number; lastUpdateTimestamp: number }[]> {
    const t = this.topicConfig.get(topic);
    if (!t) throw new KeelError('TOPIC_NOT_FOUND', `topic ${topic} does not exist`);
    const out = [];
    for (let queueId = 0; queueId < t.queues; queueId++) {
      const minOffset = this.store.getMinOffsetInQueue(topic, queueId);
      const maxOffset = this.store.getMaxOffsetInQueue(topic, queueId);
      const lastUpdateTimestamp = maxOffset > minOffset ? await this.storeTimeAt(topic, queueId, maxOffset - 1) : 0;
      out.push({ queueId, minOffset, maxOffset, lastUpdateTimestamp });
    }
    return out;
  }

  /**
   * The group's progress in each queue of `topic` (none for an unknown topic): the queue's max
   * offset, the group's committed offset (0 without one) and the store time of the last message
   * it consumed (0 when none), as mqadmin consumerProgress shows them.
   */
  async consumeProgress(group: string, topic: string): Promise<{ queueId: number; brokerOffset: number; consumerOffset: number; lastTimestamp: number }[]> {
    const t = this.topicConfig.get(topic);
    if (!t) return [];
    const out = [];
    for (let queueId = 0; queueId < t.queues; queueId++) {
      const brokerOffset = this.store.getMaxOffsetInQueue(topic, queueId);
      const consumerOffset = Math.max(0, this.offsets.read(group, topic, queueId) ?? 0);
      const lastTimestamp = consumerOffset > 0 ? await this.storeTimeAt(topic, queueId, consumerOffset - 1) : 0;
      out.push({ queueId, brokerOffset, consumerOffset, lastTimestamp });
    }
    return out;
  }

  /** The topics the group has stored offsets in. */
  groupTopics(group: string): string[] {
    return [...new Set(this.offsets.subscriptions().filter((s) => s.group === group).map((s) => s.topic))].sort();
  }

  private async storeTimeAt(topic: string, queueId: number, offset: number): Promise<number> {
    const r = await this.store.getMessages(topic, queueId, offset, 1);
    return r.messages[0]?.storeTimestamp ?? 0;
  }

  /** The group's committed offset in a queue, or undefined when it never consumed it. */
  consumerOffset(group: string, topic: string, queueId: number): number | undefined {
    return this.offsets.read(group, topic, queueId);
  }

  lookupMessageById(msgId: string): Promise<MessageExt | null> { return this.store.lookupMessageById(msgId); }

  /**
   * Messages of `topic` whose KEYS include `key`, oldest first per queue; a
   * key no message can have (empty, or with a space) is PROPERTY_INVALID. There
   * is no key index: this scans the topic's queues, within the time window
   * when one is given (found by binary search on store time), so narrow it.
   */
  async queryMessageByKey(topic: string, key: string, options: QueryByKeyOptions = {}): Promise<MessageExt[]> {
    this.checkOpen();
    checkKey(key);
    const t = this.topicConfig.get(topic);
    if (!t) return [];
    const begin = options.begin ?? 0;
    const end = options.end ?? Number.MAX_SAFE_INTEGER;
    const max = options.max ?? 64;
    const found: MessageExt[] = [];
    const matchKey = options.uniqKey ? (m: MessageExt) => m.properties['UNIQ_KEY'] === key : (m: MessageExt) => m.keys.includes(key);
    const filter = { matchMessage: (m: MessageExt) => m.storeTimestamp <= end && matchKey(m) };
    for (let q = 0; q < t.queues && found.length < max; q++) {
      let offset = begin > 0 ? await this.store.getOffsetByTime(topic, q, begin) : this.store.getMinOffsetInQueue(topic, q);
      const stop = end < Number.MAX_SAFE_INTEGER ? await this.store.getOffsetByTime(topic, q, end + 1) : this.store.getMaxOffsetInQueue(topic, q);
      while (offset < stop && found.length < max) {
        const r = await this.store.getMessages(topic, q, offset, Math.min(256, stop - offset), filter);
        if (r.status === 'NO_NEW_MSG' || r.status === 'NO_MATCHED_LOGIC_QUEUE') break;
        found.push(...r.messages.slice(0, max - found.length));
        offset = r.nextBeginOffset;
      }
    }
    return found;
  }

  /**
   * @internal a push consumer starting. Consumers of a group share its queues out among
   * themselves (rebalance): the others are told at once (idsChanged), as a networked broker
   * sends NOTIFY_CONSUMER_IDS_CHANGED. A client id is one consumer per group.
   */
  register(c: RegisteredConsumer): void {
    this.checkOpen();
    if (this.closing) throw new KeelError('CLIENT_STATE', 'the broker is closing');
    for (const other of this.consumers) {
      if (other.group === c.group && other.clientId === c.clientId) {
        throw new KeelError('GROUP_IN_USE', `a push consumer of group ${c.group} with client id ${c.clientId} is already running in this broker`);
      }
    }
    this.consumers.add(c);
    this.notifyIdsChanged(c.group, c);
  }

  /** @internal */
  unregister(c: RegisteredConsumer): void {
    if (this.consumers.delete(c)) this.notifyIdsChanged(c.group, c);
  }

  /** Tells the other members of `group` to rebalance; after the current call stack, as a notice over the network would. */
  private notifyIdsChanged(group: string, except: RegisteredConsumer): void {
    for (const other of this.consumers) {
      if (other.group === group && other !== except && other.idsChanged) queueMicrotask(() => other.idsChanged?.());
    }
  }

  /** @internal the client ids of the group's running push consumers. */
  consumerIds(group: string): string[] {
    return [...this.consumers].filter((c) => c.group === group).map((c) => c.clientId);
  }

  /**
   * @internal Resolves when a message arrives in the queue, `ms` of the clock
   * passed, the signal aborted, or the broker is closing (the long poll of a
   * consumer). Keeps the process alive meanwhile. CLIENT_STATE once the broker
   * is closing.
   */
  waitForArrival(topic: string, queueId: number, ms: number, signal?: AbortSignal): Promise<void> {
    if (this.closing || this.closed) return Promise.reject(new KeelError('CLIENT_STATE', 'the broker is closed'));
    // One store listener for every wait, subscribed first: if that throws (a closed store), nothing
    // else is left behind holding the process. A listener per wait made every arrival call each
    // waiting poll of every queue.
    this.offArrival ??= this.store.onArrival((t, q) => this.wake(t, q));
    let byQueue = this.waitsByQueue.get(topic);
    if (!byQueue) this.waitsByQueue.set(topic, (byQueue = new Map()));
    let queueWaits = byQueue.get(queueId);
    if (!queueWaits) byQueue.set(queueId, (queueWaits = new Set()));
    const waits = this.waits;
    const parked = queueWaits;
    const aborts = signal ? this.abortWaits(signal) : null;
    return new Promise((resolve) => {
      const done = (): void => {
        if (!waits.delete(done)) return;
        timer.cancel();
        parked.delete(done);
        aborts?.delete(done);
        if (waits.size === 0) { this.releaseWaits?.(); this.releaseWaits = null; }
        resolve();
      };
      const timer = this.store.clock.setTimeout(done, ms);
      if (waits.size === 0) this.releaseWaits = keepAlive();
      waits.add(done);
      parked.add(done);
      aborts?.add(done);
    });
  }

  /** The waits to wake when `signal` aborts. */
  private abortWaits(signal: AbortSignal): Set<() => void> {
    let set = this.waitsBySignal.get(signal);
    if (!set) {
      const waiting = (set = new Set());
      this.waitsBySignal.set(signal, waiting);
      signal.addEventListener('abort', () => { for (const done of [...waiting]) done(); }, { once: true });
    }
    return set;
  }

  /** Wakes the long polls of a queue that got messages. */
  private wake(topic: string, queueId: number): void {
    const parked = this.waitsByQueue.get(topic)?.get(queueId);
    if (!parked || parked.size === 0) return;
    for (const done of [...parked]) done();
  }

  private checkOpen(): void {
    if (this.closed) throw new KeelError('CLIENT_STATE', 'the broker is closed');
  }

  /**
   * Wakes pending long polls (they reject with CLIENT_STATE), shuts down
   * running push consumers (waiting for those already shutting down), stops
   * the delay levels and writes offsets and progress. The store stays open.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    try {
      for (const wake of [...this.waits]) wake();
      this.offArrival?.();
      await Promise.all([...this.consumers].map((c) => c.shutdown()));
      this.closed = true;
      await this.schedule.close();
      await this.offsets.close();
    } finally {
      this.detach();
    }
  }
}
