import * as net from 'net';
import type { Clock, TimerHandle } from '../common/clock';
import { KeelError, isKeelError } from '../common/errors';
import { checkOptions, implementing, string, timerMs, type OptionRules } from '../common/options-check';
import type { MessageStore } from '../store/message-store';
import { consoleLogger, type Logger } from '../remoting/logger';
import { ByteQueue, encodeOffset, FRAME_HEADER_SIZE, MAX_FRAME_BYTES, readOffset } from './ha-protocol';

export interface HASlaveOptions {
  /** The master's HA address, "host:port" (its haListenPort). */
  masterAddress: string;
  /** The slave reports its offset at least this often (haSendHeartbeatInterval, 5 s). */
  reportIntervalMs: number;
  /** A link that brought nothing for this long is closed and made again (haHousekeepingInterval, 20 s). */
  idleTimeoutMs: number;
  /** Reconnection waits start here and double up to reconnectMaxMs. */
  reconnectMinMs: number;
  reconnectMaxMs: number;
  logger: Logger;
}

export function defaultSlaveOptions(): Omit<HASlaveOptions, 'masterAddress'> {
  return { reportIntervalMs: 5000, idleTimeoutMs: 20_000, reconnectMinMs: 100, reconnectMaxMs: 5000, logger: consoleLogger };
}

const RULES: OptionRules<HASlaveOptions> = {
  masterAddress: string, reportIntervalMs: timerMs(), idleTimeoutMs: timerMs(), reconnectMinMs: timerMs(), reconnectMaxMs: timerMs(),
  logger: implementing('info', 'warn'),
};

/** A frame received: `length` bytes at log offset `offset`, as views of the socket's chunks. */
interface Frame { offset: number; length: number; parts: Buffer[] }

/** Frames waiting to be stored before the socket is paused. */
const MAX_QUEUED_FRAMES = 256;

export interface Divergence {
  /** Where truncating the slave's log lets it follow the master again. */
  truncateTo: number;
  reason: string;
}

export interface HASlaveStats {
  masterAddress: string;
  connected: boolean;
  /** This store's CommitLog end. */
  offset: number;
  /** The highest master offset a frame reached. */
  masterOffset: number;
  /** The master said it had nothing more (an empty frame at our end) after the last bytes we stored. */
  caughtUp: boolean;
  diverged: Divergence | null;
  /** Bytes stored per second, over the last second or more. */
  bytesPerSec: number;
  /** Links made since start. */
  connects: number;
}

/**
 * The slave side of RocketMQ-style HA (HAClient): connects to the master,
 * reports its CommitLog end (on connect, after each frame, every
 * reportIntervalMs), and appends what the master streams through
 * `store.appendReplica`, which stores whole, verified records only.
 *
 * Divergence: after connecting, a slave with a log gets first the master's
 * bytes just before its end and compares them with its own. A mismatch, or a
 * master log ending before ours, means our log holds what the master never
 * had (an old master coming back): the slave stops, `diverged` says where to
 * cut, and nothing is appended until `truncateDiverged()`.
 */
export class HASlave {
  private socket: net.Socket | null = null;
  private gen = 0;
  private closed = false;
  private reconnectTimer: TimerHandle | null = null;
  private reportTimer: TimerHandle | null = null;
  private backoff: number;
  private divergence: Divergence | null = null;
  private connects = 0;
  // Per link:
  private input = new ByteQueue();
  private verifying = false;
  /** The first frame of the link passed the check: reports count as acknowledgements now. */
  private reportable = false;
  private expected = 0;
  private base = 0;
  private pending: Buffer = Buffer.alloc(0);
  /**
   * Where a round's bytes are gathered (the incomplete record left over, then the frames), reused
   * round after round: a fresh buffer per round cost the slave a page fault per 4 KiB. Only one
   * round stores at a time, and the store holds none of it once the append resolved.
   */
  private stage: Buffer = Buffer.alloc(0);
  private work: Promise<void> = Promise.resolve();
  private frames: Frame[] = [];
  private processing = false;
  private lastReadAt = 0;
  // Across links:
  private masterOffset = 0;
  private caughtUp = false;
  private stored = 0;
  private rate = { at: 0, bytes: 0, perSec: 0 };

  private constructor(readonly store: MessageStore, readonly options: HASlaveOptions) {
    this.backoff = options.reconnectMinMs;
    this.rate.at = this.clock.now();
  }

  get clock(): Clock { return this.store.clock; }

  /** Starts following the master (connecting in the background). */
  static start(store: MessageStore, partial: Partial<HASlaveOptions> & { masterAddress: string }): HASlave {
    const options = { ...defaultSlaveOptions(), ...checkOptions('HASlaveOptions', partial, RULES) } as HASlaveOptions;
    parseAddress(options.masterAddress);
    const slave = new HASlave(store, options);
    slave.connect();
    return slave;
  }

  get diverged(): Divergence | null { return this.divergence; }

  /** Follows another master from now on (the link in use is dropped). */
  setMasterAddress(address: string): void {
    parseAddress(address);
    this.options.masterAddress = address;
    this.dropLink('the master address changed');
  }

  private connect(): void {
    if (this.closed || this.divergence || this.socket) return;
    const { host, port } = parseAddress(this.options.masterAddress);
    const gen = ++this.gen;
    const socket = net.connect({ host, port });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('connect', () => {
      if (gen !== this.gen) return;
      this.connects++;
      this.input.clear();
      this.frames = [];
      this.pending = Buffer.alloc(0);
      const at = this.store.commitLogRange.max;
      this.base = this.expected = at;
      // A slave with a log checks it against the master's before taking anything.
      this.verifying = true;
      this.reportable = false;
      this.lastReadAt = this.clock.now();
      this.options.logger.info(`HA: connected to master ${this.options.masterAddress}, reporting ${at}`);
      socket.write(encodeOffset(at));
      this.armReport(gen);
    });
    socket.on('data', (b: Buffer) => { if (gen === this.gen) this.onData(b, gen); });
    socket.on('error', (e) => { if (gen === this.gen) this.options.logger.info(`HA: link to ${this.options.masterAddress}: ${e.message}`); });
    socket.on('close', () => { if (gen === this.gen) this.linkLost(); });
  }

  private linkLost(): void {
    this.socket = null;
    this.gen++;
    this.reportTimer?.cancel();
    this.reportTimer = null;
    if (this.closed || this.divergence) return;
    const wait = this.backoff;
    this.backoff = Math.min(this.backoff * 2, this.options.reconnectMaxMs);
    this.reconnectTimer = this.clock.setTimeout(() => { this.reconnectTimer = null; this.connect(); }, wait);
  }

  private dropLink(why: string): void {
    if (!this.socket) return;
    this.options.logger.warn(`HA: dropping the link to ${this.options.masterAddress}: ${why}`);
    this.socket.destroy();
    this.linkLost();
  }

  private onData(b: Buffer, gen: number): void {
    this.lastReadAt = this.clock.now();
    this.input.push(b);
    while (this.input.length >= FRAME_HEADER_SIZE) {
      const head = this.input.peek(FRAME_HEADER_SIZE);
      const offset = readOffset(head, 0);
      const length = head.readInt32BE(8);
      if (offset === null || length < 0 || length > MAX_FRAME_BYTES) return this.dropLink(`a frame header that is not ours (offset ${head.readBigUInt64BE(0)}, length ${length})`);
      if (this.input.length < FRAME_HEADER_SIZE + length) break;
      this.input.takeParts(FRAME_HEADER_SIZE);
      // Views of the socket's chunks (Node hands each 'data' chunk over for good), not joined:
      // gather() copies them into place anyway.
      this.frames.push({ offset, length, parts: this.input.takeParts(length) });
    }
    // A slow disk holds the socket rather than memory.
    if (this.frames.length > MAX_QUEUED_FRAMES) this.socket?.pause();
    if (!this.processing && this.frames.length) this.work = this.process(gen);
  }

  /** Stores what arrived, everything queued at once: one append (one write) per round, not one per frame. */
  private async process(gen: number): Promise<void> {
    this.processing = true;
    try {
      while (this.frames.length && gen === this.gen && !this.closed) {
        const batch = this.frames.splice(0);
        this.socket?.resume();
        await this.handle(batch, gen);
      }
    } finally {
      this.processing = false;
      // Frames of a newer link that arrived while an older link's round finished.
      if (this.frames.length && gen !== this.gen && !this.closed) this.work = this.process(this.gen);
    }
  }

  private async handle(batch: Frame[], gen: number): Promise<void> {
    const first = this.verifying;
    const data: Buffer[] = [];
    let lastEmpty = false;
    let fault: string | null = null;
    for (const { offset, length, parts } of batch) {
      const end = offset + length;
      if (end > this.masterOffset) this.masterOffset = end;
      if (this.verifying) {
        this.verifying = false;
        if (offset < this.expected) {
          if (end > this.expected) return this.dropLink(`the first frame [${offset}, ${end}) runs past our end ${this.expected}`);
          await this.verify(offset, parts.length === 1 ? parts[0] : Buffer.concat(parts, length));
          if (gen !== this.gen || this.divergence) return;
          continue;
        }
        if (offset > this.expected) {
          const r = this.store.commitLogRange;
          if (r.max !== r.min || this.store.topics().length > 0) return this.dropLink(`the first frame is at ${offset}, past our end ${this.expected}`);
          // An empty slave starts where the master sends from.
          this.base = this.expected = offset;
        }
      }
      // What came before it in order is still stored.
      if (offset !== this.expected) { fault = `a frame at ${offset}, expected ${this.expected}`; break; }
      this.expected = end;
      lastEmpty = length === 0;
      // After an end marker the rest of the segment is the marker's: its bytes are not stored.
      let skip = Math.max(0, this.base + this.pending.length - offset);
      for (const part of parts) {
        if (skip >= part.length) skip -= part.length;
        else {
          data.push(skip > 0 ? part.subarray(skip) : part);
          skip = 0;
        }
      }
    }
    if (data.length) {
      this.pending = this.pending.length || data.length > 1 ? this.gather(data) : data[0]!;
      let newEnd: number;
      try {
        newEnd = await this.store.appendReplica(this.base, this.pending);
      } catch (e) {
        if (isKeelError(e, 'REPLICA_INVALID')) return this.dropLink((e as Error).message);
        this.options.logger.warn(`HA: storing replicated bytes failed: ${(e as Error).message}`);
        return this.dropLink('the store refused');
      }
      this.stored += newEnd - this.base;
      this.pending = this.pending.subarray(Math.min(this.pending.length, newEnd - this.base));
      this.base = newEnd;
      this.backoff = this.options.reconnectMinMs;
    }
    if (fault) return this.dropLink(fault);
    // The master says it sent all it had, and all of it is stored.
    this.caughtUp = lastEmpty && this.pending.length === 0 && this.base >= this.expected;
    // After the first frame passed the check, and after each store, our end is an acknowledgement.
    if (gen !== this.gen) return;
    this.reportable = true;
    if (data.length || first) this.report();
  }

  /** `pending` and then `data`, contiguous in `stage`. */
  private gather(data: Buffer[]): Buffer {
    let total = this.pending.length;
    for (const d of data) total += d.length;
    let stage = this.stage;
    if (stage.length < total) stage = this.stage = Buffer.allocUnsafeSlow(Math.max(total, 2 * stage.length, 1024 * 1024));
    // Often a view of the stage already (the rest of the previous round): copy moves it to the front.
    let at = this.pending.copy(stage, 0);
    for (const d of data) at += d.copy(stage, at);
    return stage.subarray(0, total);
  }

  /** The master's bytes just before our end: they must be ours, and the master's log must reach our end. */
  private async verify(offset: number, bytes: Buffer): Promise<void> {
    const ours = this.expected;
    const end = offset + bytes.length;
    const segSize = this.store.commitLogSegmentSize;
    const min = this.store.commitLogRange.min;
    const from = Math.max(offset, min);
    let differs = -1;
    for (let at = from; at < end && differs < 0;) {
      const mine = await this.store.readCommitLog(at, end - at);
      if (!mine) { differs = at; break; }
      const theirs = bytes.subarray(at - offset, at - offset + mine.length);
      if (!mine.equals(theirs)) {
        let i = 0;
        while (mine[i] === theirs[i]) i++;
        differs = at + i;
      }
      at += mine.length;
    }
    if (differs >= 0) {
      this.diverge(Math.max(min, differs - (differs % segSize)), `our log differs from the master's at offset ${differs}`);
    } else if (end < ours) {
      this.diverge(Math.max(min, end), `the master's log ends at ${end}, before ours at ${ours}`);
    }
  }

  private diverge(truncateTo: number, reason: string): void {
    this.divergence = { truncateTo, reason };
    this.caughtUp = false;
    this.options.logger.warn(`HA: this slave's log diverged from the master's (${reason}); it serves nothing until truncated to ${truncateTo}`);
    this.dropLink('diverged');
  }

  /** Cuts the log where `diverged` says (or at `offset`) and follows the master again. */
  async truncateDiverged(offset?: number): Promise<void> {
    const d = this.divergence;
    const to = offset ?? d?.truncateTo;
    if (to === undefined) throw new KeelError('REPLICA_DIVERGED', 'this slave has not diverged; give an offset to truncate to');
    await this.store.truncate(to);
    this.divergence = null;
    this.caughtUp = false;
    this.options.logger.info(`HA: truncated to ${to}; following ${this.options.masterAddress} again`);
    this.connect();
  }

  private report(): void {
    this.socket?.write(encodeOffset(this.base));
  }

  private armReport(gen: number): void {
    this.reportTimer = this.clock.setTimeout(() => {
      if (gen !== this.gen) return;
      if (this.clock.now() - this.lastReadAt >= this.options.idleTimeoutMs) return this.dropLink(`nothing heard for ${this.options.idleTimeoutMs} ms`);
      // Not before the first frame checked our log: an unverified report would count as an acknowledgement.
      if (this.reportable) this.report();
      this.armReport(gen);
    }, Math.min(this.options.reportIntervalMs, this.options.idleTimeoutMs));
  }

  stats(): HASlaveStats {
    const now = this.clock.now();
    if (now - this.rate.at >= 1000) {
      this.rate.perSec = Math.round(((this.stored - this.rate.bytes) * 1000) / (now - this.rate.at));
      this.rate.at = now;
      this.rate.bytes = this.stored;
    }
    return {
      masterAddress: this.options.masterAddress,
      connected: this.socket !== null && !this.socket.connecting,
      offset: this.store.commitLogRange.max,
      masterOffset: this.masterOffset,
      caughtUp: this.caughtUp,
      diverged: this.divergence,
      bytesPerSec: this.rate.perSec,
      connects: this.connects,
    };
  }

  /** Stops following: the link is closed, stored bytes stay. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.reconnectTimer?.cancel();
    this.socket?.destroy();
    this.linkLost();
    await this.work;
  }
}

function parseAddress(address: string): { host: string; port: number } {
  const m = typeof address === 'string' ? /^(.+):(\d{1,5})$/.exec(address) : null;
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) throw new KeelError('OPTION_INVALID', `masterAddress must be "host:port", got ${String(address)}`);
  return { host: m[1], port };
}
