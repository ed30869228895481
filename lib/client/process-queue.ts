import type { MessageQueue } from './transport';

/**
 * The in-flight window of one queue in a push consumer (RocketMQ's
 * ProcessQueue). Messages enter in queue order when pulled and leave in any
 * order when consumed; the committed offset is the lowest offset still in
 * flight, or the next offset to pull when nothing is, so an offset never
 * passes a message that is not finished and a crash only re-delivers.
 */
export class ProcessQueue {
  /** Offsets pulled and not yet known finished, in queue order, from `head`. */
  private pending: number[] = [];
  private head = 0;
  /** Finished offsets at or after `head`, waiting for the ones before them. */
  private readonly finished = new Set<number>();
  /** Set when the queue is taken away (shutdown, offset reset): its results no longer count. */
  dropped = false;
  private wakeUp: (() => void) | null = null;
  /** Ends the queue's held pull when it is dropped. */
  private readonly aborter = new AbortController();

  constructor(readonly mq: MessageQueue, public nextOffset: number) {}

  get topic(): string { return this.mq.topic; }
  get queueId(): number { return this.mq.queueId; }
  get signalOnDrop(): AbortSignal { return this.aborter.signal; }

  /**
   * Offsets read but not committed: what a crash now would re-deliver. Flow
   * control bounds this span rather than the count of unfinished messages, so
   * one slow message cannot let the re-delivery after a crash grow without end
   * (RocketMQ's consumeConcurrentlyMaxSpan).
   */
  get span(): number { return this.nextOffset - this.committed; }

  /** The offset below which every message is finished. */
  get committed(): number { return this.head < this.pending.length ? this.pending[this.head]! : this.nextOffset; }

  /** Records pulled messages; `next` is where the following pull starts. */
  add(offsets: readonly number[], next: number): void {
    for (const o of offsets) this.pending.push(o);
    this.nextOffset = next;
  }

  /** Marks messages finished; returns true when the committed offset moved. */
  finish(offsets: readonly number[]): boolean {
    const before = this.committed;
    for (const o of offsets) {
      // In order (the usual case): the window's head moves on without a trip through the set.
      if (this.finished.size === 0 && this.head < this.pending.length && this.pending[this.head] === o) this.head++;
      else this.finished.add(o);
    }
    while (this.head < this.pending.length && this.finished.delete(this.pending[this.head]!)) this.head++;
    if (this.head > 1024 && this.head * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.head);
      this.head = 0;
    }
    this.signal();
    return this.committed !== before;
  }

  /** Resolves at the next signal(): new messages, room in the window, or a drop. */
  wait(): Promise<void> {
    return new Promise((resolve) => {
      const prev = this.wakeUp;
      this.wakeUp = () => { prev?.(); resolve(); };
    });
  }

  signal(): void {
    const w = this.wakeUp;
    this.wakeUp = null;
    w?.();
  }

  drop(): void {
    this.dropped = true;
    this.aborter.abort();
    this.signal();
  }
}
