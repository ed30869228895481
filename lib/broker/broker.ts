/**
 * A RocketMQ 4.x broker on a keelmq store (`BrokerController`): a remoting server whose request
 * processors serve Java and ali-ons clients over an embedded MessageStore and the broker-side
 * services that embedded use has too (EmbeddedBroker: topics, offsets, schedule, retry/DLQ,
 * key query), registered with every configured name server. See lib/broker/README.md.
 *
 *   const broker = await Broker.start({ storeDir, namesrvAddr: ['127.0.0.1:9876'] });
 *   broker.address();   // "127.0.0.1:10911"
 *   await broker.close();
 */
import { systemClock } from '../common/clock';
import { EmbeddedBroker } from '../consumer/embedded-broker';
import { consoleLogger } from '../remoting/logger';
import type { RequestProcessor } from '../remoting/remoting-channel';
import { RemotingServer } from '../remoting/remoting-server';
import { RequestCode } from '../remoting/request-code';
import { MessageStore } from '../store/message-store';
import { AdminProcessor } from './admin-processor';
import { advertisedHostOf, type BrokerConfig, resolveBrokerConfig } from './broker-config';
import type { BrokerContext } from './broker-context';
import { BrokerReplication } from './broker-replication';
import { ClientManageProcessor } from './client-manage-processor';
import { ConsumerManager } from './consumer-manager';
import { ConsumerOffsetProcessor } from './consumer-offset-processor';
import { DEFAULT_TOPIC, NameServerRegistrar } from './name-server-registrar';
import { PullMessageProcessor } from './pull-message-processor';
import { QueryMessageProcessor } from './query-message-processor';
import { RebalanceLockManager } from './rebalance-lock-manager';
import { SendBackProcessor } from './send-back-processor';
import { SendMessageProcessor } from './send-message-processor';

/** TBW102's queue count in RocketMQ (defaultTopicQueueNums). */
const DEFAULT_TOPIC_QUEUES = 8;

export type BrokerStartConfig = Partial<BrokerConfig> & { storeDir: string };

export class Broker {
  readonly config: BrokerConfig;
  private server?: RemotingServer;
  private ctx?: BrokerContext;
  private pull?: PullMessageProcessor;
  private registrar?: NameServerRegistrar;
  private state: 'new' | 'starting' | 'running' | 'closing' | 'closed' = 'new';

  constructor(config: BrokerStartConfig) {
    this.config = resolveBrokerConfig(config);
  }

  /** Creates and starts a broker. */
  static async start(config: BrokerStartConfig): Promise<Broker> {
    const b = new Broker(config);
    await b.start();
    return b;
  }

  /**
   * Listens, opens the store (its storeHost is the advertised address, so offset msgIds point
   * here), opens the services, and registers with the name servers (a name server that is
   * down is retried every interval; start does not fail for it).
   */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`Broker.start: the broker is ${this.state}`);
    this.state = 'starting';
    const c = this.config;
    const logger = c.logger ?? consoleLogger;
    const clock = c.clock ?? systemClock;
    const server = new RemotingServer({ host: c.host, port: c.port, logger, clock });
    await server.start();
    this.server = server;
    let store: MessageStore | undefined;
    let services: EmbeddedBroker | undefined;
    let replication: BrokerReplication | undefined;
    try {
      const brokerAddr = `${advertisedHostOf(c)}:${server.port}`;
      store = await MessageStore.open(c.storeDir, { ...c.store, flushMode: c.flushMode, storeHost: brokerAddr, ...(c.clock ? { clock: c.clock } : {}) });
      services = await EmbeddedBroker.open(store, { ...c.services, autoCreateTopics: c.autoCreateTopics });
      if (c.autoCreateTopics && c.brokerRole !== 'SLAVE') await services.topicConfig.ensure(DEFAULT_TOPIC, DEFAULT_TOPIC_QUEUES);
      replication = new BrokerReplication(c, store, services, logger, brokerAddr);
      await replication.start();
      const ctx: BrokerContext = { config: c, store, services, consumers: new ConsumerManager(logger), logger, clock, brokerAddr, replication };
      this.ctx = ctx;
      this.registerProcessors(server, ctx);
      const registrar = new NameServerRegistrar({
        namesrvAddr: c.namesrvAddr, clusterName: c.clusterName, brokerName: c.brokerName, brokerId: replication.brokerId, brokerAddr,
        haServerAddr: () => replication!.haAddress(),
        onMasterAddr: (addr) => replication!.setMasterAddr(addr),
        intervalMs: c.registerIntervalMs, autoCreateTopics: c.autoCreateTopics, topics: () => services!.topics(), clock, logger,
      });
      this.registrar = registrar;
      services.topicConfig.onChange(() => registrar.topicsChanged());
      await registrar.start();
      this.state = 'running';
    } catch (e) {
      this.pull?.close();
      await server.close();
      await replication?.close();
      await services?.close();
      await store?.close();
      this.state = 'closed';
      throw e;
    }
  }

  /** "ip:port" clients reach the broker at (the advertised host and the port listened on). */
  address(): string {
    if (!this.ctx) throw new Error('the broker is not started');
    return this.ctx.brokerAddr;
  }

  /** The store and services, for an embedding process (keelmq dev) and tests. */
  get services(): EmbeddedBroker {
    if (!this.ctx) throw new Error('the broker is not started');
    return this.ctx.services;
  }

  get store(): MessageStore {
    if (!this.ctx) throw new Error('the broker is not started');
    return this.ctx.store;
  }

  /** The replication role and its HA service (master: slaves and their lag; slave: its link). */
  get replication(): BrokerReplication {
    if (!this.ctx) throw new Error('the broker is not started');
    return this.ctx.replication;
  }

  /**
   * Turns this slave into a master (brokerId 0, registered again as such); refused when it has
   * not caught up with its master unless `force`. Also served as PROMOTE_TO_MASTER (keelmq's
   * request code) for `keelmq broker promote`.
   */
  async promote(options: { role?: 'SYNC_MASTER' | 'ASYNC_MASTER'; force?: boolean } = {}): Promise<{ offset: number; caughtUp: boolean }> {
    const r = await this.replication.promote(options.role ?? 'ASYNC_MASTER', options.force === true);
    await this.registrar?.changeBrokerId(0);
    return r;
  }

  /** Unregisters from the name servers, closes every connection (held pulls are dropped), then the services and the store (clean shutdown). */
  async close(): Promise<void> {
    if (this.state !== 'running') return;
    this.state = 'closing';
    await this.registrar?.close();
    this.pull?.close();
    await this.server?.close();
    await this.ctx?.replication.close();
    await this.ctx?.services.close();
    await this.ctx?.store.close();
    this.state = 'closed';
  }

  private registerProcessors(s: RemotingServer, ctx: BrokerContext): void {
    const send = new SendMessageProcessor(ctx);
    const pull = new PullMessageProcessor(ctx);
    this.pull = pull;
    const client = new ClientManageProcessor(ctx);
    const offsets = new ConsumerOffsetProcessor(ctx);
    const sendBack = new SendBackProcessor(ctx);
    const locks = new RebalanceLockManager(ctx.clock);
    const query = new QueryMessageProcessor(ctx);
    const admin = new AdminProcessor(ctx, () => pull.heldCount, (role, force) => this.promote({ role, force }));
    const on = (code: number, p: RequestProcessor) => s.registerProcessor(code, p);
    on(RequestCode.SEND_MESSAGE, (r, ch) => send.process(r, ch));
    on(RequestCode.SEND_MESSAGE_V2, (r, ch) => send.process(r, ch));
    on(RequestCode.SEND_BATCH_MESSAGE, (r, ch) => send.process(r, ch));
    on(RequestCode.PULL_MESSAGE, (r, ch) => pull.process(r, ch));
    on(RequestCode.HEART_BEAT, (r, ch) => client.heartbeat(r, ch));
    on(RequestCode.UNREGISTER_CLIENT, (r) => client.unregister(r));
    on(RequestCode.GET_CONSUMER_LIST_BY_GROUP, (r) => client.consumerList(r));
    on(RequestCode.QUERY_CONSUMER_OFFSET, (r) => offsets.query(r));
    on(RequestCode.UPDATE_CONSUMER_OFFSET, (r) => offsets.update(r));
    on(RequestCode.GET_MAX_OFFSET, (r) => offsets.maxOffset(r));
    on(RequestCode.GET_MIN_OFFSET, (r) => offsets.minOffset(r));
    on(RequestCode.SEARCH_OFFSET_BY_TIMESTAMP, (r) => offsets.searchByTimestamp(r));
    on(RequestCode.CONSUMER_SEND_MSG_BACK, (r) => sendBack.process(r));
    on(RequestCode.LOCK_BATCH_MQ, (r) => locks.lock(r));
    on(RequestCode.UNLOCK_BATCH_MQ, (r) => locks.unlock(r));
    on(RequestCode.VIEW_MESSAGE_BY_ID, (r) => query.viewById(r));
    on(RequestCode.QUERY_MESSAGE, (r) => query.queryByKey(r));
    on(RequestCode.UPDATE_AND_CREATE_TOPIC, (r) => admin.updateAndCreateTopic(r));
    on(RequestCode.DELETE_TOPIC_IN_BROKER, (r) => admin.deleteTopic(r));
    on(RequestCode.GET_TOPIC_STATS_INFO, (r) => admin.topicStats(r));
    on(RequestCode.GET_CONSUME_STATS, (r) => admin.consumeStats(r));
    on(RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, (r) => admin.resetOffset(r));
    on(RequestCode.GET_BROKER_RUNTIME_INFO, () => admin.runtimeInfo());
    on(RequestCode.GET_ALL_TOPIC_CONFIG, () => admin.allTopicConfig());
    on(RequestCode.GET_ALL_CONSUMER_OFFSET, () => admin.allConsumerOffset());
    on(RequestCode.GET_ALL_DELAY_OFFSET, () => admin.allDelayOffset());
    on(RequestCode.QUERY_TOPIC_CONSUME_BY_WHO, (r) => admin.consumeByWho(r));
    on(RequestCode.GET_CONSUMER_CONNECTION_LIST, (r) => admin.consumerConnections(r));
    on(RequestCode.PROMOTE_TO_MASTER, (r) => admin.promote(r));
    on(RequestCode.TRUNCATE_SLAVE, (r) => admin.truncateSlave(r));
    s.onChannelClose((ch) => {
      pull.channelClosed(ch);
      for (const g of ctx.consumers.channelClosed(ch)) ctx.consumers.notifyIdsChanged(g);
    });
  }
}
