/**
 * The name-server calls of a RocketMQ client and broker (`MQClientAPIImpl`, `BrokerOuterAPI`),
 * over one RemotingClient: routes, cluster info, topic list, KV config, and broker (un)registration.
 * The lean start the full network clients grow from.
 */
import { encodeRegisterBrokerBody, bodyCrc32, RegisterBrokerBody } from '../remoting/register-broker-body';
import { expectSuccess, RemotingClient } from '../remoting/remoting-client';
import { RemotingCommand } from '../remoting/remoting-command';
import { RequestCode } from '../remoting/request-code';
import { ResponseCode } from '../remoting/response-code';
import { ClusterInfo, decodeClusterInfo, decodeTopicRouteData, TopicRouteData } from '../remoting/topic-route-data';

export interface NameServerClientOptions {
  /** Per call. Default 3 s (Java's default for name-server calls). */
  timeoutMs?: number;
  /** Shared with other users of the connections; closed by close() only when created here. */
  remoting?: RemotingClient;
}

export interface BrokerRegistration {
  clusterName: string;
  brokerName: string;
  brokerId: number;
  /** "ip:port" clients reach the broker at. */
  brokerAddr: string;
  haServerAddr: string;
  body: RegisterBrokerBody;
  /** Deflate the body, as Java brokers with compressedRegister=true do. */
  compressed?: boolean;
}

export interface RegisterBrokerResponse {
  haServerAddr?: string;
  masterAddr?: string;
  /** ORDER_TOPIC_CONFIG entries (KVTable JSON), when the name server has any. */
  kvTable?: Record<string, string>;
}

export class NameServerClient {
  readonly remoting: RemotingClient;
  private readonly ownsRemoting: boolean;
  private readonly timeoutMs: number;

  constructor(options: NameServerClientOptions = {}) {
    this.ownsRemoting = !options.remoting;
    this.remoting = options.remoting ?? new RemotingClient();
    this.timeoutMs = options.timeoutMs ?? 3000;
  }

  /** The route of `topic`, or undefined when the name server has none (TOPIC_NOT_EXIST). */
  async getRouteInfoByTopic(addr: string, topic: string): Promise<TopicRouteData | undefined> {
    const res = await this.call(addr, RemotingCommand.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic }));
    if (res.code === ResponseCode.TOPIC_NOT_EXIST) return undefined;
    expectSuccess(res, 'GET_ROUTEINFO_BY_TOPIC');
    return decodeTopicRouteData(res.body ?? Buffer.alloc(0));
  }

  async getBrokerClusterInfo(addr: string): Promise<ClusterInfo> {
    const res = await this.call(addr, RemotingCommand.request(RequestCode.GET_BROKER_CLUSTER_INFO));
    expectSuccess(res, 'GET_BROKER_CLUSTER_INFO');
    return decodeClusterInfo(res.body ?? Buffer.alloc(0));
  }

  async getTopicList(addr: string): Promise<string[]> {
    return topicList(expectSuccess(await this.call(addr, RemotingCommand.request(RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER)), 'GET_ALL_TOPIC_LIST_FROM_NAMESERVER'));
  }

  async getTopicsByCluster(addr: string, cluster: string): Promise<string[]> {
    return topicList(expectSuccess(await this.call(addr, RemotingCommand.request(RequestCode.GET_TOPICS_BY_CLUSTER, { cluster })), 'GET_TOPICS_BY_CLUSTER'));
  }

  /** Removes the topic's routes on the brokers of `clusterName`, or everywhere without it. */
  async deleteTopic(addr: string, topic: string, clusterName?: string): Promise<void> {
    expectSuccess(await this.call(addr, RemotingCommand.request(RequestCode.DELETE_TOPIC_IN_NAMESRV, { topic, clusterName })), 'DELETE_TOPIC_IN_NAMESRV');
  }

  async putKVConfig(addr: string, namespace: string, key: string, value: string): Promise<void> {
    expectSuccess(await this.call(addr, RemotingCommand.request(RequestCode.PUT_KV_CONFIG, { namespace, key, value })), 'PUT_KV_CONFIG');
  }

  /** The value, or undefined when the name server has none (QUERY_NOT_FOUND). */
  async getKVConfig(addr: string, namespace: string, key: string): Promise<string | undefined> {
    const res = await this.call(addr, RemotingCommand.request(RequestCode.GET_KV_CONFIG, { namespace, key }));
    if (res.code === ResponseCode.QUERY_NOT_FOUND) return undefined;
    expectSuccess(res, 'GET_KV_CONFIG');
    return res.field('value');
  }

  async deleteKVConfig(addr: string, namespace: string, key: string): Promise<void> {
    expectSuccess(await this.call(addr, RemotingCommand.request(RequestCode.DELETE_KV_CONFIG, { namespace, key })), 'DELETE_KV_CONFIG');
  }

  /** One REGISTER_BROKER to one name server, as `BrokerOuterAPI.registerBroker` sends it. */
  async registerBroker(addr: string, r: BrokerRegistration): Promise<RegisterBrokerResponse> {
    const compressed = r.compressed ?? false;
    const body = encodeRegisterBrokerBody(r.body, compressed);
    const req = RemotingCommand.request(RequestCode.REGISTER_BROKER, {
      brokerAddr: r.brokerAddr,
      brokerId: r.brokerId,
      brokerName: r.brokerName,
      bodyCrc32: bodyCrc32(body),
      clusterName: r.clusterName,
      compressed,
      haServerAddr: r.haServerAddr,
    }, body);
    const res = await this.call(addr, req);
    expectSuccess(res, 'REGISTER_BROKER');
    const out: RegisterBrokerResponse = {};
    const ha = res.field('haServerAddr');
    const master = res.field('masterAddr');
    if (ha !== undefined) out.haServerAddr = ha;
    if (master !== undefined) out.masterAddr = master;
    if (res.body && res.body.length > 0) {
      const table = (JSON.parse(res.body.toString('utf8')) as { table?: Record<string, string> }).table;
      if (table) out.kvTable = table;
    }
    return out;
  }

  async unregisterBroker(addr: string, r: Pick<BrokerRegistration, 'clusterName' | 'brokerName' | 'brokerId' | 'brokerAddr'>): Promise<void> {
    const req = RemotingCommand.request(RequestCode.UNREGISTER_BROKER, {
      brokerAddr: r.brokerAddr, brokerId: r.brokerId, brokerName: r.brokerName, clusterName: r.clusterName,
    });
    expectSuccess(await this.call(addr, req), 'UNREGISTER_BROKER');
  }

  async close(): Promise<void> {
    if (this.ownsRemoting) await this.remoting.close();
  }

  private call(addr: string, req: RemotingCommand): Promise<RemotingCommand> {
    return this.remoting.invokeSync(addr, req, this.timeoutMs);
  }
}

/** A TopicList body: `{"topicList":[…]}`. */
function topicList(res: RemotingCommand): string[] {
  const list = (JSON.parse((res.body ?? Buffer.from('{}')).toString('utf8')) as { topicList?: unknown }).topicList;
  return Array.isArray(list) ? list.map(String) : [];
}
