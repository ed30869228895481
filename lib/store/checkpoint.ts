import type { FileHandle, FileIO } from '../io/file-io';
import { crc32 } from './crc32';

/** What recovery needs to start from a known-good place instead of the beginning of the log. */
export interface CheckpointData {
  /** CommitLog bytes below this are durable (fsynced). */
  commitLogDurable: number;
  /** A record boundary at or below commitLogDurable where recovery starts validating: the last durable record. */
  scanFrom: number;
  /** Every ConsumeQueue entry for a record below this CommitLog offset is durable. */
  consumeQueueDurable: number;
  /** Queues that existed (durably) when this was written; fewer on disk at open means some were lost. */
  queueCount: number;
  /** Store timestamp of the last durable record, for information. */
  lastStoreTimestamp: number;
}

const SLOT_SIZE = 512;
export const CHECKPOINT_FILE_SIZE = 2 * SLOT_SIZE;
const MAGIC = 0x4b43_5031; // "KCP1"
const BODY = 4 + 8 + 8 + 8 + 8 + 4 + 8; // magic, seq, three offsets, count, timestamp

/**
 * Two CRC-protected slots in separate 512-byte sectors, written alternately,
 * so that a torn checkpoint write can only damage the slot being replaced and
 * the other still holds the previous, valid state.
 */
export class Checkpoint {
  private seq = 0;

  private constructor(private readonly handle: FileHandle, readonly data: CheckpointData | null) {}

  static async open(io: FileIO, file: string, dir: string): Promise<Checkpoint> {
    const existed = (await io.stat(file)) !== null;
    const h = await io.open(file, { create: true });
    if (!existed) {
      await h.truncate(CHECKPOINT_FILE_SIZE);
      await h.datasync();
      await io.syncDir(dir);
    }
    const buf = Buffer.alloc(CHECKPOINT_FILE_SIZE);
    await h.read(buf, 0, buf.length, 0);
    const best = decodeBest(buf);
    const cp = new Checkpoint(h, best ? best.data : null);
    cp.seq = best ? best.seq : 0;
    return cp;
  }

  /** Writes the next slot and makes it durable. */
  async write(d: CheckpointData): Promise<void> {
    const seq = this.seq + 1;
    const buf = Buffer.alloc(SLOT_SIZE);
    let p = 0;
    buf.writeUInt32BE(MAGIC, p); p += 4;
    p = writeLong(buf, p, seq);
    p = writeLong(buf, p, d.commitLogDurable);
    p = writeLong(buf, p, d.scanFrom);
    p = writeLong(buf, p, d.consumeQueueDurable);
    buf.writeUInt32BE(d.queueCount, p); p += 4;
    p = writeLong(buf, p, d.lastStoreTimestamp);
    buf.writeUInt32BE(crc32(buf, 0, BODY), BODY);
    await this.handle.write(buf, 0, SLOT_SIZE, (seq % 2) * SLOT_SIZE);
    await this.handle.datasync();
    this.seq = seq;
  }

  close(): Promise<void> { return this.handle.close(); }
}

/** The newest valid slot of a checkpoint file's bytes (audit reads the file without opening the store). */
export function decodeCheckpoint(buf: Buffer): CheckpointData | null {
  return decodeBest(buf)?.data ?? null;
}

function decodeBest(buf: Buffer): { seq: number; data: CheckpointData } | null {
  let best: { seq: number; data: CheckpointData } | null = null;
  for (let i = 0; i < 2 && (i + 1) * SLOT_SIZE <= buf.length; i++) {
    const slot = decodeSlot(buf, i * SLOT_SIZE);
    if (slot && (!best || slot.seq > best.seq)) best = slot;
  }
  return best;
}

function decodeSlot(buf: Buffer, at: number): { seq: number; data: CheckpointData } | null {
  if (buf.readUInt32BE(at) !== MAGIC) return null;
  if (buf.readUInt32BE(at + BODY) !== crc32(buf, at, at + BODY)) return null;
  let p = at + 4;
  const seq = readLong(buf, p); p += 8;
  const commitLogDurable = readLong(buf, p); p += 8;
  const scanFrom = readLong(buf, p); p += 8;
  const consumeQueueDurable = readLong(buf, p); p += 8;
  const queueCount = buf.readUInt32BE(p); p += 4;
  const lastStoreTimestamp = readLong(buf, p);
  return { seq, data: { commitLogDurable, scanFrom, consumeQueueDurable, queueCount, lastStoreTimestamp } };
}

/** 64-bit big-endian integers below 2^53, without BigInt. */
export function writeLong(buf: Buffer, pos: number, v: number): number {
  buf.writeUInt32BE(Math.floor(v / 0x1_0000_0000), pos);
  buf.writeUInt32BE(v >>> 0, pos + 4);
  return pos + 8;
}

export function readLong(buf: Buffer, pos: number): number {
  return buf.readUInt32BE(pos) * 0x1_0000_0000 + buf.readUInt32BE(pos + 4);
}
