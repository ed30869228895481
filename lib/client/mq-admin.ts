/**
 * What mqadmin does over the name servers and brokers (`DefaultMQAdminExtImpl`, reference §5),
 * plus the queue lists a producer and a pull consumer derive from a route: one connection pool,
 * several name servers tried in order.
 */
import { KeelError } from '../common/errors';
import { RemotingClient } from '../remoting/remoting-client';
import { MASTER_ID, PERM_READ, PERM_WRITE, type ClusterInfo, type TopicRouteData } from '../remoting/topic-route-data';
import type { MessageQueue } from '../common/message';
import { BrokerClient, type QueueProgress, type QueueStats } from './broker-client';
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
  async topicStats(topic: string): Promise<QueueStats[]> {
    const out: QueueStats[] = [];
    let found = false;
    for (const addr of await this.masters(topic)) {
      const s = await this.broker.topicStats(addr, topic);
      if (s) { found = true; out.push(...s); }
    }
    if (!found) throw new KeelError('TOPIC_NOT_FOUND', `topic ${topic} does not exist on any broker`);
    return out;
  }

  /** mqadmin consumerProgress -g: every master of the cluster(s), or of the topic's route. */
  async consumeStats(group: string, topic?: string): Promise<QueueProgress[]> {
    const addrs = topic !== undefined ? await this.masters(topic) : await this.allMasters();
    const out: QueueProgress[] = [];
    for (const addr of addrs) out.push(...await this.broker.consumeStats(addr, group, topic));
    return out;
  }

  /** mqadmin resetOffsetByTime (forced) on every master of the topic's route. */
  async resetOffsetByTime(group: string, topic: string, timestamp: number): Promise<(MessageQueue & { offset: number })[]> {
    const out: (MessageQueue & { offset: number })[] = [];
    for (const addr of await this.masters(topic)) out.push(...await this.broker.resetOffsetByTime(addr, group, topic, timestamp));
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
