import * as path from 'path';
import type { FileIO } from '../io/file-io';
import { KeelError } from '../common/errors';
import type { CheckpointData } from './checkpoint';
import type { StoreOptions } from './options';
import { parseSegmentName, segmentName } from './segment-file';

/** CommitLog bytes the checkpoint recorded as durable that the segment files no longer hold. */
export interface DurableLoss {
  /** The first byte missing (0 when no segment is left at all). */
  from: number;
  /** The checkpoint's durable position: everything in [from, to) was acknowledged durable. */
  to: number;
  /** The segment files at fault, relative to the data directory: missing, or shorter than the bytes they held. */
  files: string[];
  /** One line per file: what is wrong with it. */
  detail: string;
}

/**
 * Compares the CommitLog's segment files with the checkpoint's durable
 * position, by names and sizes only (no data is read, nothing is changed):
 * every segment from the first one on disk up to `durable` must exist, and
 * hold its bytes below `durable` (a file is cut only by hand or by a damaged
 * file system: the store creates segments at full size before writing to
 * them). Leading segments may be missing: that is what the reaper does, and
 * it may delete past the checkpoint's durable position (it follows the live
 * flushed offset), so a missing head cannot be told from its work.
 *
 * Recovery runs it before the files are opened (opening extends a short
 * segment), and audit reports what it finds.
 */
export async function findDurableLoss(io: Pick<FileIO, 'readdir' | 'stat'>, root: string, segmentSize: number, durable: number): Promise<DurableLoss | null> {
  if (durable <= 0) return null;
  const dir = path.join(root, 'commitlog');
  let names: string[];
  try {
    names = await io.readdir(dir);
  } catch (e) {
    if ((e as { code?: string }).code !== 'ENOENT') throw e;
    names = [];
  }
  const starts = names.map(parseSegmentName).filter((s): s is number => s !== null).sort((a, b) => a - b);
  const rel = (start: number) => path.join('commitlog', segmentName(start));
  const files: string[] = [];
  const lines: string[] = [];
  let from = Infinity;
  const missing = (start: number) => {
    from = Math.min(from, start);
    files.push(rel(start));
    lines.push(`${rel(start)} is missing`);
  };
  if (starts.length === 0) {
    // Nothing tells which segments the reaper had deleted before: name the one that held the durable end.
    const last = durable - 1 - ((durable - 1) % segmentSize);
    files.push(rel(last));
    lines.push(`commitlog/ holds no segment (${rel(last)} held the durable end)`);
    from = 0;
  }
  for (let i = 0; i < starts.length && starts[i] < durable; i++) {
    const start = starts[i];
    // A gap between segments (the open refuses it anyway) is lost durable data too.
    if (i > 0) for (let s = starts[i - 1] + segmentSize; s < start && s < durable; s += segmentSize) missing(s);
    const need = Math.min(segmentSize, durable - start);
    const st = await io.stat(path.join(dir, segmentName(start)));
    const size = st ? st.size : 0;
    if (size < need) {
      from = Math.min(from, start + size);
      files.push(rel(start));
      lines.push(`${rel(start)} is ${size} bytes: it held ${need}`);
    }
  }
  if (starts.length) for (let s = starts[starts.length - 1] + segmentSize; s < durable; s += segmentSize) missing(s);
  if (files.length === 0) return null;
  return { from, to: durable, files, detail: lines.join('; ') };
}

/**
 * At open, before the segments are opened: refuses a CommitLog that lost
 * durable bytes with CORRUPT_STORE, or with `acceptDataLoss` removes the
 * segments from the first missing byte on (the log must stay a gap-free run)
 * and returns the checkpoint recovery must start from: durable up to that
 * byte, validated from the start of the segment before it.
 */
export async function admitDurableLoss(
  io: FileIO, root: string, options: Pick<StoreOptions, 'commitLogSegmentSize' | 'acceptDataLoss'>, cp: CheckpointData | null,
): Promise<{ loss: DurableLoss | null; checkpoint: CheckpointData | null }> {
  const size = options.commitLogSegmentSize;
  const loss = cp ? await findDurableLoss(io, root, size, cp.commitLogDurable) : null;
  if (!loss || !cp) return { loss: null, checkpoint: cp };
  if (!options.acceptDataLoss) {
    throw new KeelError('CORRUPT_STORE', `${path.join(root, loss.files[0])}: the CommitLog lost bytes ${loss.from}..${loss.to} that the checkpoint recorded as durable (${loss.detail}). Restore the files, or open with acceptDataLoss: true to cut the log at ${loss.from} (store.recovery.lostData then says what went)`);
  }
  const dir = path.join(root, 'commitlog');
  const doomed = (await io.readdir(dir).catch(() => [] as string[])).map(parseSegmentName).filter((s): s is number => s !== null && s >= loss.from);
  // Newest first, as SegmentQueue.truncateFrom does, so a crash midway leaves no gap.
  for (const s of doomed.sort((a, b) => b - a)) await io.unlink(path.join(dir, segmentName(s)));
  if (doomed.length) await io.syncDir(dir);
  const holder = loss.from > 0 ? loss.from - 1 - ((loss.from - 1) % size) : 0;
  return {
    loss,
    checkpoint: {
      ...cp,
      commitLogDurable: loss.from,
      scanFrom: Math.min(cp.scanFrom, holder),
      consumeQueueDurable: Math.min(cp.consumeQueueDurable, loss.from),
    },
  };
}
