import type { FileIO } from '../io/file-io';
import { KeelError } from '../common/errors';
import { SegmentFile, parseSegmentName } from './segment-file';

/**
 * The ordered, gap-free run of fixed-size segments that make one log
 * (RocketMQ's MappedFileQueue). Used by the CommitLog and by every ConsumeQueue.
 * Offsets are absolute bytes; a segment holds [start, start + segmentSize).
 */
export class SegmentQueue {
  private segs: SegmentFile[] = [];
  /** The last removal started by removeFirst(): the next one unlinks its file only after it. */
  private removing: Promise<void> = Promise.resolve();

  constructor(private readonly io: FileIO, readonly dir: string, readonly segmentSize: number) {}

  /** Opens every segment in `dir` (missing directory = empty queue). */
  static async load(io: FileIO, dir: string, segmentSize: number): Promise<SegmentQueue> {
    const q = new SegmentQueue(io, dir, segmentSize);
    let names: string[];
    try {
      names = await io.readdir(dir);
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') return q;
      throw e;
    }
    const starts = names.map(parseSegmentName).filter((s): s is number => s !== null).sort((a, b) => a - b);
    for (let i = 0; i < starts.length; i++) {
      if (starts[i] % segmentSize !== 0) {
        throw new KeelError('CORRUPT_STORE', `${dir}: segment ${names[i]} does not start at a multiple of the segment size ${segmentSize} (was the store created with another segment size?)`);
      }
      if (i > 0 && starts[i] !== starts[i - 1] + segmentSize) {
        throw new KeelError('CORRUPT_STORE', `${dir}: segments are not contiguous between ${starts[i - 1]} and ${starts[i]}`);
      }
    }
    q.segs = starts.map((s) => SegmentFile.open(io, dir, s, segmentSize));
    await Promise.all(q.segs.map((s) => s.ready));
    return q;
  }

  get segments(): readonly SegmentFile[] { return this.segs; }
  get first(): SegmentFile | undefined { return this.segs[0]; }
  get last(): SegmentFile | undefined { return this.segs[this.segs.length - 1]; }
  get isEmpty(): boolean { return this.segs.length === 0; }

  /** The segment that holds `offset`, if any. */
  find(offset: number): SegmentFile | undefined {
    const first = this.segs[0];
    if (!first || offset < first.start) return undefined;
    return this.segs[Math.floor((offset - first.start) / this.segmentSize)];
  }

  /** Start of the segment that would hold `offset`. */
  segmentStartOf(offset: number): number {
    return offset - (offset % this.segmentSize);
  }

  /**
   * The segment holding `offset`, created (with any segments between the last
   * one and it) when missing. Creation runs in the background; await `ready`.
   */
  obtain(offset: number): SegmentFile {
    const found = this.find(offset);
    if (found) return found;
    const start = this.segmentStartOf(offset);
    const last = this.last;
    if (last && start < last.start) {
      throw new KeelError('CORRUPT_STORE', `${this.dir}: offset ${offset} lies below the first segment`);
    }
    let next = last ? last.end : start;
    let seg!: SegmentFile;
    for (; next <= start; next += this.segmentSize) {
      seg = SegmentFile.create(this.io, this.dir, next, this.segmentSize, this.last?.ready);
      this.segs.push(seg);
    }
    return seg;
  }

  /**
   * Everything at and after `offset` becomes zero: the rest of its segment is
   * cut, later segments are deleted. Durable when the returned promise resolves.
   */
  async truncateFrom(offset: number): Promise<void> {
    const keep: SegmentFile[] = [];
    const drop: SegmentFile[] = [];
    for (const s of this.segs) (s.start < offset ? keep : drop).push(s);
    const holder = this.find(offset);
    if (holder && holder.start < offset) {
      await holder.zeroFrom(offset - holder.start);
      await holder.datasync();
    }
    // Deleting later segments newest first keeps the run gap-free at every step.
    for (const s of drop.reverse()) {
      await s.close();
      await this.io.unlink(s.path);
    }
    this.segs = keep;
    if (drop.length) await this.io.syncDir(this.dir);
  }

  /**
   * Removes the first segment (the reaper's job): at once for lookups and new
   * readers; its file goes when its readers are done, or when `force` resolves,
   * and never before the file of an earlier removal. Resolves once the unlink is durable.
   */
  removeFirst(force: Promise<void>): Promise<void> {
    const s = this.segs.shift();
    if (!s) return Promise.resolve();
    const done = s.destroy(force, this.removing).then(() => this.io.syncDir(this.dir));
    // After a failed removal every later one fails too: unlinking a later file would leave a gap that the
    // next open rejects, while keeping them all lets it load them and the reaper delete them again.
    this.removing = done;
    return done;
  }

  async datasyncRange(from: number, to: number): Promise<void> {
    for (const s of this.segs) {
      if (s.end <= from || s.start >= to) continue;
      await s.datasync();
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.segs.map((s) => s.close()));
  }
}
