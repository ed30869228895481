/**
 * The newest committed CommitLog bytes, contiguous, at most `capacity`, in a
 * ring: what the master serves slaves close behind from, without a read of
 * the CommitLog. Each write is copied once (the store's write buffer is
 * reused after the hook returns) into memory that is reused: a fresh buffer
 * per write cost the master ~1 µs per 1 KiB message in page faults, more
 * than the copy. Frames are views of the ring, so bytes still queued on a
 * socket are never overwritten: a write that would overwrite them starts a
 * new ring, and the old one stays with the views until they are sent.
 */
export class RecentWrites {
  private ring: Buffer | null = null;
  /** The ring holds the log's bytes [from, to), the byte at offset o at o % capacity. */
  private from = 0;
  private to = 0;

  constructor(private readonly capacity: number) {}

  /**
   * `bytes` were committed at log offset `start`. `queued(lo, hi)` says whether views of
   * log bytes in [lo, hi) may still wait to be sent.
   */
  add(start: number, bytes: Buffer, queued: (lo: number, hi: number) => boolean): void {
    const cap = this.capacity;
    if (bytes.length > cap) {
      start += bytes.length - cap;
      bytes = bytes.subarray(bytes.length - cap);
    }
    const n = bytes.length;
    if (n === 0) return;
    // A gap (the rest of a segment after its end marker) restarts the ring and may overwrite any byte in it.
    const gap = start !== this.to;
    const lost = gap ? this.to : Math.min(this.to, Math.max(this.from, start + n - cap));
    if (this.ring === null || (lost > this.from && queued(this.from, lost))) {
      this.ring = Buffer.allocUnsafeSlow(cap);
      this.from = this.to = start;
    } else if (gap) {
      this.from = this.to = start;
    }
    const pos = start % cap;
    const first = Math.min(n, cap - pos);
    bytes.copy(this.ring, pos, 0, first);
    if (first < n) bytes.copy(this.ring, 0, first, n);
    this.to = start + n;
    if (this.to - this.from > cap) this.from = this.to - cap;
  }

  /** A view of up to `max` bytes at `offset` (fewer at the ring's end), or null when not held. */
  read(offset: number, max: number): Buffer | null {
    if (this.ring === null || offset < this.from || offset >= this.to) return null;
    const pos = offset % this.capacity;
    return this.ring.subarray(pos, pos + Math.min(max, this.to - offset, this.capacity - pos));
  }

  /** Drops the ring (its memory goes once no view of it is left). */
  clear(): void {
    this.ring = null;
    this.from = this.to = 0;
  }
}
