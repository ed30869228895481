import type * as net from 'net';
import type { TimerHandle } from '../common/clock';
import { ByteQueue, encodeFrameHeader, MAX_FRAME_BYTES, OFFSET_REPORT_SIZE, readOffset } from './ha-protocol';
import type { HAMaster } from './ha-master';

/** Bytes of the master's log before the slave's offset sent first, for the slave to compare with its own. */
export const VERIFY_BYTES = 4096;

/** Frames queued on a slave's socket beyond what the kernel took, before the link waits for 'drain'. */
const SEND_AHEAD_BYTES = 1024 * 1024;

export interface SlaveLinkStats {
  address: string;
  /** The slave's last acknowledged offset (-1 before the first acknowledgement). */
  ackOffset: number;
  /** Committed bytes the slave has not acknowledged yet. */
  lagBytes: number;
  /** How long ago the oldest byte it has not acknowledged was committed (0 when caught up). */
  lagMs: number;
  /** Bytes it acknowledged per second, over the last second or more. */
  bytesPerSec: number;
  /** Its log is longer than the master's: it was told so and gets nothing. */
  diverged: boolean;
}

/**
 * One slave on the master (RocketMQ's HAConnection: ReadSocketService and
 * WriteSocketService in one): reads the slave's 8-byte offset reports, and
 * streams frames of the committed log from where the slave is.
 */
export class SlaveLink {
  /** Where the slave said it was when it connected; -1 until it said. */
  start = -1;
  /** The next byte to send. */
  next = -1;
  /** Acknowledged by the slave: counts for SYNC puts (-1: nothing yet). */
  acked = -1;
  diverged = false;
  /** The last offset an empty frame was sent at. */
  private announced = -1;
  private readonly input = new ByteQueue();
  private closed = false;
  private wakeup: (() => void) | null = null;
  private unblock: (() => void) | null = null;
  private lastReadAt: number;
  private lastWriteAt: number;
  private timer: TimerHandle | null = null;
  private rate = { at: 0, bytes: 0, perSec: 0 };
  private ackedBytes = 0;
  readonly address: string;

  constructor(private readonly socket: net.Socket, private readonly master: HAMaster) {
    this.address = `${socket.remoteAddress}:${socket.remotePort}`;
    const now = master.clock.now();
    this.lastReadAt = this.lastWriteAt = now;
    this.rate.at = now;
    socket.setNoDelay(true);
    socket.on('data', (b: Buffer) => this.onData(b));
    socket.on('error', () => this.close());
    socket.on('close', () => this.close());
    this.arm();
  }

  private onData(b: Buffer): void {
    this.lastReadAt = this.master.clock.now();
    this.input.push(b);
    while (!this.closed && this.input.length >= OFFSET_REPORT_SIZE) {
      const off = readOffset(this.input.take(OFFSET_REPORT_SIZE), 0);
      if (off === null) return this.drop('an offset report beyond 2^53');
      this.report(off);
    }
  }

  private report(off: number): void {
    if (this.start < 0) {
      this.start = off;
      void this.begin(off);
      return;
    }
    if (this.diverged || this.next < 0) return;
    // Past what the master has committed, or going back: not a slave of this log.
    if (off > this.master.committedEnd) return this.drop(`an offset report ${off} past the master's committed ${this.master.committedEnd}`);
    if (off < this.acked) return this.drop(`an offset report ${off} below its previous ${this.acked}`);
    if (this.acked >= 0) this.ackedBytes += off - this.acked;
    this.acked = off;
    this.master.onAck();
  }

  /** Where to stream from, and what to send first so the slave can check its log is a prefix of ours. */
  private async begin(off: number): Promise<void> {
    const store = this.master.store;
    const { min } = store.commitLogRange;
    const end = this.master.committedEnd;
    const seg = store.commitLogSegmentSize;
    if (off === 0) {
      // An empty slave: RocketMQ starts it at the start of the master's last segment.
      this.next = this.master.options.emptySlaveFrom === 'first-segment' ? min : Math.max(min, end - (end % seg));
      this.master.logger.info(`HA: slave ${this.address} is empty; streaming from ${this.next}`);
      return this.pump();
    }
    if (off < min) return this.drop(`it is at ${off}, below the master's first offset ${min}: it cannot catch up`);
    const upto = Math.min(off, end);
    const from = Math.max(min, upto - VERIFY_BYTES, upto > 0 ? upto - 1 - ((upto - 1) % seg) : 0);
    const bytes = upto > from ? await store.readCommitLog(from, upto - from) : Buffer.alloc(0);
    if (this.closed) return;
    this.send(from, bytes ?? Buffer.alloc(0));
    if (off > end) {
      // Its log is longer than ours: it holds what we never had. It learns it from the frame ending short.
      this.diverged = true;
      this.master.logger.warn(`HA: slave ${this.address} is at ${off}, past the master's end ${end}: its log diverged; it must be truncated`);
      return;
    }
    this.next = off;
    return this.pump();
  }

  private async pump(): Promise<void> {
    const store = this.master.store;
    while (!this.closed) {
      if (this.next < this.master.committedEnd) {
        let buf: Buffer | null = this.master.recent(this.next, MAX_FRAME_BYTES);
        if (buf) {
          // Every frame held in memory goes out in one writev: a syscall per 32 KiB frame cost the
          // master's main thread more than the frames did.
          this.socket.cork();
          do {
            this.send(this.next, buf);
            this.next += buf.length;
          } while (this.flowing() && this.next < this.master.committedEnd && (buf = this.master.recent(this.next, MAX_FRAME_BYTES)));
          this.socket.uncork();
        } else {
          try {
            buf = await store.readCommitLog(this.next, MAX_FRAME_BYTES);
          } catch (e) {
            return this.drop(`reading the CommitLog at ${this.next} failed: ${(e as Error).message}`);
          }
          if (this.closed) return;
          if (!buf) return this.drop(`the CommitLog no longer holds ${this.next}`);
          this.send(this.next, buf);
          this.next += buf.length;
        }
        if (!this.flowing()) await this.drained();
        continue;
      }
      // Caught up: an empty frame says so (the slave may then be promoted without losing anything).
      if (this.announced !== this.next) {
        this.announced = this.next;
        this.send(this.next, Buffer.alloc(0));
      }
      await new Promise<void>((r) => { this.wakeup = r; });
    }
  }

  /**
   * Whether to queue more frames: up to SEND_AHEAD_BYTES unsent, not the socket's 16 KiB
   * high-water mark, which every 32 KiB frame passes and which made each frame wait for a
   * 'drain' (an event-loop turn) before the next. The frames are views of immutable bytes.
   */
  private flowing(): boolean {
    return this.socket.writableLength < SEND_AHEAD_BYTES;
  }

  /**
   * Whether bytes of the log in [lo, hi) may be among the frames still queued on the socket:
   * every queued frame ends at or below `next`, and their bytes (headers counted too) are
   * `writableLength`.
   */
  queues(lo: number, hi: number): boolean {
    const q = this.socket.writableLength;
    return q > 0 && this.next - q < hi && (this.next < 0 || this.next > lo);
  }

  /** Until the socket takes more (or the link closes). */
  private drained(): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        this.socket.off('drain', done);
        this.unblock = null;
        resolve();
      };
      this.socket.on('drain', done);
      this.unblock = done;
    });
  }

  /** New committed bytes: stream them. */
  wake(): void {
    const w = this.wakeup;
    this.wakeup = null;
    w?.();
  }

  /** Header and bytes in one writev, the bytes not copied: they are never changed once committed. */
  private send(offset: number, bytes: Buffer): void {
    this.lastWriteAt = this.master.clock.now();
    if (bytes.length === 0) {
      this.socket.write(encodeFrameHeader(offset, 0));
      return;
    }
    this.socket.cork();
    this.socket.write(encodeFrameHeader(offset, bytes.length));
    this.socket.write(bytes);
    this.socket.uncork();
  }

  /** Heartbeats when idle, and the idle close (RocketMQ's haHousekeepingInterval). */
  private arm(): void {
    const o = this.master.options;
    this.timer = this.master.clock.setTimeout(() => {
      if (this.closed) return;
      const now = this.master.clock.now();
      if (now - this.lastReadAt >= o.idleTimeoutMs) return this.drop(`nothing heard for ${o.idleTimeoutMs} ms`);
      if (this.next >= 0 && !this.diverged && now - this.lastWriteAt >= o.heartbeatIntervalMs) this.send(this.next, Buffer.alloc(0));
      this.arm();
    }, Math.min(1000, o.heartbeatIntervalMs));
  }

  stats(now: number, lagMsOf: (acked: number) => number): SlaveLinkStats {
    if (now - this.rate.at >= 1000) {
      this.rate.perSec = Math.round(((this.ackedBytes - this.rate.bytes) * 1000) / (now - this.rate.at));
      this.rate.at = now;
      this.rate.bytes = this.ackedBytes;
    }
    const committed = this.master.committedEnd;
    return {
      address: this.address,
      ackOffset: this.acked,
      lagBytes: this.acked < 0 ? committed - Math.max(0, this.start) : Math.max(0, committed - this.acked),
      lagMs: this.acked < 0 ? lagMsOf(Math.max(0, this.start)) : lagMsOf(this.acked),
      bytesPerSec: this.rate.perSec,
      diverged: this.diverged,
    };
  }

  private drop(why: string): void {
    if (this.closed) return;
    this.master.logger.warn(`HA: closing the link to ${this.address}: ${why}`);
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.timer?.cancel();
    this.socket.destroy();
    this.wake();
    this.unblock?.();
    this.master.onClose(this);
  }
}
