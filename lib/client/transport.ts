/**
 * What the client runtime (Producer, PushConsumer, PullConsumer) needs from "a broker": the
 * operations of RocketMQ's MQClientAPIImpl, so that the remoting transport is a thin mapping to
 * request codes (reference §3) and the in-process transport a thin mapping to the broker-side
 * services of lib/consumer (the same ones lib/broker's processors use). Results are the store's
 * shapes (GetMessagesResult) and SendReply, which both transports map their statuses onto.
 */
import type { Clock } from '../common/clock';
import type { GetMessagesResult, MessageExt, MessageQueue } from '../common/message';
import type { Subscription } from '../common/tag-filter';
import type { TopicRouteData } from '../remoting/topic-route-data';
import type { SendStatus } from './send-retry-policy';

export type { MessageQueue };

/** GET_ROUTEINFO_BY_TOPIC as the client uses it: the queues of a topic on its masters. */
export interface TopicRoute {
  topic: string;
  /** Queues a producer sends to (write permission), by broker then queue id. */
  writeQueues: MessageQueue[];
  /** Queues a consumer reads (read permission), by broker then queue id. */
  readQueues: MessageQueue[];
}

/** A message as the producer hands it to a transport: checked, its queue chosen. */
export interface OutgoingMessage {
  topic: string;
  body: Uint8Array | string;
  tags?: string;
  keys?: string | string[];
  properties?: Record<string, string>;
  flag?: number;
  /** Deliver after this delay level (the DELAY property); 0: at once. */
  delayLevel?: number;
  /** MessageSysFlag bits that describe the body (0x301: compressed with zlib); default 0. */
  sysFlag?: number;
  /** The group of the producer sending it (SEND_MESSAGE_V2 `a`); default the transport's. */
  producerGroup?: string;
}

/** What the broker answered to one send: the status as RocketMQ's producer names it and where the message went. */
export interface SendReply {
  status: SendStatus;
  /** The stored record's id (store host + commit-log offset): RocketMQ's offsetMsgId. */
  offsetMsgId: string;
  queueId: number;
  /** Offset in the queue (for a delayed message: in its schedule queue). */
  queueOffset: number;
  /** When the store wrote it; in-process only (a send reply does not carry it). */
  storeTimestamp?: number;
}

/** PULL_MESSAGE. */
export interface PullRequest {
  group: string;
  mq: MessageQueue;
  offset: number;
  maxMessages: number;
  subscription: Subscription;
  /**
   * Hold the pull until a message arrives in the queue or this long passes (long polling,
   * `suspendTimeoutMillis`); 0: answer at once.
   */
  suspendMs: number;
  /** Ends a held pull early (the consumer drops the queue); it then resolves NO_NEW_MSG. */
  signal?: AbortSignal;
}

/** CONSUMER_SEND_MSG_BACK: `msg` as it was pulled from `brokerName`. */
export interface SendBackRequest {
  brokerName: string;
  group: string;
  msg: MessageExt;
  /** 0: the retry count decides; > 0: that level; < 0: straight to the DLQ. */
  delayLevel: number;
  maxReconsumeTimes: number;
}

/** A running consumer as HEART_BEAT announces it, with what the broker may ask of it. */
export interface ConsumerRegistration {
  group: string;
  clientId: string;
  /** CONSUME_PASSIVELY (push) or CONSUME_ACTIVELY (pull). */
  consumeType: 'CONSUME_PASSIVELY' | 'CONSUME_ACTIVELY';
  /** topic → subscription. */
  subscriptions: ReadonlyMap<string, Subscription>;
  /** The broker is closing (in-process): stop, commit and let go. */
  shutdown(): Promise<void>;
  /** The group's offsets in `topic` were reset (RESET_CONSUMER_CLIENT_OFFSET): drop what is in flight and go on from there. */
  resetOffsets(topic: string, offsets: ReadonlyMap<number, number>): void;
}

export interface ClientTransport {
  /** The clock the client's timers run on (the store's, in-process). */
  readonly clock: Clock;
  /**
   * The queues of `topic`. In-process, a missing topic is created when the broker auto-creates
   * topics; over the network, the name server's route (TOPIC_NOT_FOUND when there is none).
   */
  route(topic: string): Promise<TopicRoute>;
  /**
   * SEND_MESSAGE_V2 to one queue. A stored message with a non-OK status resolves; nothing stored
   * rejects. `timeoutMs` bounds the request over the network (default the transport's).
   */
  send(mq: MessageQueue, msg: OutgoingMessage, timeoutMs?: number): Promise<SendReply>;
  /** SEND_BATCH_MESSAGE: every item its own message, in one queue; the results in order. */
  sendBatch(mq: MessageQueue, msgs: OutgoingMessage[], timeoutMs?: number): Promise<SendReply[]>;
  pull(req: PullRequest): Promise<GetMessagesResult>;
  /** Retry (`%RETRY%<group>` with a delay level) or dead letter (`%DLQ%<group>`), by the shared retry rule. */
  sendBack(req: SendBackRequest): Promise<void>;
  /** QUERY_CONSUMER_OFFSET; undefined when the group has none in the queue. */
  queryOffset(group: string, mq: MessageQueue): Promise<number | undefined>;
  /**
   * Records the group's offset in a queue (the next message it has not finished). It reaches
   * the broker by flushOffsets or the transport's own interval (UPDATE_CONSUMER_OFFSET).
   */
  commitOffset(group: string, mq: MessageQueue, offset: number): void;
  /** Writes the offsets committed so far (all groups, or one). */
  flushOffsets(group?: string): Promise<void>;
  /** GET_MIN_OFFSET / GET_MAX_OFFSET (the next offset to be written) / SEARCH_OFFSET_BY_TIMESTAMP. */
  minOffset(mq: MessageQueue): Promise<number>;
  maxOffset(mq: MessageQueue): Promise<number>;
  searchOffset(mq: MessageQueue, timestamp: number): Promise<number>;
  /**
   * HEART_BEAT to the brokers of the subscribed topics (creates `%RETRY%<group>`), repeated while
   * registered; resolves with the unregistration (UNREGISTER_CLIENT). In-process, a second push
   * consumer of a group is refused with GROUP_IN_USE.
   */
  registerConsumer(c: ConsumerRegistration): Promise<() => Promise<void>>;
  /** GET_CONSUMER_LIST_BY_GROUP on the broker of `brokerName`: the client ids of the group. */
  consumerIds(group: string, brokerName: string): Promise<string[]>;
  /** LOCK_BATCH_MQ: the queues now locked by `clientId` (orderly consumers). */
  lockBatch(group: string, clientId: string, mqs: MessageQueue[]): Promise<MessageQueue[]>;
  /** UNLOCK_BATCH_MQ. */
  unlockBatch(group: string, clientId: string, mqs: MessageQueue[]): Promise<void>;
  /** Flushes offsets and lets go of connections and timers the transport owns. */
  close(): Promise<void>;
  /** SEND_MESSAGE_V2 marked oneway: resolves once the request is out; nothing is answered. */
  sendOneway(mq: MessageQueue, msg: OutgoingMessage): Promise<void>;
  /** GET_ROUTEINFO_BY_TOPIC as it is (what a producer builds its TopicPublishInfo from); TOPIC_NOT_FOUND when there is none. */
  topicRouteData(topic: string): Promise<TopicRouteData>;
  /**
   * HEART_BEAT with the producer group (producerDataSet) to every broker the transport knows, repeated
   * while registered; resolves with the unregistration (UNREGISTER_CLIENT). In-process: nothing to do.
   */
  registerProducer(group: string, clientId: string): Promise<() => Promise<void>>;
}
