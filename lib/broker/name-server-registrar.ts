/**
 * Keeps the broker registered with every configured name server (RocketMQ's
 * BrokerController.registerBrokerAll): REGISTER_BROKER every period and at once when the topics
 * change, UNREGISTER_BROKER at close. A name server that does not answer is logged and tried
 * again at the next round; the others are not held up by it.
 */
import type { Clock, TimerHandle } from '../common/clock';
import { NameServerClient } from '../client/namesrv-client';
import type { TopicConfig as StoredTopicConfig } from '../consumer/topic-config';
import type { Logger } from '../remoting/logger';
import type { TopicConfig } from '../remoting/register-broker-body';
import { PERM_INHERIT, PERM_READ, PERM_WRITE } from '../remoting/topic-route-data';

/** RocketMQ's default topic: producers of a topic the name server has no route for send "through" it. */
export const DEFAULT_TOPIC = 'TBW102';

export interface RegistrarOptions {
  namesrvAddr: string[];
  clusterName: string;
  brokerName: string;
  brokerId: number;
  brokerAddr: string;
  /** The HA address slaves connect to; none: what Java registers for a broker without one (port + 1). */
  haServerAddr?: () => string | undefined;
  intervalMs: number;
  /** A slave's master ("ip:port"), as a name server's reply names it (RocketMQ's registerBrokerAll feeds SlaveSynchronize with it). */
  onMasterAddr?: (addr: string) => void;
  /** TBW102 carries the inherit bit while topics are created on first send. */
  autoCreateTopics: boolean;
  topics(): StoredTopicConfig[];
  clock: Clock;
  logger: Logger;
}

const CALL_TIMEOUT_MS = 3000;

export class NameServerRegistrar {
  private readonly client = new NameServerClient({ timeoutMs: CALL_TIMEOUT_MS });
  private counter = 0;
  private versionTimestamp: number;
  private timer?: TimerHandle;
  private running?: Promise<void>;
  private pending = false;
  private closed = false;

  constructor(private readonly o: RegistrarOptions) {
    this.versionTimestamp = o.clock.now();
  }

  /** Registers now and then every interval; resolves after the first round (failures logged). */
  async start(): Promise<void> {
    await this.registerNow();
    this.schedule();
  }

  /** A topic changed: a new data version, registered at once (coalesced while a round runs). */
  topicsChanged(): void {
    this.counter++;
    this.versionTimestamp = this.o.clock.now();
    if (this.closed) return;
    void this.registerNow();
  }

  registerNow(): Promise<void> {
    if (this.running) {
      this.pending = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.pending = false;
        await this.registerAll();
      } while (this.pending && !this.closed);
    })().finally(() => { this.running = undefined; });
    return this.running;
  }

  /** A promoted slave: unregistered under its old id, registered at once under the new one. */
  async changeBrokerId(id: number): Promise<void> {
    const o = this.o;
    if (o.brokerId === id) return;
    await this.running;
    await Promise.all(o.namesrvAddr.map((addr) => this.client.unregisterBroker(addr, o)
      .catch((e: Error) => o.logger.info(`broker: unregistering from ${addr} failed: ${e.message}`))));
    o.brokerId = id;
    this.topicsChanged();
    await this.running;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.timer?.cancel();
    await this.running;
    const o = this.o;
    await Promise.all(o.namesrvAddr.map((addr) => this.client.unregisterBroker(addr, o)
      .catch((e: Error) => o.logger.info(`broker: unregistering from ${addr} failed: ${e.message}`))));
    await this.client.close();
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = this.o.clock.setTimeout(() => {
      void this.registerNow().finally(() => this.schedule());
    }, this.o.intervalMs);
  }

  private async registerAll(): Promise<void> {
    const o = this.o;
    const topicConfigTable = o.topics().map((t) => wireTopicConfig(t, o.autoCreateTopics));
    const body = { dataVersion: { counter: this.counter, timestamp: this.versionTimestamp }, topicConfigTable, filterServerList: [] };
    await Promise.all(o.namesrvAddr.map((addr) => this.client.registerBroker(addr, {
      clusterName: o.clusterName, brokerName: o.brokerName, brokerId: o.brokerId, brokerAddr: o.brokerAddr,
      haServerAddr: o.haServerAddr?.() ?? haAddr(o.brokerAddr), body,
    }).then((r) => { if (r.masterAddr !== undefined) o.onMasterAddr?.(r.masterAddr); }).catch((e: Error) => o.logger.warn(`broker: registering with name server ${addr} failed: ${e.message}`))));
  }
}

/** A stored topic as RocketMQ's TopicConfig (registration, GET_ALL_TOPIC_CONFIG). */
export function wireTopicConfig(t: StoredTopicConfig, autoCreateTopics: boolean): TopicConfig {
  return {
    topicName: t.name,
    readQueueNums: t.queues,
    writeQueueNums: t.queues,
    perm: PERM_READ | PERM_WRITE | (t.name === DEFAULT_TOPIC && autoCreateTopics ? PERM_INHERIT : 0),
    topicFilterType: 'SINGLE_TAG',
    topicSysFlag: 0,
    order: false,
  };
}

function haAddr(brokerAddr: string): string {
  const at = brokerAddr.lastIndexOf(':');
  return `${brokerAddr.slice(0, at)}:${Number(brokerAddr.slice(at + 1)) + 1}`;
}
