import type { ConsumeQueue, AppendOutcome } from './consume-queue';
import type { QueueSlot } from './queue-table';

/**
 * Dispatched entries wait in memory (readable there) and are written to their
 * files at most this often, one write per queue: writing each touched queue
 * at the end of every turn cost a quarter of the main thread under load.
 */
const COMMIT_INTERVAL_MS = 10;
/**
 * A queue holding this many unwritten entries is written at the end of the
 * turn; so is one whose entries reach a disk page not yet written: that write
 * claims disk space, and it must not wait while the CommitLog's writes take
 * the last of it (a full disk would then leave the index unwritable, where
 * writing each turn had claimed its pages along with the log's).
 */
const COMMIT_MAX_ENTRIES = 16384;

export type ArrivalListener = (topic: string, queueId: number, maxOffset: number) => void;
export type ListenerErrorHandler = (error: unknown, topic: string, queueId: number) => void;

/**
 * Turns durable CommitLog records into ConsumeQueue entries (RocketMQ's
 * ReputMessageService). The CommitLog hands it each record once the record is
 * durable for the current flush mode; recovery hands it the records it
 * re-reads. Entries are visible at once and written to their files every
 * COMMIT_INTERVAL_MS (they can always be rebuilt from the CommitLog, and a
 * checkpoint writes and fsyncs them before recording them durable).
 */
export class Dispatcher {
  private dirty: QueueSlot[] = [];
  private touched: QueueSlot[] = [];
  private commitTimer: ReturnType<typeof setTimeout> | null = null;
  private commitSoon = false;
  private readonly listeners = new Set<ArrivalListener>();
  /** Listener calls that threw or rejected. */
  listenerErrors = 0;

  constructor(private readonly onError: (e: unknown) => void, private readonly onListenerError: ListenerErrorHandler) {}

  dispatch(slot: QueueSlot, queueOffset: number, physicalOffset: number, size: number, tagsCode: number): AppendOutcome {
    const outcome = slot.cq.append(queueOffset, physicalOffset, size, tagsCode);
    if (outcome === 'appended') {
      if (!slot.toCommit) { slot.toCommit = true; this.dirty.push(slot); }
      if (!slot.toAnnounce) { slot.toAnnounce = true; this.touched.push(slot); }
      if (slot.next < slot.cq.maxOffset) slot.next = slot.cq.maxOffset;
      this.scheduleCommit(slot.cq);
    }
    return outcome;
  }

  private scheduleCommit(cq: ConsumeQueue): void {
    if (this.commitSoon) return;
    if (cq.unwritten >= COMMIT_MAX_ENTRIES || cq.reachesNewPage) {
      this.commitSoon = true;
      if (this.commitTimer) clearTimeout(this.commitTimer);
      this.commitTimer = null;
      setImmediate(() => this.commitDirty());
    } else if (!this.commitTimer) {
      this.commitTimer = setTimeout(() => this.commitDirty(), COMMIT_INTERVAL_MS);
    }
  }

  /** Tells listeners (long-polling consumers) which queues grew since the last call. */
  announce(): void {
    if (this.touched.length === 0) return;
    const slots = this.touched;
    this.touched = [];
    for (const s of slots) s.toAnnounce = false;
    if (this.listeners.size === 0) return;
    for (const s of slots) for (const l of this.listeners) this.call(l, s.cq.topic, s.cq.queueId, s.cq.maxOffset);
  }

  /** Listeners run inside the write path: what they throw must not reach it. */
  private call(l: ArrivalListener, topic: string, queueId: number, maxOffset: number): void {
    const failed = (e: unknown) => {
      this.listenerErrors++;
      try {
        this.onListenerError(e, topic, queueId);
      } catch {
        // A failing error handler has no one left to report to; the count stays.
      }
    };
    try {
      const r: unknown = l(topic, queueId, maxOffset);
      if (r instanceof Promise) r.catch(failed);
    } catch (e) {
      failed(e);
    }
  }

  onArrival(listener: ArrivalListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private commitDirty(): void {
    this.commitTimer = null;
    this.commitSoon = false;
    const slots = this.dirty;
    this.dirty = [];
    for (const s of slots) {
      s.toCommit = false;
      s.cq.commit().catch(this.onError);
    }
  }

  /** Writes and fsyncs every entry dispatched so far, in every queue. */
  async flushAll(queues: Iterable<ConsumeQueue>): Promise<void> {
    const work: Promise<void>[] = [];
    for (const q of queues) if (q.isDirty) work.push(q.flush());
    await Promise.all(work);
  }
}
