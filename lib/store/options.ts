import type { Clock } from '../common/clock';
import { systemClock } from '../common/clock';
import type { FileIO } from '../io/file-io';
import { nodeFileIO } from '../io/node-file-io';
import { KeelError } from '../common/errors';
import { boolean, checkOptions, fn, implementing, integer, oneOf, string, timerMs, type OptionRule, type OptionRules } from '../common/options-check';
import { parseHost } from './message-codec';

export type FlushMode = 'SYNC' | 'ASYNC';

export interface RecoveryProgress {
  /** consumequeue: every queue is checked against the CommitLog; commitlog: the log is validated (and indexed where needed). */
  phase: 'commitlog' | 'consumequeue';
  /** Bytes (commitlog) or queues (consumequeue) done so far, and the total to do. */
  done: number;
  total: number;
}

export interface StoreOptions {
  /** ASYNC (default): timed flush; SYNC: group commit, a put resolves after an fdatasync covering it. */
  flushMode: FlushMode;
  /** Bytes per CommitLog segment; 1 GiB as in RocketMQ. Tests use a few KiB so segments roll. */
  commitLogSegmentSize: number;
  /** Entries (20 bytes each) per ConsumeQueue segment. */
  consumeQueueEntries: number;
  maxBodySize: number;
  maxTopicLength: number;
  maxPropertiesLength: number;
  /** Queue ids run from 0 to maxQueuesPerTopic - 1. */
  maxQueuesPerTopic: number;
  /** A SYNC put not covered by an fsync after this long resolves with FLUSH_DISK_TIMEOUT. */
  syncFlushTimeoutMs: number;
  /** ASYNC flush: every interval, when at least asyncFlushLeastBytes are dirty... */
  asyncFlushIntervalMs: number;
  asyncFlushLeastBytes: number;
  /** ...and whatever is dirty after this long. */
  asyncFlushThoroughIntervalMs: number;
  /** How often durable positions are written to the checkpoint (and ConsumeQueues flushed). */
  checkpointIntervalMs: number;
  /** Append the `__CRC32#` whole-record CRC property (recommended; recovery then catches torn headers). */
  wholeRecordCrc: boolean;
  /**
   * Compute the CRCs of large writes (crcWorkerMinBytes and up) on a worker thread
   * while the next write is encoded. Off: all on the calling thread. The bytes on
   * disk are the same either way.
   */
  crcWorker: boolean;
  /** Smaller writes are checksummed inline: the round trip to the worker would cost more than it saves. */
  crcWorkerMinBytes: number;
  /** Check both CRCs of every record read; a damaged one is refused with CORRUPT_STORE instead of served. */
  verifyReads: boolean;
  /**
   * Bytes of the newest written CommitLog kept in memory, so reads of fresh
   * messages need no disk read (RocketMQ reads them from its mapped file).
   * Allocated on the first write; 0 (the default) turns it off: the copy into
   * it costs batch appends 10 % (8 MiB) to 40 % (64 MiB, pages faulted in).
   */
  readWindowBytes: number;
  /** "ip:port" written as the store host of every record and used in message ids. */
  storeHost: string;
  io: FileIO;
  clock: Clock;
  /**
   * Open a store whose CommitLog lost bytes the checkpoint recorded as durable
   * (a segment deleted or cut by hand, a damaged file system): the log is cut
   * at the first missing byte and recovery.lostData says what went. Off: such
   * an open fails with CORRUPT_STORE naming the files, and changes nothing.
   */
  acceptDataLoss: boolean;
  /** Called during long recoveries (at most every 250 ms). */
  onProgress?: (p: RecoveryProgress) => void;
  /**
   * Called when an onArrival listener throws or rejects; the put that made the
   * messages readable is not affected. Default: one process warning, then only
   * stats().listenerErrors counts them.
   */
  onListenerError?: (error: unknown, topic: string, queueId: number) => void;
  /** Reaper: CommitLog segments last modified longer ago than this are deleted (72 h, RocketMQ's fileReservedTime). */
  fileReservedTimeMs: number;
  /** Reaper: local hours ("04", or "04;05") at which expired segments are deleted; "" never by hour (only by disk usage or deleteExpired()). */
  deleteWhen: string;
  /** Reaper: above this used fraction of the CommitLog's partition, expired segments are deleted at any hour. */
  diskMaxUsedSpaceRatio: number;
  /** Reaper: above this, the oldest segments are deleted whatever their age; DISK_FULL clears below it. */
  diskSpaceCleanForciblyRatio: number;
  /** Above this, every put fails with DISK_FULL until usage falls below diskSpaceCleanForciblyRatio. */
  diskSpaceWarningLevelRatio: number;
  /** Reaper: how often it checks the disk and deletes (the first pass runs 60 s after open). */
  cleanResourceIntervalMs: number;
  /** Reaper: CommitLog segments deleted per pass at most. */
  deleteFileBatchMax: number;
  /** A deleted segment still being read goes when its readers finish, or after this long regardless. */
  destroyMappedFileIntervalForciblyMs: number;
}

export const DEFAULT_COMMITLOG_SEGMENT_SIZE = 1024 * 1024 * 1024;
export const DEFAULT_CONSUMEQUEUE_ENTRIES = 300_000;
export const DEFAULT_MAX_BODY_SIZE = 4 * 1024 * 1024;
export const DEFAULT_MAX_TOPIC_LENGTH = 127;
export const DEFAULT_MAX_PROPERTIES_LENGTH = 32767;

export function defaultOptions(): StoreOptions {
  return {
    flushMode: 'ASYNC',
    commitLogSegmentSize: DEFAULT_COMMITLOG_SEGMENT_SIZE,
    consumeQueueEntries: DEFAULT_CONSUMEQUEUE_ENTRIES,
    maxBodySize: DEFAULT_MAX_BODY_SIZE,
    maxTopicLength: DEFAULT_MAX_TOPIC_LENGTH,
    maxPropertiesLength: DEFAULT_MAX_PROPERTIES_LENGTH,
    maxQueuesPerTopic: 1024,
    syncFlushTimeoutMs: 5000,
    asyncFlushIntervalMs: 500,
    asyncFlushLeastBytes: 16 * 1024,
    asyncFlushThoroughIntervalMs: 10_000,
    checkpointIntervalMs: 1000,
    wholeRecordCrc: true,
    crcWorker: true,
    crcWorkerMinBytes: 64 * 1024,
    verifyReads: true,
    readWindowBytes: 0,
    acceptDataLoss: false,
    storeHost: '127.0.0.1:10911',
    io: nodeFileIO,
    clock: systemClock,
    fileReservedTimeMs: 72 * 3600 * 1000,
    deleteWhen: '04',
    diskMaxUsedSpaceRatio: 0.75,
    diskSpaceCleanForciblyRatio: 0.85,
    diskSpaceWarningLevelRatio: 0.90,
    cleanResourceIntervalMs: 10_000,
    deleteFileBatchMax: 10,
    destroyMappedFileIntervalForciblyMs: 120_000,
  };
}

const ratio: OptionRule = (v) => (typeof v === 'number' && v > 0 && v <= 1 ? null : 'a fraction in (0, 1]');
const host: OptionRule = (v) => {
  try {
    parseHost(v as string);
    return null;
  } catch {
    return '"a.b.c.d:port" (IPv4, port <= 65535)';
  }
};

const STORE_OPTION_RULES: OptionRules<StoreOptions> = {
  flushMode: oneOf('SYNC', 'ASYNC'),
  commitLogSegmentSize: integer(4096),
  consumeQueueEntries: integer(16),
  maxBodySize: integer(0),
  // v1 records have a 1-byte topic length and a 2-byte signed properties length.
  maxTopicLength: integer(1, 127),
  maxPropertiesLength: integer(0, 32767),
  maxQueuesPerTopic: integer(1),
  syncFlushTimeoutMs: timerMs(),
  asyncFlushIntervalMs: timerMs(),
  asyncFlushLeastBytes: integer(0),
  // Compared with elapsed time, never a timer's delay.
  asyncFlushThoroughIntervalMs: integer(1),
  checkpointIntervalMs: timerMs(),
  wholeRecordCrc: boolean,
  crcWorker: boolean,
  crcWorkerMinBytes: integer(1),
  verifyReads: boolean,
  readWindowBytes: integer(0),
  acceptDataLoss: boolean,
  storeHost: host,
  io: implementing('open', 'readdir', 'mkdirp', 'stat', 'unlink', 'rmdir', 'rename', 'syncDir', 'lock', 'statfs'),
  clock: implementing('now', 'setTimeout'),
  onProgress: fn,
  onListenerError: fn,
  // An age compared with file times: may exceed a timer's range (30 days is common).
  fileReservedTimeMs: integer(0),
  deleteWhen: string,
  diskMaxUsedSpaceRatio: ratio,
  diskSpaceCleanForciblyRatio: ratio,
  diskSpaceWarningLevelRatio: ratio,
  cleanResourceIntervalMs: timerMs(),
  deleteFileBatchMax: integer(1),
  destroyMappedFileIntervalForciblyMs: timerMs(0),
};

/** Fills defaults and rejects unknown, mistyped and impossible options once, at open, before any file is touched. */
export function resolveOptions(partial?: Partial<StoreOptions>): StoreOptions {
  const o: StoreOptions = { ...defaultOptions(), ...checkOptions('store', partial, STORE_OPTION_RULES) };
  // The largest record must fit in a segment with room for the 8-byte end marker.
  const largest = 91 + o.maxBodySize + o.maxTopicLength + o.maxPropertiesLength + 8;
  if (largest > o.commitLogSegmentSize) {
    throw new KeelError('OPTION_INVALID', `commitLogSegmentSize ${o.commitLogSegmentSize} cannot hold the largest record (${largest} bytes): lower maxBodySize/maxPropertiesLength or raise the segment size`);
  }
  parseDeleteWhen(o.deleteWhen);
  const ratios = [o.diskMaxUsedSpaceRatio, o.diskSpaceCleanForciblyRatio, o.diskSpaceWarningLevelRatio];
  // Ordered so that DISK_FULL can only be reached after forced deletion had its chance, and clears below it.
  if (!(ratios[0] <= ratios[1] && ratios[1] <= ratios[2])) {
    throw new KeelError('OPTION_INVALID', `options diskMaxUsedSpaceRatio <= diskSpaceCleanForciblyRatio <= diskSpaceWarningLevelRatio must be fractions in (0, 1], got ${ratios.join(', ')}`);
  }
  return o;
}

/** The hours of a deleteWhen option ("04;05"), or OPTION_INVALID. */
export function parseDeleteWhen(v: unknown): Set<number> {
  if (typeof v !== 'string') throw new KeelError('OPTION_INVALID', `option deleteWhen must be a string of hours like "04;05", got ${String(v)}`);
  const hours = new Set<number>();
  if (v.trim() === '') return hours;
  for (const part of v.split(';')) {
    const h = part.trim();
    if (!/^\d{1,2}$/.test(h) || Number(h) > 23) throw new KeelError('OPTION_INVALID', `option deleteWhen must list hours 00-23 separated by ";", got ${JSON.stringify(v)}`);
    hours.add(Number(h));
  }
  return hours;
}
