/**
 * The newest written bytes of the CommitLog, kept in a ring in memory: Node
 * has no mmap, so this stands in for RocketMQ's read of fresh messages from
 * its mapped file. It holds only bytes whose write returned, copied from the
 * write buffer as it was written; what a read may see (the visible position,
 * a segment the reaper removed) is decided by the caller before it asks.
 */
export class ReadWindow {
  private ring: Buffer | null = null;
  /** The ring holds the log's bytes [from, to). */
  private from = 0;
  private to = 0;

  constructor(private readonly capacity: number) {}

  /** Records that `src[0, length)` was written at log offset `start`. */
  written(start: number, src: Buffer, length: number): void {
    const cap = this.capacity;
    if (cap === 0 || length === 0) return;
    // A gap (the rest of a segment after its end marker) restarts the ring: it holds one contiguous run.
    if (start !== this.to) this.from = this.to = start;
    const ring = this.ring ?? (this.ring = Buffer.allocUnsafeSlow(cap));
    let s = length > cap ? length - cap : 0;
    let pos = (start + s) % cap;
    while (s < length) {
      const n = Math.min(length - s, cap - pos);
      src.copy(ring, pos, s, s + n);
      s += n;
      pos = 0;
    }
    this.to = start + length;
    if (this.to - this.from > cap) this.from = this.to - cap;
  }

  /** A copy of the log's bytes [offset, offset + length), or null unless all of them are here. */
  read(offset: number, length: number): Buffer | null {
    const ring = this.ring;
    if (ring === null || offset < this.from || offset + length > this.to) return null;
    // A copy: the ring is overwritten as the log grows, and a message body must not change under its reader.
    const out = Buffer.allocUnsafe(length);
    let pos = offset % this.capacity;
    for (let done = 0; done < length; pos = 0) {
      const n = Math.min(length - done, this.capacity - pos);
      ring.copy(out, done, pos, pos + n);
      done += n;
    }
    return out;
  }

  /** How many bytes from `offset` on are here (0 unless `offset` is). */
  heldFrom(offset: number): number {
    return this.ring === null || offset < this.from || offset >= this.to ? 0 : this.to - offset;
  }

  /** Drops everything (the memory goes with it). */
  clear(): void {
    this.ring = null;
    this.from = this.to = 0;
  }
}
