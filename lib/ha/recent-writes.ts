/**
 * Copies of the newest committed CommitLog writes, contiguous, at most
 * `capacity` bytes (plus one write): what the master serves slaves close
 * behind from, without a read of the CommitLog. Each write is copied once
 * (the store's write buffer is reused after the hook returns); frames are
 * views of the copies, which never change.
 */
export class RecentWrites {
  private writes: { from: number; buf: Buffer }[] = [];
  private bytes = 0;

  constructor(private readonly capacity: number) {}

  /** `bytes` were committed at log offset `from`. */
  add(from: number, bytes: Buffer): void {
    const last = this.writes[this.writes.length - 1];
    if (last && last.from + last.buf.length !== from) {
      // A gap (the rest of a segment after its end marker): the copy restarts, and its count with it.
      this.writes.length = 0;
      this.bytes = 0;
    }
    // Not Buffer.from: it zero-fills the new memory before copying over it.
    const copy = Buffer.allocUnsafe(bytes.length);
    bytes.copy(copy);
    this.writes.push({ from, buf: copy });
    this.bytes += bytes.length;
    while (this.bytes > this.capacity && this.writes.length > 1) this.bytes -= this.writes.shift()!.buf.length;
  }

  /** Up to `max` bytes at `offset` (one write's worth at most), or null when not held. */
  read(offset: number, max: number): Buffer | null {
    const t = this.writes;
    if (t.length === 0 || offset < t[0].from) return null;
    let lo = 0;
    let hi = t.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (t[mid].from <= offset) lo = mid; else hi = mid - 1;
    }
    const c = t[lo];
    const at = offset - c.from;
    if (at >= c.buf.length) return null;
    return c.buf.subarray(at, Math.min(c.buf.length, at + max));
  }
}
