/**
 * The client transport over an EmbeddedBroker in the same process: each operation maps to the
 * broker-side services (lib/consumer) that lib/broker's request processors use too, so embedded
 * and networked clients meet the same rules. This is the one client file that may reach the
 * consumer layer and the store (.dependency-cruiser.cjs, client-core-no-store).
 */
import { isKeelError } from '../common/errors';
import type { GetMessagesResult, MessageExt } from '../common/message';
import { retryTopic } from '../common/message-const';
import { EmbeddedBroker } from '../consumer/embedded-broker';
import { MASTER_ID, PERM_READ, PERM_WRITE, type TopicRouteData } from '../remoting/topic-route-data';
import { inflateMessage } from './message-compression';
import { sendStatusOfPutStatus } from './send-retry-policy';
import type {
  BrokerAddress, BrokerInfo, ClientTransport, ConsumerQueueProgress, ConsumerRegistration, MessageQueue, OutgoingMessage, PullRequest, QueueOffset,
  SendBackRequest, SendReply, TopicQueueStats, TopicRoute,
} from './transport';

export type { EmbeddedBroker } from '../consumer/embedded-broker';

/** The broker name of the one broker in the process, in routes and message queues. */
export const IN_PROCESS_BROKER = 'embedded';
/** Its address and cluster in admin answers. */
const IN_PROCESS_ADDR = 'in-process';

/** `target` itself, or the in-process transport over it (the embedded convenience of the client classes). */
export function transportOf(target: EmbeddedBroker | ClientTransport): ClientTransport {
  return target instanceof EmbeddedBroker ? InProcessTransport.of(target) : target;
}

export class InProcessTransport implements ClientTransport {
  private static readonly cache = new WeakMap<EmbeddedBroker, InProcessTransport>();

  /** One transport per broker: it holds no state of its own, so clients of one broker share it. */
  static of(broker: EmbeddedBroker): InProcessTransport {
    let t = InProcessTransport.cache.get(broker);
    if (!t) InProcessTransport.cache.set(broker, (t = new InProcessTransport(broker)));
    return t;
  }

  private constructor(readonly broker: EmbeddedBroker) {}

  get clock() { return this.broker.store.clock; }

  async route(topic: string): Promise<TopicRoute> {
    const t = await this.broker.resolveTopic(topic);
    const queues = Array.from({ length: t.queues }, (_, queueId): MessageQueue => ({ topic, brokerName: IN_PROCESS_BROKER, queueId }));
    return { topic, writeQueues: queues, readQueues: queues };
  }

  /** A put into the store; there is no request to time out, so `timeoutMs` is not used. */
  async send(mq: MessageQueue, msg: OutgoingMessage): Promise<SendReply> {
    const delayLevel = msg.delayLevel ?? 0;
    // putMessage delays only positive levels; anything else but 0 is a mistake to refuse (DELAY_LEVEL_INVALID).
    if (delayLevel !== 0) this.broker.schedule.delayOf(delayLevel);
    const r = await this.broker.putMessage({
      topic: msg.topic, queueId: mq.queueId, body: msg.body, tags: msg.tags, keys: msg.keys, properties: msg.properties, flag: msg.flag, sysFlag: msg.sysFlag,
    }, delayLevel);
    return { status: sendStatusOfPutStatus(r.status), offsetMsgId: r.msgId, queueId: mq.queueId, queueOffset: r.queueOffset, storeTimestamp: r.storeTimestamp };
  }

  async sendBatch(mq: MessageQueue, msgs: OutgoingMessage[]): Promise<SendReply[]> {
    const out: SendReply[] = [];
    for (const m of msgs) out.push(await this.send(mq, m));
    return out;
  }

  /**
   * A read of the store; with suspendMs, a drained queue is waited on (the broker's arrival
   * wait) and read again, until a message comes, the time passes or the signal aborts.
   */
  async pull(req: PullRequest): Promise<GetMessagesResult> {
    const { store } = this.broker;
    const { topic, queueId } = req.mq;
    const deadline = store.clock.now() + req.suspendMs;
    for (;;) {
      const r = await store.getMessages(topic, queueId, req.offset, req.maxMessages, req.subscription.filter);
      // Bodies as the producer gave them, as a networked client's decoder inflates them.
      if (r.status !== 'NO_NEW_MSG' && r.status !== 'NO_MATCHED_LOGIC_QUEUE') return { ...r, messages: r.messages.map(inflateMessage) };
      const left = deadline - store.clock.now();
      if (left <= 0 || req.signal?.aborted) return r;
      // Checked synchronously before waiting, so an arrival since the read is not missed.
      if (store.getMaxOffsetInQueue(topic, queueId) > req.offset) continue;
      await this.broker.waitForArrival(topic, queueId, left, req.signal);
    }
  }

  async sendBack(req: SendBackRequest): Promise<void> {
    await this.broker.sendBack(req.group, req.msg, req.delayLevel, req.maxReconsumeTimes);
  }

  async queryOffset(group: string, mq: MessageQueue): Promise<number | undefined> {
    return this.broker.offsets.read(group, mq.topic, mq.queueId);
  }

  commitOffset(group: string, mq: MessageQueue, offset: number): void {
    this.broker.offsets.update(group, mq.topic, mq.queueId, offset);
  }

  flushOffsets(): Promise<void> { return this.broker.offsets.persist(); }

  async minOffset(mq: MessageQueue): Promise<number> { return this.broker.store.getMinOffsetInQueue(mq.topic, mq.queueId); }
  async maxOffset(mq: MessageQueue): Promise<number> { return this.broker.store.getMaxOffsetInQueue(mq.topic, mq.queueId); }
  searchOffset(mq: MessageQueue, timestamp: number): Promise<number> { return this.broker.store.getOffsetByTime(mq.topic, mq.queueId, timestamp); }

  async registerConsumer(c: ConsumerRegistration): Promise<() => Promise<void>> {
    this.broker.register(c);
    try {
      // As a heartbeat does on a networked broker: retries reach the group through its own retry topic.
      await this.broker.topicConfig.ensure(retryTopic(c.group), 1);
    } catch (e) {
      this.broker.unregister(c);
      throw e;
    }
    return async () => this.broker.unregister(c);
  }

  async consumerIds(group: string): Promise<string[]> {
    return this.broker.consumerIds(group);
  }

  async lockBatch(group: string, clientId: string, mqs: MessageQueue[]): Promise<MessageQueue[]> {
    return this.broker.locks.tryLockBatch(group, mqs, clientId);
  }

  async unlockBatch(group: string, clientId: string, mqs: MessageQueue[]): Promise<void> {
    this.broker.locks.unlockBatch(group, mqs, clientId);
  }

  /** The broker's, not the transport's: closing the EmbeddedBroker ends what this serves. */
  async close(): Promise<void> {}

  async createTopic(topic: string, queues: number): Promise<BrokerAddress[]> {
    await this.broker.createTopic(topic, queues);
    return [{ brokerName: IN_PROCESS_BROKER, addr: IN_PROCESS_ADDR }];
  }

  async deleteTopic(topic: string): Promise<void> { await this.broker.deleteTopic(topic); }

  async topicList(): Promise<string[]> { return this.broker.topics().map((t) => t.name); }

  async topicStats(topic: string): Promise<TopicQueueStats[]> {
    return (await this.broker.topicStats(topic)).map((q) => ({ topic, brokerName: IN_PROCESS_BROKER, ...q }));
  }

  async consumeStats(group: string, topic?: string): Promise<ConsumerQueueProgress[]> {
    const out: ConsumerQueueProgress[] = [];
    for (const t of topic !== undefined ? [topic] : this.broker.groupTopics(group)) {
      for (const q of await this.broker.consumeProgress(group, t)) out.push({ topic: t, brokerName: IN_PROCESS_BROKER, ...q });
    }
    return out;
  }

  async resetOffsetByTime(group: string, topic: string, timestamp: number): Promise<QueueOffset[]> {
    const offsets = await this.broker.resetOffsetByTime(group, topic, timestamp);
    return [...offsets].map(([queueId, offset]) => ({ topic, brokerName: IN_PROCESS_BROKER, queueId, offset }));
  }

  /** By offset msgId when it is one of this store's, else by UNIQ_KEY (as DefaultMQAdminExt.viewMessage). */
  async viewMessage(topic: string, msgId: string): Promise<MessageExt | undefined> {
    let m: MessageExt | null = null;
    try {
      m = await this.broker.lookupMessageById(msgId);
    } catch (e) {
      if (!isKeelError(e, 'OFFSET_INVALID')) throw e;
    }
    if (m && m.topic === topic) return m;
    return (await this.queryMessage(topic, msgId, { max: 1, begin: 0, end: Number.MAX_SAFE_INTEGER, uniqKey: true }))[0];
  }

  async queryMessage(topic: string, key: string, o: { max: number; begin: number; end: number; uniqKey: boolean }): Promise<MessageExt[]> {
    try {
      return await this.broker.queryMessageByKey(topic, key, o);
    } catch (e) {
      // A key no message can have finds nothing, as on a networked broker.
      if (isKeelError(e, 'PROPERTY_INVALID')) return [];
      throw e;
    }
  }

  async clusterList(): Promise<BrokerInfo[]> {
    return [{ cluster: IN_PROCESS_BROKER, brokerName: IN_PROCESS_BROKER, brokerId: 0, addr: IN_PROCESS_ADDR, runtime: {} }];
  }

  /** Offsets are the broker's own here: nothing is kept to write or forget. */
  async dropOffset(): Promise<void> {}

  /** A put whose outcome is not reported; it resolves once the store took it or refused it. */
  async sendOneway(mq: MessageQueue, msg: OutgoingMessage): Promise<void> {
    await this.send(mq, msg).catch(() => undefined);
  }

  /** The route a name server would give for the one broker in the process. */
  async topicRouteData(topic: string): Promise<TopicRouteData> {
    const t = await this.broker.resolveTopic(topic);
    return {
      queueDatas: [{ brokerName: IN_PROCESS_BROKER, readQueueNums: t.queues, writeQueueNums: t.queues, perm: PERM_READ | PERM_WRITE, topicSysFlag: 0 }],
      brokerDatas: [{ cluster: IN_PROCESS_BROKER, brokerName: IN_PROCESS_BROKER, brokerAddrs: { [String(MASTER_ID)]: IN_PROCESS_BROKER } }],
      filterServerTable: {},
    };
  }

  /** Nothing to announce: the broker is in the process. */
  async registerProducer(): Promise<() => Promise<void>> {
    return async () => undefined;
  }
}
