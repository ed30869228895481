import * as fs from 'fs';
import * as path from 'path';
import { promisify } from 'util';
import type { DiskSpace, FileHandle, FileIO, FileLock, FileStat } from './file-io';

// fs-ext is a native addon; it gives the flock(2) that Node lacks.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- untyped native addon
const fsExt: { flockSync(fd: number, flags: string): void } = require('fs-ext');

// Plain callbacks wrapped by hand: util.promisify of fs.read/fs.write resolves to objects, not counts.
function pread(fd: number, buf: Uint8Array, off: number, len: number, pos: number): Promise<number> {
  return new Promise((res, rej) => fs.read(fd, buf, off, len, pos, (e, n) => (e ? rej(e) : res(n))));
}
function pwrite(fd: number, buf: Uint8Array, off: number, len: number, pos: number): Promise<number> {
  return new Promise((res, rej) => fs.write(fd, buf, off, len, pos, (e, n) => (e ? rej(e) : res(n))));
}
const fdatasync = promisify(fs.fdatasync);
const ftruncate = promisify(fs.ftruncate);
const fstat = promisify(fs.fstat);
const close = promisify(fs.close);

class NodeFileHandle implements FileHandle {
  constructor(readonly path: string, private readonly fd: number) {}

  async read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    let done = 0;
    while (done < length) {
      const n = await pread(this.fd, buf, offset + done, length - done, position + done);
      if (n === 0) break;
      done += n;
    }
    return done;
  }

  readSync(buf: Uint8Array, offset: number, length: number, position: number): number {
    let done = 0;
    while (done < length) {
      const n = fs.readSync(this.fd, buf, offset + done, length - done, position + done);
      if (n === 0) break;
      done += n;
    }
    return done;
  }

  async write(buf: Uint8Array, offset: number, length: number, position: number): Promise<void> {
    let done = 0;
    while (done < length) done += await pwrite(this.fd, buf, offset + done, length - done, position + done);
  }

  writeSync(buf: Uint8Array, offset: number, length: number, position: number): void {
    let done = 0;
    while (done < length) done += fs.writeSync(this.fd, buf, offset + done, length - done, position + done);
  }

  datasync(): Promise<void> { return fdatasync(this.fd); }
  truncate(size: number): Promise<void> { return ftruncate(this.fd, size); }
  async size(): Promise<number> { return (await fstat(this.fd)).size; }
  close(): Promise<void> { return close(this.fd); }
}

/** Real files through Node's fs, flock through fs-ext. */
export class NodeFileIO implements FileIO {
  async open(p: string, options: { create?: boolean } = {}): Promise<FileHandle> {
    const fd = await promisify(fs.open)(p, options.create ? fs.constants.O_RDWR | fs.constants.O_CREAT : fs.constants.O_RDWR, 0o644);
    return new NodeFileHandle(p, fd);
  }

  async readdir(dir: string): Promise<string[]> { return (await fs.promises.readdir(dir)).sort(); }
  async mkdirp(dir: string): Promise<void> { await fs.promises.mkdir(dir, { recursive: true }); }

  async stat(p: string): Promise<FileStat | null> {
    try {
      const s = await fs.promises.stat(p);
      return { size: s.size, mtimeMs: s.mtimeMs, isDirectory: s.isDirectory() };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  unlink(p: string): Promise<void> { return fs.promises.unlink(p); }
  rmdir(p: string): Promise<void> { return fs.promises.rmdir(p); }
  rename(from: string, to: string): Promise<void> { return fs.promises.rename(from, to); }

  async syncDir(dir: string): Promise<void> {
    const fd = await promisify(fs.open)(dir, fs.constants.O_RDONLY);
    try { await promisify(fs.fsync)(fd); } finally { await close(fd); }
  }

  async lock(p: string): Promise<FileLock> {
    await fs.promises.mkdir(path.dirname(p), { recursive: true });
    const fd = fs.openSync(p, 'a');
    try {
      fsExt.flockSync(fd, 'exnb');
    } catch (e) {
      fs.closeSync(fd);
      const code = (e as NodeJS.ErrnoException).code;
      const err = new Error(`${code}: ${p} is locked`) as Error & { code: string };
      err.code = code === 'EWOULDBLOCK' ? 'EAGAIN' : String(code);
      throw err;
    }
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        // Closing the descriptor drops the flock.
        fs.closeSync(fd);
      },
    };
  }

  async statfs(p: string): Promise<DiskSpace> {
    const s = await fs.promises.statfs(p);
    return { totalBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize };
  }
}

export const nodeFileIO: FileIO = new NodeFileIO();
