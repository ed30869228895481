/**
 * Route bodies of the name server (`TopicRouteData`, `ClusterInfo`), written as a 4.9.7 name server
 * writes them for a 4.9.4+ client: fields in alphabetical order (fastjson SortField), map keys
 * quoted and sorted (BrowserCompatible + MapSortField). Quoted keys parse in every client; the
 * unquoted `{0:"…"}` older name servers send is accepted on reading.
 */
import { KeelError } from '../common/errors';
import { parseLenientJson } from './lenient-json';

/** perm bits (`PermName`). */
export const PERM_READ = 4;
export const PERM_WRITE = 2;
export const PERM_INHERIT = 1;

/** brokerId of a master (`MixAll.MASTER_ID`). */
export const MASTER_ID = 0;

export interface QueueData {
  brokerName: string;
  readQueueNums: number;
  writeQueueNums: number;
  perm: number;
  topicSysFlag: number;
}

export interface BrokerData {
  cluster: string;
  brokerName: string;
  /** brokerId (decimal) → "ip:port"; id 0 is the master. */
  brokerAddrs: Record<string, string>;
}

export interface TopicRouteData {
  /** "brokerA:4;brokerB:4", only with orderMessageEnable and an ORDER_TOPIC_CONFIG entry. */
  orderTopicConf?: string;
  queueDatas: QueueData[];
  brokerDatas: BrokerData[];
  filterServerTable: Record<string, string[]>;
}

export interface ClusterInfo {
  brokerAddrTable: Record<string, BrokerData>;
  clusterAddrTable: Record<string, string[]>;
}

function bad(what: string): never {
  throw new KeelError('REMOTING_REQUEST_INVALID', `bad route body: ${what}`);
}

/** Copies `m` with its keys sorted: numeric keys numerically, as Java's TreeMap<Long>, others as strings. */
function sortedMap<V>(m: Record<string, V>): Record<string, V> {
  const out: Record<string, V> = Object.create(null);
  for (const k of Object.keys(m).sort()) out[k] = m[k]!;
  return out;
}

function brokerDataJson(b: BrokerData): object {
  return { brokerAddrs: sortedMap(b.brokerAddrs), brokerName: b.brokerName, cluster: b.cluster };
}

export function encodeTopicRouteData(r: TopicRouteData): Buffer {
  const o: Record<string, unknown> = {
    brokerDatas: r.brokerDatas.map(brokerDataJson),
    filterServerTable: sortedMap(r.filterServerTable),
  };
  if (r.orderTopicConf !== undefined) o.orderTopicConf = r.orderTopicConf;
  o.queueDatas = r.queueDatas.map((q) => ({
    brokerName: q.brokerName, perm: q.perm, readQueueNums: q.readQueueNums, topicSysFlag: q.topicSysFlag, writeQueueNums: q.writeQueueNums,
  }));
  return Buffer.from(JSON.stringify(o), 'utf8');
}

export function encodeClusterInfo(c: ClusterInfo): Buffer {
  const brokerAddrTable: Record<string, object> = Object.create(null);
  for (const k of Object.keys(c.brokerAddrTable).sort()) brokerAddrTable[k] = brokerDataJson(c.brokerAddrTable[k]!);
  return Buffer.from(JSON.stringify({ brokerAddrTable, clusterAddrTable: sortedMap(c.clusterAddrTable) }), 'utf8');
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(`${what} is not an object`);
  return v as Record<string, unknown>;
}
function arr(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) bad(`${what} is not an array`);
  return v;
}
function str(v: unknown, what: string): string {
  if (typeof v !== 'string') bad(`${what} is not a string`);
  return v;
}
function int(v: unknown, what: string, fallback?: number): number {
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v)) bad(`${what} is not an integer`);
  return v;
}

function decodeBrokerData(v: unknown): BrokerData {
  const b = obj(v, 'brokerData');
  const addrs = obj(b.brokerAddrs ?? {}, 'brokerAddrs');
  const brokerAddrs: Record<string, string> = Object.create(null);
  for (const [id, addr] of Object.entries(addrs)) brokerAddrs[String(Number(id))] = str(addr, 'broker address');
  return { cluster: str(b.cluster, 'cluster'), brokerName: str(b.brokerName, 'brokerName'), brokerAddrs };
}

export function decodeTopicRouteData(body: Buffer): TopicRouteData {
  const o = obj(parseLenientJson(body.toString('utf8'), { numbers: 'number' }), 'TopicRouteData');
  const filterServerTable: Record<string, string[]> = Object.create(null);
  for (const [k, v] of Object.entries(obj(o.filterServerTable ?? {}, 'filterServerTable'))) {
    filterServerTable[k] = arr(v, 'filter servers').map((s) => str(s, 'filter server'));
  }
  const r: TopicRouteData = {
    queueDatas: arr(o.queueDatas ?? [], 'queueDatas').map((v) => {
      const q = obj(v, 'queueData');
      return {
        brokerName: str(q.brokerName, 'brokerName'),
        readQueueNums: int(q.readQueueNums, 'readQueueNums'),
        writeQueueNums: int(q.writeQueueNums, 'writeQueueNums'),
        perm: int(q.perm, 'perm'),
        // Brokers before 4.9.0 spelled it topicSynFlag.
        topicSysFlag: int(q.topicSysFlag ?? q.topicSynFlag, 'topicSysFlag', 0),
      };
    }),
    brokerDatas: arr(o.brokerDatas ?? [], 'brokerDatas').map(decodeBrokerData),
    filterServerTable,
  };
  if (typeof o.orderTopicConf === 'string') r.orderTopicConf = o.orderTopicConf;
  return r;
}

export function decodeClusterInfo(body: Buffer): ClusterInfo {
  const o = obj(parseLenientJson(body.toString('utf8'), { numbers: 'number' }), 'ClusterInfo');
  const brokerAddrTable: Record<string, BrokerData> = Object.create(null);
  for (const [k, v] of Object.entries(obj(o.brokerAddrTable ?? {}, 'brokerAddrTable'))) brokerAddrTable[k] = decodeBrokerData(v);
  const clusterAddrTable: Record<string, string[]> = Object.create(null);
  for (const [k, v] of Object.entries(obj(o.clusterAddrTable ?? {}, 'clusterAddrTable'))) {
    clusterAddrTable[k] = arr(v, 'broker names').map((s) => str(s, 'broker name'));
  }
  return { brokerAddrTable, clusterAddrTable };
}
