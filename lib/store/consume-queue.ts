import * as path from 'path';
import type { FileIO } from '../io/file-io';
import type { QueueEntry } from '../common/message';
import { SegmentQueue } from './segment-queue';
import type { SegmentFile } from './segment-file';
import { readLong } from './checkpoint';

export const CQ_ENTRY_SIZE = 20;
/** Entries per read when scanning a file: about 1 MiB. */
const SCAN_CHUNK = 52428;
/** File bytes a read of entries fetches at once: 16,384 entries. */
const CQ_READ_AHEAD = 16384 * CQ_ENTRY_SIZE;
/** The unit in which a file system allocates space (see reachesNewPage). */
const DISK_PAGE = 4096;

/** Outcome of handing an entry to a queue. */
export type AppendOutcome = 'appended' | 'present' | 'gap';

/**
 * The index of one (topic, queue): entry i, 20 bytes at byte i × 20, says where
 * message i of the queue sits in the CommitLog (offset 8 · size 4 · tags code 8).
 * It can always be rebuilt from the CommitLog, so it is flushed lazily.
 *
 * Entries are visible as soon as they are appended (they live in memory until
 * written); the dispatcher appends only what the CommitLog has made durable
 * for the current flush mode.
 */
export class ConsumeQueue {
  /** First readable queue offset. */
  minOffset = 0;
  /** Next queue offset: entries [minOffset, maxOffset) exist. */
  maxOffset = 0;
  /** End (offset + size) of the furthest CommitLog record this queue points at. */
  maxPhysicalEnd = 0;
  /** Entries below this are written to the files (the rest are in `mem`). */
  private fileMax = 0;
  private mem = Buffer.allocUnsafe(64 * CQ_ENTRY_SIZE);
  /** Over `mem`: one byte-swapped store per field instead of Buffer's checked writes. */
  private memView = new DataView(this.mem.buffer, this.mem.byteOffset, this.mem.length);
  private writing: Promise<void> | null = null;
  private cutting: Promise<void> | null = null;
  /** Lowest byte written to the files but not yet fsynced, or -1. */
  private unsyncedFrom = -1;
  /** An entry write of this process succeeded. */
  private wroteOnce = false;
  /** An fdatasync of this queue's files is in flight. */
  private syncing = false;
  /** True until the queue has its first entry or file: a fresh queue may start at any offset. */
  private fresh: boolean;
  private dirReady: Promise<void> | null = null;
  /** File bytes read past the last read (see readFile). */
  private ahead: { pos: number; buf: Buffer } | null = null;
  /** Why the files found at open cannot be trusted as they are (then recovery rebuilds the queue), or null. */
  openDamage: string | null = null;

  private constructor(
    private readonly io: FileIO,
    private readonly files: SegmentQueue,
    readonly topic: string,
    readonly queueId: number,
  ) {
    this.fresh = files.isEmpty;
  }

  static dirOf(root: string, topic: string, queueId: number): string {
    return path.join(root, 'consumequeue', topic, String(queueId));
  }

  /** Opens a queue's files; `maxOffset` stays at the start of the files until recover() finds the end. */
  static async load(io: FileIO, root: string, topic: string, queueId: number, entriesPerFile: number): Promise<ConsumeQueue> {
    const files = await SegmentQueue.load(io, ConsumeQueue.dirOf(root, topic, queueId), entriesPerFile * CQ_ENTRY_SIZE);
    const q = new ConsumeQueue(io, files, topic, queueId);
    const first = files.first;
    if (first) {
      q.minOffset = q.maxOffset = q.fileMax = first.start / CQ_ENTRY_SIZE;
      q.dirReady = Promise.resolve();
    }
    return q;
  }

  static create(io: FileIO, root: string, topic: string, queueId: number, entriesPerFile: number): ConsumeQueue {
    const files = new SegmentQueue(io, ConsumeQueue.dirOf(root, topic, queueId), entriesPerFile * CQ_ENTRY_SIZE);
    return new ConsumeQueue(io, files, topic, queueId);
  }

  get hasFiles(): boolean { return !this.files.isEmpty; }

  /**
   * Adds the entry for message `queueOffset`. Re-adding one that exists is a
   * no-op, so dispatching the same records twice (recovery) changes nothing.
   */
  append(queueOffset: number, physicalOffset: number, size: number, tagsCode: number): AppendOutcome {
    if (queueOffset < this.maxOffset) return 'present';
    if (queueOffset > this.maxOffset) {
      if (!this.fresh) return 'gap';
      // A queue rebuilt after the reaper removed its head starts where the surviving records start.
      this.minOffset = this.maxOffset = this.fileMax = queueOffset;
    }
    this.fresh = false;
    const at = (this.maxOffset - this.fileMax) * CQ_ENTRY_SIZE;
    if (at + CQ_ENTRY_SIZE > this.mem.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.mem.length * 2, at + CQ_ENTRY_SIZE));
      this.mem.copy(bigger, 0, 0, at);
      // The old buffer stays referenced by an in-flight write, so it is never modified again.
      this.mem = bigger;
      this.memView = new DataView(bigger.buffer, bigger.byteOffset, bigger.length);
    }
    const v = this.memView;
    v.setUint32(at, Math.floor(physicalOffset / 0x1_0000_0000));
    v.setUint32(at + 4, physicalOffset >>> 0);
    v.setInt32(at + 8, size);
    // Sign-extended like Java's long of an int hash code.
    v.setInt32(at + 12, Math.floor(tagsCode / 0x1_0000_0000));
    v.setUint32(at + 16, tagsCode >>> 0);
    this.maxOffset++;
    const end = physicalOffset + size;
    if (end > this.maxPhysicalEnd) this.maxPhysicalEnd = end;
    return 'appended';
  }

  /**
   * Writes the entries appended before the call to the files (one write per
   * segment touched): after the write in flight, one more for what it missed.
   * One write at a time, each of what is there when it starts: entries
   * arriving meanwhile wait for the next commit rather than chain writes.
   */
  async commit(): Promise<void> {
    const goal = this.maxOffset;
    // A cut meanwhile may lower maxOffset below the goal: what it dropped needs no write.
    while (this.fileMax < Math.min(goal, this.maxOffset)) {
      if (!this.writing) {
        const cut = this.cutting;
        this.writing = (async () => {
          await cut;
          await this.writeMem();
        })().finally(() => { this.writing = null; });
      }
      await this.writing;
    }
  }

  /**
   * Runs a cut of the files with no entry write in between: it waits for the
   * write in flight (and earlier cuts), and writes started meanwhile wait for
   * it. Otherwise a segment a write creates during the cut would be dropped
   * from the list while the entries in it count as written.
   */
  private cut(fn: () => Promise<void>): Promise<void> {
    this.ahead = null;
    const before = [this.writing, this.cutting];
    const run = (async () => {
      for (const p of before) await p?.catch(() => undefined);
      await fn();
    })();
    const guard: Promise<void> = run.catch(() => undefined).then(() => { if (this.cutting === guard) this.cutting = null; });
    this.cutting = guard;
    return run;
  }

  private async writeMem(): Promise<void> {
    if (this.maxOffset <= this.fileMax) return;
    // A failed attempt (a full disk) is forgotten, so the next commit tries again.
    if (!this.dirReady) this.dirReady = this.makeDir().catch((e) => { this.dirReady = null; throw e; });
    await this.dirReady;
    const target = this.maxOffset;
    const buf = this.mem;
    let from = this.fileMax * CQ_ENTRY_SIZE;
    const to = target * CQ_ENTRY_SIZE;
    let memPos = 0;
    while (from < to) {
      const seg = this.files.obtain(from);
      const n = Math.min(to, seg.end) - from;
      // A few KiB at most per interval: a copy into the page cache, cheaper on the main thread than
      // a hop through the pool (as the CommitLog's small writes; not while this queue's fsync runs).
      if (seg.canWriteSync && !this.syncing) {
        seg.writeSync(buf, memPos, n, from - seg.start);
      } else {
        await seg.ready;
        await seg.write(buf, memPos, n, from - seg.start);
      }
      if (this.unsyncedFrom < 0 || from < this.unsyncedFrom) this.unsyncedFrom = from;
      from += n;
      memPos += n;
    }
    this.wroteOnce = true;
    // Drop the written entries from memory.
    const left = (this.maxOffset - target) * CQ_ENTRY_SIZE;
    // (If appends outgrew `buf` meanwhile, `mem` is a copy with the same layout.)
    this.mem.copy(this.mem, 0, memPos, memPos + left);
    this.fileMax = target;
  }

  private async makeDir(): Promise<void> {
    const dir = this.files.dir;
    await this.io.mkdirp(dir);
    // The queue's directory chain must be durable before its first entry is, or a power cut forgets the whole queue.
    // Each directory is synced in its parent from the store root down (consumequeue/ too: it is made with the first queue).
    const topicDir = path.dirname(dir);
    const cqRoot = path.dirname(topicDir);
    await this.io.syncDir(path.dirname(cqRoot));
    await this.io.syncDir(cqRoot);
    await this.io.syncDir(topicDir);
    await this.io.syncDir(dir);
  }

  /** Writes and fsyncs every entry appended before the call. */
  async flush(): Promise<void> {
    await this.commit();
    if (this.unsyncedFrom < 0) return;
    const from = this.unsyncedFrom;
    this.unsyncedFrom = -1;
    this.syncing = true;
    try {
      await this.files.datasyncRange(from, this.fileMax * CQ_ENTRY_SIZE);
    } catch (e) {
      this.unsyncedFrom = from;
      throw e;
    } finally {
      this.syncing = false;
    }
  }

  /** Entries appended and not yet written to the files. */
  get unwritten(): number { return this.maxOffset - this.fileMax; }

  /**
   * Whether the unwritten entries reach a disk page that no write of this
   * process touched yet (conservatively: any page past the last one written,
   * and every page before this process wrote anything). Writing into a new
   * page is what needs free space on the disk.
   */
  get reachesNewPage(): boolean {
    if (this.maxOffset <= this.fileMax) return false;
    if (!this.wroteOnce) return true;
    const size = this.files.segmentSize;
    const last = this.fileMax * CQ_ENTRY_SIZE - 1;
    const next = this.maxOffset * CQ_ENTRY_SIZE - 1;
    if (Math.floor(last / size) !== Math.floor(next / size)) return true;
    return Math.floor((last % size) / DISK_PAGE) !== Math.floor((next % size) / DISK_PAGE);
  }

  get isDirty(): boolean { return this.maxOffset > this.fileMax || this.unsyncedFrom >= 0; }

  /** Raw entries [from, from + count) clipped to [minOffset, maxOffset). */
  async readRaw(from: number, count: number): Promise<{ from: number; count: number; buf: Buffer }> {
    from = Math.max(from, this.minOffset);
    const end = Math.min(from + count, this.maxOffset);
    if (end <= from) return { from, count: 0, buf: Buffer.alloc(0) };
    const out = Buffer.allocUnsafe((end - from) * CQ_ENTRY_SIZE);
    // Snapshot the memory part first: a write finishing during the file reads would shift it.
    const fileMax = this.fileMax;
    const memFrom = Math.max(from, fileMax);
    if (memFrom < end) this.mem.copy(out, (memFrom - from) * CQ_ENTRY_SIZE, (memFrom - fileMax) * CQ_ENTRY_SIZE, (end - fileMax) * CQ_ENTRY_SIZE);
    let pos = from * CQ_ENTRY_SIZE;
    const fileEnd = Math.min(end, fileMax) * CQ_ENTRY_SIZE;
    while (pos < fileEnd) {
      const seg = this.files.find(pos);
      let got = 0;
      if (seg && seg.acquire()) {
        try {
          got = await this.readFile(seg, out, pos - from * CQ_ENTRY_SIZE, Math.min(fileEnd, seg.end) - pos, pos, fileMax * CQ_ENTRY_SIZE);
        } finally {
          seg.release();
        }
      }
      if (got <= 0) {
        // The reaper removed the file under us: answer with the whole entries read so far, never unread buffer bytes.
        const count = Math.floor(pos / CQ_ENTRY_SIZE) - from;
        return { from, count, buf: out.subarray(0, count * CQ_ENTRY_SIZE) };
      }
      pos += got;
    }
    return { from, count: end - from, buf: out };
  }

  /**
   * Copies `length` file bytes at `pos` of `seg` into `out`: from the last
   * read-ahead when it holds them, else with one read of up to
   * CQ_READ_AHEAD bytes (below `written`), kept for the next calls of a
   * consumer reading in order. Entries in the files never change between
   * cuts, and every cut drops the read-ahead.
   */
  private async readFile(seg: SegmentFile, out: Buffer, outPos: number, length: number, pos: number, written: number): Promise<number> {
    const a = this.ahead;
    if (a && pos >= a.pos && pos + length <= a.pos + a.buf.length) {
      a.buf.copy(out, outPos, pos - a.pos, pos - a.pos + length);
      return length;
    }
    const want = Math.max(length, Math.min(CQ_READ_AHEAD, Math.min(written, seg.end) - pos));
    if (want === length) return seg.read(out, outPos, length, pos - seg.start);
    const buf = Buffer.allocUnsafe(want);
    const n = await seg.read(buf, 0, want, pos - seg.start);
    if (n <= 0) return n;
    this.ahead = { pos, buf: buf.subarray(0, n) };
    const got = Math.min(n, length);
    buf.copy(out, outPos, 0, got);
    return got;
  }

  async read(from: number, count: number): Promise<QueueEntry[]> {
    const raw = await this.readRaw(from, count);
    const out: QueueEntry[] = [];
    for (let i = 0; i < raw.count; i++) out.push(decodeEntry(raw.buf, i * CQ_ENTRY_SIZE, raw.from + i));
    return out;
  }

  async entry(offset: number): Promise<QueueEntry | null> {
    const [e] = await this.read(offset, 1);
    return e && e.queueOffset === offset ? e : null;
  }

  /**
   * Finds the end of the trustworthy prefix of the files after a restart:
   * entries that are valid, ascending, and point below `durableBelow` (entries
   * for later records may be torn or stale after a power cut; recovery
   * re-dispatches those). With `clean`, every entry is trusted and a binary
   * search suffices.
   */
  async recoverPrefix(durableBelow: number, clean: boolean): Promise<void> {
    const segs = this.files.segments;
    if (segs.length === 0) return;
    // Files are created at full size before any entry goes in, so a shorter one lost entries; except
    // an empty last file after a crash, whose creation was cut short (its entries were never durable).
    const short = segs.find((f, i) => f.sizeAtOpen < f.size && (clean || i < segs.length - 1 || f.sizeAtOpen > 0));
    if (short) this.openDamage = `file ${path.basename(short.path)} is ${short.sizeAtOpen} bytes, not ${short.size}`;
    const first = segs[0];
    // The first valid entry of the first file is the queue's minimum (files may start with placeholders).
    this.minOffset = await this.findFirstValid(first.start / CQ_ENTRY_SIZE, first.end / CQ_ENTRY_SIZE, durableBelow);
    let end = this.minOffset;
    for (let i = segs.length - 1; i >= 0; i--) {
      const lo = Math.max(segs[i].start / CQ_ENTRY_SIZE, this.minOffset);
      const hi = segs[i].end / CQ_ENTRY_SIZE;
      if (lo >= hi) continue;
      const e = await this.readFileEntry(lo);
      if (!(e && e.size > 0 && e.physicalOffset + e.size <= durableBelow)) continue;
      end = clean ? await this.searchEnd(lo, hi, durableBelow) : await this.scanEnd(lo, hi, durableBelow);
      break;
    }
    this.maxOffset = this.fileMax = end;
    this.fresh = false;
    const last = end > this.minOffset ? await this.readFileEntry(end - 1) : null;
    this.maxPhysicalEnd = last ? last.physicalOffset + last.size : 0;
  }

  /**
   * The first entry with a size: a queue rebuilt after the reaper removed its
   * head starts mid-file, after zeros. Usually the very first entry answers.
   * Anything but zeros before it is damage (openDamage). Past zeros, only an
   * entry for a durable record counts: after a power cut a later write may have
   * survived while the first entries' did not, and those entries are
   * re-dispatched from the CommitLog, not skipped.
   */
  private async findFirstValid(lo: number, hi: number, durableBelow: number): Promise<number> {
    const first = await this.readFileEntry(lo);
    if (first && first.size > 0) return lo;
    for (let at = lo; at < hi; at += SCAN_CHUNK) {
      const n = Math.min(SCAN_CHUNK, hi - at);
      const buf = await this.readFileEntries(at, n);
      for (let i = 0; i < n; i++) {
        const p = i * CQ_ENTRY_SIZE;
        const size = buf.readInt32BE(p + 8);
        if (size > 0) return readLong(buf, p) + size <= durableBelow ? at + i : lo;
        if (!this.openDamage && buf.subarray(p, p + CQ_ENTRY_SIZE).some((b) => b !== 0)) {
          this.openDamage = `entry ${at + i}, before its first valid entry, is not empty`;
        }
      }
    }
    return lo;
  }

  private async searchEnd(lo: number, hi: number, durableBelow: number): Promise<number> {
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const e = await this.readFileEntry(mid);
      if (e && e.size > 0 && e.physicalOffset + e.size <= durableBelow) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  private async scanEnd(lo: number, hi: number, durableBelow: number): Promise<number> {
    let prevEnd = -1;
    for (let at = lo; at < hi; at += SCAN_CHUNK) {
      const n = Math.min(SCAN_CHUNK, hi - at);
      const buf = await this.readFileEntries(at, n);
      for (let i = 0; i < n; i++) {
        const off = readLong(buf, i * CQ_ENTRY_SIZE);
        const size = buf.readInt32BE(i * CQ_ENTRY_SIZE + 8);
        if (size <= 0 || off < prevEnd || off + size > durableBelow) return at + i;
        prevEnd = off + size;
      }
    }
    return hi;
  }

  /** `count` entries from one file (the range must not cross a file end). */
  private async readFileEntries(offset: number, count: number): Promise<Buffer> {
    const buf = Buffer.alloc(count * CQ_ENTRY_SIZE);
    const seg = this.files.find(offset * CQ_ENTRY_SIZE);
    if (seg) await seg.read(buf, 0, buf.length, offset * CQ_ENTRY_SIZE - seg.start);
    return buf;
  }

  private async readFileEntry(offset: number): Promise<QueueEntry | null> {
    const seg = this.files.find(offset * CQ_ENTRY_SIZE);
    if (!seg) return null;
    const buf = Buffer.alloc(CQ_ENTRY_SIZE);
    const n = await seg.read(buf, 0, CQ_ENTRY_SIZE, offset * CQ_ENTRY_SIZE - seg.start);
    return n === CQ_ENTRY_SIZE ? decodeEntry(buf, 0, offset) : null;
  }

  /**
   * Drops every entry from `offset` on, in memory and on disk (the files are
   * cut there, so stale entries a crash left further on are zeroed too).
   */
  truncateFrom(offset: number): Promise<void> {
    return this.cut(() => this.truncateNow(offset));
  }

  private async truncateNow(offset: number): Promise<void> {
    offset = Math.max(offset, this.minOffset);
    if (offset < this.fileMax) {
      await this.files.truncateFrom(offset * CQ_ENTRY_SIZE);
      this.fileMax = offset;
    } else {
      // Entries from fileMax on are still in memory; whatever a crash left in the files there is stale.
      await this.files.truncateFrom(this.fileMax * CQ_ENTRY_SIZE);
    }
    this.maxOffset = Math.min(this.maxOffset, offset);
    if (this.files.isEmpty) this.fresh = true;
    const last = this.maxOffset > this.minOffset ? await this.entry(this.maxOffset - 1) : null;
    this.maxPhysicalEnd = last ? last.physicalOffset + last.size : 0;
  }

  /** Drops the entries that point at or beyond `physicalEnd` (the CommitLog was cut there). */
  async truncateByPhysical(physicalEnd: number): Promise<void> {
    let lo = this.minOffset;
    let hi = this.maxOffset;
    // Entries ascend by physical offset: find the first one that reaches past the cut.
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const e = await this.entry(mid);
      if (e && e.physicalOffset + e.size <= physicalEnd) lo = mid + 1; else hi = mid;
    }
    await this.truncateFrom(lo);
  }

  /**
   * Moves minOffset to the first entry whose record starts at or after
   * `physicalMin` (the reaper deletes the CommitLog below it); with none, to
   * maxOffset. Only moves forward. Entries ascend by physical offset, so one
   * read tells when nothing moves, and a binary search finds the new minimum.
   */
  async correctMinOffset(physicalMin: number): Promise<void> {
    let lo = this.minOffset;
    let hi = this.maxOffset;
    const first = lo < hi ? await this.entry(lo) : null;
    if (first && first.physicalOffset >= physicalMin) return;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const e = await this.entry(mid);
      if (e && e.physicalOffset >= physicalMin) hi = mid; else lo = mid + 1;
    }
    if (lo > this.minOffset) this.minOffset = lo;
  }

  /**
   * Removes the leading files wholly below minOffset and already written
   * (a file still taking entries from memory stays), never the last file: it
   * keeps the queue's offsets across a restart. Returns the removals, which
   * finish when their readers are done or `force` resolves.
   */
  removeFilesBelowMin(force: Promise<void>): Promise<void>[] {
    const removals: Promise<void>[] = [];
    const limit = Math.min(this.minOffset, this.fileMax) * CQ_ENTRY_SIZE;
    const files = this.files;
    while (files.segments.length > 1 && files.first!.end <= limit) removals.push(files.removeFirst(force));
    return removals;
  }

  /** Files on disk (each of entriesPerFile × 20 bytes). */
  get fileCount(): number { return this.files.segments.length; }

  /** Deletes every file: the queue will be rebuilt from the CommitLog. */
  destroy(): Promise<void> {
    return this.cut(async () => {
      await this.files.truncateFrom(0);
      this.minOffset = this.maxOffset = this.fileMax = 0;
      this.maxPhysicalEnd = 0;
      this.fresh = true;
      this.openDamage = null;
    });
  }

  async close(): Promise<void> {
    // A failed background write was already reported to the store (which turned read-only);
    // rethrowing it here would abort close() with an untyped error and leave files open.
    await this.writing?.catch(() => undefined);
    await this.files.close();
  }
}

export function decodeEntry(buf: Buffer, at: number, queueOffset: number): QueueEntry {
  const hi = buf.readInt32BE(at + 12);
  const lo = buf.readUInt32BE(at + 16);
  return {
    queueOffset,
    physicalOffset: readLong(buf, at),
    size: buf.readInt32BE(at + 8),
    // Tag hash codes are Java ints (sign-extended into 8 bytes); delay queues keep times here.
    tagsCode: hi * 0x1_0000_0000 + lo,
  };
}

/** Every (topic, queue id) with a directory under `<root>/consumequeue` (recovery and audit both walk them). */
export async function listQueueDirs(io: Pick<FileIO, 'readdir'>, root: string): Promise<{ topic: string; queueId: number }[]> {
  const base = path.join(root, 'consumequeue');
  const out: { topic: string; queueId: number }[] = [];
  let topics: string[];
  try {
    topics = await io.readdir(base);
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return out;
    throw e;
  }
  for (const topic of topics) {
    let ids: string[];
    try {
      ids = await io.readdir(path.join(base, topic));
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOTDIR') continue;
      throw e;
    }
    for (const id of ids) if (/^\d+$/.test(id)) out.push({ topic, queueId: Number(id) });
  }
  return out;
}
