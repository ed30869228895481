/**
 * The one seam between keelmq and the disk. The store does all file access
 * through it, so the same code runs on real files (NodeFileIO) and on the
 * simulated disk of the crash tests (SimDisk), which keeps apart what was
 * written and what was made durable.
 *
 * Errors are Node-style: an Error with a string `code` ('ENOENT', 'EIO', 'ENOSPC', 'EAGAIN', ...).
 *
 * Durability contract, the same as POSIX on Linux:
 * - write puts bytes in the OS; they survive a process crash, not a power cut;
 * - datasync() makes every byte written to that file before it durable;
 * - creating, renaming or unlinking a name is durable only after syncDir() of its directory.
 */
export interface FileHandle {
  readonly path: string;
  /** Reads up to `length` bytes at `position`; returns the count (short only at end of file). */
  read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /**
   * Optional: read() on the calling thread, same contract. The store uses it
   * for bytes it wrote recently (in the page cache, so the read is a copy),
   * where a hop through the thread pool costs more than the copy itself.
   */
  readSync?(buf: Uint8Array, offset: number, length: number, position: number): number;
  /** Writes all `length` bytes at `position`, or throws. */
  write(buf: Uint8Array, offset: number, length: number, position: number): Promise<void>;
  /**
   * Optional: write() on the calling thread, same contract. The store uses it
   * for a small write while none of its other I/O to the file is in flight,
   * where a hop through the thread pool costs more than the copy itself.
   */
  writeSync?(buf: Uint8Array, offset: number, length: number, position: number): void;
  datasync(): Promise<void>;
  truncate(size: number): Promise<void>;
  size(): Promise<number>;
  close(): Promise<void>;
}

export interface FileStat { size: number; mtimeMs: number; isDirectory: boolean }
export interface DiskSpace { totalBytes: number; freeBytes: number }
export interface FileLock { release(): Promise<void> }

export interface FileIO {
  /** Opens read-write; with `create` the file is made when missing (its name durable only after syncDir). */
  open(path: string, options?: { create?: boolean }): Promise<FileHandle>;
  /** Names in a directory, sorted; throws ENOENT when it does not exist. */
  readdir(dir: string): Promise<string[]>;
  /** Makes a directory and its missing parents (durable only after syncDir of each parent). */
  mkdirp(dir: string): Promise<void>;
  /** null when nothing is at `path`. */
  stat(path: string): Promise<FileStat | null>;
  unlink(path: string): Promise<void>;
  /** Removes an empty directory. */
  rmdir(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  syncDir(dir: string): Promise<void>;
  /** Exclusive, non-blocking lock on `path` (created if missing); throws an error with code EAGAIN when held. */
  lock(path: string): Promise<FileLock>;
  /** Space of the file system that holds `path`. */
  statfs(path: string): Promise<DiskSpace>;
}

export function ioError(code: string, message: string): Error & { code: string } {
  const e = new Error(`${code}: ${message}`) as Error & { code: string };
  e.code = code;
  return e;
}
