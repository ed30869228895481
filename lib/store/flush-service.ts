import type { Clock, TimerHandle } from '../common/clock';
import { KeelError } from '../common/errors';
import type { FlushMode } from './options';

export interface FlushTarget {
  /** Bytes written to the OS so far (absolute CommitLog offset). */
  written(): number;
  /** fdatasync every segment holding bytes in [from, to). */
  syncRange(from: number, to: number): Promise<void>;
  onFlushed(offset: number): void;
  onFlushFailed(error: KeelError): void;
}

export interface FlushSettings {
  intervalMs: number;
  leastBytes: number;
  thoroughIntervalMs: number;
}

/**
 * Makes CommitLog bytes durable. SYNC: group commit — one fdatasync in flight;
 * every put written before it started is covered by it, and the next one
 * starts as soon as it returns. ASYNC: a timed flush (RocketMQ's
 * FlushRealTimeService): every interval when enough is dirty, and whatever is
 * dirty after the thorough interval.
 *
 * Whatever the mode, a flush once requested (flushAll, or a SYNC put still
 * waiting after a switch to ASYNC) runs without waiting for the timer.
 *
 * A failed fdatasync is final: the flushed position never moves past it, and
 * the owner turns the store read-only (unlike RocketMQ through 5.3.3, which
 * logged the failure and acknowledged anyway).
 */
export class FlushService {
  flushed: number;
  /** Bytes below this must be made durable as soon as they are written, in either mode. */
  private wanted = 0;
  private inFlight: Promise<void> | null = null;
  private failed: KeelError | null = null;
  private timer: TimerHandle | null = null;
  private lastFlushAt: number;
  private stopped = false;

  constructor(
    private readonly target: FlushTarget,
    private readonly clock: Clock,
    private readonly settings: FlushSettings,
    public mode: FlushMode,
    flushedAt: number,
  ) {
    this.flushed = flushedAt;
    this.lastFlushAt = clock.now();
  }

  start(): void {
    this.stopped = false;
    this.arm();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = null;
  }

  get error(): KeelError | null { return this.failed; }

  /** An fdatasync is in flight. */
  get busy(): boolean { return this.inFlight !== null; }

  /** Asks for bytes below `offset` to become durable once written, even in ASYNC mode. */
  want(offset: number): void {
    if (offset > this.wanted) this.wanted = offset;
  }

  /** Called after each completed write: in SYNC mode, or when a flush was asked for, the next one starts at once. */
  written(): void {
    if (this.mode === 'SYNC' || this.wanted > this.flushed) this.kick();
  }

  /** Starts an fdatasync unless one is in flight or nothing is dirty. */
  kick(): void {
    if (this.inFlight || this.failed) return;
    const to = this.target.written();
    if (to <= this.flushed) return;
    const from = this.flushed;
    this.inFlight = this.target.syncRange(from, to).then(
      () => {
        this.inFlight = null;
        this.flushed = to;
        this.lastFlushAt = this.clock.now();
        this.target.onFlushed(to);
        this.written();
      },
      (e) => {
        this.inFlight = null;
        this.failed = new KeelError('FLUSH_FAILED', `fdatasync of the CommitLog failed (${(e as { code?: string }).code ?? String(e)}): nothing since offset ${from} is acknowledged as durable; the store is read-only until reopened`, { cause: e });
        this.target.onFlushFailed(this.failed);
      },
    );
  }

  /**
   * Resolves once everything written before the call is durable, however much
   * is written meanwhile (at most two fdatasyncs); rejects with FLUSH_FAILED.
   */
  async flushAll(): Promise<void> {
    const goal = this.target.written();
    this.want(goal);
    while (this.flushed < goal && !this.failed) {
      this.kick();
      // kick() starts one unless one is in flight; the bytes below goal are all written.
      await this.inFlight;
    }
    if (this.failed) throw this.failed;
  }

  private arm(): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimeout(() => this.tick(), this.settings.intervalMs);
  }

  private tick(): void {
    if (this.stopped) return;
    if (this.mode === 'ASYNC') {
      const dirty = this.target.written() - this.flushed;
      const thorough = this.clock.now() - this.lastFlushAt >= this.settings.thoroughIntervalMs;
      if (dirty >= this.settings.leastBytes || (dirty > 0 && thorough)) this.kick();
    }
    this.arm();
  }
}
