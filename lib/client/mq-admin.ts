/**
 * What mqadmin does over the name servers and brokers (`DefaultMQAdminExtImpl`, reference §5),
 * plus the queue lists a producer and a pull consumer derive from a route: one connection pool,
 * several name servers tried in order.
 */
import { KeelError } from '../common/errors';
import { parseMsgId } from '../common/message-id';
import { RemotingClient, RemotingResponseError } from '../remoting/remoting-client';
import { ResponseCode } from '../remoting/response-code';
import { MASTER_ID, PERM_READ, PERM_WRITE, type ClusterInfo, type TopicRouteData } from '../remoting/topic-route-data';
import type { MessageExt, MessageQueue } from '../common/message';
import { BrokerClient } from './broker-client';
import type { BrokerInfo, ConsumerQueueProgress, TopicQueueStats } from './transport';
import { NameServerClient } from './namesrv-client';

/** A queue and the master that serves it. */
export interface BrokerQueue extends MessageQueue { addr: string }

export interface MQAdminOptions {
  /** Name servers ("ip:port"), asked in order until one answers. */
  namesrvAddr: string[];
  timeoutMs?: number;
  remoting?: RemotingClient;
}

export class MQAdmin {
  readonly remoting: RemotingClient;
  readonly namesrv: NameServerClient;
  readonly broker: BrokerClient;
  private readonly namesrvAddr: string[];

  constructor(o: MQAdminOptions) {
    if (o.namesrvAddr.length === 0) throw new KeelError('OPTION_INVALID', 'no name server address');
    this.remoting = o.remoting ?? new RemotingClient();
    this.namesrv = new NameServerClient({ remoting: this.remoting, timeoutMs: o.timeoutMs ?? 3000 });
    this.broker = new BrokerClient(this.remoting, o.timeoutMs ?? 3000);
    this.namesrvAddr = o.namesrvAddr;
  }

  /** The route, or undefined when no name server has one. */
  route(topic: string): Promise<TopicRouteData | undefined> {
    return this.anyNamesrv((a) => this.namesrv.getRouteInfoByTopic(a, topic));
  }

  clusterInfo(): Promise<ClusterInfo> {
    return this.anyNamesrv((a) => this.namesrv.getBrokerClusterInfo(a));
  }

  topicList(): Promise<string[]> {
    return this.anyNamesrv((a) => this.namesrv.getTopicList(a));
  }

  /**
   * mqadmin updateTopic -c: the topic with `queues` read and write queues on every master of
   * `cluster` (the only cluster when not given). Returns the masters, as "brokerName addr".
   */
  async createTopic(topic: string, queues: number, cluster?: string): Promise<{ brokerName: string; addr: string }[]> {
    const info = await this.clusterInfo();
    const clusters = Object.keys(info.clusterAddrTable).sort();
    const name = cluster ?? (clusters.length === 1 ? clusters[0] : undefined);
    if (name === undefined) {
      throw new KeelError('NOT_FOUND', clusters.length === 0 ? 'no broker is registered with the name server' : `several clusters (${clusters.join(', ')}): name one`);
    }
    const brokers = info.clusterAddrTable[name];
    if (!brokers) throw new KeelError('NOT_FOUND', `no cluster ${name} (known: ${clusters.join(', ') || 'none'})`);
    const masters: { brokerName: string; addr: string }[] = [];
    for (const b of [...brokers].sort()) {
      const addr = info.brokerAddrTable[b]?.brokerAddrs[String(MASTER_ID)];
      if (addr) masters.push({ brokerName: b, addr });
    }
    if (masters.length === 0) throw new KeelError('NOT_FOUND', `cluster ${name} has no master`);
    for (const m of masters) await this.broker.createTopic(m.addr, topic, queues);
    return masters;
  }

  /** The queues a producer sends to: writable queues of masters. */
  async writeQueues(topic: string): Promise<BrokerQueue[]> {
    return queuesOf(await this.requireRoute(topic), topic, PERM_WRITE, (q) => q.writeQueueNums);
  }

  /** The queues a consumer reads: readable queues of masters. */
  async readQueues(topic: string): Promise<BrokerQueue[]> {
    return queuesOf(await this.requireRoute(topic), topic, PERM_READ, (q) => q.readQueueNums);
  }

  /** mqadmin topicStatus; TOPIC_NOT_FOUND when no broker of the route has the topic. */
  async topicStats(topic: string): Promise<TopicQueueStats[]> {
    const out: TopicQueueStats[] = [];
    let found = false;
    for (const addr of await this.masters(topic)) {
      const s = await this.broker.topicStats(addr, topic);
      if (s) { found = true; out.push(...s); }
    }
    if (!found) throw new KeelError('TOPIC_NOT_FOUND', `topic ${topic} does not exist on any broker`);
    return out;
  }

  /** mqadmin consumerProgress -g: every master of the cluster(s), or of the topic's route. */
  async consumeStats(group: string, topic?: string): Promise<ConsumerQueueProgress[]> {
    const addrs = topic !== undefined ? await this.masters(topic) : await this.allMasters();
    const out: ConsumerQueueProgress[] = [];
    for (const addr of addrs) out.push(...await this.broker.consumeStats(addr, group, topic));
    return out;
  }

  /**
   * mqadmin resetOffsetByTime (forced) on every master of the topic's route. A Java broker answers
   * CONSUMER_NOT_ONLINE for a group with no client online; then, as mqadmin does, each queue's
   * offset is looked up by time and written with UPDATE_CONSUMER_OFFSET.
   */
  async resetOffsetByTime(group: string, topic: string, timestamp: number): Promise<(MessageQueue & { offset: number })[]> {
    const out: (MessageQueue & { offset: number })[] = [];
    for (const addr of await this.masters(topic)) {
      try {
        out.push(...await this.broker.resetOffsetByTime(addr, group, topic, timestamp));
      } catch (e) {
        if (!(e instanceof RemotingResponseError && e.responseCode === ResponseCode.CONSUMER_NOT_ONLINE)) throw e;
        for (const q of (await this.readQueues(topic)).filter((b) => b.addr === addr)) {
          const offset = timestamp === -1 ? await this.broker.maxOffset(addr, topic, q.queueId) : await this.broker.searchOffset(addr, topic, q.queueId, timestamp);
          await this.broker.updateConsumerOffset(addr, group, topic, q.queueId, offset);
          out.push({ topic, brokerName: q.brokerName, queueId: q.queueId, offset });
        }
      }
    }
    return out;
  }

  /** mqadmin deleteTopic -c: DELETE_TOPIC_IN_BROKER on the masters of the cluster(s), then DELETE_TOPIC_IN_NAMESRV on every name server. */
  async deleteTopic(topic: string, cluster?: string): Promise<void> {
    const info = await this.clusterInfo();
    const names = cluster !== undefined ? info.clusterAddrTable[cluster] ?? [] : Object.keys(info.brokerAddrTable);
    for (const b of [...names].sort()) {
      const addr = info.brokerAddrTable[b]?.brokerAddrs[String(MASTER_ID)];
      if (addr) await this.broker.deleteTopic(addr, topic);
    }
    for (const a of this.namesrvAddr) await this.namesrv.deleteTopic(a, topic, cluster);
  }

  /**
   * DefaultMQAdminExt.viewMessage(topic, msgId): an offset msgId is looked up (VIEW_MESSAGE_BY_ID)
   * at the broker address inside it; anything else, or nothing there, is taken for a UNIQ_KEY
   * and queried on the topic's masters.
   */
  async viewMessage(topic: string, msgId: string): Promise<MessageExt | undefined> {
    let byOffset: MessageExt | undefined;
    try {
      const id = parseMsgId(msgId);
      const addr = `${[24, 16, 8, 0].map((s) => (id.ip >>> s) & 255).join('.')}:${id.port}`;
      byOffset = await this.broker.viewMessage(addr, id.physicalOffset);
    } catch {
      // Not an offset id, or no broker at its address: a UNIQ_KEY, as in Java.
    }
    if (byOffset && byOffset.topic === topic && byOffset.msgId === msgId.toUpperCase()) return byOffset;
    return (await this.queryMessage(topic, msgId, { max: 1, begin: 0, end: Number.MAX_SAFE_INTEGER, uniqKey: true }))[0];
  }

  /** mqadmin queryMsgByKey: QUERY_MESSAGE on each master; only messages of `topic` whose KEYS (or UNIQ_KEY) hold the key are kept, as the Java client does. */
  async queryMessage(topic: string, key: string, o: { max: number; begin: number; end: number; uniqKey: boolean }): Promise<MessageExt[]> {
    const out: MessageExt[] = [];
    for (const addr of await this.masters(topic)) {
      for (const m of await this.broker.queryMessage(addr, topic, key, o)) {
        const matches = o.uniqKey ? m.properties['UNIQ_KEY'] === key : m.keys.includes(key);
        if (m.topic === topic && matches && out.length < o.max) out.push(m);
      }
    }
    return out;
  }

  /** mqadmin clusterList: every broker of every cluster, with its runtime info (empty when it does not answer). */
  async clusterList(): Promise<BrokerInfo[]> {
    const info = await this.clusterInfo();
    const out: BrokerInfo[] = [];
    for (const cluster of Object.keys(info.clusterAddrTable).sort()) {
      for (const brokerName of [...info.clusterAddrTable[cluster]!].sort()) {
        const addrs = info.brokerAddrTable[brokerName]?.brokerAddrs ?? {};
        for (const id of Object.keys(addrs).sort((a, b) => Number(a) - Number(b))) {
          const addr = addrs[id]!;
          const runtime = await this.broker.runtimeInfo(addr).catch(() => ({}));
          out.push({ cluster, brokerName, brokerId: Number(id), addr, runtime });
        }
      }
    }
    return out;
  }

  async close(): Promise<void> {
    await this.remoting.close();
  }

  private async requireRoute(topic: string): Promise<TopicRouteData> {
    const r = await this.route(topic);
    if (!r) throw new KeelError('TOPIC_NOT_FOUND', `no route for topic ${topic} on the name server`);
    return r;
  }

  private async masters(topic: string): Promise<string[]> {
    const r = await this.requireRoute(topic);
    return r.brokerDatas.map((b) => b.brokerAddrs[String(MASTER_ID)]).filter((a): a is string => a !== undefined);
  }

  private async allMasters(): Promise<string[]> {
    const info = await this.clusterInfo();
    return Object.keys(info.brokerAddrTable).sort().map((b) => info.brokerAddrTable[b]!.brokerAddrs[String(MASTER_ID)]).filter((a): a is string => a !== undefined);
  }

  /** The first name server that answers; the last failure when none does. */
  private async anyNamesrv<T>(f: (addr: string) => Promise<T>): Promise<T> {
    let last: unknown;
    for (const a of this.namesrvAddr) {
      try {
        return await f(a);
      } catch (e) {
        last = e;
        if (!isUnreachable(e)) throw e;
      }
    }
    throw last;
  }
}

function isUnreachable(e: unknown): boolean {
  return e instanceof KeelError && (e.code === 'REMOTING_CONNECT_FAILED' || e.code === 'REMOTING_TIMEOUT' || e.code === 'REMOTING_CONNECTION_CLOSED');
}

function queuesOf(r: TopicRouteData, topic: string, perm: number, count: (q: TopicRouteData['queueDatas'][number]) => number): BrokerQueue[] {
  const out: BrokerQueue[] = [];
  for (const q of [...r.queueDatas].sort((a, b) => (a.brokerName < b.brokerName ? -1 : a.brokerName > b.brokerName ? 1 : 0))) {
    if ((q.perm & perm) === 0) continue;
    const addr = r.brokerDatas.find((b) => b.brokerName === q.brokerName)?.brokerAddrs[String(MASTER_ID)];
    if (!addr) continue;
    for (let i = 0; i < count(q); i++) out.push({ brokerName: q.brokerName, topic, queueId: i, addr });
  }
  if (out.length === 0) throw new KeelError('TOPIC_NOT_FOUND', `topic ${topic} has no ${perm === PERM_WRITE ? 'writable' : 'readable'} queue on a master`);
  return out;
}
