/**
 * What mqadmin does, as a typed API over any client transport: in-process over an EmbeddedBroker
 * (the broker-side services lib/broker's admin processor calls), or over the network through the
 * name servers and brokers (MQAdmin's request flows, which also work against Apache RocketMQ 4.x).
 */
import { KeelError } from '../common/errors';
import type { MessageExt } from '../common/message';
import { transportOf, type EmbeddedBroker } from './in-process-transport';
import { RemotingTransport, type RemotingTransportOptions } from './remoting-transport';
import type {
  BrokerAddress, BrokerInfo, ClientTransport, ConsumerQueueProgress, QueueOffset, TopicQueueStats, TopicRoute,
} from './transport';

export interface CreateTopicOptions {
  /** Read and write queues on each master (default 8, as mqadmin updateTopic). */
  queues?: number;
  /** The cluster whose masters get the topic (default: the only one). */
  cluster?: string;
  /** How long to wait for the name server to route the new queues (default 5 s; 0: do not wait). */
  routeWaitMs?: number;
}

export interface QueryByKeyOptions {
  /** Store-time window, inclusive (default: all). */
  begin?: number;
  end?: number;
  /** At most this many (default 64, as mqadmin). */
  max?: number;
}

/** One queue of a group's progress; lag = brokerOffset - consumerOffset. */
export interface QueueProgress extends ConsumerQueueProgress { lag: number }

export interface ConsumerProgress {
  queues: QueueProgress[];
  /** The sum of the queues' lag. */
  totalLag: number;
}

export class Admin {
  private readonly transport: ClientTransport;
  /** Made by connect(): close() closes it. */
  private owned = false;

  /** Over an EmbeddedBroker or a transport the caller owns (and closes). */
  constructor(target: EmbeddedBroker | ClientTransport) {
    this.transport = transportOf(target);
  }

  /** Over the name servers (`"host:port"`), on a transport of its own that close() closes. */
  static connect(namesrvAddr: string[], options: Omit<RemotingTransportOptions, 'namesrvAddr'> = {}): Admin {
    const admin = new Admin(new RemotingTransport({ ...options, namesrvAddr }));
    admin.owned = true;
    return admin;
  }

  /** Creates (or grows) `topic` on every master of the cluster and waits until it is routed; the masters. */
  async createTopic(topic: string, options: CreateTopicOptions = {}): Promise<BrokerAddress[]> {
    const queues = options.queues ?? 8;
    if (!Number.isSafeInteger(queues) || queues < 1) throw new KeelError('OPTION_INVALID', `queues must be a positive integer, got ${queues}`);
    const masters = await this.transport.createTopic(topic, queues, options.cluster);
    const waitMs = options.routeWaitMs ?? 5000;
    if (waitMs === 0) return masters;
    const deadline = Date.now() + waitMs;
    for (;;) {
      const route = await this.transport.route(topic).catch(() => undefined);
      const routed = route !== undefined && masters.every((m) => route.writeQueues.filter((q) => q.brokerName === m.brokerName).length === queues);
      if (routed) return masters;
      if (Date.now() > deadline) {
        throw new KeelError('TOPIC_NOT_FOUND', `created, but the name server did not route ${topic} with ${queues} queues within ${waitMs} ms`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Deletes the topic on the masters (of `cluster`, or all) and from the name servers. */
  deleteTopic(topic: string, cluster?: string): Promise<void> { return this.transport.deleteTopic(topic, cluster); }

  /** Every topic known, sorted. */
  async topicList(): Promise<string[]> { return (await this.transport.topicList()).sort(); }

  /** The topic's queues (TOPIC_NOT_FOUND without a route; in-process, a missing topic is auto-created when the broker does that). */
  route(topic: string): Promise<TopicRoute> { return this.transport.route(topic); }

  /** Per queue: min and max offset and the store time of the last message (mqadmin topicStatus). */
  topicStats(topic: string): Promise<TopicQueueStats[]> { return this.transport.topicStats(topic); }

  /** The group's progress and lag per queue, in `topic` or every topic it has offsets in (mqadmin consumerProgress). */
  async consumerProgress(group: string, topic?: string): Promise<ConsumerProgress> {
    const queues = (await this.transport.consumeStats(group, topic)).map((q) => ({ ...q, lag: Math.max(0, q.brokerOffset - q.consumerOffset) }));
    return { queues, totalLag: queues.reduce((n, q) => n + q.lag, 0) };
  }

  /**
   * Moves the group's offsets in `topic` to the first message stored at or after `timestamp` (ms;
   * -1: the end), forward or back. Online consumers of the group are told
   * (RESET_CONSUMER_CLIENT_OFFSET) and read on from there; an offline group resumes there.
   */
  resetOffsetByTime(group: string, topic: string, timestamp: number | Date): Promise<QueueOffset[]> {
    const ts = timestamp instanceof Date ? timestamp.getTime() : timestamp;
    if (!Number.isSafeInteger(ts) || ts < -1) throw new KeelError('OPTION_INVALID', `timestamp must be ms since the epoch or -1, got ${String(timestamp)}`);
    return this.transport.resetOffsetByTime(group, topic, ts);
  }

  /** A message of `topic` by its offset msgId (SendResult.offsetMsgId / MessageExt.msgId) or its UNIQ_KEY; undefined when none. */
  queryMessageById(topic: string, msgId: string): Promise<MessageExt | undefined> { return this.transport.viewMessage(topic, msgId); }

  /** Messages of `topic` whose KEYS hold `key` (mqadmin queryMsgByKey). */
  queryMessageByKey(topic: string, key: string, options: QueryByKeyOptions = {}): Promise<MessageExt[]> {
    return this.transport.queryMessage(topic, key, { max: options.max ?? 64, begin: options.begin ?? 0, end: options.end ?? Number.MAX_SAFE_INTEGER, uniqKey: false });
  }

  /** Every broker with its cluster, id, address and runtime info (mqadmin clusterList). */
  clusterList(): Promise<BrokerInfo[]> { return this.transport.clusterList(); }

  /** Closes the transport when connect() made it. */
  async close(): Promise<void> {
    if (this.owned) await this.transport.close();
  }
}
