/**
 * What the client runtime (Producer, PushConsumer, PullConsumer) needs from "a broker": the
 * operations of RocketMQ's MQClientAPIImpl, so that the remoting transport is a thin mapping to
 * request codes (reference §3) and the in-process transport a thin mapping to the broker-side
 * services of lib/consumer (the same ones lib/broker's processors use). Results are the store's
 * shapes (GetMessagesResult) and SendReply, which both transports map their statuses onto.
 */
import type { Clock } from '../common/clock';
import type { GetMessagesResult, MessageContent, MessageExt, MessageQueue } from '../common/message';
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
export interface OutgoingMessage extends MessageContent {
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
  /**
   * The group's offsets in `topic` were reset (RESET_CONSUMER_CLIENT_OFFSET): drop what is in flight and go on from there.
   * `brokerName`: the queues of that broker only (a networked broker resets its own queues).
   */
  resetOffsets(topic: string, offsets: ReadonlyMap<number, number>, brokerName?: string): void;
  /** The group's members changed (NOTIFY_CONSUMER_IDS_CHANGED): rebalance now. */
  idsChanged?(): void;
  /** HEART_BEAT's messageModel (default CLUSTERING). */
  messageModel?: 'CLUSTERING' | 'BROADCASTING';
  /** HEART_BEAT's consumeFromWhere (default CONSUME_FROM_LAST_OFFSET). */
  consumeFromWhere?: string;
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
   * registered; resolves with the unregistration (UNREGISTER_CLIENT). Members of the group are
   * told of the change (idsChanged). In-process, a second consumer with the same client id in a
   * group is refused with GROUP_IN_USE.
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

  // Admin (mqadmin's requests, reference §5); the Admin class is their public face.
  /** UPDATE_AND_CREATE_TOPIC on every master of `cluster` (the only one when not given): the brokers that have it now. */
  createTopic(topic: string, queues: number, cluster?: string): Promise<BrokerAddress[]>;
  /** DELETE_TOPIC_IN_BROKER on every master, then DELETE_TOPIC_IN_NAMESRV. */
  deleteTopic(topic: string, cluster?: string): Promise<void>;
  /** Every topic the name server (or the embedded broker) knows. */
  topicList(): Promise<string[]>;
  /** GET_TOPIC_STATS_INFO on the topic's masters; TOPIC_NOT_FOUND when none has it. */
  topicStats(topic: string): Promise<TopicQueueStats[]>;
  /** GET_CONSUME_STATS of the group, in `topic` or every topic it has offsets in. */
  consumeStats(group: string, topic?: string): Promise<ConsumerQueueProgress[]>;
  /**
   * Moves the group's offsets in `topic` to the first message stored at or after `timestamp`;
   * online consumers of the group move too (RESET_CONSUMER_CLIENT_OFFSET).
   */
  resetOffsetByTime(group: string, topic: string, timestamp: number): Promise<QueueOffset[]>;
  /** A message of `topic` by its offset msgId or its UNIQ_KEY; undefined when there is none. */
  viewMessage(topic: string, msgId: string): Promise<MessageExt | undefined>;
  /** QUERY_MESSAGE: messages of `topic` whose KEYS hold `key` (UNIQ_KEY instead with uniqKey). */
  queryMessage(topic: string, key: string, options: { max: number; begin: number; end: number; uniqKey: boolean }): Promise<MessageExt[]>;
  /** GET_BROKER_CLUSTER_INFO, with each broker's runtime info (GET_BROKER_RUNTIME_INFO). */
  clusterList(): Promise<BrokerInfo[]>;
  /**
   * Writes the group's offset in `mq` now and forgets it here (a rebalance took the queue away:
   * its next owner reads the broker's, and so does this client if the queue comes back).
   */
  dropOffset(group: string, mq: MessageQueue): Promise<void>;
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

/** A master as "brokerName" and the address clients reach it at ("in-process" for the embedded one). */
export interface BrokerAddress { brokerName: string; addr: string }

export interface BrokerInfo extends BrokerAddress {
  cluster: string;
  brokerId: number;
  /** GET_BROKER_RUNTIME_INFO's table (brokerVersionDesc, commitLogMaxOffset, …); empty when the broker did not answer. */
  runtime: Record<string, string>;
}

/** One queue of a topic as GET_TOPIC_STATS_INFO reports it. */
export interface TopicQueueStats extends MessageQueue { minOffset: number; maxOffset: number; lastUpdateTimestamp: number }

/** One queue of a group's progress as GET_CONSUME_STATS reports it. */
export interface ConsumerQueueProgress extends MessageQueue { brokerOffset: number; consumerOffset: number; lastTimestamp: number }

export interface QueueOffset extends MessageQueue { offset: number }
