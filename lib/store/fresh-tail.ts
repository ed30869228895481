/** Bytes of one run kept at most; a new run starts in a new buffer (readers keep views into the old one). */
const RUN_BYTES = 1024 * 1024;

/**
 * The newest small writes of the CommitLog, kept in memory as they land, for
 * consumers following the producers: they read what was written moments ago,
 * and a read of it from the file cost a `pread`, a buffer and the CRC checks
 * of every record served (the write's own bytes, never stored anywhere but
 * memory in between). The bytes are copied from the write buffer after the
 * write returned; a run is one contiguous range of the log in one buffer that
 * is only ever appended to, so readers get views, never copies, and a view
 * never changes (a write buffer itself is reused at once). What a read may
 * see (the visible position, a segment the reaper removed) is decided by the
 * caller before it asks.
 */
export class FreshTail {
  /** `maxWrite`: larger writes are not kept (bulk writers would pay a copy and a new buffer's page faults per MiB; their consumers read ahead a MiB at a time anyway). */
  constructor(private readonly maxWrite: number) {}

  private buf: Buffer | null = null;
  /** The buffer holds the log's bytes [from, to), from its index 0. */
  private from = 0;
  private to = 0;

  /** Records that `src[0, length)` was written at log offset `start`. */
  written(start: number, src: Buffer, length: number): void {
    // Not kept: the next kept write does not continue the run, so it starts a new one.
    if (length === 0 || length > this.maxWrite) return;
    if (this.buf === null || start !== this.to || this.to - this.from + length > RUN_BYTES) {
      this.buf = Buffer.allocUnsafeSlow(RUN_BYTES);
      this.from = this.to = start;
    }
    src.copy(this.buf, this.to - this.from, 0, length);
    this.to += length;
  }

  /** A view of the log's bytes [offset, offset + length), or null unless all of them are here. */
  read(offset: number, length: number): Buffer | null {
    if (this.buf === null || offset < this.from || offset + length > this.to) return null;
    return this.buf.subarray(offset - this.from, offset - this.from + length);
  }

  clear(): void {
    this.buf = null;
    this.from = this.to = 0;
  }
}
