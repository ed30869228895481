/**
 * A slave's copy of its master's metadata (RocketMQ's SlaveSynchronize): every `intervalMs`
 * (10 s) and at once when it learns its master's address (from the name servers' registration
 * reply, as RocketMQ's registerBrokerAll), it asks the master for GET_ALL_TOPIC_CONFIG,
 * GET_ALL_CONSUMER_OFFSET and GET_ALL_DELAY_OFFSET and applies them to its own services, which
 * persist them: so a promoted slave starts consumers at the offsets committed to the master, and
 * does not deliver again the delayed messages its master delivered. As RocketMQ: the topic table
 * is replaced when its data version changed; each group's offsets are overwritten by the master's
 * (even where the slave's own consumers committed further while the master was away); the delay
 * progress is taken as it is. keelmq keeps no subscription-group table, so there is none to copy.
 */
import type { Clock, TimerHandle } from '../common/clock';
import type { EmbeddedBroker } from '../consumer/embedded-broker';
import type { Logger } from '../remoting/logger';
import { RemotingClient } from '../remoting/remoting-client';
import { RemotingCommand } from '../remoting/remoting-command';
import { RequestCode } from '../remoting/request-code';
import { ResponseCode } from '../remoting/response-code';
import type { DataVersion } from '../remoting/register-broker-body';
import { decodeConsumerOffsets, decodeDelayOffsets, decodeTopicConfigs } from './metadata-bodies';

const CALL_TIMEOUT_MS = 3000;

export interface SlaveSyncStats {
  masterAddr: string | null;
  /** Completed rounds (all three tables applied) and failed ones. */
  syncs: number;
  failures: number;
  lastSyncAt: number;
}

export class SlaveSynchronize {
  private readonly remoting: RemotingClient;
  private masterAddr: string | null = null;
  private timer: TimerHandle | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private closed = false;
  private appliedTopicVersion: DataVersion | null = null;
  private readonly counts = { syncs: 0, failures: 0, lastSyncAt: 0 };

  constructor(
    private readonly services: EmbeddedBroker,
    private readonly selfAddr: string,
    private readonly intervalMs: number,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {
    this.remoting = new RemotingClient({ logger, clock });
    this.schedule();
  }

  /** The master's broker address ("ip:port"); a new one is synced from at once. */
  setMasterAddr(addr: string): void {
    if (addr === this.masterAddr || addr === this.selfAddr || this.closed) return;
    this.logger.info(`broker: slave metadata sync from master ${addr} (was ${this.masterAddr ?? 'none'})`);
    this.masterAddr = addr;
    void this.syncAll();
  }

  /** One round now (coalesced with one under way); resolves when it ended, failures logged. */
  syncAll(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.round();
      } while (this.again && !this.closed);
    })().finally(() => { this.running = null; });
    return this.running;
  }

  stats(): SlaveSyncStats {
    return { masterAddr: this.masterAddr, ...this.counts };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.timer?.cancel();
    await this.running;
    await this.remoting.close();
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = this.clock.setTimeout(() => {
      void this.syncAll().finally(() => this.schedule());
    }, this.intervalMs);
  }

  private async round(): Promise<void> {
    const addr = this.masterAddr;
    if (addr === null || this.closed) return;
    try {
      const topics = decodeTopicConfigs(await this.fetch(addr, RequestCode.GET_ALL_TOPIC_CONFIG));
      const v = this.appliedTopicVersion;
      if (!v || v.counter !== topics.dataVersion.counter || v.timestamp !== topics.dataVersion.timestamp) {
        await this.services.topicConfig.replaceAll(topics.topics);
        this.appliedTopicVersion = topics.dataVersion;
      }
      this.services.offsets.putAll(decodeConsumerOffsets(await this.fetch(addr, RequestCode.GET_ALL_CONSUMER_OFFSET)));
      await this.services.offsets.persist();
      await this.services.schedule.assignProgress(decodeDelayOffsets(await this.fetch(addr, RequestCode.GET_ALL_DELAY_OFFSET)));
      this.counts.syncs++;
      this.counts.lastSyncAt = this.clock.now();
    } catch (e) {
      this.counts.failures++;
      this.logger.warn(`broker: slave metadata sync from ${addr} failed: ${(e as Error).message}`);
    }
  }

  private async fetch(addr: string, code: number): Promise<Buffer | undefined> {
    const res = await this.remoting.invokeSync(addr, RemotingCommand.request(code, {}), CALL_TIMEOUT_MS);
    if (res.code !== ResponseCode.SUCCESS) throw new Error(`request ${code} answered ${res.code} ${res.remark ?? ''}`);
    return res.body;
  }
}
