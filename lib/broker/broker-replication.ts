/**
 * A broker's replication role (RocketMQ's brokerRole with HAService): a master runs an HAMaster
 * on haListenPort, SYNC or ASYNC; a slave follows haMasterAddress with an HASlave, its store
 * taking replicated bytes only, and adopts the topics it finds in them. Promotion turns a
 * caught-up slave into a master (keelmq's own: RocketMQ 4.x has no switchover without DLedger).
 */
import { KeelError } from '../common/errors';
import type { EmbeddedBroker } from '../consumer/embedded-broker';
import { HAMaster, type HAMasterStats } from '../ha/ha-master';
import { HASlave, type HASlaveStats } from '../ha/ha-slave';
import type { Logger } from '../remoting/logger';
import type { MessageStore } from '../store/message-store';
import type { BrokerConfig, BrokerRole } from './broker-config';
import { SlaveSynchronize, type SlaveSyncStats } from './slave-synchronize';

/** RocketMQ's slave syncs its master's metadata every 10 s (BrokerController's fixed rate). */
const SLAVE_SYNC_INTERVAL_MS = 10_000;

export interface ReplicationInfo {
  role: BrokerRole;
  brokerId: number;
  master?: HAMasterStats;
  slave?: HASlaveStats;
  /** A slave's copy of its master's topics, offsets and delay progress. */
  metadataSync?: SlaveSyncStats;
}

export class BrokerReplication {
  private master: HAMaster | null = null;
  private slave: HASlave | null = null;
  private metadataSync: SlaveSynchronize | null = null;
  private unsubscribe: (() => void) | null = null;
  role: BrokerRole;
  brokerId: number;

  constructor(
    private readonly config: BrokerConfig,
    private readonly store: MessageStore,
    private readonly services: EmbeddedBroker,
    private readonly logger: Logger,
    private readonly brokerAddr: string,
  ) {
    this.role = config.brokerRole;
    this.brokerId = config.brokerId;
  }

  async start(): Promise<void> {
    if (this.role === 'SLAVE') return this.startSlave();
    await this.startMaster(this.role);
  }

  private async startMaster(role: 'SYNC_MASTER' | 'ASYNC_MASTER'): Promise<void> {
    const h = this.config.ha ?? {};
    this.master = await HAMaster.start(this.store, {
      role, host: this.config.host, port: this.config.haListenPort, logger: this.logger,
      ...pick(h, ['syncTimeoutMs', 'maxLagBytes', 'heartbeatIntervalMs', 'idleTimeoutMs', 'emptySlaveFrom']),
    });
  }

  private startSlave(): void {
    const h = this.config.ha ?? {};
    this.store.setReplicaOnly(true);
    // Topics come with the replicated records: a pull of them must find the topic (RocketMQ syncs topics.json instead).
    this.unsubscribe = this.store.onArrival((topic, queueId) => {
      const t = this.services.topic(topic);
      if (!t || t.queues <= queueId) void this.services.topicConfig.ensure(topic, Math.max(queueId + 1, t?.queues ?? 0)).catch((e: Error) => this.logger.warn(`broker: adopting topic ${topic} failed: ${e.message}`));
    });
    this.metadataSync = new SlaveSynchronize(this.services, this.brokerAddr, h.slaveSyncIntervalMs ?? SLAVE_SYNC_INTERVAL_MS, this.store.clock, this.logger);
    this.slave = HASlave.start(this.store, {
      masterAddress: this.config.haMasterAddress!, logger: this.logger,
      ...pick(h, ['idleTimeoutMs', 'reportIntervalMs', 'reconnectMinMs', 'reconnectMaxMs']),
    });
  }

  /** A slave learns its master's broker address (from the name servers) and syncs its metadata from there. */
  setMasterAddr(addr: string): void {
    this.metadataSync?.setMasterAddr(addr);
  }

  /** The HA address a master's slaves connect to (registered with the name servers as haServerAddr). */
  haAddress(): string | undefined {
    return this.master?.address();
  }

  /** Why this broker must not serve reads now (a diverged slave), or null. */
  readRefusal(): string | null {
    const d = this.slave?.diverged;
    return d ? `this slave's log diverged from its master's (${d.reason}); truncate it to ${d.truncateTo} first` : null;
  }

  /**
   * A slave becomes a master (brokerId 0) with `role`: refused when it has not caught up with
   * its master (the master's last frame said there was more, or it never said it was done)
   * unless `force`; a diverged slave is refused in any case.
   */
  async promote(role: 'SYNC_MASTER' | 'ASYNC_MASTER', force: boolean): Promise<{ offset: number; caughtUp: boolean }> {
    const s = this.slave;
    if (!s) throw new KeelError('NOT_MASTER', `this broker is already a master (${this.role})`);
    const st = s.stats();
    if (st.diverged) throw new KeelError('REPLICA_DIVERGED', this.readRefusal()!);
    if (!st.caughtUp && !force) {
      throw new KeelError('NOT_MASTER', `this slave has not caught up with its master (at ${st.offset}, the master sent up to ${st.masterOffset}${st.connected ? '' : ', link down'}); promote with force to accept losing what it lacks`);
    }
    await this.metadataSync?.close();
    this.metadataSync = null;
    await s.close();
    this.slave = null;
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.store.setReplicaOnly(false);
    await this.startMaster(role);
    this.role = role;
    this.brokerId = 0;
    // Deliveries refused while a slave wait for a retry timer: the levels due go now.
    this.services.schedule.wakeAll();
    this.logger.warn(`broker: promoted to ${role} at CommitLog offset ${st.offset}${st.caughtUp ? '' : ' (forced, not caught up)'}`);
    return { offset: st.offset, caughtUp: st.caughtUp };
  }

  /** Cuts a diverged slave's log where its divergence says (or at `offset`) and follows the master again. */
  async truncate(offset?: number): Promise<number> {
    if (!this.slave) throw new KeelError('NOT_MASTER', 'only a slave is truncated');
    const to = offset ?? this.slave.diverged?.truncateTo;
    await this.slave.truncateDiverged(to);
    return this.store.commitLogRange.max;
  }

  info(): ReplicationInfo {
    return { role: this.role, brokerId: this.brokerId, master: this.master?.stats(), slave: this.slave?.stats(), metadataSync: this.metadataSync?.stats() };
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    await this.metadataSync?.close();
    await this.slave?.close();
    await this.master?.close();
  }
}

function pick<T extends object, K extends keyof T>(o: T, keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}
