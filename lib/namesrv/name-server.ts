/**
 * A RocketMQ 4.x name server (`NamesrvController` + `DefaultRequestProcessor`): brokers register
 * their topics here, clients ask it for routes. Nothing is shared between instances, so several run
 * side by side and every broker registers with each.
 */
import { Clock, systemClock, TimerHandle } from '../common/clock';
import { consoleLogger, Logger } from '../remoting/logger';
import {
  bodyCrc32, decodeRegisterBrokerBody, decodeTopicConfigWrapper, RegisterBrokerBody,
} from '../remoting/register-broker-body';
import { RemotingChannel } from '../remoting/remoting-channel';
import { RemotingCommand } from '../remoting/remoting-command';
import { RemotingServer } from '../remoting/remoting-server';
import { RequestCode } from '../remoting/request-code';
import { ResponseCode } from '../remoting/response-code';
import { encodeClusterInfo, encodeTopicRouteData } from '../remoting/topic-route-data';
import { KVConfigManager, NAMESPACE_ORDER_TOPIC_CONFIG } from './kv-config-manager';
import { RouteInfoManager } from './route-info-manager';

export interface NameServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 9876 (RocketMQ's); 0 lets the OS choose. */
  port?: number;
  logger?: Logger;
  /** Drives broker expiry. */
  clock?: Clock;
  /** A broker that has not registered for this long is dropped. Default 120 s. */
  brokerExpireMs?: number;
  /** How often expiry is checked. Default 10 s. */
  scanIntervalMs?: number;
  /** Idle connections close after this long. Default 120 s. */
  idleTimeoutMs?: number;
  /** Put a topic's ORDER_TOPIC_CONFIG entry into its route as orderTopicConf. Default false. */
  orderMessageEnable?: boolean;
  /** Queues in a route made up for a not yet registered topic (see RouteInfoManager.routeFor). Default 4. */
  autoCreateQueueNums?: number;
}

export const DEFAULT_NAMESRV_PORT = 9876;
export const DEFAULT_BROKER_EXPIRE_MS = 120_000;

/** `FAQUrl.suggestTodo(APPLY_TOPIC_URL)`, the tail of Java's "no route" remark. */
const FAQ = '\nSee http://rocketmq.apache.org/docs/faq/ for further details.';

export class NameServer {
  readonly routes: RouteInfoManager;
  readonly kvConfig = new KVConfigManager();
  private readonly server: RemotingServer;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly brokerExpireMs: number;
  private readonly scanIntervalMs: number;
  private readonly orderMessageEnable: boolean;
  private scanTimer?: TimerHandle;

  constructor(options: NameServerOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? consoleLogger;
    this.brokerExpireMs = options.brokerExpireMs ?? DEFAULT_BROKER_EXPIRE_MS;
    this.scanIntervalMs = options.scanIntervalMs ?? 10_000;
    this.orderMessageEnable = options.orderMessageEnable ?? false;
    this.routes = new RouteInfoManager({ clock: this.clock, logger: this.logger, autoCreateQueueNums: options.autoCreateQueueNums ?? 4 });
    this.server = new RemotingServer({
      host: options.host ?? '127.0.0.1',
      port: options.port ?? DEFAULT_NAMESRV_PORT,
      logger: this.logger,
      ...(options.idleTimeoutMs !== undefined ? { idleTimeoutMs: options.idleTimeoutMs } : {}),
    });
    this.server.onChannelClose((ch) => this.routes.onChannelDestroy(ch));
    this.registerProcessors();
  }

  async start(): Promise<void> {
    await this.server.start();
    this.scheduleScan();
  }

  async close(): Promise<void> {
    this.scanTimer?.cancel();
    this.scanTimer = undefined;
    await this.server.close();
  }

  /** "ip:port" clients and brokers use. */
  address(): string {
    return this.server.address();
  }

  private scheduleScan(): void {
    this.scanTimer = this.clock.setTimeout(() => {
      this.routes.scanNotActiveBroker(this.brokerExpireMs);
      this.scheduleScan();
    }, this.scanIntervalMs);
  }

  private registerProcessors(): void {
    const s = this.server;
    s.registerProcessor(RequestCode.REGISTER_BROKER, (req, ch) => this.registerBroker(req, ch));
    s.registerProcessor(RequestCode.UNREGISTER_BROKER, (req) => {
      this.routes.unregisterBroker(req.requireString('clusterName'), req.requireString('brokerAddr'), req.requireString('brokerName'), req.long('brokerId'));
      return ok();
    });
    s.registerProcessor(RequestCode.GET_ROUTEINFO_BY_TOPIC, (req) => this.routeInfo(req));
    s.registerProcessor(RequestCode.GET_BROKER_CLUSTER_INFO, () => ok(undefined, encodeClusterInfo(this.routes.clusterInfo())));
    s.registerProcessor(RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER, () =>
      ok(undefined, Buffer.from(JSON.stringify({ topicList: this.routes.topicList() }), 'utf8')));
    s.registerProcessor(RequestCode.GET_TOPICS_BY_CLUSTER, (req) =>
      ok(undefined, Buffer.from(JSON.stringify({ topicList: this.routes.topicsOfCluster(req.requireString('cluster')) }), 'utf8')));
    s.registerProcessor(RequestCode.DELETE_TOPIC_IN_NAMESRV, (req) => {
      this.routes.deleteTopic(req.requireString('topic'), req.field('clusterName'));
      return ok();
    });
    s.registerProcessor(RequestCode.PUT_KV_CONFIG, (req) => {
      this.kvConfig.put(req.requireString('namespace'), req.requireString('key'), req.requireString('value'));
      return ok();
    });
    s.registerProcessor(RequestCode.GET_KV_CONFIG, (req) => {
      const namespace = req.requireString('namespace');
      const key = req.requireString('key');
      const value = this.kvConfig.get(namespace, key);
      // Java answers with its (empty) response header here too: `"extFields":{}`.
      if (value === undefined) return RemotingCommand.response(ResponseCode.QUERY_NOT_FOUND, `No config item, Namespace: ${namespace} Key: ${key}`, {});
      return ok({ value });
    });
    s.registerProcessor(RequestCode.DELETE_KV_CONFIG, (req) => {
      this.kvConfig.delete(req.requireString('namespace'), req.requireString('key'));
      return ok();
    });
  }

  private registerBroker(req: RemotingCommand, channel: RemotingChannel): RemotingCommand {
    const brokerName = req.requireString('brokerName');
    const brokerAddr = req.requireString('brokerAddr');
    const clusterName = req.requireString('clusterName');
    const haServerAddr = req.requireString('haServerAddr');
    const brokerId = req.long('brokerId');
    const compressed = req.bool('compressed');
    const crc = req.int('bodyCrc32', 0);
    // A zero CRC skips the check (brokers that do not compute it send 0).
    if (crc !== 0 && crc !== bodyCrc32(req.body)) return RemotingCommand.response(ResponseCode.SYSTEM_ERROR, 'crc32 not match', {});
    let body: RegisterBrokerBody;
    if (!req.body || req.body.length === 0) body = { dataVersion: { counter: 0, timestamp: 0 }, topicConfigTable: [], filterServerList: [] };
    else if (req.version >= 37) body = decodeRegisterBrokerBody(req.body, compressed);
    else body = decodeTopicConfigWrapper(req.body);
    const result = this.routes.registerBroker({ clusterName, brokerAddr, brokerName, brokerId, haServerAddr, body, channel });
    return ok({ haServerAddr: result.haServerAddr, masterAddr: result.masterAddr }, this.kvConfig.listJson(NAMESPACE_ORDER_TOPIC_CONFIG));
  }

  private routeInfo(req: RemotingCommand): RemotingCommand {
    const topic = req.requireString('topic');
    const route = this.routes.routeFor(topic);
    if (!route) return RemotingCommand.response(ResponseCode.TOPIC_NOT_EXIST, `No topic route info in name server for the topic: ${topic}${FAQ}`);
    if (this.orderMessageEnable) {
      const conf = this.kvConfig.get(NAMESPACE_ORDER_TOPIC_CONFIG, topic);
      if (conf !== undefined) route.orderTopicConf = conf;
    }
    return ok(undefined, encodeTopicRouteData(route));
  }
}

function ok(fields?: Record<string, string | undefined>, body?: Buffer): RemotingCommand {
  return RemotingCommand.response(ResponseCode.SUCCESS, undefined, fields, body);
}
