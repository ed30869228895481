import type { FileIO } from '../io/file-io';
import { checkRecord, readRecordInfo } from './message-codec';
import type { CheckpointData } from './checkpoint';
import type { CommitLog } from './commit-log';
import { ConsumeQueue, listQueueDirs } from './consume-queue';
import type { Dispatcher } from './dispatcher';
import { admitDurableLoss } from './durable-loss';
import { queueDisagreement } from './queue-check';
import type { QueueTable } from './queue-table';
import type { RecoveryProgress, StoreOptions } from './options';

export interface RecoveryReport {
  /** The previous run closed the store (no abort marker and a checkpoint). */
  clean: boolean;
  millis: number;
  /** CommitLog bytes read and validated. */
  scannedBytes: number;
  /** End of the valid log; the next put goes here. */
  validEnd: number;
  /** The log was cut below what the checkpoint said was durable: records were damaged on disk. */
  truncatedBelowDurable: boolean;
  /** Why the scan stopped, when it stopped at something other than the end. */
  stopReason: string | null;
  /** ConsumeQueue entries written from the CommitLog. */
  redispatched: number;
  /** Queues whose files were missing or damaged and were rebuilt from the CommitLog. */
  rebuiltQueues: string[];
  /** Why each queue of rebuiltQueues was rebuilt, by queue ("topic:queueId"). */
  rebuildReasons: Record<string, string>;
  /**
   * CommitLog bytes the checkpoint recorded as durable that were gone at open
   * (files deleted or cut), accepted with the acceptDataLoss option: the log
   * was cut at `from` (the end of the last whole record before the first
   * missing byte), so [from, to) is lost, and the offsets from `from` on are
   * handed out again. `files` are the files found missing or short.
   */
  lostData: { from: number; to: number; files: string[] } | null;
  /** The whole CommitLog was re-read to rebuild ConsumeQueues. */
  fullRebuild: boolean;
}

interface Parts {
  io: FileIO;
  root: string;
  options: StoreOptions;
  commitLog: CommitLog;
  queues: QueueTable;
  dispatcher: Dispatcher;
  checkpoint: CheckpointData | null;
  clean: boolean;
}

const READ_CHUNK = 4 * 1024 * 1024;
const PROGRESS_AFTER_MS = 1000;
const PROGRESS_EVERY_MS = 250;

/**
 * Brings the files back to a consistent state at open.
 *
 * Work grows with what was not yet durable, not with the size of the store:
 * the CommitLog is validated from the checkpoint's last durable record on,
 * and each ConsumeQueue is trusted up to the checkpoint's durable offset.
 * Only a missing or damaged ConsumeQueue makes it re-read the whole log.
 */
export async function recover(p: Parts): Promise<RecoveryReport> {
  const started = Date.now();
  const { commitLog, queues, options } = p;
  const { loss, checkpoint: cp } = await admitDurableLoss(p.io, p.root, options, p.checkpoint);
  await commitLog.load();
  await loadQueues(p);
  if (!p.clean) {
    // A process killed while creating a segment left its name in the page cache only: recovery writes into
    // these files and records them durable, so every name it found is made durable first.
    await p.io.syncDir(commitLog.segments.dir);
    for (const s of queues.all()) await p.io.syncDir(ConsumeQueue.dirOf(p.root, s.cq.topic, s.cq.queueId));
  }
  const report: RecoveryReport = {
    clean: p.clean, millis: 0, scannedBytes: 0, validEnd: 0, truncatedBelowDurable: false,
    stopReason: null, redispatched: 0, rebuiltQueues: [], rebuildReasons: {}, fullRebuild: false,
    lostData: loss ? { from: 0, to: loss.to, files: loss.files } : null,
  };
  const rebuild = async (cq: ConsumeQueue, reason: string) => {
    const key = `${cq.topic}:${cq.queueId}`;
    report.rebuiltQueues.push(key);
    report.rebuildReasons[key] = reason;
    await cq.destroy();
  };
  const progress = makeProgress(options);
  const segs = commitLog.segments;
  if (segs.isEmpty) {
    // No log, nothing for an index to point at.
    for (const s of queues.all()) await s.cq.destroy();
    report.truncatedBelowDurable = loss !== null;
    commitLog.resumeAt(0, 0, 0);
    report.millis = Date.now() - started;
    return report;
  }
  const clMin = segs.first!.start;
  // Without a checkpoint nothing is known durable: every index entry is re-derived.
  const cqDurable = cp ? cp.consumeQueueDurable : 0;
  for (const s of queues.all()) await s.cq.recoverPrefix(cqDurable, p.clean);

  let fullRebuild = cp !== null && queues.size < cp.queueCount;
  let checked = 0;
  for (const s of queues.all()) {
    const why = await queueDisagreement(s.cq, commitLog);
    progress('consumequeue', ++checked, queues.size);
    if (why === null) continue;
    await rebuild(s.cq, why);
    fullRebuild = true;
  }
  const scanFrom = Math.max(clMin, cp ? Math.min(cp.scanFrom, cqDurable) : clMin);
  let scan = await scanLog(p, fullRebuild ? clMin : scanFrom, cp ? cp.scanFrom : clMin, progress);
  report.scannedBytes += scan.scanned;
  report.redispatched += scan.redispatched;
  if (scan.gap && !fullRebuild) {
    // A queue is missing entries the checkpoint said were durable: rebuild every damaged one from the start.
    fullRebuild = true;
    for (const s of queues.all()) {
      if (!scan.gapQueues.has(s)) continue;
      await rebuild(s.cq, 'it lacks entries for records below the durable position');
    }
    scan = await scanLog(p, clMin, cp ? cp.scanFrom : clMin, progress);
    report.scannedBytes += scan.scanned;
    report.redispatched += scan.redispatched;
  }
  report.fullRebuild = fullRebuild;
  report.stopReason = scan.stopReason;
  const validEnd = scan.end;
  report.validEnd = validEnd;
  report.truncatedBelowDurable = p.checkpoint !== null && validEnd < p.checkpoint.commitLogDurable;
  if (report.lostData) report.lostData.from = validEnd;

  if (!p.clean || !cp || validEnd !== cp.commitLogDurable) {
    // Whatever lies past the valid end (torn or unacknowledged bytes) must never be found by a later scan.
    await segs.truncateFrom(validEnd);
    // What the scan validated may still be only in the page cache (the previous process was killed):
    // every segment of it is made durable before the checkpoint records it or a consumer reads it.
    await segs.datasyncRange(cp ? cp.scanFrom : clMin, validEnd);
  }
  for (const s of queues.all()) {
    if (s.cq.maxPhysicalEnd > validEnd) await s.cq.truncateByPhysical(validEnd);
    // After a crash, or when the log lost records, index files may hold stale entries past the end: cut them.
    else if (!p.clean || loss) await s.cq.truncateFrom(s.cq.maxOffset);
    s.next = s.cq.maxOffset;
  }
  commitLog.resumeAt(validEnd, scan.lastRecordStart, scan.lastStoreTime);
  report.millis = Date.now() - started;
  return report;
}

async function loadQueues(p: Parts): Promise<void> {
  for (const { topic, queueId } of await listQueueDirs(p.io, p.root)) {
    const cq = await ConsumeQueue.load(p.io, p.root, topic, queueId, p.options.consumeQueueEntries);
    if (cq.hasFiles) p.queues.add(cq);
  }
}

interface ScanResult {
  end: number;
  lastRecordStart: number;
  lastStoreTime: number;
  scanned: number;
  redispatched: number;
  stopReason: string | null;
  gap: boolean;
  gapQueues: Set<unknown>;
}

/**
 * Walks records from `from`, checking structure everywhere and CRCs from
 * `verifyFrom` on (below it the log was durable and already verified), and
 * dispatches each record to its queue. Stops at the first invalid record.
 */
async function scanLog(p: Parts, from: number, verifyFrom: number, progress: Progress): Promise<ScanResult> {
  const { commitLog, queues, dispatcher, options } = p;
  const segs = commitLog.segments;
  const res: ScanResult = { end: from, lastRecordStart: from, lastStoreTime: 0, scanned: 0, redispatched: 0, stopReason: null, gap: false, gapQueues: new Set() };
  const total = segs.last!.end - from;
  let offset = from;
  let buf = Buffer.allocUnsafe(READ_CHUNK);
  outer: while (true) {
    const seg = segs.find(offset);
    if (!seg) break;
    // Read a chunk starting at `offset`, never past the segment's end.
    const want = Math.min(buf.length, seg.end - offset);
    const got = await seg.read(buf, 0, want, offset - seg.start);
    let pos = 0;
    while (pos < got) {
      const here = offset + pos;
      const avail = got - pos;
      const check = checkRecord(buf, pos, avail, here, options.wholeRecordCrc, here >= verifyFrom);
      if (check.kind === 'short') {
        if (check.size > seg.end - here) { res.stopReason = `record at ${here} claims ${check.size} bytes, past its segment's end`; break outer; }
        if (pos === 0) {
          // One record bigger than the buffer: grow and re-read.
          buf = Buffer.allocUnsafe(Math.max(check.size, buf.length * 2));
        }
        break;
      }
      if (check.kind === 'invalid') {
        // Zeros are the untouched rest of a segment: the log simply ends there.
        if (buf.readUInt32BE(pos) !== 0 || buf.readUInt32BE(pos + 4) !== 0) res.stopReason = `${check.reason} at offset ${here}`;
        break outer;
      }
      if (check.kind === 'blank') {
        if (here + check.size !== seg.end) { res.stopReason = `end marker at ${here} does not reach its segment's end`; break outer; }
        offset = seg.end;
        res.scanned += check.size;
        res.end = offset;
        continue outer;
      }
      const info = readRecordInfo(buf, pos);
      if (info.queueId < 0 || info.queueId >= options.maxQueuesPerTopic) { res.stopReason = `queue id ${info.queueId} out of range at offset ${here}`; break outer; }
      const slot = queues.obtain(info.topic, info.queueId);
      const outcome = dispatcher.dispatch(slot, info.queueOffset, here, check.size, info.tagsCode);
      if (outcome === 'appended') res.redispatched++;
      else if (outcome === 'gap') { res.gap = true; res.gapQueues.add(slot); }
      pos += check.size;
      res.scanned += check.size;
      res.end = here + check.size;
      res.lastRecordStart = here;
      res.lastStoreTime = info.storeTimestamp;
      progress('commitlog', res.end - from, total);
    }
    if (pos === 0 && got === 0) break;
    offset += pos;
  }
  return res;
}

type Progress = (phase: RecoveryProgress['phase'], done: number, total: number) => void;

function makeProgress(options: StoreOptions): Progress {
  const cb = options.onProgress;
  if (!cb) return () => undefined;
  const clock = options.clock;
  const t0 = clock.now();
  let last = t0;
  return (phase, done, total) => {
    const now = clock.now();
    if (now - t0 < PROGRESS_AFTER_MS || now - last < PROGRESS_EVERY_MS) return;
    last = now;
    cb({ phase, done, total });
  };
}
