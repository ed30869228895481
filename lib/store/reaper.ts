import type { TimerHandle } from '../common/clock';
import type { CommitLog } from './commit-log';
import { CQ_ENTRY_SIZE } from './consume-queue';
import { parseDeleteWhen, type StoreOptions } from './options';
import type { QueueTable } from './queue-table';
import type { SegmentFile } from './segment-file';

/** The first pass waits this long after open, as RocketMQ's clean services do, so that opening stays fast. */
export const FIRST_PASS_DELAY_MS = 60_000;

/** Why a pass deleted: the hour is in deleteWhen, disk usage is above diskMaxUsedSpaceRatio, or deleteExpired() was called. */
export type ReapTrigger = 'hour' | 'disk' | 'manual';

/** What one pass of the reaper found and did. */
export interface ReapResult {
  /** Clock time the pass started. */
  at: number;
  /** Used fraction of the CommitLog's partition when the pass started. */
  diskUsedRatio: number;
  /** Why it looked for segments to delete; null when nothing called for it. */
  trigger: ReapTrigger | null;
  /** Segments were deleted whatever their age (usage above diskSpaceCleanForciblyRatio, or deleteExpired({ force: true })). */
  forced: boolean;
  /** Start offsets of the CommitLog segments deleted, oldest first. */
  deletedSegments: number[];
  /** ConsumeQueue files deleted because every entry in them pointed below the CommitLog's new minimum. */
  deletedQueueFiles: number;
  /** First CommitLog offset still stored after the pass. */
  minOffset: number;
}

export interface ReaperStats {
  /** Used fraction of the CommitLog's partition at the last check; null before the first. */
  diskUsedRatio: number | null;
  /** Puts are rejected with DISK_FULL. */
  diskFull: boolean;
  /** Bytes of the CommitLog segments and the ConsumeQueue files (their fixed sizes; sparse files may take less). */
  commitLogBytes: number;
  consumeQueueBytes: number;
  /** Files taken out of the store whose unlink waits for a reader (at most destroyMappedFileIntervalForciblyMs). */
  pendingRemovals: number;
  lastPass: ReapResult | null;
  /** The last failure of a pass or of a file removal, cleared by the next pass that succeeds. */
  lastError: { at: number; message: string } | null;
}

interface PassOutcome {
  result: ReapResult;
  /** Unlinks under way; they finish when the readers of their files are done. */
  removals: Promise<void>[];
}

/**
 * Deletes expired CommitLog segments and the ConsumeQueue files that pointed
 * into them, and watches disk usage (RocketMQ's CleanCommitLogService and
 * CleanConsumeQueueService in one service, since one pass needs both).
 *
 * Every pass: statfs of the CommitLog's partition sets or clears the
 * disk-full flag (set above diskSpaceWarningLevelRatio, cleared below
 * diskSpaceCleanForciblyRatio, so it does not flap). At a deleteWhen hour, or
 * at once when usage is above diskMaxUsedSpaceRatio, segments older than
 * fileReservedTimeMs (by mtime) go, oldest first, at most deleteFileBatchMax,
 * stopping at the first that may not go so that the log never has a hole;
 * above diskSpaceCleanForciblyRatio age does not matter. Only segments wholly
 * written, flushed and dispatched qualify: never the active segment nor the
 * one pre-created after it.
 *
 * Queues move first: each ConsumeQueue's minimum goes to its first entry at
 * or above the new CommitLog minimum before any segment leaves, so a reader
 * who finds a record gone is sent (OFFSET_MOVED) to a minimum that is already
 * right. Then the segments leave the store at once, and their files are
 * unlinked when their readers are done (or after
 * destroyMappedFileIntervalForciblyMs), in order; then the ConsumeQueue files
 * wholly below their queue's minimum follow (never a queue's last file, which
 * keeps its offsets across a restart).
 */
export class Reaper {
  private timer: TimerHandle | null = null;
  private stopped = false;
  private timedPassRunning = false;
  /** The pass in progress (passes never overlap: timed and manual ones queue up). */
  private running: Promise<unknown> = Promise.resolve();
  private full = false;
  private usedRatio: number | null = null;
  private lastPass: ReapResult | null = null;
  private lastError: { at: number; message: string } | null = null;
  private readonly pending = new Set<Promise<void>>();
  /** Ends the wait for readers of removed files at once (close). */
  private readonly forcers = new Set<() => void>();
  /** The CommitLog minimum every queue's minOffset was last corrected against (nothing lies below 0). */
  private correctedFor = 0;
  private readonly hours: Set<number>;

  constructor(
    private readonly options: StoreOptions,
    private readonly commitLog: CommitLog,
    private readonly queues: QueueTable,
  ) {
    this.hours = parseDeleteWhen(options.deleteWhen);
  }

  /**
   * At open, before the first put: measures the disk, so a store opened on a
   * full disk refuses puts from the start, and brings the ConsumeQueues in
   * line with the CommitLog (a crash may have come between the two deletions).
   */
  async prepare(): Promise<void> {
    await this.checkSpace();
    const force = this.forceSignal();
    const removals = await this.followCommitLog(force.signal);
    force.whenDone(removals);
    this.track(removals);
  }

  start(): void {
    this.arm(FIRST_PASS_DELAY_MS);
  }

  /** Puts are rejected with DISK_FULL while this holds. */
  get diskFull(): boolean { return this.full; }

  /** Used fraction of the partition at the last check, null before the first. */
  get diskUsedRatio(): number | null { return this.usedRatio; }

  /** One pass now, whatever the hour and usage; resolves once the files it deleted are unlinked. */
  async deleteExpired(force: boolean): Promise<ReapResult> {
    const { result, removals } = await this.serial(() => this.pass(force ? 'force' : 'expired'));
    this.track(removals);
    await Promise.all(removals);
    // The space is free now: a caller freeing a full disk sees DISK_FULL clear at once.
    result.diskUsedRatio = await this.checkSpace();
    return result;
  }

  /** Stops the timer, lets a pass in progress finish, and removes the files still waiting for readers (the store is closing). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = null;
    await this.running;
    for (const force of this.forcers) force();
    await Promise.allSettled([...this.pending]);
  }

  stats(): ReaperStats {
    let queueFiles = 0;
    for (const s of this.queues.all()) queueFiles += s.cq.fileCount;
    return {
      diskUsedRatio: this.usedRatio,
      diskFull: this.full,
      commitLogBytes: this.commitLog.segments.segments.length * this.options.commitLogSegmentSize,
      consumeQueueBytes: queueFiles * this.options.consumeQueueEntries * CQ_ENTRY_SIZE,
      pendingRemovals: this.pending.size,
      lastPass: this.lastPass,
      lastError: this.lastError,
    };
  }

  private arm(ms: number): void {
    if (this.stopped) return;
    this.timer = this.options.clock.setTimeout(() => {
      // Fixed rate (RocketMQ's scheduleAtFixedRate): a slow pass shifts no later one; a tick during a pass is skipped.
      this.arm(this.options.cleanResourceIntervalMs);
      if (this.timedPassRunning) return;
      this.timedPassRunning = true;
      this.serial(() => this.pass(null))
        .then(({ removals }) => this.track(removals), () => undefined)
        .finally(() => { this.timedPassRunning = false; });
    }, ms);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.running.then(fn);
    this.running = p.catch(() => undefined);
    return p;
  }

  /** Reads the partition's usage and sets or clears the disk-full flag. */
  private async checkSpace(): Promise<number> {
    const { totalBytes, freeBytes } = await this.options.io.statfs(this.commitLog.segments.dir);
    // Free means free to us (statfs f_bavail): blocks reserved for root count as used, since we cannot write them.
    const ratio = totalBytes > 0 ? (totalBytes - freeBytes) / totalBytes : 0;
    this.usedRatio = ratio;
    if (ratio > this.options.diskSpaceWarningLevelRatio) this.full = true;
    else if (ratio < this.options.diskSpaceCleanForciblyRatio) this.full = false;
    return ratio;
  }

  private async pass(manual: 'expired' | 'force' | null): Promise<PassOutcome> {
    const o = this.options;
    const at = o.clock.now();
    const force = this.forceSignal();
    const removals: Promise<void>[] = [];
    try {
      const ratio = await this.checkSpace();
      let trigger: ReapTrigger | null = null;
      if (manual) trigger = 'manual';
      else if (ratio > o.diskMaxUsedSpaceRatio) trigger = 'disk';
      else if (this.hours.has(new Date(at).getHours())) trigger = 'hour';
      const forced = manual === 'force' || ratio > o.diskSpaceCleanForciblyRatio;
      const doomed = trigger ? await this.deletable(at, forced) : [];
      const deletedSegments: number[] = [];
      if (doomed.length) {
        const newMin = doomed[doomed.length - 1].end;
        for (const s of this.queues.all()) await s.cq.correctMinOffset(newMin);
        this.correctedFor = newMin;
        const segments = this.commitLog.segments;
        for (const seg of doomed) {
          // Only the reaper removes from the front, and passes never overlap; this guards that belief.
          if (segments.first !== seg) break;
          removals.push(segments.removeFirst(force.signal));
          deletedSegments.push(seg.start);
        }
      }
      const queueRemovals = await this.followCommitLog(force.signal);
      removals.push(...queueRemovals);
      const result: ReapResult = {
        at, diskUsedRatio: ratio, trigger, forced: trigger !== null && forced,
        deletedSegments, deletedQueueFiles: queueRemovals.length, minOffset: this.commitLog.minOffset,
      };
      this.lastPass = result;
      this.lastError = null;
      return { result, removals };
    } catch (e) {
      this.noteError(at, e);
      // Removals already started still get their pass's deadline; the caller never sees them.
      this.track(removals);
      throw e;
    } finally {
      force.whenDone(removals);
    }
  }

  /** The leading segments this pass may delete: a run from the first, so no hole is ever left. */
  private async deletable(now: number, forced: boolean): Promise<SegmentFile[]> {
    const cl = this.commitLog;
    const segs = cl.segments.segments;
    // Wholly written, flushed and in the queues: that excludes the active segment and the pre-created next one.
    const limit = Math.min(cl.confirmedOffset, cl.flushedOffset);
    const out: SegmentFile[] = [];
    for (let i = 0; i < segs.length - 1 && out.length < this.options.deleteFileBatchMax; i++) {
      const seg = segs[i];
      if (seg.end > limit) break;
      if (!forced) {
        const st = await this.options.io.stat(seg.path);
        // Age is the time of the last write, as RocketMQ's lastModified.
        if (st && st.mtimeMs + this.options.fileReservedTimeMs > now) break;
      }
      out.push(seg);
    }
    return out;
  }

  /** Moves every queue's minimum to the CommitLog's if that moved, then starts removing the files wholly below it. */
  private async followCommitLog(force: Promise<void>): Promise<Promise<void>[]> {
    const min = this.commitLog.minOffset;
    if (min > this.correctedFor) {
      for (const s of this.queues.all()) await s.cq.correctMinOffset(min);
      this.correctedFor = min;
    }
    const removals: Promise<void>[] = [];
    for (const s of this.queues.all()) removals.push(...s.cq.removeFilesBelowMin(force));
    return removals;
  }

  /** Keeps removals under way visible in stats and waited for by stop(); their failures are recorded. */
  private track(removals: Promise<void>[]): void {
    for (const r of removals) {
      const t = r.then(() => undefined, (e) => this.noteError(this.options.clock.now(), e)).finally(() => this.pending.delete(t));
      this.pending.add(t);
    }
  }

  private noteError(at: number, e: unknown): void {
    this.lastError = { at, message: e instanceof Error ? e.message : String(e) };
  }

  /** Resolves after destroyMappedFileIntervalForciblyMs, or at stop(): readers of removed files then lose them. */
  private forceSignal(): ForceSignal {
    let fire!: () => void;
    const signal = new Promise<void>((r) => { fire = r; });
    const timer = this.options.clock.setTimeout(fire, this.options.destroyMappedFileIntervalForciblyMs);
    this.forcers.add(fire);
    return {
      signal,
      whenDone: (removals) => {
        void Promise.allSettled(removals).then(() => {
          timer.cancel();
          this.forcers.delete(fire);
        });
      },
    };
  }
}

interface ForceSignal {
  signal: Promise<void>;
  /** Cancels the deadline once these removals, all that use the signal, have settled. */
  whenDone(removals: Promise<void>[]): void;
}
