/**
 * The name server's tables (`RouteInfoManager.java` of 4.9.7): which brokers live where, and which
 * topics each broker serves. Brokers keep themselves alive by registering (every 30 s); one that has
 * not registered for `brokerExpireMs`, or whose connection closes, is dropped with its routes.
 */
import { Clock } from '../common/clock';
import { isTopicName } from '../common/names';
import { Logger } from '../remoting/logger';
import { DataVersion, RegisterBrokerBody } from '../remoting/register-broker-body';
import { RemotingChannel } from '../remoting/remoting-channel';
import {
  BrokerData, ClusterInfo, MASTER_ID, PERM_INHERIT, PERM_READ, PERM_WRITE, QueueData, TopicRouteData,
} from '../remoting/topic-route-data';

/** The topic a Java broker with autoCreateTopicEnable registers (perm 7) and producers fall back to. */
export const AUTO_CREATE_TOPIC = 'TBW102';

/** `TopicValidator`: what a broker accepts as a topic name. */

export interface RegisterBrokerRequest {
  clusterName: string;
  brokerAddr: string;
  brokerName: string;
  brokerId: number;
  haServerAddr: string;
  body: RegisterBrokerBody;
  channel?: RemotingChannel;
}

export interface RegisterBrokerResult {
  haServerAddr?: string;
  masterAddr?: string;
}

interface BrokerLiveInfo {
  lastUpdate: number;
  dataVersion: DataVersion;
  channel?: RemotingChannel;
  haServerAddr: string;
}

interface BrokerEntry {
  cluster: string;
  brokerName: string;
  brokerAddrs: Map<number, string>;
}

export interface RouteInfoOptions {
  clock: Clock;
  logger: Logger;
  /** Queues of a route made up for a topic no broker has registered yet (not %RETRY%/%DLQ%, which get 1). */
  autoCreateQueueNums: number;
}

export class RouteInfoManager {
  private readonly topicQueueTable = new Map<string, Map<string, QueueData>>();
  private readonly brokerAddrTable = new Map<string, BrokerEntry>();
  private readonly clusterAddrTable = new Map<string, Set<string>>();
  private readonly brokerLiveTable = new Map<string, BrokerLiveInfo>();
  private readonly filterServerTable = new Map<string, string[]>();

  constructor(private readonly options: RouteInfoOptions) {}

  registerBroker(r: RegisterBrokerRequest): RegisterBrokerResult {
    let names = this.clusterAddrTable.get(r.clusterName);
    if (!names) this.clusterAddrTable.set(r.clusterName, (names = new Set()));
    names.add(r.brokerName);

    let registerFirst = false;
    let broker = this.brokerAddrTable.get(r.brokerName);
    if (!broker) {
      registerFirst = true;
      broker = { cluster: r.clusterName, brokerName: r.brokerName, brokerAddrs: new Map() };
      this.brokerAddrTable.set(r.brokerName, broker);
    }
    // A slave promoted to master re-registers its ip:port under id 0: one record per address.
    for (const [id, addr] of broker.brokerAddrs) {
      if (addr === r.brokerAddr && id !== r.brokerId) broker.brokerAddrs.delete(id);
    }
    const oldAddr = broker.brokerAddrs.get(r.brokerId);
    broker.brokerAddrs.set(r.brokerId, r.brokerAddr);
    registerFirst = registerFirst || oldAddr === undefined;

    // Only a master's topic table makes routes, and only when it changed.
    if (r.brokerId === MASTER_ID && (registerFirst || this.topicConfigChanged(r.brokerAddr, r.body.dataVersion))) {
      for (const t of r.body.topicConfigTable) {
        let byBroker = this.topicQueueTable.get(t.topicName);
        if (!byBroker) this.topicQueueTable.set(t.topicName, (byBroker = new Map()));
        byBroker.set(r.brokerName, {
          brokerName: r.brokerName, readQueueNums: t.readQueueNums, writeQueueNums: t.writeQueueNums, perm: t.perm, topicSysFlag: t.topicSysFlag,
        });
      }
    }

    const prev = this.brokerLiveTable.get(r.brokerAddr);
    this.brokerLiveTable.set(r.brokerAddr, {
      lastUpdate: this.options.clock.now(), dataVersion: r.body.dataVersion, channel: r.channel, haServerAddr: r.haServerAddr,
    });
    if (!prev) this.options.logger.info(`namesrv: new broker registered, ${r.brokerAddr} HAServer: ${r.haServerAddr}`);

    if (r.body.filterServerList.length === 0) this.filterServerTable.delete(r.brokerAddr);
    else this.filterServerTable.set(r.brokerAddr, r.body.filterServerList);

    const result: RegisterBrokerResult = {};
    if (r.brokerId !== MASTER_ID) {
      const masterAddr = broker.brokerAddrs.get(MASTER_ID);
      const master = masterAddr === undefined ? undefined : this.brokerLiveTable.get(masterAddr);
      if (masterAddr !== undefined && master) {
        result.haServerAddr = master.haServerAddr;
        result.masterAddr = masterAddr;
      }
    }
    return result;
  }

  unregisterBroker(clusterName: string, brokerAddr: string, brokerName: string, brokerId: number): void {
    this.brokerLiveTable.delete(brokerAddr);
    this.filterServerTable.delete(brokerAddr);
    const broker = this.brokerAddrTable.get(brokerName);
    if (!broker) return;
    broker.brokerAddrs.delete(brokerId);
    if (broker.brokerAddrs.size > 0) return;
    this.brokerAddrTable.delete(brokerName);
    const names = this.clusterAddrTable.get(clusterName);
    if (names) {
      names.delete(brokerName);
      if (names.size === 0) this.clusterAddrTable.delete(clusterName);
    }
    this.removeTopicsOf(brokerName);
  }

  /**
   * The route of `topic`: what brokers registered for it, or, for any other valid name, a made-up
   * route on the brokers that registered TBW102 with the inherit bit (autoCreateTopicEnable).
   * ali-ons cannot take Java's TBW102 fallback, so this is how its first send to a new topic works;
   * the broker creates the topic on first use with the same queue count.
   */
  routeFor(topic: string): TopicRouteData | undefined {
    const registered = this.pickupTopicRouteData(topic);
    if (registered || !isTopicName(topic)) return registered;
    const template = this.pickupTopicRouteData(AUTO_CREATE_TOPIC);
    if (!template) return undefined;
    const internal = topic.startsWith('%RETRY%') || topic.startsWith('%DLQ%');
    const queueDatas = template.queueDatas
      .filter((q) => (q.perm & PERM_INHERIT) !== 0)
      .map((q) => {
        const n = internal ? 1 : Math.min(this.options.autoCreateQueueNums, q.writeQueueNums);
        return { brokerName: q.brokerName, readQueueNums: n, writeQueueNums: n, perm: PERM_READ | PERM_WRITE, topicSysFlag: 0 };
      });
    if (queueDatas.length === 0) return undefined;
    const names = new Set(queueDatas.map((q) => q.brokerName));
    return { ...template, queueDatas, brokerDatas: template.brokerDatas.filter((b) => names.has(b.brokerName)) };
  }

  /** Java's pickupTopicRouteData: a route needs queue data and at least one live broker entry. */
  pickupTopicRouteData(topic: string): TopicRouteData | undefined {
    const byBroker = this.topicQueueTable.get(topic);
    if (!byBroker) return undefined;
    const brokerDatas: BrokerData[] = [];
    const filterServerTable: Record<string, string[]> = Object.create(null);
    for (const name of [...byBroker.keys()].sort()) {
      const b = this.brokerAddrTable.get(name);
      if (!b) continue;
      const data = toBrokerData(b);
      brokerDatas.push(data);
      for (const addr of Object.values(data.brokerAddrs)) {
        const servers = this.filterServerTable.get(addr);
        if (servers) filterServerTable[addr] = servers;
      }
    }
    if (brokerDatas.length === 0) return undefined;
    const queueDatas = [...byBroker.values()].sort((a, b) => (a.brokerName < b.brokerName ? -1 : a.brokerName > b.brokerName ? 1 : 0)).map((q) => ({ ...q }));
    return { queueDatas, brokerDatas, filterServerTable };
  }

  clusterInfo(): ClusterInfo {
    const brokerAddrTable: Record<string, BrokerData> = Object.create(null);
    for (const [name, b] of this.brokerAddrTable) brokerAddrTable[name] = toBrokerData(b);
    const clusterAddrTable: Record<string, string[]> = Object.create(null);
    for (const [c, names] of this.clusterAddrTable) clusterAddrTable[c] = [...names].sort();
    return { brokerAddrTable, clusterAddrTable };
  }

  topicList(): string[] {
    return [...this.topicQueueTable.keys()];
  }

  /** Topics served by any broker of `cluster` (GET_TOPICS_BY_CLUSTER). */
  topicsOfCluster(cluster: string): string[] {
    const names = this.clusterAddrTable.get(cluster) ?? new Set<string>();
    return [...this.topicQueueTable].filter(([, byBroker]) => [...names].some((n) => byBroker.has(n))).map(([t]) => t);
  }

  /** mqadmin deleteTopic: the topic's queues on the brokers of `cluster`, or everywhere. */
  deleteTopic(topic: string, cluster?: string): void {
    if (!cluster) {
      this.topicQueueTable.delete(topic);
      return;
    }
    const byBroker = this.topicQueueTable.get(topic);
    if (!byBroker) return;
    for (const name of this.clusterAddrTable.get(cluster) ?? []) byBroker.delete(name);
    if (byBroker.size === 0) this.topicQueueTable.delete(topic);
  }

  /** Drops every broker that has not registered for `expireMs`, closing its connection (as Java). */
  scanNotActiveBroker(expireMs: number): number {
    const now = this.options.clock.now();
    let removed = 0;
    for (const [addr, live] of [...this.brokerLiveTable]) {
      if (live.lastUpdate + expireMs >= now) continue;
      this.options.logger.warn(`namesrv: broker ${addr} expired: no registration for ${now - live.lastUpdate} ms`);
      live.channel?.close('broker registration expired');
      this.removeBrokerAddr(addr);
      removed++;
    }
    return removed;
  }

  /** A closed connection takes the broker that registered through it out at once. */
  onChannelDestroy(channel: RemotingChannel): void {
    for (const [addr, live] of this.brokerLiveTable) {
      if (live.channel === channel) {
        this.options.logger.info(`namesrv: connection of broker ${addr} closed, removing it`);
        this.removeBrokerAddr(addr);
        return;
      }
    }
  }

  private topicConfigChanged(brokerAddr: string, v: DataVersion): boolean {
    const prev = this.brokerLiveTable.get(brokerAddr)?.dataVersion;
    return !prev || prev.counter !== v.counter || prev.timestamp !== v.timestamp;
  }

  /** Java's onChannelDestroy body: the broker's name goes (with its routes) when its last address does. */
  private removeBrokerAddr(brokerAddr: string): void {
    this.brokerLiveTable.delete(brokerAddr);
    this.filterServerTable.delete(brokerAddr);
    for (const [name, b] of this.brokerAddrTable) {
      const id = [...b.brokerAddrs].find(([, a]) => a === brokerAddr)?.[0];
      if (id === undefined) continue;
      b.brokerAddrs.delete(id);
      if (b.brokerAddrs.size === 0) {
        this.brokerAddrTable.delete(name);
        for (const [cluster, names] of this.clusterAddrTable) {
          if (names.delete(name)) {
            if (names.size === 0) this.clusterAddrTable.delete(cluster);
            break;
          }
        }
        this.removeTopicsOf(name);
      }
      return;
    }
  }

  private removeTopicsOf(brokerName: string): void {
    for (const [topic, byBroker] of [...this.topicQueueTable]) {
      byBroker.delete(brokerName);
      if (byBroker.size === 0) this.topicQueueTable.delete(topic);
    }
  }
}

function toBrokerData(b: BrokerEntry): BrokerData {
  const brokerAddrs: Record<string, string> = Object.create(null);
  for (const [id, addr] of b.brokerAddrs) brokerAddrs[String(id)] = addr;
  return { cluster: b.cluster, brokerName: b.brokerName, brokerAddrs };
}
