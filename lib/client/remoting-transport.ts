/**
 * The client transport over RocketMQ 4.x remoting: routes from the name servers (MQAdmin), each
 * operation one request code to the master of the queue's broker (BrokerClient). Consumer offsets
 * are kept here and written every offsetPersistIntervalMs and on flush (UPDATE_CONSUMER_OFFSET),
 * heartbeats repeat every heartbeatIntervalMs while a consumer is registered, as the Java client
 * does (reference §3.2). Client code: no store, no broker (.dependency-cruiser.cjs).
 */
import { systemClock, type Clock, type TimerHandle } from '../common/clock';
import { isKeelError, KeelError } from '../common/errors';
import type { GetMessagesResult, GetStatus, MessageExt } from '../common/message';
import { RemotingClient } from '../remoting/remoting-client';
import type { RemotingCommand } from '../remoting/remoting-command';
import { RequestCode } from '../remoting/request-code';
import { MASTER_ID, type TopicRouteData } from '../remoting/topic-route-data';
import { BrokerClient, offsetTableOf, type OutgoingMessage as WireMessage, type PullStatus, type SendReplyMaker } from './broker-client';
import { MQAdmin } from './mq-admin';
import type {
  BrokerAddress, BrokerInfo, ClientTransport, ConsumerQueueProgress, ConsumerRegistration, MessageQueue, OutgoingMessage, PullRequest, QueueOffset,
  SendBackRequest, SendReply, TopicQueueStats, TopicRoute,
} from './transport';

export interface RemotingTransportOptions {
  /** Name servers ("ip:port"), asked in order until one answers. */
  namesrvAddr: string[];
  /** Per request (a held pull gets its hold on top). Default 3 s. */
  timeoutMs?: number;
  /** The producer group sends go out with (default DEFAULT_PRODUCER). */
  producerGroup?: string;
  /** Default 5 s (RocketMQ's persistConsumerOffsetInterval). */
  offsetPersistIntervalMs?: number;
  /** Default 30 s (RocketMQ's heartbeatBrokerInterval). */
  heartbeatIntervalMs?: number;
  clock?: Clock;
  /** Shared connections; closed by close() only when created here. */
  remoting?: RemotingClient;
}

const PULL_STATUS: Record<PullStatus, GetStatus> = {
  FOUND: 'FOUND', NO_NEW_MSG: 'NO_NEW_MSG', NO_MATCHED_MSG: 'NO_MATCHED_MSG', OFFSET_ILLEGAL: 'OFFSET_MOVED',
};

interface OffsetEntry { mq: MessageQueue; offset: number; dirty: boolean }

export class RemotingTransport implements ClientTransport {
  readonly clock: Clock;
  private readonly admin: MQAdmin;
  private readonly broker: BrokerClient;
  private readonly ownsRemoting: boolean;
  private readonly producerGroup: string;
  private readonly heartbeatIntervalMs: number;
  /** brokerName → master address, from the routes seen. */
  private readonly masters = new Map<string, string>();
  /** group → queue → offset committed here. */
  private readonly offsets = new Map<string, Map<string, OffsetEntry>>();
  private readonly consumers = new Set<ConsumerRegistration>();
  /** Registered producers: "clientId group". */
  private readonly producers = new Map<string, { group: string; clientId: string }>();
  private producerHeartbeatTimer: TimerHandle | null = null;
  private heartbeatTimer: TimerHandle | null = null;
  private persistTimer: TimerHandle | null = null;
  private closed = false;

  constructor(private readonly options: RemotingTransportOptions) {
    this.clock = options.clock ?? systemClock;
    this.ownsRemoting = !options.remoting;
    const remoting = options.remoting ?? new RemotingClient();
    this.admin = new MQAdmin({ namesrvAddr: options.namesrvAddr, timeoutMs: options.timeoutMs, remoting });
    this.broker = this.admin.broker;
    this.producerGroup = options.producerGroup ?? 'DEFAULT_PRODUCER';
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? 30_000;
    this.schedulePersist();
    // What the broker asks of its consumers over their own connections (ClientRemotingProcessor); Java answers neither.
    remoting.registerProcessor(RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, (req) => this.onIdsChanged(req));
    remoting.registerProcessor(RequestCode.RESET_CONSUMER_CLIENT_OFFSET, (req) => this.onResetOffset(req));
  }

  async route(topic: string): Promise<TopicRoute> {
    const [write, read] = await Promise.all([this.admin.writeQueues(topic), this.admin.readQueues(topic)]);
    for (const q of [...write, ...read]) this.masters.set(q.brokerName, q.addr);
    const strip = (qs: typeof write): MessageQueue[] => qs.map((q) => ({ topic: q.topic, brokerName: q.brokerName, queueId: q.queueId }));
    return { topic, writeQueues: strip(write), readQueues: strip(read) };
  }

  send(mq: MessageQueue, msg: OutgoingMessage, timeoutMs?: number): Promise<SendReply> {
    // Not async, and no wait for a master already known: see BrokerClient.send.
    const addr = this.masters.get(mq.brokerName);
    if (addr === undefined) return this.addr(mq.brokerName).then((a) => this.sendTo(a, mq, msg, timeoutMs));
    return this.sendTo(addr, mq, msg, timeoutMs);
  }

  private sendTo(addr: string, mq: MessageQueue, msg: OutgoingMessage, timeoutMs: number | undefined): Promise<SendReply> {
    let m: WireMessage;
    try {
      m = wire(msg);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.broker.sendAs(addr, msg.producerGroup ?? this.producerGroup, mq.queueId, m, sendReply, timeoutMs);
  }

  async sendBatch(mq: MessageQueue, msgs: OutgoingMessage[], timeoutMs?: number): Promise<SendReply[]> {
    if (msgs.some((m) => (m.delayLevel ?? 0) !== 0)) throw new KeelError('DELAY_LEVEL_INVALID', 'batch messages cannot be delayed');
    const group = msgs[0]?.producerGroup ?? this.producerGroup;
    const rs = await this.broker.sendBatch(await this.addr(mq.brokerName), group, mq.topic, mq.queueId, msgs.map(wire), timeoutMs);
    return rs.map((r) => ({ status: r.status, offsetMsgId: r.msgId, queueId: r.queueId, queueOffset: r.queueOffset }));
  }

  /**
   * PULL_MESSAGE with the subscription posted and, with suspendMs, the suspend flag (the broker
   * holds it). Tags are checked again here, as RocketMQ clients do: a broker filters on the
   * tag's hash only. An abort stops waiting for the answer, which is then dropped.
   */
  async pull(req: PullRequest): Promise<GetMessagesResult> {
    const { mq, subscription } = req;
    const pulled = this.broker.pull(await this.addr(mq.brokerName), {
      group: req.group, topic: mq.topic, queueId: mq.queueId, offset: req.offset, maxMessages: req.maxMessages,
      subscription: subscription.expression, suspendMs: req.suspendMs,
    });
    const r = req.signal ? await untilAborted(pulled, req.signal) : await pulled;
    if (r === undefined) {
      pulled.catch(() => undefined);
      return { status: 'NO_NEW_MSG', messages: [], nextBeginOffset: req.offset, minOffset: 0, maxOffset: 0 };
    }
    const tags = subscription.tags;
    const messages = tags === null ? r.messages : r.messages.filter((m) => m.tags !== undefined && tags.has(m.tags));
    const status = r.status === 'FOUND' && messages.length === 0 ? 'NO_MATCHED_MSG' : PULL_STATUS[r.status];
    return { status, messages, nextBeginOffset: r.nextBeginOffset, minOffset: r.minOffset, maxOffset: r.maxOffset };
  }

  async sendBack(req: SendBackRequest): Promise<void> {
    await this.broker.sendBack(await this.addr(req.brokerName), req.group, req.msg, req.delayLevel, req.maxReconsumeTimes);
  }

  async queryOffset(group: string, mq: MessageQueue): Promise<number | undefined> {
    const local = this.offsets.get(group)?.get(mqKey(mq));
    if (local) return local.offset;
    return this.broker.queryConsumerOffset(await this.addr(mq.brokerName), group, mq.topic, mq.queueId);
  }

  commitOffset(group: string, mq: MessageQueue, offset: number): void {
    let g = this.offsets.get(group);
    if (!g) this.offsets.set(group, (g = new Map()));
    const k = mqKey(mq);
    const e = g.get(k);
    if (e) {
      if (e.offset !== offset) { e.offset = offset; e.dirty = true; }
    } else {
      g.set(k, { mq, offset, dirty: true });
    }
  }

  /** UPDATE_CONSUMER_OFFSET for every offset changed since the last write; the first failure rejects after all were tried. */
  async flushOffsets(group?: string): Promise<void> {
    let failure: unknown;
    for (const [g, table] of this.offsets) {
      if (group !== undefined && g !== group) continue;
      for (const e of table.values()) {
        if (!e.dirty) continue;
        e.dirty = false;
        const offset = e.offset;
        try {
          await this.broker.updateConsumerOffset(await this.addr(e.mq.brokerName), g, e.mq.topic, e.mq.queueId, offset);
        } catch (err) {
          // Written again at the next flush, unless a newer offset was committed meanwhile.
          if (e.offset === offset) e.dirty = true;
          failure ??= err;
        }
      }
    }
    if (failure !== undefined) throw failure;
  }

  async minOffset(mq: MessageQueue): Promise<number> { return this.broker.minOffset(await this.addr(mq.brokerName), mq.topic, mq.queueId); }
  async maxOffset(mq: MessageQueue): Promise<number> { return this.broker.maxOffset(await this.addr(mq.brokerName), mq.topic, mq.queueId); }
  async searchOffset(mq: MessageQueue, timestamp: number): Promise<number> {
    return this.broker.searchOffset(await this.addr(mq.brokerName), mq.topic, mq.queueId, timestamp);
  }

  async registerConsumer(c: ConsumerRegistration): Promise<() => Promise<void>> {
    if (this.closed) throw new KeelError('CLIENT_STATE', 'the transport is closed');
    this.consumers.add(c);
    try {
      await this.heartbeat(c);
    } catch (e) {
      this.consumers.delete(c);
      throw e;
    }
    this.scheduleHeartbeat();
    return async () => {
      if (!this.consumers.delete(c)) return;
      await Promise.all([...await this.brokersOf(c)].map((addr) => this.broker.unregisterClient(addr, c.clientId, c.group)));
    };
  }

  async consumerIds(group: string, brokerName: string): Promise<string[]> {
    return this.broker.consumerIds(await this.addr(brokerName), group);
  }

  async lockBatch(group: string, clientId: string, mqs: MessageQueue[]): Promise<MessageQueue[]> {
    const out: MessageQueue[] = [];
    for (const [brokerName, qs] of byBroker(mqs)) out.push(...await this.broker.lockBatch(await this.addr(brokerName), group, clientId, qs));
    return out;
  }

  async unlockBatch(group: string, clientId: string, mqs: MessageQueue[]): Promise<void> {
    for (const [brokerName, qs] of byBroker(mqs)) await this.broker.unlockBatch(await this.addr(brokerName), group, clientId, qs);
  }

  /** Writes the offsets, stops the timers and, when it owns them, closes the connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.heartbeatTimer?.cancel();
    this.persistTimer?.cancel();
    this.producerHeartbeatTimer?.cancel();
    try {
      await this.flushOffsets();
    } finally {
      if (this.ownsRemoting) await this.admin.close();
    }
  }

  createTopic(topic: string, queues: number, cluster?: string): Promise<BrokerAddress[]> { return this.admin.createTopic(topic, queues, cluster); }
  deleteTopic(topic: string, cluster?: string): Promise<void> { return this.admin.deleteTopic(topic, cluster); }
  topicList(): Promise<string[]> { return this.admin.topicList(); }
  topicStats(topic: string): Promise<TopicQueueStats[]> { return this.admin.topicStats(topic); }
  consumeStats(group: string, topic?: string): Promise<ConsumerQueueProgress[]> { return this.admin.consumeStats(group, topic); }
  resetOffsetByTime(group: string, topic: string, timestamp: number): Promise<QueueOffset[]> { return this.admin.resetOffsetByTime(group, topic, timestamp); }
  viewMessage(topic: string, msgId: string): Promise<MessageExt | undefined> { return this.admin.viewMessage(topic, msgId); }
  queryMessage(topic: string, key: string, o: { max: number; begin: number; end: number; uniqKey: boolean }): Promise<MessageExt[]> { return this.admin.queryMessage(topic, key, o); }
  clusterList(): Promise<BrokerInfo[]> { return this.admin.clusterList(); }

  async dropOffset(group: string, mq: MessageQueue): Promise<void> {
    const table = this.offsets.get(group);
    const e = table?.get(mqKey(mq));
    if (!e) return;
    table!.delete(mqKey(mq));
    if (e.dirty) await this.broker.updateConsumerOffset(await this.addr(mq.brokerName), group, mq.topic, mq.queueId, e.offset);
  }

  /** The master of `brokerName`: from the routes seen, else from the name server's cluster info. */
  private async addr(brokerName: string): Promise<string> {
    let a = this.masters.get(brokerName);
    if (a !== undefined) return a;
    const info = await this.admin.clusterInfo();
    for (const [name, b] of Object.entries(info.brokerAddrTable)) {
      const master = b.brokerAddrs[String(MASTER_ID)];
      if (master !== undefined) this.masters.set(name, master);
    }
    a = this.masters.get(brokerName);
    if (a === undefined) throw new KeelError('NOT_FOUND', `no master of broker ${brokerName} is registered with the name server`);
    return a;
  }

  /**
   * The masters of every topic the consumer reads. A topic without a route yet is passed over: a
   * Java name server has no route for `%RETRY%<group>` until the first heartbeat made the broker
   * create it.
   */
  private async brokersOf(c: ConsumerRegistration): Promise<Set<string>> {
    const addrs = new Set<string>();
    for (const topic of c.subscriptions.keys()) {
      const queues = await this.admin.readQueues(topic).catch((e: unknown) => {
        if (isKeelError(e, 'TOPIC_NOT_FOUND')) return [];
        throw e;
      });
      for (const q of queues) {
        this.masters.set(q.brokerName, q.addr);
        addrs.add(q.addr);
      }
    }
    return addrs;
  }

  private async heartbeat(c: ConsumerRegistration): Promise<void> {
    const subscriptions = [...c.subscriptions].map(([topic, s]) => ({ topic, expression: s.expression, tags: s.tags ? [...s.tags] : [], subVersion: this.clock.now() }));
    const consumer = { groupName: c.group, consumeType: c.consumeType, messageModel: c.messageModel, consumeFromWhere: c.consumeFromWhere, subscriptions };
    await Promise.all([...await this.brokersOf(c)].map((addr) => this.broker.heartbeat(addr, c.clientId, [consumer])));
  }

  private scheduleHeartbeat(): void {
    if (this.heartbeatTimer || this.closed) return;
    this.heartbeatTimer = this.clock.setTimeout(() => {
      this.heartbeatTimer = null;
      // A broker that missed one hears the next; the consumers keep running meanwhile.
      void Promise.all([...this.consumers].map((c) => this.heartbeat(c).catch(() => undefined))).finally(() => {
        if (this.consumers.size > 0) this.scheduleHeartbeat();
      });
    }, this.heartbeatIntervalMs);
  }

  private onIdsChanged(req: RemotingCommand): void {
    const group = req.field('consumerGroup');
    for (const c of this.consumers) if (c.group === group) c.idsChanged?.();
  }

  /** RESET_CONSUMER_CLIENT_OFFSET: the broker's queues of `topic` for the group, at their new offsets. */
  private onResetOffset(req: RemotingCommand): void {
    const topic = req.requireString('topic');
    const group = req.requireString('group');
    const byBroker = new Map<string, Map<number, number>>();
    for (const q of offsetTableOf(req)) {
      if (q.topic !== topic) continue;
      let m = byBroker.get(q.brokerName);
      if (!m) byBroker.set(q.brokerName, (m = new Map()));
      m.set(q.queueId, q.offset);
    }
    for (const c of this.consumers) {
      if (c.group !== group) continue;
      for (const [brokerName, offsets] of byBroker) {
        // The reset offsets replace what was committed here, so an older one is not written over them.
        for (const queueId of offsets.keys()) this.offsets.get(group)?.delete(mqKey({ topic, brokerName, queueId }));
        c.resetOffsets(topic, offsets, brokerName);
      }
    }
  }

  private schedulePersist(): void {
    if (this.closed) return;
    this.persistTimer = this.clock.setTimeout(() => {
      this.flushOffsets().catch(() => undefined).finally(() => this.schedulePersist());
    }, this.options.offsetPersistIntervalMs ?? 5000);
  }

  async sendOneway(mq: MessageQueue, msg: OutgoingMessage): Promise<void> {
    await this.broker.sendOneway(await this.addr(mq.brokerName), msg.producerGroup ?? this.producerGroup, mq.queueId, wire(msg));
  }

  /** One GET_ROUTEINFO_BY_TOPIC; the masters it names are remembered for the sends that follow. */
  async topicRouteData(topic: string): Promise<TopicRouteData> {
    const r = await this.admin.route(topic);
    if (!r) throw new KeelError('TOPIC_NOT_FOUND', `no route for topic ${topic} on the name server`);
    for (const b of r.brokerDatas) {
      const master = b.brokerAddrs[String(MASTER_ID)];
      if (master !== undefined) this.masters.set(b.brokerName, master);
    }
    return r;
  }

  /**
   * Heartbeats (producerDataSet) to every master seen in a route, now and every heartbeatIntervalMs;
   * a broker that misses one hears the next. The unregistration tells every master.
   */
  async registerProducer(group: string, clientId: string): Promise<() => Promise<void>> {
    if (this.closed) throw new KeelError('CLIENT_STATE', 'the transport is closed');
    const key = `${clientId} ${group}`;
    this.producers.set(key, { group, clientId });
    await this.producerHeartbeat();
    this.scheduleProducerHeartbeat();
    return async () => {
      if (!this.producers.delete(key)) return;
      await Promise.all([...new Set(this.masters.values())].map((addr) => this.broker.unregisterProducer(addr, clientId, group).catch(() => undefined)));
    };
  }

  private async producerHeartbeat(): Promise<void> {
    const byClient = new Map<string, string[]>();
    for (const p of this.producers.values()) byClient.set(p.clientId, [...byClient.get(p.clientId) ?? [], p.group]);
    const addrs = [...new Set(this.masters.values())];
    await Promise.all(addrs.flatMap((addr) => [...byClient].map(([clientId, groups]) => this.broker.heartbeat(addr, clientId, [], groups).catch(() => undefined))));
  }

  private scheduleProducerHeartbeat(): void {
    if (this.producerHeartbeatTimer || this.closed) return;
    this.producerHeartbeatTimer = this.clock.setTimeout(() => {
      this.producerHeartbeatTimer = null;
      void this.producerHeartbeat().finally(() => {
        if (this.producers.size > 0) this.scheduleProducerHeartbeat();
      });
    }, this.heartbeatIntervalMs);
  }
}

/** The message as BrokerClient sends it; what needs no change (a Buffer body, the properties without a delay) is not copied. */
function wire(m: OutgoingMessage): WireMessage {
  const properties = (m.delayLevel ?? 0) !== 0 ? { ...m.properties, DELAY: String(m.delayLevel) } : m.properties;
  return {
    topic: m.topic,
    body: typeof m.body === 'string' ? Buffer.from(m.body, 'utf8') : Buffer.isBuffer(m.body) ? m.body : Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength),
    tags: m.tags,
    keys: m.keys === undefined ? undefined : Array.isArray(m.keys) ? m.keys : [m.keys],
    properties,
    flag: m.flag,
    sysFlag: m.sysFlag,
  };
}

const sendReply: SendReplyMaker<SendReply> = (status, offsetMsgId, queueId, queueOffset) => ({ status, offsetMsgId, queueId, queueOffset });

function mqKey(mq: MessageQueue): string { return `${mq.topic}\u0000${mq.brokerName}\u0000${mq.queueId}`; }

function byBroker(mqs: MessageQueue[]): Map<string, MessageQueue[]> {
  const out = new Map<string, MessageQueue[]>();
  for (const q of mqs) {
    let l = out.get(q.brokerName);
    if (!l) out.set(q.brokerName, (l = []));
    l.push(q);
  }
  return out;
}

/** `p`'s value, or undefined once `signal` aborts. */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then((v) => { signal.removeEventListener('abort', onAbort); resolve(v); }, (e: unknown) => { signal.removeEventListener('abort', onAbort); reject(e); });
  });
}
