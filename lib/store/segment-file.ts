import * as path from 'path';
import type { FileHandle, FileIO } from '../io/file-io';

/** Segment files are named by their start offset, 20 digits, as in RocketMQ. */
export function segmentName(start: number): string {
  return String(start).padStart(20, '0');
}

export function parseSegmentName(name: string): number | null {
  return /^\d{20}$/.test(name) ? Number(name) : null;
}

/**
 * One fixed-size file holding the bytes [start, start + size) of a log
 * (RocketMQ's MappedFile, without the mapping: Node has none, so positional
 * reads and writes go through the page cache instead).
 *
 * Readers take a reference so that the reaper can delete a segment that is
 * still being read: the file is closed and unlinked when the last reader lets go.
 */
export class SegmentFile {
  readonly path: string;
  private handle: FileHandle | null = null;
  /** Resolves once the file exists at its full size and its name is durable. */
  readonly ready: Promise<void>;
  /** The file's size when open() found it (before extending a short one); the full size for a created file. */
  sizeAtOpen: number;
  /** `ready` has resolved: the file can be written without awaiting it. */
  isReady = false;
  private readers = 0;
  private destroyRequested: { resolve: () => void; promise: Promise<void> } | null = null;
  private closed = false;

  private constructor(
    private readonly io: FileIO,
    readonly dir: string,
    readonly start: number,
    readonly size: number,
    init: (self: SegmentFile) => Promise<void>,
  ) {
    this.path = path.join(dir, segmentName(start));
    this.sizeAtOpen = size;
    this.ready = init(this);
    void this.ready.then(() => { this.isReady = true; }, () => undefined);
    // A creation failure surfaces to whoever awaits `ready`; never as an unhandled rejection.
    this.ready.catch(() => undefined);
  }

  /** Creates the file at full size, then makes the file and its name durable. */
  /**
   * `after` is the creation of the segment before this one: a segment is created
   * only once its predecessor exists, so a failed creation can never leave a hole
   * in the run of files (which the next open would refuse as CORRUPT_STORE).
   */
  static create(io: FileIO, dir: string, start: number, size: number, after?: Promise<void>): SegmentFile {
    return new SegmentFile(io, dir, start, size, async (self) => {
      await after;
      const h = await io.open(self.path, { create: true });
      self.handle = h;
      await h.truncate(size);
      await h.datasync();
      await io.syncDir(dir);
    });
  }

  /**
   * Opens an existing segment. A file shorter than the segment size can only be
   * the remains of an interrupted creation (the size is set before any data is
   * written), so it is extended; its content is kept.
   */
  static open(io: FileIO, dir: string, start: number, size: number): SegmentFile {
    return new SegmentFile(io, dir, start, size, async (self) => {
      const h = await io.open(self.path);
      self.handle = h;
      const actual = await h.size();
      self.sizeAtOpen = actual;
      if (actual < size) {
        await h.truncate(size);
        await h.datasync();
      }
    });
  }

  get end(): number { return this.start + this.size; }

  private get h(): FileHandle {
    if (!this.handle) throw new Error(`segment ${this.path} used before it was ready`);
    return this.handle;
  }

  /**
   * Reads bytes at a position inside this file. A reader that held the file
   * past a forced destroy reads nothing (count 0): the descriptor was closed
   * under it and its number may already belong to another file.
   */
  async read(buf: Uint8Array, offset: number, length: number, filePos: number): Promise<number> {
    if (this.closed && this.destroyRequested) return 0;
    try {
      const n = await this.h.read(buf, offset, length, filePos);
      return this.closed && this.destroyRequested ? 0 : n;
    } catch (e) {
      if (this.closed && this.destroyRequested) return 0;
      throw e;
    }
  }

  /**
   * read() on the calling thread, when the FileIO can (else null). The caller
   * holds a reference (acquire), so the file cannot be closed under it.
   */
  readSync(buf: Uint8Array, offset: number, length: number, filePos: number): number | null {
    const h = this.handle;
    if (!this.isReady || !h?.readSync || this.closed) return null;
    return h.readSync(buf, offset, length, filePos);
  }

  write(buf: Uint8Array, offset: number, length: number, filePos: number): Promise<void> {
    return this.h.write(buf, offset, length, filePos);
  }

  /** Whether writeSync() can be used: the file is ready and its FileIO writes on the calling thread. */
  get canWriteSync(): boolean { return this.isReady && this.handle?.writeSync !== undefined; }

  /** write() on the calling thread; only when canWriteSync. */
  writeSync(buf: Uint8Array, offset: number, length: number, filePos: number): void {
    this.h.writeSync!(buf, offset, length, filePos);
  }

  datasync(): Promise<void> { return this.h.datasync(); }

  /**
   * Zeroes everything from `filePos` to the end of the file without writing it:
   * shrinking frees the blocks (so it works on a full disk too), growing back
   * restores the fixed size with a hole. Durable after datasync().
   */
  async zeroFrom(filePos: number): Promise<void> {
    await this.h.truncate(filePos);
    await this.h.truncate(this.size);
  }

  acquire(): boolean {
    if (this.destroyRequested || this.closed) return false;
    this.readers++;
    return true;
  }

  release(): void {
    this.readers--;
    if (this.readers === 0 && this.destroyRequested) this.destroyRequested.resolve();
  }

  /**
   * Marks the segment gone for new readers (at once, before the first await),
   * waits for current readers or for `force` (a hung reader then loses its
   * file), then for `after` (an earlier segment's removal: files go in order so
   * that a crash never leaves a gap), then closes and unlinks it.
   */
  async destroy(force: Promise<void>, after: Promise<void>): Promise<void> {
    if (!this.destroyRequested) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => { resolve = r; });
      this.destroyRequested = { resolve, promise };
      if (this.readers === 0) resolve();
    }
    await Promise.race([this.destroyRequested.promise, force]);
    try {
      await after;
    } finally {
      await this.close();
    }
    try {
      await this.io.unlink(this.path);
    } catch (e) {
      // Already gone (removed by hand) is what was wanted.
      if ((e as { code?: string }).code !== 'ENOENT') throw e;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.ready.catch(() => undefined);
    const h = this.handle;
    this.handle = null;
    if (h) await h.close();
  }
}
