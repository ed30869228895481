import * as net from 'net';
import type { Clock, TimerHandle } from '../common/clock';
import { KeelError } from '../common/errors';
import { checkOptions, integer, oneOf, string, timerMs, implementing, type OptionRules } from '../common/options-check';
import type { MessageStore } from '../store/message-store';
import type { ReplicationHook, ReplicationStatus } from '../store/replication';
import { consoleLogger, type Logger } from '../remoting/logger';
import { SlaveLink, type SlaveLinkStats } from './ha-connection';
import { RecentWrites } from './recent-writes';

export type MasterRole = 'SYNC_MASTER' | 'ASYNC_MASTER';

/** Committed bytes kept in memory for slaves that are close behind. */
const TAIL_BYTES = 8 * 1024 * 1024;

export interface HAMasterOptions {
  /** SYNC_MASTER: a put is acknowledged once a slave confirmed it; ASYNC_MASTER: at once. */
  role: MasterRole;
  host: string;
  /** RocketMQ's haListenPort (10912); 0: the OS picks, address() tells. */
  port: number;
  /** SYNC_MASTER: a put no slave confirmed within this resolves FLUSH_SLAVE_TIMEOUT (syncFlushTimeout, 5 s). */
  syncTimeoutMs: number;
  /** SYNC_MASTER: with no slave within this many bytes, puts resolve SLAVE_NOT_AVAILABLE at once (haSlaveFallbehindMax, 256 MiB). */
  maxLagBytes: number;
  /** An empty frame is sent after this long without one (haSendHeartbeatInterval, 5 s). */
  heartbeatIntervalMs: number;
  /** A link that heard nothing for this long is closed (haHousekeepingInterval, 20 s). */
  idleTimeoutMs: number;
  /** Where an empty slave starts: RocketMQ's start of the last segment, or the log's first byte (a full copy). */
  emptySlaveFrom: 'last-segment' | 'first-segment';
  logger: Logger;
}

export function defaultMasterOptions(): HAMasterOptions {
  return {
    role: 'ASYNC_MASTER', host: '127.0.0.1', port: 10912, syncTimeoutMs: 5000, maxLagBytes: 256 * 1024 * 1024,
    heartbeatIntervalMs: 5000, idleTimeoutMs: 20_000, emptySlaveFrom: 'last-segment', logger: consoleLogger,
  };
}

const RULES: OptionRules<HAMasterOptions> = {
  role: oneOf('SYNC_MASTER', 'ASYNC_MASTER'), host: string, port: integer(0, 65535), syncTimeoutMs: timerMs(),
  maxLagBytes: integer(0), heartbeatIntervalMs: timerMs(), idleTimeoutMs: timerMs(),
  emptySlaveFrom: oneOf('last-segment', 'first-segment'), logger: implementing('info', 'warn'),
};

export interface HAMasterStats {
  role: MasterRole;
  address: string;
  /** The master's committed CommitLog end. */
  committedOffset: number;
  /** The highest offset a slave acknowledged (RocketMQ's push2SlaveMaxOffset; -1: none). */
  slaveAckOffset: number;
  slaves: SlaveLinkStats[];
  /** SYNC puts waiting for a slave now. */
  waitingPuts: number;
  slaveTimeouts: number;
  slaveNotAvailable: number;
}

/** The puts of one event-loop turn: they share one promise, released when a slave passed the last of them. */
interface Waiter { end: number; puts: number; deadline: number; promise: Promise<ReplicationStatus>; resolve: (s: ReplicationStatus) => void }

const ACKNOWLEDGED: Promise<ReplicationStatus> = Promise.resolve('PUT_OK');
const NOT_AVAILABLE: Promise<ReplicationStatus> = Promise.resolve('SLAVE_NOT_AVAILABLE');

/**
 * The master side of RocketMQ-style HA (HAService with its AcceptSocketService
 * and GroupTransferService): listens for slaves, streams each the committed
 * log from where it is, and, as the store's replication hook, holds SYNC puts
 * until a slave acknowledged past them.
 */
export class HAMaster implements ReplicationHook {
  /** The store's committed CommitLog end, as the hook was told. */
  committedEnd = 0;
  private readonly links = new Set<SlaveLink>();
  private waiters: Waiter[] = [];
  /** The waiter puts of this event-loop turn join (they go into the same CommitLog write, or one after another). */
  private open: Waiter | null = null;
  private timer: TimerHandle | null = null;
  private maxAck = -1;
  /** (committed end, when) at most once per ms, for lag in ms. */
  private commits: { to: number; at: number }[] = [];
  private closed = false;
  /** Copies of the newest committed writes, for slaves close behind. */
  private readonly tail = new RecentWrites(TAIL_BYTES);
  private timeouts = 0;
  private notAvailable = 0;

  private constructor(readonly store: MessageStore, readonly options: HAMasterOptions, private readonly server: net.Server) {}

  get clock(): Clock { return this.store.clock; }
  get logger(): Logger { return this.options.logger; }
  get role(): MasterRole { return this.options.role; }

  /** Switches between SYNC and ASYNC replication on the running master; puts already waiting keep waiting. */
  setRole(role: MasterRole): void {
    if (role !== 'SYNC_MASTER' && role !== 'ASYNC_MASTER') throw new TypeError(`role must be SYNC_MASTER or ASYNC_MASTER, got ${String(role)}`);
    this.options.role = role;
  }

  /** Listens for slaves and becomes the store's replication hook. */
  static async start(store: MessageStore, partial: Partial<HAMasterOptions> = {}): Promise<HAMaster> {
    const options = { ...defaultMasterOptions(), ...checkOptions('HAMasterOptions', partial, RULES) } as HAMasterOptions;
    const server = net.createServer();
    const master = new HAMaster(store, options, server);
    server.on('connection', (s) => master.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) => reject(new KeelError('REMOTING_LISTEN_FAILED', `HA: cannot listen on ${options.host}:${options.port}: ${(e as Error).message}`, { cause: e })));
      server.listen(options.port, options.host, () => resolve());
    });
    server.on('error', (e) => options.logger.warn(`HA: server error: ${e.message}`));
    store.setReplicationHook(master);
    return master;
  }

  address(): string {
    const a = this.server.address() as net.AddressInfo;
    return `${this.options.host}:${a.port}`;
  }

  private accept(socket: net.Socket): void {
    if (this.closed) { socket.destroy(); return; }
    const link = new SlaveLink(socket, this);
    this.links.add(link);
    this.options.logger.info(`HA: slave connected from ${link.address}`);
  }

  attached(from: number): void {
    this.committedEnd = from;
  }

  committed(from: number, to: number, bytes?: Buffer): void {
    this.committedEnd = to;
    // A copy kept for slaves close behind: a read of the CommitLog per frame went through the thread
    // pool that the group commit's fdatasync also waits on, and cost SYNC_MASTER puts half their throughput.
    // Without a slave nobody reads the copy: a master alone (every broker by default) would copy
    // each write for nothing. A slave that connects later reads what came before from the CommitLog.
    if (bytes && bytes.length > 0 && this.links.size > 0) this.tail.add(from, bytes, this.queued);
    const now = this.clock.now();
    const last = this.commits[this.commits.length - 1];
    if (last && last.at === now) last.to = to;
    else this.commits.push({ to, at: now });
    if (this.commits.length > 100_000) this.commits.splice(0, 50_000);
    for (const l of this.links) l.wake();
  }

  /** Whether a link may still hold views of log bytes in [lo, hi) waiting to be sent. */
  private readonly queued = (lo: number, hi: number): boolean => {
    for (const l of this.links) if (l.queues(lo, hi)) return true;
    return false;
  };

  /** Up to `max` committed bytes at `offset` from memory (fewer at the copy's end), or null. */
  recent(offset: number, max: number): Buffer | null {
    return this.tail.read(offset, max);
  }

  /**
   * The puts of one event-loop turn share one waiter (one promise, one entry to release) for
   * the end of the last of them: they are written together, so the slave acknowledges them
   * together; a put per promise cost every SYNC put an allocation and a resolution of its own.
   * Puts come in log order, so a later put's end is never below the open waiter's.
   */
  waitFor(end: number): Promise<ReplicationStatus> | null {
    if (this.options.role !== 'SYNC_MASTER') return null;
    if (this.maxAck >= end) return ACKNOWLEDGED;
    // RocketMQ's isSlaveOK: a slave connected and not too far behind, else no waiting at all.
    if (!this.slaveOk(end)) {
      this.notAvailable++;
      return NOT_AVAILABLE;
    }
    const o = this.open;
    if (o && !this.closed) {
      o.end = end;
      o.puts++;
      return o.promise;
    }
    let resolve!: (s: ReplicationStatus) => void;
    const promise = new Promise<ReplicationStatus>((r) => { resolve = r; });
    const w: Waiter = { end, puts: 1, deadline: this.clock.now() + this.options.syncTimeoutMs, promise, resolve };
    this.waiters.push(w);
    this.open = w;
    setImmediate(() => { if (this.open === w) this.open = null; });
    if (!this.timer) this.armTimeout();
    return promise;
  }

  private slaveOk(end: number): boolean {
    for (const l of this.links) if (!l.diverged && l.next >= 0 && end - Math.max(l.acked, l.start) < this.options.maxLagBytes) return true;
    return false;
  }

  /** A slave acknowledged: release the puts it covers (GroupTransferService). */
  onAck(): void {
    let max = -1;
    for (const l of this.links) if (!l.diverged && l.acked > max) max = l.acked;
    if (max > this.maxAck) this.maxAck = max;
    const acked = this.maxAck;
    let i = 0;
    while (i < this.waiters.length && this.waiters[i].end <= acked) {
      const w = this.waiters[i++];
      if (w === this.open) this.open = null;
      w.resolve('PUT_OK');
    }
    if (i > 0) this.waiters = this.waiters.slice(i);
    if (this.commits.length && this.commits[0].to <= this.minAck()) this.prune();
  }

  private minAck(): number {
    let min = Infinity;
    for (const l of this.links) if (!l.diverged && l.acked >= 0 && l.acked < min) min = l.acked;
    return min;
  }

  private prune(): void {
    const min = this.minAck();
    let i = 0;
    while (i < this.commits.length - 1 && this.commits[i].to <= min) i++;
    if (i > 0) this.commits.splice(0, i);
  }

  private armTimeout(): void {
    this.timer = null;
    const now = this.clock.now();
    let i = 0;
    while (i < this.waiters.length && this.waiters[i].deadline <= now) {
      const w = this.waiters[i++];
      if (w === this.open) this.open = null;
      this.timeouts += w.puts;
      w.resolve('FLUSH_SLAVE_TIMEOUT');
    }
    if (i > 0) this.waiters = this.waiters.slice(i);
    if (this.waiters.length) this.timer = this.clock.setTimeout(() => this.armTimeout(), this.waiters[0].deadline - now);
  }

  onClose(link: SlaveLink): void {
    if (!this.links.delete(link)) return;
    if (this.links.size === 0) this.tail.clear();
    this.options.logger.info(`HA: slave ${link.address} disconnected`);
    // The highest acknowledgement stays: what it covers was confirmed. New waiters need a live slave again.
  }

  private lagMsOf(acked: number): number {
    if (acked >= this.committedEnd) return 0;
    // The first commit point past the acknowledgement: when the oldest unacknowledged byte was committed.
    let lo = 0;
    let hi = this.commits.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.commits[mid].to <= acked) lo = mid + 1; else hi = mid;
    }
    const c = this.commits[lo];
    return c ? Math.max(0, this.clock.now() - c.at) : 0;
  }

  stats(): HAMasterStats {
    const now = this.clock.now();
    return {
      role: this.options.role,
      address: this.address(),
      committedOffset: this.committedEnd,
      slaveAckOffset: this.maxAck,
      slaves: [...this.links].filter((l) => l.start >= 0).map((l) => l.stats(now, (a) => this.lagMsOf(a))),
      waitingPuts: this.waiters.reduce((n, w) => n + w.puts, 0),
      slaveTimeouts: this.timeouts,
      slaveNotAvailable: this.notAvailable,
    };
  }

  detached(): void {
    this.release();
  }

  /** Puts still waiting resolve FLUSH_SLAVE_TIMEOUT: stored, not known replicated. */
  private release(): void {
    this.timer?.cancel();
    this.timer = null;
    this.open = null;
    for (const w of this.waiters.splice(0)) w.resolve('FLUSH_SLAVE_TIMEOUT');
  }

  /** Stops listening, drops every slave and stops being the store's hook. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      this.store.setReplicationHook(null);
    } catch {
      // The store closed first (it detached us then).
    }
    this.release();
    for (const l of [...this.links]) l.close();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
