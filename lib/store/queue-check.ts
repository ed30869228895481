import { MAGIC_V1, RECORD_FIXED_OVERHEAD, readRecordInfo } from './message-codec';
import type { CommitLog } from './commit-log';
import type { ConsumeQueue } from './consume-queue';

/**
 * Why a ConsumeQueue found at open disagrees with the CommitLog, or null when
 * it agrees: its files are whole (full size, nothing but zeros before its
 * first entry), and its first and last entries each point at the record of
 * that queue with that queue offset. A few reads per queue, whatever its
 * length, so a clean open stays fast with many queues. Damage between the
 * first and the last entry of a full-size file is left to `audit`.
 */
export async function queueDisagreement(cq: ConsumeQueue, commitLog: CommitLog): Promise<string | null> {
  if (cq.openDamage) return cq.openDamage;
  if (cq.maxOffset <= cq.minOffset) return null;
  if (!(await entryMatches(cq, commitLog, cq.minOffset))) return `its first entry (${cq.minOffset}) does not point at that message of the queue`;
  if (!(await entryMatches(cq, commitLog, cq.maxOffset - 1))) return `its last entry (${cq.maxOffset - 1}) does not point at that message of the queue`;
  return null;
}

async function entryMatches(cq: ConsumeQueue, commitLog: CommitLog, offset: number): Promise<boolean> {
  const e = await cq.entry(offset);
  if (!e || e.size < RECORD_FIXED_OVERHEAD) return false;
  // Entries whose records the reaper deleted cannot be checked, and must not cause a rebuild: rebuilt
  // from what is left, an idle queue would be empty and its offsets would start again at 0.
  if (e.physicalOffset + e.size <= commitLog.minOffset) return true;
  const buf = await commitLog.read(e.physicalOffset, e.size);
  if (!buf || buf.readInt32BE(0) !== e.size || buf.readUInt32BE(4) !== MAGIC_V1) return false;
  const info = readRecordInfo(buf, 0);
  return info.topic === cq.topic && info.queueId === cq.queueId && info.queueOffset === e.queueOffset;
}
