import * as fs from 'fs';
import * as path from 'path';
import type { FileHandle, FileIO } from '../io/file-io';
import { KeelError } from '../common/errors';
import { hasTopicChars } from '../common/names';
import { BLANK_MAGIC, MAGIC_V1, checkRecord, readRecordInfo } from './message-codec';
import { CHECKPOINT_FILE_SIZE, decodeCheckpoint, readLong } from './checkpoint';
import { findDurableLoss } from './durable-loss';
import { CQ_ENTRY_SIZE, decodeEntry, listQueueDirs } from './consume-queue';
import { parseSegmentName, segmentName } from './segment-file';

/**
 * Offline integrity check of a data directory (hypercore's audit()): walks
 * every CommitLog record and every ConsumeQueue entry and reports damage with
 * file offsets. It is the judge of every crash test, and users run it through
 * `keelmq audit`.
 *
 * It opens nothing for writing and takes no lock, so it works on a closed
 * store, on a read-only copy, and on the directory a crashed process left
 * behind. On a store that is open elsewhere it sees a moving target
 * (ConsumeQueue entries still in memory, a tail being written): audit a
 * closed store.
 */

export type DamageKind =
  /** CommitLog or ConsumeQueue segment files that are not a gap-free run of full-size files. */
  | 'segment-layout'
  /** Something at a record position that is neither a valid record nor a valid end marker. */
  | 'bad-record'
  /** Non-zero bytes after the end of the log (or of a queue's entries). */
  | 'garbage-after-end'
  /** CommitLog bytes the checkpoint recorded as durable that the files no longer hold (a segment deleted or cut). */
  | 'missing-data'
  /** A valid record whose topic or queue id no queue could have. */
  | 'bad-queue'
  /** A record whose queue offset does not follow the previous record of its queue. */
  | 'queue-offset'
  /** A record with no ConsumeQueue entry. */
  | 'missing-entry'
  /** An entry that disagrees with its record (offset, size or tags code). */
  | 'entry-mismatch'
  /** An entry that points into the log where no record of its queue and offset is. */
  | 'dangling-entry'
  /** An entry that is not well formed, or out of order, or a hole between entries. */
  | 'bad-entry';

export interface AuditDamage {
  /** Path relative to the data directory. */
  file: string;
  /** Byte offset inside `file`. */
  offset: number;
  kind: DamageKind;
  detail: string;
}

export interface AuditProgress {
  phase: 'commitlog' | 'consumequeue';
  /** Bytes (commitlog) or entries (consumequeue) checked so far, and the total. */
  done: number;
  total: number;
}

/** The subset of FileIO audit uses: it never writes, so a read-only implementation suffices. */
export interface AuditIO {
  open(path: string): Promise<Pick<FileHandle, 'read' | 'close'>>;
  readdir(dir: string): Promise<string[]>;
  stat(path: string): ReturnType<FileIO['stat']>;
}

export interface AuditOptions {
  /** File access; real files opened read-only by default. A FileIO (e.g. SimDisk) fits. */
  io?: AuditIO;
  /** Require the `__CRC32#` whole-record CRC on every record (default true, as the store writes it by default). */
  requireRecordCrc?: boolean;
  /** At most this many damage entries are listed (default 1000); `damageCount` counts them all. */
  maxDamage?: number;
  /** Called after every chunk read, so a CLI can show progress on big stores. */
  onProgress?: (p: AuditProgress) => void;
}

export interface AuditReport {
  ok: boolean;
  /** Valid CommitLog records (including any found after damage). */
  records: number;
  /** CommitLog segment files. */
  segments: number;
  /** ConsumeQueues (topic, queue id) found in files or in records. */
  queues: number;
  /** Non-empty ConsumeQueue entries. */
  entries: number;
  damage: AuditDamage[];
  /** All damage found; more than damage.length when maxDamage cut the list. */
  damageCount: number;
  /** First byte of the CommitLog on disk, and the end of its valid records (before any damage). */
  minOffset: number;
  logEnd: number;
  /** No `abort` marker: the last process closed the store. When false, a damaged tail is what recovery repairs at the next open. */
  cleanShutdown: boolean;
}

const CHUNK = 4 * 1024 * 1024;
const CQ_CACHE_ENTRIES = 1024;
const ZEROS = Buffer.alloc(64 * 1024);

/** Real files, opened O_RDONLY: audit must work on a read-only copy and never change a byte. */
export const readOnlyNodeIO: AuditIO = {
  async open(p) {
    const h = await fs.promises.open(p, 'r');
    return {
      async read(buf, offset, length, position) {
        let done = 0;
        while (done < length) {
          const { bytesRead } = await h.read(buf, offset + done, length - done, position + done);
          if (bytesRead === 0) break;
          done += bytesRead;
        }
        return done;
      },
      close: () => h.close(),
    };
  },
  async readdir(dir) { return (await fs.promises.readdir(dir)).sort(); },
  async stat(p) {
    try {
      const s = await fs.promises.stat(p);
      return { size: s.size, mtimeMs: s.mtimeMs, isDirectory: s.isDirectory() };
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') return null;
      throw e;
    }
  },
};

interface SegmentRef { name: string; start: number; size: number }

/** Facts the CommitLog walk gathers per queue, for the ConsumeQueue walk. */
interface QueueFacts { first: number; last: number }

/**
 * Rejects with a KeelError only: `NOT_FOUND` when `dir` is not a keelmq store,
 * `CORRUPT_STORE` when its layout is broken beyond walking (a file where a
 * directory must be), `IO_ERROR` (errno as `cause`) when the disk fails.
 */
export async function audit(dir: string, options: AuditOptions = {}): Promise<AuditReport> {
  const root = path.resolve(dir);
  try {
    return await new Auditor(root, options).run();
  } catch (e) {
    if (e instanceof KeelError) throw e;
    const err = e as NodeJS.ErrnoException;
    const where = err.path ? path.relative(root, err.path) || '.' : root;
    if (err.code === 'ENOTDIR') throw new KeelError('CORRUPT_STORE', `${root}: ${where} is a file where the store has a directory`, { cause: e });
    throw new KeelError('IO_ERROR', `auditing ${root} failed at ${where}: ${err.code ?? 'unknown'}: ${err.message}`, { cause: e });
  }
}

class Auditor {
  private readonly io: AuditIO;
  private readonly requireCrc: boolean;
  private readonly maxDamage: number;
  private readonly report: AuditReport = {
    ok: true, records: 0, segments: 0, queues: 0, entries: 0, damage: [], damageCount: 0,
    minOffset: 0, logEnd: 0, cleanShutdown: true,
  };
  private readonly facts = new Map<string, QueueFacts>();
  private readonly queues = new Map<string, QueueFiles>();
  /** CommitLog segment size, as the files show it (0 without segments). */
  private segmentSize = 0;
  /** Missing entries of a queue as a run [from, to], reported as one line. */
  private readonly missing = new Map<string, { from: number; to: number }>();

  constructor(private readonly root: string, private readonly options: AuditOptions) {
    this.io = options.io ?? readOnlyNodeIO;
    this.requireCrc = options.requireRecordCrc ?? true;
    this.maxDamage = options.maxDamage ?? 1000;
  }

  async run(): Promise<AuditReport> {
    const st = await this.io.stat(this.root);
    if (!st || !st.isDirectory) throw new KeelError('NOT_FOUND', `${this.root} is not a directory`);
    // Every store has commitlog/ and a checkpoint from its first open. With neither there is nothing
    // to judge, and "ok: 0 records" would pass an empty or foreign folder off as a clean store.
    const [log, checkpoint] = await Promise.all([this.io.stat(path.join(this.root, 'commitlog')), this.io.stat(path.join(this.root, 'checkpoint'))]);
    if (!log && !checkpoint) throw new KeelError('NOT_FOUND', `${this.root} is not a keelmq store (no commitlog/ and no checkpoint)`);
    this.report.cleanShutdown = (await this.io.stat(path.join(this.root, 'abort'))) === null;
    await this.loadQueues();
    await this.walkCommitLog();
    await this.checkDurable();
    for (const [key, run] of this.missing) this.missingRun(key, run);
    await this.walkQueues();
    const r = this.report;
    r.queues = new Set([...this.queues.keys(), ...this.facts.keys()]).size;
    r.ok = r.damageCount === 0;
    return r;
  }

  private damage(file: string, offset: number, kind: DamageKind, detail: string): void {
    this.report.damageCount++;
    if (this.report.damage.length < this.maxDamage) this.report.damage.push({ file, offset, kind, detail });
  }

  private progress(phase: AuditProgress['phase'], done: number, total: number): void {
    this.options.onProgress?.({ phase, done, total });
  }

  /** Sorted segment files of a directory; layout damage (misaligned, gaps, odd sizes) is reported. */
  private async segmentsOf(rel: string, fixedSize: (sizes: number[]) => number): Promise<{ segs: SegmentRef[]; size: number }> {
    let names: string[];
    try {
      names = await this.io.readdir(path.join(this.root, rel));
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') return { segs: [], size: 0 };
      throw e;
    }
    const segs: SegmentRef[] = [];
    for (const name of names) {
      const start = parseSegmentName(name);
      if (start === null) continue;
      const st = await this.io.stat(path.join(this.root, rel, name));
      if (st && !st.isDirectory) segs.push({ name, start, size: st.size });
    }
    segs.sort((x, y) => x.start - y.start);
    if (segs.length === 0) return { segs, size: 0 };
    const size = fixedSize(segs.map((s) => s.size));
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i]!;
      const file = path.join(rel, s.name);
      if (s.size !== size) this.damage(file, 0, 'segment-layout', `file is ${s.size} bytes, segments here are ${size}`);
      if (size > 0 && s.start % size !== 0) this.damage(file, 0, 'segment-layout', `starts at ${s.start}, not a multiple of the segment size ${size}`);
      const prev = segs[i - 1];
      if (prev && s.start !== prev.start + size) {
        this.damage(file, 0, 'segment-layout', `segments are not contiguous: ${segmentName(prev.start + size)} expected after ${prev.name}`);
      }
    }
    return { segs, size };
  }

  private async loadQueues(): Promise<void> {
    for (const { topic, queueId } of await listQueueDirs(this.io, this.root)) {
      const rel = path.join('consumequeue', topic, String(queueId));
      // Entry files are fixed-size too; the largest is the configured size (a shorter one is damage).
      const { segs, size } = await this.segmentsOf(rel, (sizes) => Math.max(...sizes));
      if (size % CQ_ENTRY_SIZE !== 0) this.damage(rel, 0, 'segment-layout', `entry files of ${size} bytes do not hold whole 20-byte entries`);
      if (segs.length) this.queues.set(`${topic}/${queueId}`, new QueueFiles(this.io, this.root, rel, segs, size - (size % CQ_ENTRY_SIZE)));
    }
  }

  // ---------------------------------------------------------------- CommitLog

  private async walkCommitLog(): Promise<void> {
    const rel = 'commitlog';
    // The segment size is the spacing of the names, or the largest file when there is only one.
    const { segs, size } = await this.segmentsOf(rel, (sizes) => Math.max(...sizes));
    this.report.segments = segs.length;
    this.segmentSize = size;
    if (segs.length === 0) return;
    this.report.minOffset = segs[0]!.start;
    const total = segs.length * size;
    let done = 0;
    // Once the log ended (zeros where a record should be), everything after must be zero.
    let ended = false;
    let damaged = false;
    this.report.logEnd = segs[0]!.start;
    for (const seg of segs) {
      const file = path.join(rel, seg.name);
      const h = await this.io.open(path.join(this.root, file));
      try {
        const w = new Window(h, Math.min(seg.size, size));
        const end = w.fileSize;
        let pos = 0;
        while (pos < end) {
          if (ended) {
            const z = await w.firstNonZero(pos);
            if (z < 0) break;
            const next = await this.resync(w, seg.start, z);
            this.damage(file, z, 'garbage-after-end', `non-zero bytes at log offset ${seg.start + z}, after the log ended at ${this.report.logEnd}${next >= 0 ? `; a record follows at ${seg.start + next}` : ''}`);
            damaged = true;
            if (next < 0) break;
            ended = false;
            pos = next;
            continue;
          }
          const at = seg.start + pos;
          let avail = await w.ensure(pos, 8);
          let c = checkRecord(w.buf, w.index(pos), avail, at, this.requireCrc);
          if (c.kind === 'short' && c.size <= end - pos) {
            avail = await w.ensure(pos, c.size);
            c = checkRecord(w.buf, w.index(pos), avail, at, this.requireCrc);
          }
          if (c.kind === 'record') {
            await this.onRecord(w, pos, at, c.size);
            pos += c.size;
            if (!damaged) this.report.logEnd = at + c.size;
            continue;
          }
          if (c.kind === 'blank' && pos + c.size === end) {
            if (!damaged) this.report.logEnd = seg.start + end;
            break;
          }
          const i = w.index(pos);
          const headZero = avail >= 8 && w.buf.readUInt32BE(i) === 0 && w.buf.readUInt32BE(i + 4) === 0;
          if (headZero) {
            ended = true;
            continue;
          }
          const reason = c.kind === 'blank' ? `end marker of ${c.size} bytes does not reach the segment end (${end - pos} bytes left)`
            : c.kind === 'short' ? `record claims ${c.size} bytes, past the segment end (${end - pos} bytes left)`
              : c.reason;
          const next = await this.resync(w, seg.start, pos + 1);
          this.damage(file, pos, 'bad-record', `log offset ${at}: ${reason}${next >= 0 ? `; next valid record at ${seg.start + next}` : ''}`);
          damaged = true;
          if (next < 0) break;
          pos = next;
        }
      } finally {
        await h.close();
      }
      // A segment that ends without an end marker ends the log.
      if (!ended && !damaged && this.report.logEnd < seg.start + size) ended = true;
      done += size;
      this.progress('commitlog', done, total);
    }
  }

  /** Every CommitLog byte below the checkpoint's durable position must still be in the files. */
  private async checkDurable(): Promise<void> {
    const file = path.join(this.root, 'checkpoint');
    if (!(await this.io.stat(file))) return;
    const buf = Buffer.alloc(CHECKPOINT_FILE_SIZE);
    const h = await this.io.open(file);
    try { await h.read(buf, 0, buf.length, 0); } finally { await h.close(); }
    const durable = decodeCheckpoint(buf)?.commitLogDurable ?? 0;
    if (durable <= 0) return;
    if (this.segmentSize === 0) {
      this.damage('commitlog', 0, 'missing-data', `no segment file, but the checkpoint recorded bytes up to ${durable} as durable`);
      return;
    }
    const loss = await findDurableLoss(this.io, this.root, this.segmentSize, durable);
    if (!loss) return;
    const start = parseSegmentName(path.basename(loss.files[0]!)) ?? 0;
    this.damage(loss.files[0]!, Math.max(0, loss.from - start), 'missing-data', `log bytes ${loss.from}..${loss.to} were recorded as durable by the checkpoint and are gone: ${loss.detail}`);
  }

  /**
   * The next position from `from` where a valid record (or an end marker reaching
   * the segment end) starts, or -1. The physical offset field each record carries
   * makes a false match practically impossible once the CRCs agree too.
   */
  private async resync(w: Window, segStart: number, from: number): Promise<number> {
    const end = w.fileSize;
    for (let p = from; p + 8 <= end; p++) {
      const avail = await w.ensure(p, 36);
      const i = w.index(p);
      const magic = w.buf.readUInt32BE(i + 4);
      if (magic === BLANK_MAGIC && w.buf.readInt32BE(i) === end - p) return p;
      if (magic !== MAGIC_V1 || avail < 36 || readLong(w.buf, i + 28) !== segStart + p) continue;
      const size = w.buf.readInt32BE(i);
      if (size <= 0 || size > end - p) continue;
      const got = await w.ensure(p, size);
      if (checkRecord(w.buf, w.index(p), got, segStart + p, this.requireCrc).kind === 'record') return p;
    }
    return -1;
  }

  private async onRecord(w: Window, pos: number, at: number, size: number): Promise<void> {
    this.report.records++;
    const info = readRecordInfo(w.buf, w.index(pos));
    const file = path.join('commitlog', segmentName(at - pos));
    if (!hasTopicChars(info.topic) || info.queueId < 0) {
      this.damage(file, pos, 'bad-queue', `record at log offset ${at} has topic ${JSON.stringify(info.topic)} queue ${info.queueId}`);
      return;
    }
    const key = `${info.topic}/${info.queueId}`;
    const f = this.facts.get(key);
    if (!f) {
      this.facts.set(key, { first: info.queueOffset, last: info.queueOffset });
    } else {
      if (info.queueOffset !== f.last + 1) {
        this.damage(file, pos, 'queue-offset', `record at log offset ${at} has queue offset ${info.queueOffset} in ${key}; the previous record of that queue had ${f.last}`);
      }
      f.last = Math.max(f.last, info.queueOffset);
    }
    const q = this.queues.get(key);
    const e = q ? await q.entryAt(info.queueOffset) : null;
    if (!e) {
      const run = this.missing.get(key);
      if (run && run.to === info.queueOffset - 1) { run.to++; return; }
      if (run) this.missingRun(key, run);
      this.missing.set(key, { from: info.queueOffset, to: info.queueOffset });
      return;
    }
    if (e.physicalOffset !== at || e.size !== size || e.tagsCode !== info.tagsCode) {
      const where = q!.locate(info.queueOffset);
      this.damage(where.file, where.offset, 'entry-mismatch',
        `${key} entry ${info.queueOffset} says (offset ${e.physicalOffset}, size ${e.size}, tags ${e.tagsCode}); the record says (${at}, ${size}, ${info.tagsCode})`);
    }
  }

  private missingRun(key: string, run: { from: number; to: number }): void {
    const q = this.queues.get(key);
    const where = q ? q.locate(run.from) : { file: path.join('consumequeue', key), offset: 0 };
    const what = run.from === run.to ? `entry ${run.from}` : `entries ${run.from}..${run.to}`;
    this.damage(where.file, where.offset, 'missing-entry', `${key} ${what} missing: ${q ? 'the queue has no such entries' : 'the queue has no files'}`);
    this.missing.delete(key);
  }

  // ---------------------------------------------------------------- ConsumeQueues

  private async walkQueues(): Promise<void> {
    let total = 0;
    for (const q of this.queues.values()) total += q.entryCapacity;
    let done = 0;
    for (const [key, q] of this.queues) {
      await this.walkQueue(key, q);
      done += q.entryCapacity;
      this.progress('consumequeue', done, total);
    }
  }

  /**
   * Entries are: optional empty placeholders, then non-empty entries ascending in
   * the log, then zeros to the end of the files. Entries that the record walk did
   * not cover must point below the log's first byte (records the reaper removed).
   */
  private async walkQueue(key: string, q: QueueFiles): Promise<void> {
    const facts = this.facts.get(key);
    const clMin = this.report.minOffset;
    let state: 'lead' | 'body' | 'tail' = 'lead';
    let tailFrom = 0;
    let prevEnd = -1;
    for (const seg of q.segs) {
      const buf = await q.readFile(seg);
      const file = path.join(q.rel, seg.name);
      const n = Math.floor(buf.length / CQ_ENTRY_SIZE);
      for (let i = 0; i < n; i++) {
        const at = i * CQ_ENTRY_SIZE;
        const qo = seg.start / CQ_ENTRY_SIZE + i;
        if (ZEROS.compare(buf, at, at + CQ_ENTRY_SIZE, 0, CQ_ENTRY_SIZE) === 0) {
          if (state === 'body') { state = 'tail'; tailFrom = qo; }
          continue;
        }
        if (state === 'tail') {
          const where = q.locate(tailFrom);
          this.damage(where.file, where.offset, 'bad-entry', `${key} entries ${tailFrom}..${qo - 1} are empty between entries`);
        }
        state = 'body';
        this.report.entries++;
        const e = decodeEntry(buf, at, qo);
        if (e.size <= 0 || e.physicalOffset < 0) {
          this.damage(file, at, 'bad-entry', `${key} entry ${qo} has size ${e.size} at offset ${e.physicalOffset}`);
          continue;
        }
        if (e.physicalOffset < prevEnd) this.damage(file, at, 'bad-entry', `${key} entry ${qo} points at ${e.physicalOffset}, below the end ${prevEnd} of the entry before it`);
        prevEnd = e.physicalOffset + e.size;
        if (facts && qo >= facts.first && qo <= facts.last) continue;
        const expired = (!facts || qo < facts.first) && prevEnd <= clMin;
        if (!expired) this.damage(file, at, 'dangling-entry', `${key} entry ${qo} points at log offset ${e.physicalOffset}, where no record of this queue with that offset is`);
      }
    }
  }
}

/** The entry files of one ConsumeQueue, with a small cache for the record walk's lookups. */
class QueueFiles {
  private cacheFrom = -1;
  private cache = Buffer.alloc(0);

  constructor(private readonly io: AuditIO, private readonly root: string, readonly rel: string, readonly segs: SegmentRef[], private readonly fileSize: number) {}

  get entryCapacity(): number { return this.segs.length * (this.fileSize / CQ_ENTRY_SIZE); }

  locate(qo: number): { file: string; offset: number } {
    const byte = qo * CQ_ENTRY_SIZE;
    const start = this.fileSize > 0 ? byte - (byte % this.fileSize) : 0;
    return { file: path.join(this.rel, segmentName(start)), offset: byte - start };
  }

  /** The entry at queue offset `qo`, or null when it is not in the files or is empty. */
  async entryAt(qo: number): Promise<ReturnType<typeof decodeEntry> | null> {
    if (this.fileSize === 0) return null;
    if (this.cacheFrom < 0 || qo < this.cacheFrom || qo >= this.cacheFrom + this.cache.length / CQ_ENTRY_SIZE) {
      const byte = qo * CQ_ENTRY_SIZE;
      const start = byte - (byte % this.fileSize);
      const seg = this.segs.find((s) => s.start === start);
      if (!seg) return null;
      const from = byte - start;
      const len = Math.min(CQ_CACHE_ENTRIES * CQ_ENTRY_SIZE, seg.size - from);
      if (len < CQ_ENTRY_SIZE) return null;
      const buf = Buffer.alloc(len - (len % CQ_ENTRY_SIZE));
      const h = await this.io.open(path.join(this.root, this.rel, seg.name));
      try { await h.read(buf, 0, buf.length, from); } finally { await h.close(); }
      this.cache = buf;
      this.cacheFrom = qo;
    }
    const at = (qo - this.cacheFrom) * CQ_ENTRY_SIZE;
    if (ZEROS.compare(this.cache, at, at + CQ_ENTRY_SIZE, 0, CQ_ENTRY_SIZE) === 0) return null;
    return decodeEntry(this.cache, at, qo);
  }

  async readFile(seg: SegmentRef): Promise<Buffer> {
    const buf = Buffer.alloc(seg.size);
    const h = await this.io.open(path.join(this.root, this.rel, seg.name));
    try { await h.read(buf, 0, buf.length, 0); } finally { await h.close(); }
    return buf;
  }
}

/** A sliding read window over one file, so records that straddle chunk boundaries are seen whole. */
class Window {
  buf = Buffer.alloc(0);
  private start = 0;
  private len = 0;

  constructor(private readonly h: Pick<FileHandle, 'read'>, readonly fileSize: number) {}

  index(pos: number): number { return pos - this.start; }

  /** Makes [pos, pos + n) readable (clipped at the file end); returns the bytes available from pos. */
  async ensure(pos: number, n: number): Promise<number> {
    n = Math.min(n, this.fileSize - pos);
    if (pos < this.start || pos + n > this.start + this.len) {
      const want = Math.min(Math.max(CHUNK, n), this.fileSize - pos);
      if (this.buf.length < want) this.buf = Buffer.allocUnsafe(want);
      this.start = pos;
      this.len = want > 0 ? await this.h.read(this.buf, 0, want, pos) : 0;
    }
    return this.start + this.len - pos;
  }

  /** Position of the first non-zero byte at or after `pos`, or -1. */
  async firstNonZero(pos: number): Promise<number> {
    while (pos < this.fileSize) {
      const avail = await this.ensure(pos, Math.min(ZEROS.length, this.fileSize - pos));
      if (avail <= 0) return -1;
      const n = Math.min(avail, ZEROS.length);
      const i = this.index(pos);
      if (ZEROS.compare(this.buf, i, i + n, 0, n) !== 0) {
        for (let k = 0; k < n; k++) if (this.buf[i + k] !== 0) return pos + k;
      }
      pos += n;
    }
    return -1;
  }
}
