import { KeelError } from '../common/errors';
import type { PutResult } from '../common/message';
import { checkRecord, readRecordInfo } from './message-codec';
import type { RawRecord } from './commit-log';
import type { QueueSlot, QueueTable } from './queue-table';

/** What a replication hook says about a put it held (RocketMQ's replica part of PutMessageStatus). */
export type ReplicationStatus = 'PUT_OK' | 'FLUSH_SLAVE_TIMEOUT' | 'SLAVE_NOT_AVAILABLE';

/**
 * Sees every committed CommitLog range and may hold puts until they are
 * replicated. Set with `MessageStore.setReplicationHook`; lib/ha's master is
 * the reference implementation, README "Replication" has a small example.
 *
 * A range is committed once its bytes are in the OS: it never changes after
 * that while the store is open (a failed write is cut only above it), so a
 * hook may read it back with `MessageStore.readCommitLog` at any later time.
 */
export interface ReplicationHook {
  /** Called by setReplicationHook: committed ranges follow from `from` on, contiguous and in order. */
  attached?(from: number): void;
  /**
   * Bytes [from, to) of the CommitLog are in the OS. Called synchronously on the
   * write path, in log order: do the work elsewhere. What it throws is reported
   * as a process warning and changes nothing. `bytes` are the first bytes of
   * the range as written (the rest, after an end marker, are zeros), valid only
   * during the call: copy what you keep, or read the range back later.
   */
  committed(from: number, to: number, bytes?: Buffer): void;
  /**
   * Called for each put (a batch: once), in log order, with the end offset of
   * its bytes, before it is written. Return null to acknowledge the put without
   * waiting (asynchronous replication); otherwise a promise that resolves (never
   * rejects) when the put may be acknowledged, with how the replication went.
   * Flushing and replication run at the same time; the put resolves after both.
   */
  waitFor(end: number): Promise<ReplicationStatus> | null;
  /** Called when the hook is replaced or removed, or the store closes. */
  detached?(): void;
  /** What `store.stats().replication` shows (lib/ha's master: its slaves, their lag in bytes and ms, bytes/s). */
  stats?(): object;
}

/**
 * A stored put's status from its flush status and its replication status, as
 * RocketMQ's CommitLog.putMessage combines handleDiskFlush and handleHA: a
 * replication problem outranks a flush timeout.
 */
export function combineStatus(results: PutResult | PutResult[], replica: ReplicationStatus): void {
  if (replica === 'PUT_OK') return;
  if (Array.isArray(results)) for (const r of results) r.status = replica;
  else results.status = replica;
}

/** How a replica's raw bytes split into what can be appended now and what must wait for more bytes. */
export interface RawSplit {
  /** Whole records (and an end marker) of one segment, from the append offset: a view of the caller's bytes. */
  bytes: Buffer;
  records: RawRecord[];
  /** The append offset after them (the segment's end after an end marker). */
  end: number;
}

/**
 * Reads raw CommitLog bytes offered at `offset` (the replica's append offset)
 * record by record: size, magic, physical offset field, body and whole-record
 * CRC, lengths, queue offsets following each queue's last one. Takes the
 * longest run of whole records within one segment; an incomplete last record
 * is left for the caller to offer again with more bytes. Anything invalid is
 * refused with REPLICA_INVALID, and nothing (not even the valid records before
 * it) is taken: the bytes came from a peer that sent something wrong.
 * The queue offsets it takes go into `next` (per queue, the next one), for the
 * caller to assign once every split of its bytes passed.
 */
export function splitRaw(buf: Buffer, offset: number, segmentSize: number, queues: QueueTable, wholeRecordCrc: boolean, maxQueuesPerTopic: number, next: Map<QueueSlot, number>): RawSplit {
  const segEnd = offset - (offset % segmentSize) + segmentSize;
  const records: RawRecord[] = [];
  let pos = 0;
  let end = offset;
  /** Bytes to write: the records, and of an end marker its own 8 bytes (the rest of a segment is zeros already). */
  let fill = 0;
  const refuse = (why: string) => new KeelError('REPLICA_INVALID', `replicated bytes at CommitLog offset ${offset + pos}: ${why}; nothing of them was stored`);
  while (pos < buf.length && end < segEnd) {
    const here = offset + pos;
    const c = checkRecord(buf, pos, buf.length - pos, here, wholeRecordCrc);
    if (c.kind === 'invalid') throw refuse(c.reason);
    if (c.kind === 'blank') {
      if (here + c.size !== segEnd) throw refuse(`end marker of ${c.size} bytes does not reach its segment's end ${segEnd}`);
      // The rest of the segment is the marker's: whatever of it came along is not stored.
      fill = pos + 8;
      end = segEnd;
      break;
    }
    if (c.kind === 'short') {
      if (here + c.size > segEnd) throw refuse(`record of ${c.size} bytes runs past its segment's end ${segEnd}`);
      break;
    }
    const info = readRecordInfo(buf, pos);
    if (info.queueId < 0 || info.queueId >= maxQueuesPerTopic) throw refuse(`queue id ${info.queueId} out of range`);
    const slot = queues.obtain(info.topic, info.queueId);
    const want = next.get(slot) ?? slot.next;
    // A queue's first record on a fresh replica may start anywhere (the master's log had older ones).
    if (info.queueOffset !== want && !(want === 0 && slot.cq.maxOffset === 0 && !slot.cq.hasFiles && !next.has(slot))) {
      throw refuse(`queue ${info.topic}:${info.queueId} offset ${info.queueOffset} does not follow ${want}`);
    }
    next.set(slot, info.queueOffset + 1);
    records.push({ slot, queueOffset: info.queueOffset, offset: here, size: c.size, tagsCode: info.tagsCode, storeTime: info.storeTimestamp });
    pos += c.size;
    fill = pos;
    end = here + c.size;
  }
  return { bytes: buf.subarray(0, fill), records, end };
}
