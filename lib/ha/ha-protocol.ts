/**
 * RocketMQ 4.x HA wire format (HAConnection / HAClient). Slave → master: its
 * max CommitLog offset, 8 bytes big-endian, again and again. Master → slave:
 * frames `offset 8 · length 4 · bytes`, the bytes being the master's CommitLog
 * from `offset` on; a frame with length 0 is a heartbeat (or says "that was
 * all for now").
 */

export const OFFSET_REPORT_SIZE = 8;
export const FRAME_HEADER_SIZE = 12;
/** RocketMQ's haTransferBatchSize. */
export const MAX_FRAME_BYTES = 32 * 1024;

export function encodeOffset(offset: number): Buffer {
  const b = Buffer.allocUnsafe(OFFSET_REPORT_SIZE);
  b.writeBigUInt64BE(BigInt(offset));
  return b;
}

/** `offset` ≤ 2^53: the high and low 32 bits written apart, without a BigInt per frame. */
export function encodeFrameHeader(offset: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER_SIZE);
  b.writeUInt32BE(Math.floor(offset / 0x1_0000_0000), 0);
  b.writeUInt32BE(offset >>> 0, 4);
  b.writeInt32BE(length, 8);
  return b;
}

/** Bytes arriving in pieces, consumed in fixed or announced sizes. */
export class ByteQueue {
  private chunks: Buffer[] = [];
  private size = 0;

  push(b: Buffer): void {
    if (b.length === 0) return;
    this.chunks.push(b);
    this.size += b.length;
  }

  get length(): number { return this.size; }

  /** The first `n` bytes without consuming them (n ≤ length): a view when one chunk holds them, else a copy of just those. */
  peek(n: number): Buffer {
    const first = this.chunks[0];
    if (n === 0) return Buffer.alloc(0);
    if (first.length >= n) return first.subarray(0, n);
    const out = Buffer.allocUnsafe(n);
    for (let k = 0, at = 0; at < n; k++) at += this.chunks[k].copy(out, at, 0, Math.min(this.chunks[k].length, n - at));
    return out;
  }

  /**
   * Consumes `n` bytes (n ≤ length) as views of the pushed chunks, several when they span
   * chunks: a caller that copies them anyway need not have them joined first (pushed chunks
   * must not be reused by the caller).
   */
  takeParts(n: number): Buffer[] {
    const parts: Buffer[] = [];
    this.size -= n;
    while (n > 0) {
      const first = this.chunks[0];
      if (first.length <= n) {
        parts.push(first);
        this.chunks.shift();
        n -= first.length;
      } else {
        parts.push(first.subarray(0, n));
        this.chunks[0] = first.subarray(n);
        n = 0;
      }
    }
    return parts;
  }

  /** Consumes `n` bytes: a view of a pushed chunk when one holds them, else a copy. */
  take(n: number): Buffer {
    const parts = this.takeParts(n);
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, n);
  }

  clear(): void {
    this.chunks = [];
    this.size = 0;
  }
}

/** A 64-bit big-endian offset read from the wire, or null when it does not fit a safe integer (not a peer of ours). */
export function readOffset(b: Buffer, at: number): number | null {
  const v = b.readBigUInt64BE(at);
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? null : Number(v);
}
