/**
 * The producer: RocketMQ 4.9.7's DefaultMQProducer over a ClientTransport (in-process or remoting).
 * A send checks the message, gives it a UNIQ_KEY (its msgId), compresses a large body, picks a
 * queue from the topic's cached route and sends through runSendAttempts: retries on another broker
 * on RocketMQ's retry codes within one timeout, with latency-based avoidance when enabled.
 */
import type { Clock } from '../common/clock';
import { KeelError } from '../common/errors';
import type { MessageContent, MessageQueue } from '../common/message';
import { checkKey, checkUserTopic, PROPERTY_UNIQ_KEY, SYSTEM_PROPERTIES } from '../common/message-const';
import { boolean, checkOptions, fn, integer, string, timerMs, type OptionRule, type OptionRules } from '../common/options-check';
import { isSelectableTag } from '../common/tag-filter';
import { tagsHashCode } from '../common/tag-hash';
import { transportOf, type EmbeddedBroker } from './in-process-transport';
import { DEFAULT_LATENCY_MAX, DEFAULT_NOT_AVAILABLE_DURATION, MQFaultStrategy } from './latency-fault-tolerance';
import { compressBody, DEFAULT_COMPRESS_OVER } from './message-compression';
import {
  DEFAULT_SEND_RETRY_OPTIONS, runSendAttempts, type CommunicationMode, type SendLoop, type SendRetryOptions, type SendStatus,
} from './send-retry-policy';
import { topicRouteToPublishInfo, type TopicPublishInfo } from './topic-publish-info';
import type { ClientTransport, OutgoingMessage, SendReply } from './transport';
import { createUniqId } from './unique-id';

export type { SendStatus } from './send-retry-policy';

/** What an application sends. */
export interface ProducerMessage extends MessageContent {
  /** Deliver after the delay of this level (1..18 with the default levels); 0 or absent: at once. */
  delayLevel?: number;
  /** A fixed queue; overrides the selector and the sharding key. */
  queueId?: number;
  /** Messages with the same sharding key go to the same queue (and so stay in order). */
  shardingKey?: string;
}

/** What a send resolves with (RocketMQ's SendResult). */
export interface SendResult {
  /** SEND_OK, or a stored message whose flush or replication did not complete in time. */
  status: SendStatus;
  /** The producer's id of the message, property UNIQ_KEY: what a consumer sees in `properties.UNIQ_KEY`. */
  msgId: string;
  /** The stored record's id (store host + commit-log offset); what `lookupMessageById` and mqadmin queryMsgById take. */
  offsetMsgId: string;
  messageQueue: MessageQueue;
  /** Offset in the queue (for a delayed message: in its schedule queue). */
  queueOffset: number;
  /** When the store wrote it; in-process only (a send reply does not carry it). */
  storeTimestamp?: number;
}

/** Picks a queue in 0..queues-1 for a message (ProducerOptions.selector). */
export type QueueSelector = (queues: number, msg: ProducerMessage) => number;

/** RocketMQ's MessageQueueSelector, for one send: the queue for `msg` among the topic's writable queues, given `arg`. */
export type MessageQueueSelector<A = unknown> = (mqs: readonly MessageQueue[], msg: ProducerMessage, arg: A) => MessageQueue;

/** RocketMQ's SendCallback: the async send's outcome. */
export interface SendCallback {
  onSuccess(result: SendResult): void;
  onException(error: Error): void;
}

export interface ProducerOptions {
  /** Producer group: sent with every message and announced in heartbeats. Default DEFAULT_PRODUCER. */
  group: string;
  /** Used instead of round robin for messages without queueId or shardingKey. */
  selector?: QueueSelector;
  /** The budget of one send, retries included (sendMsgTimeout). Default 3000 ms. */
  sendMsgTimeout: number;
  /** Retries of a send (promise form) on another broker. Default 2. */
  retryTimesWhenSendFailed: number;
  /** Retries of a send with a callback, only when no reply came. Default 2. */
  retryTimesWhenSendAsyncFailed: number;
  /** A stored-but-not-OK status (FLUSH_DISK_TIMEOUT...) is retried on another broker. Default false. */
  retryAnotherBrokerWhenNotStoreOK: boolean;
  /** Latency-based broker avoidance (MQFaultStrategy). Default false, as in RocketMQ. */
  sendLatencyFaultEnable: boolean;
  /** Latency thresholds (ms) of the avoidance; default 50, 100, 550, 1000, 2000, 3000, 15000. */
  latencyMax: readonly number[];
  /** How long (ms) a broker at each threshold is avoided; default 0, 0, 30 s, 60 s, 120 s, 180 s, 600 s. */
  notAvailableDuration: readonly number[];
  /** Bodies of this many bytes or more are sent zlib-compressed (sysFlag 0x301). Default 4096. */
  compressMsgBodyOverHowmuch: number;
  /** A topic's route is fetched again after this long (pollNameServerInterval). Default 30 000 ms. */
  pollNameServerInterval: number;
}

const numbers: OptionRule = (v) => (Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isFinite(x) && x >= 0) ? null : 'an array of numbers >= 0');

const PRODUCER_OPTION_RULES: OptionRules<ProducerOptions> = {
  group: string,
  selector: fn,
  sendMsgTimeout: timerMs(),
  retryTimesWhenSendFailed: integer(0, 100),
  retryTimesWhenSendAsyncFailed: integer(0, 100),
  retryAnotherBrokerWhenNotStoreOK: boolean,
  sendLatencyFaultEnable: boolean,
  latencyMax: numbers,
  notAvailableDuration: numbers,
  compressMsgBodyOverHowmuch: integer(0),
  pollNameServerInterval: timerMs(),
};

export const DEFAULT_PRODUCER_GROUP = 'DEFAULT_PRODUCER';

type Choose = (mqs: readonly MessageQueue[]) => MessageQueue | number;

/** A message as the transport sends it, with its msgId. */
type Outgoing = OutgoingMessage & { uniqKey: string };

/**
 * What a kind of send (one message, oneway, batch) asks of the transport and makes of its answer;
 * `P` is what is sent, `T` the transport's answer, `R` the send's result. One constant object per
 * kind, so that a send in flight holds no closure of its own.
 */
interface SendKind<P, T, R extends { status: SendStatus }> {
  call(transport: ClientTransport, mq: MessageQueue, payload: P, timeoutMs: number): Promise<T>;
  result(payload: P, mq: MessageQueue, answer: T | undefined): R | undefined;
}

const ONE: SendKind<Outgoing, SendReply, SendResult> = {
  call: (transport, mq, out, timeoutMs) => transport.send(mq, out, timeoutMs),
  result: (out, mq, reply) => result(out, mq, reply!),
};

const ONEWAY: SendKind<Outgoing, void, SendResult> = {
  call: (transport, mq, out) => transport.sendOneway(mq, out),
  result: () => undefined,
};

const BATCH: SendKind<Outgoing[], SendReply[], { status: SendStatus; results: SendResult[] }> = {
  call: (transport, mq, outs, timeoutMs) => transport.sendBatch(mq, outs, timeoutMs),
  result: (outs, mq, replies) => ({
    // One item not stored OK makes the batch not OK for the retry policy.
    status: replies!.find((r) => r.status !== 'SEND_OK')?.status ?? 'SEND_OK',
    results: replies!.map((r, i) => result(outs[i]!, mq, r)),
  }),
};

interface CachedRoute {
  info: TopicPublishInfo;
  fetchedAt: number;
  /** A send failed since: fetch again. */
  stale: boolean;
  refreshing: boolean;
}

let producerSeq = 0;

/**
 * Sends messages: `send(msg)` (a promise; RocketMQ's sync send), `send(msg, callback)` (RocketMQ's
 * async send), `send(msg, selector, arg)` (a queue chosen by the application), `sendOneway`,
 * `sendBatch`. Queue choice, in order: `msg.queueId`, the options' selector, the hash of
 * `msg.shardingKey` (SelectMessageQueueByHash), round robin; a number n picks the route's n-th
 * writable queue (brokers by name, then queue id). A send whose queue was chosen so is one
 * attempt (RocketMQ's sendSelectImpl): its queue must not change.
 */
export class Producer {
  readonly group: string;
  readonly clientId = `${process.pid}@keelmq-producer#${++producerSeq}`;
  private readonly transport: ClientTransport;
  private readonly options: Omit<ProducerOptions, 'selector'>;
  private readonly selector: QueueSelector | undefined;
  private readonly clock: Clock;
  private readonly retry: SendRetryOptions;
  /** The retry options of a send whose queue was chosen for it: one attempt. */
  private readonly fixedRetry: SendRetryOptions;
  /** What every send of this producer shares (SendOperation). */
  private readonly sendContext: SendContext;
  private readonly fault: MQFaultStrategy;
  private readonly routes = new Map<string, CachedRoute>();
  private readonly fetching = new Map<string, Promise<TopicPublishInfo>>();
  private registration: Promise<(() => Promise<void>) | undefined> | undefined;
  private closed = false;

  constructor(target: EmbeddedBroker | ClientTransport, options?: Partial<ProducerOptions>) {
    const o = checkOptions('producer', options, PRODUCER_OPTION_RULES);
    this.transport = transportOf(target);
    this.selector = o.selector;
    this.clock = this.transport.clock;
    this.options = {
      group: o.group ?? DEFAULT_PRODUCER_GROUP,
      sendMsgTimeout: o.sendMsgTimeout ?? DEFAULT_SEND_RETRY_OPTIONS.sendMsgTimeout,
      retryTimesWhenSendFailed: o.retryTimesWhenSendFailed ?? DEFAULT_SEND_RETRY_OPTIONS.retryTimesWhenSendFailed,
      retryTimesWhenSendAsyncFailed: o.retryTimesWhenSendAsyncFailed ?? DEFAULT_SEND_RETRY_OPTIONS.retryTimesWhenSendAsyncFailed,
      retryAnotherBrokerWhenNotStoreOK: o.retryAnotherBrokerWhenNotStoreOK ?? false,
      sendLatencyFaultEnable: o.sendLatencyFaultEnable ?? false,
      latencyMax: o.latencyMax ?? DEFAULT_LATENCY_MAX,
      notAvailableDuration: o.notAvailableDuration ?? DEFAULT_NOT_AVAILABLE_DURATION,
      compressMsgBodyOverHowmuch: o.compressMsgBodyOverHowmuch ?? DEFAULT_COMPRESS_OVER,
      pollNameServerInterval: o.pollNameServerInterval ?? 30_000,
    };
    if (this.options.latencyMax.length !== this.options.notAvailableDuration.length) {
      throw new KeelError('OPTION_INVALID', 'producer options latencyMax and notAvailableDuration must have the same length');
    }
    this.group = this.options.group;
    this.retry = { ...DEFAULT_SEND_RETRY_OPTIONS, ...this.options };
    this.fixedRetry = { ...this.retry, retryTimesWhenSendFailed: 0, retryTimesWhenSendAsyncFailed: 0 };
    this.fault = new MQFaultStrategy({
      sendLatencyFaultEnable: this.options.sendLatencyFaultEnable, latencyMax: this.options.latencyMax,
      notAvailableDuration: this.options.notAvailableDuration, clock: this.clock,
    });
    const fault = this.fault;
    this.sendContext = {
      transport: this.transport, clock: this.clock, fault, retry: this.retry, fixedRetry: this.fixedRetry,
      updateFaultItem: (brokerName, latency, isolation) => fault.updateFaultItem(brokerName, latency, isolation),
      markStale: (topic) => this.markStale(topic),
    };
  }

  /** Whether slow or failing brokers are avoided; may be switched while running. */
  get sendLatencyFaultEnable(): boolean { return this.fault.sendLatencyFaultEnable; }
  set sendLatencyFaultEnable(on: boolean) { this.fault.sendLatencyFaultEnable = on; }

  /** Sends and resolves once the broker stored it (retried on another broker on RocketMQ's retry codes). */
  send(msg: ProducerMessage): Promise<SendResult>;
  /** Async send: the outcome goes to the callback (retried only when no reply came). */
  send(msg: ProducerMessage, callback: SendCallback): void;
  /** Sends to the queue `selector` picks (ordered messages): one attempt. */
  send<A>(msg: ProducerMessage, selector: MessageQueueSelector<A>, arg: A): Promise<SendResult>;
  send<A>(msg: ProducerMessage, second?: SendCallback | MessageQueueSelector<A>, arg?: A): Promise<SendResult> | void {
    if (typeof second === 'function') return this.sendOne(msg, 'sync', (mqs) => second(mqs, msg, arg as A));
    if (second === undefined) return this.sendOne(msg, 'sync');
    if (typeof second !== 'object' || second === null || typeof second.onSuccess !== 'function' || typeof second.onException !== 'function') {
      throw new TypeError('the second argument of send must be a SendCallback ({ onSuccess, onException }) or a MessageQueueSelector');
    }
    try {
      this.checkRunning();
      checkMessage(msg);
      // The retry loop tells the callback itself: no promise layer for it per send in flight.
      void this.dispatch(msg, 'async', ONE, this.outgoing(msg, false), undefined, second);
    } catch (e) {
      // Reported as a failed send is: later, never from inside send().
      queueMicrotask(() => reportOutcome(second, e, undefined, false));
    }
  }

  /** Sends without waiting for the broker: resolves once the request is out (one attempt; the outcome is not known). */
  async sendOneway(msg: ProducerMessage): Promise<void> {
    this.checkRunning();
    checkMessage(msg);
    await this.dispatch(msg, 'oneway', ONEWAY, this.outgoing(msg, false), undefined);
  }

  /**
   * Sends several messages of one topic to one queue in one request (RocketMQ's MessageBatch):
   * no delay levels, not to a retry topic (checkMessage refuses every internal topic), never compressed; each message gets its own UNIQ_KEY and
   * its own result, in order. Queue choice and retries as for `send`.
   */
  async sendBatch(msgs: ProducerMessage[]): Promise<SendResult[]> {
    this.checkRunning();
    if (!Array.isArray(msgs) || msgs.length === 0) throw new KeelError('PROPERTY_INVALID', 'a batch needs at least one message');
    const topic = msgs[0]!.topic;
    for (const m of msgs) {
      checkMessage(m);
      if (m.topic !== topic) throw new KeelError('PROPERTY_INVALID', `every message of a batch must have the same topic: ${m.topic} is not ${topic}`);
      if ((m.delayLevel ?? 0) !== 0) throw new KeelError('DELAY_LEVEL_INVALID', 'batch messages cannot be delayed');
    }
    const sent = await this.dispatch(msgs[0]!, 'sync', BATCH, msgs.map((m) => this.outgoing(m, true)), undefined);
    return sent!.results;
  }

  /** Stops the producer: later sends reject with CLIENT_STATE; the brokers are told it left (remoting). */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const unregister = await this.registration;
    await unregister?.();
  }

  /**
   * Not async, nor is anything below it down to the connection when the route is cached: each
   * async layer is held while the reply is awaited, and with thousands of sends in flight their
   * garbage collection was most of what the producer added to a send's cost.
   */
  private sendOne(msg: ProducerMessage, mode: 'sync' | 'async', choose?: Choose): Promise<SendResult> {
    try {
      this.checkRunning();
      checkMessage(msg);
      return this.dispatch(msg, mode, ONE, this.outgoing(msg, false), choose) as Promise<SendResult>;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * The route, the queue and the attempts of one send; resolves with the accepted attempt's
   * result (undefined for oneway).
   */
  private dispatch<P, T, R extends { status: SendStatus }>(
    msg: ProducerMessage, mode: CommunicationMode, kind: SendKind<P, T, R>, payload: P, choose: Choose | undefined, callback?: SendCallback,
  ): Promise<R | undefined> {
    const startedAt = this.clock.now();
    const info = this.cachedPublishInfo(msg.topic, startedAt);
    // A cached route takes no time: the whole timeout is left.
    if (info !== undefined) return this.attempts(info, this.options.sendMsgTimeout, msg, mode, kind, payload, choose, callback);
    const sent = this.fetchPublishInfo(msg.topic).then((fetched) => {
      // The route lookup counts against the send's timeout, as in RocketMQ.
      const left = this.options.sendMsgTimeout - (this.clock.now() - startedAt);
      if (left <= 0) throw new KeelError('REMOTING_TIMEOUT', `send to ${msg.topic}: finding the route used up the ${this.options.sendMsgTimeout} ms timeout`);
      return this.attempts(fetched, left, msg, mode, kind, payload, choose, callback);
    });
    return callback ? sent.then(undefined, (e: unknown) => { reportOutcome(callback, e, undefined, false); return undefined; }) : sent;
  }

  /** With a callback, it is told the outcome and the promise resolves undefined; a queue that cannot be chosen throws. */
  private attempts<P, T, R extends { status: SendStatus }>(
    info: TopicPublishInfo, left: number, msg: ProducerMessage, mode: CommunicationMode, kind: SendKind<P, T, R>, payload: P, choose: Choose | undefined,
    callback: SendCallback | undefined,
  ): Promise<R | undefined> {
    void this.register();
    const fixed = this.fixedQueue(info.messageQueueList, msg, choose);
    return runSendAttempts(callback
      ? new CallbackSendOperation(this.sendContext, kind, payload, info, fixed, msg.topic, mode, left, callback)
      : new SendOperation(this.sendContext, kind, payload, info, fixed, msg.topic, mode, left));
  }

  private fixedQueue(queues: readonly MessageQueue[], msg: ProducerMessage, choose: Choose | undefined): MessageQueue | undefined {
    const n = queues.length;
    let q: MessageQueue | number;
    if (msg.queueId !== undefined) q = msg.queueId;
    else if (choose) q = choose(queues);
    else if (this.selector) q = this.selector(n, msg);
    else if (msg.shardingKey !== undefined) q = Math.abs(tagsHashCode(String(msg.shardingKey)) % n);
    else return undefined;
    if (typeof q === 'object' && q !== null) {
      const mq = q;
      const found = queues.find((x) => x.brokerName === mq.brokerName && x.queueId === mq.queueId && x.topic === mq.topic);
      if (!found) throw new KeelError('QUEUE_INVALID', `the selector chose ${mq.topic}@${mq.brokerName}:${mq.queueId}, which is not a writable queue of topic ${msg.topic}`);
      return found;
    }
    if (!Number.isInteger(q) || q < 0 || q >= n) throw new KeelError('QUEUE_INVALID', `queue ${q} is outside 0..${n - 1} of topic ${msg.topic}`);
    return queues[q]!;
  }

  /** The message as the transport sends it: UNIQ_KEY set, a large body compressed (not in a batch). */
  private outgoing(msg: ProducerMessage, batch: boolean): Outgoing {
    const uniqKey = createUniqId();
    const b = msg.body;
    const raw = typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    const { body, sysFlag } = compressBody(raw, batch, { compressOver: this.options.compressMsgBodyOverHowmuch });
    return {
      topic: msg.topic, body, tags: msg.tags, keys: msg.keys, flag: msg.flag, delayLevel: msg.delayLevel ?? 0, sysFlag, producerGroup: this.group,
      properties: { ...msg.properties, [PROPERTY_UNIQ_KEY]: uniqKey },
      uniqKey,
    };
  }

  /**
   * The topic's publish info when cached; fetched again after pollNameServerInterval or a failed
   * send, in the background (a send never waits on a slow name server it can do without); a
   * route that cannot be fetched keeps the old one (as RocketMQ).
   */
  private cachedPublishInfo(topic: string, now: number): TopicPublishInfo | undefined {
    const cached = this.routes.get(topic);
    if (!cached) return undefined;
    if ((cached.stale || now - cached.fetchedAt >= this.options.pollNameServerInterval) && !cached.refreshing) {
      cached.refreshing = true;
      this.fetchRoute(topic).catch(() => {
        // Kept until the next interval: a name server that is down is not asked at every send.
        cached.fetchedAt = this.clock.now();
        cached.stale = false;
        cached.refreshing = false;
      });
    }
    return cached.info;
  }

  /** The first route of a topic: the send waits for it. */
  private async fetchPublishInfo(topic: string): Promise<TopicPublishInfo> {
    try {
      return await this.fetchRoute(topic);
    } catch (e) {
      if (e instanceof KeelError && e.code !== 'TOPIC_NOT_FOUND') {
        throw new KeelError(e.code, `send to ${topic}: cannot get the topic's route: ${e.message}`, { cause: e });
      }
      throw e;
    }
  }

  /** One fetch per topic at a time: sends that start together share it (and so one round robin). */
  private fetchRoute(topic: string): Promise<TopicPublishInfo> {
    let p = this.fetching.get(topic);
    if (!p) {
      p = this.transport.topicRouteData(topic).then((data) => {
        const info = topicRouteToPublishInfo(topic, data);
        if (!info.ok()) throw new KeelError('TOPIC_NOT_FOUND', `topic ${topic} has no writable queue on a master`);
        this.routes.set(topic, { info, fetchedAt: this.clock.now(), stale: false, refreshing: false });
        return info;
      }).finally(() => this.fetching.delete(topic));
      this.fetching.set(topic, p);
    }
    return p;
  }

  private markStale(topic: string): void {
    const c = this.routes.get(topic);
    if (c) c.stale = true;
  }

  /** Heartbeats with the producer group start with the first send (the brokers are known by then). */
  private register(): Promise<(() => Promise<void>) | undefined> {
    this.registration ??= this.transport.registerProducer(this.group, this.clientId).catch(() => {
      // Retried at the next send: a producer works without being announced.
      this.registration = undefined;
      return undefined;
    });
    return this.registration;
  }

  private checkRunning(): void {
    if (this.closed) throw new KeelError('CLIENT_STATE', 'the producer was shut down');
  }
}

/** What the sends of one producer share. */
interface SendContext {
  transport: ClientTransport;
  clock: Clock;
  fault: MQFaultStrategy;
  retry: SendRetryOptions;
  fixedRetry: SendRetryOptions;
  updateFaultItem(brokerName: string, latency: number, isolation: boolean): void;
  /** A send failed: the topic's route is fetched again. */
  markStale(topic: string): void;
}

/**
 * One send, as runSendAttempts drives it: a queue chosen for it (`fixed`: one attempt) or picked
 * by the fault strategy for each attempt. An object with methods rather than closures: it is what
 * a send in flight holds (see sendOne).
 */
class SendOperation<P, T, R extends { status: SendStatus }> implements SendLoop<R, T> {
  readonly options: SendRetryOptions;
  readonly clock: Clock;

  constructor(
    private readonly context: SendContext,
    private readonly kind: SendKind<P, T, R>,
    private readonly payload: P,
    private readonly info: TopicPublishInfo,
    private readonly fixed: MessageQueue | undefined,
    readonly topic: string,
    readonly mode: CommunicationMode,
    readonly timeoutMs: number,
  ) {
    this.options = fixed ? context.fixedRetry : context.retry;
    this.clock = context.clock;
  }

  /** Latencies are recorded (and so measured) while avoidance is on, and never for a queue chosen for the send. */
  get updateFaultItem(): SendContext['updateFaultItem'] | undefined {
    return this.fixed === undefined && this.context.fault.sendLatencyFaultEnable ? this.context.updateFaultItem : undefined;
  }

  select(lastBrokerName: string | undefined): MessageQueue | undefined {
    return this.fixed ?? this.context.fault.selectOneMessageQueue(this.info, lastBrokerName);
  }

  attempt(mq: MessageQueue, timeoutMs: number): Promise<T> {
    return this.kind.call(this.context.transport, mq, this.payload, timeoutMs);
  }

  result(mq: MessageQueue, answer: T | undefined): R | undefined {
    return this.kind.result(this.payload, mq, answer);
  }

  failed(): void {
    this.context.markStale(this.topic);
  }
}

/** A send whose outcome goes to a SendCallback (RocketMQ's async send). */
class CallbackSendOperation<P, T, R extends { status: SendStatus }> extends SendOperation<P, T, R> {
  constructor(
    context: SendContext, kind: SendKind<P, T, R>, payload: P, info: TopicPublishInfo, fixed: MessageQueue | undefined,
    topic: string, mode: CommunicationMode, timeoutMs: number, private readonly callback: SendCallback,
  ) {
    super(context, kind, payload, info, fixed, topic, mode, timeoutMs);
  }

  done(error: unknown, result: R | undefined, ok: boolean): void {
    reportOutcome(this.callback, error, result, ok);
  }
}

/**
 * Tells a SendCallback. A callback that throws is the application's bug, not the send's outcome:
 * as in RocketMQ it is not reported again through onException (nor as an unhandled rejection).
 */
function reportOutcome(callback: SendCallback, error: unknown, result: unknown, ok: boolean): void {
  try {
    if (ok) callback.onSuccess(result as SendResult);
    else callback.onException(error instanceof Error ? error : new Error(String(error)));
  } catch {
    // the application's
  }
}

function result(out: { uniqKey: string; topic: string }, mq: MessageQueue, r: SendReply): SendResult {
  return {
    status: r.status, msgId: out.uniqKey, offsetMsgId: r.offsetMsgId, messageQueue: { topic: out.topic, brokerName: mq.brokerName, queueId: r.queueId },
    queueOffset: r.queueOffset, ...(r.storeTimestamp !== undefined ? { storeTimestamp: r.storeTimestamp } : {}),
  };
}

function checkMessage(msg: ProducerMessage): void {
  if (typeof msg !== 'object' || msg === null) throw new TypeError('message must be an object');
  checkUserTopic(msg.topic);
  checkRoundTrip(msg);
}

/** Refuses, with PROPERTY_INVALID, what would not read back as sent: see checkKey, isSelectableTag, SYSTEM_PROPERTIES. */
function checkRoundTrip(msg: ProducerMessage): void {
  if (typeof msg.tags === 'string' && !isSelectableTag(msg.tags)) {
    throw new KeelError('PROPERTY_INVALID', `tag ${JSON.stringify(msg.tags)} must be non-empty without whitespace, "|" or "*": no subscription could select it`);
  }
  for (const key of Array.isArray(msg.keys) ? msg.keys : msg.keys === undefined ? [] : [msg.keys]) checkKey(key);
  if (typeof msg.properties === 'object' && msg.properties !== null) {
    for (const [name, value] of Object.entries(msg.properties)) {
      // Java's putUserProperty refuses these, and a RocketMQ broker drops a property with an empty value.
      if (name.trim() === '' || typeof value !== 'string' || value.trim() === '') {
        throw new KeelError('PROPERTY_INVALID', `property ${JSON.stringify(name)}: its name and value must be non-blank strings`);
      }
      if (SYSTEM_PROPERTIES.has(name)) {
        const hint = name === 'TAGS' || name === 'KEYS' ? `: use msg.${name.toLowerCase()}` : '';
        throw new KeelError('PROPERTY_INVALID', `property ${name} is reserved by the broker${hint}`);
      }
    }
  }
}
