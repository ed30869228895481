import * as path from 'path';
import { ioError, type DiskSpace, type FileHandle, type FileIO, type FileLock, type FileStat } from './file-io';

/** The operations counted by `opCount`, named after the method that was called. */
export type OpKind =
  | 'open' | 'readdir' | 'mkdirp' | 'stat' | 'unlink' | 'rmdir' | 'rename' | 'syncDir' | 'lock' | 'statfs'
  | 'read' | 'write' | 'datasync' | 'truncate' | 'size' | 'close' | 'release';

export interface OpInfo {
  /** 1-based number of this operation on this disk. */
  readonly n: number;
  readonly kind: OpKind;
  /** Absolute, normalized path the operation is about (the source for rename). */
  readonly path: string;
  /** Destination of a rename. */
  readonly to?: string;
}

export interface FaultOptions {
  /** Error code thrown; 'EIO' unless said otherwise. */
  code?: string;
  /** true (default): only the chosen operation fails; false: it and every later matching operation fail. */
  once?: boolean;
}

export interface FaultRule extends FaultOptions {
  /** Operation kinds the rule applies to; all kinds when absent. */
  kinds?: readonly OpKind[];
  /** Further filter on the operation. */
  match?: (op: OpInfo) => boolean;
  /** The nth matching operation from now fails (default 1). */
  nth?: number;
  /** For write: bytes of the failing write that are stored before the error, as a short write would. */
  partialBytes?: number;
}

export interface CrashOptions {
  /** Which writes and truncates issued since a file's last datasync survive: none (default), all, or a random subset (each kept with probability 1/2, applied in order). */
  keepUnsynced?: 'none' | 'all' | 'random';
  /** Tear the last surviving write of each file at a random 512-byte-aligned position inside it (a write within one sector stays whole). */
  tear?: boolean;
  /** Random numbers in [0, 1); required for 'random' and for tear, so that every crash state is reproducible. */
  random?: () => number;
}

export interface SimDiskOptions {
  /** Clock for mtimes; Date.now by default. */
  now?: () => number;
  /** Bytes the disk can allocate (4 KiB pages of linked files); unlimited when absent. */
  capacity?: number;
  /** Directories that exist and are durable from the start, as on a disk prepared before the test. */
  dirs?: readonly string[];
  /** Awaited before each operation takes effect; one setImmediate by default. A random delay here reorders concurrent operations. */
  pause?: (kind: OpKind) => Promise<void>;
}

const PAGE = 4096;
const SECTOR = 512;
// Reported when no capacity is set, so that statfs looks like a roomy disk.
const DEFAULT_TOTAL_BYTES = 2 ** 40;

const DESCRIPTIONS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EEXIST: 'file already exists',
  ENOTDIR: 'not a directory',
  EISDIR: 'illegal operation on a directory',
  ENOTEMPTY: 'directory not empty',
  EINVAL: 'invalid argument',
  EBUSY: 'resource busy or locked',
  EBADF: 'bad file descriptor',
  EAGAIN: 'resource temporarily unavailable',
  ENOSPC: 'no space left on device',
  EIO: 'i/o error',
  ECRASHED: 'the simulated disk lost power',
};

function fsError(code: string, syscall: string, p: string): Error & { code: string } {
  return ioError(code, `${DESCRIPTIONS[code] ?? 'error'}, ${syscall} '${p}'`);
}

function normalize(p: string): string {
  if (typeof p !== 'string') throw new TypeError(`path must be a string, got ${typeof p}`);
  return path.posix.resolve('/', p);
}

function components(p: string): string[] {
  return p.split('/').filter((c) => c !== '');
}

/**
 * File bytes in 4 KiB pages, holes read as zeros, so a sparse 1 GiB segment
 * costs only the pages written. Page buffers may be shared between contents
 * (current and durable, or two disks after crash()); a content mutates a page
 * in place only if it is in the `owned` set passed in, and copies it otherwise.
 * Bytes at or past `size` are always zero in the pages, so growing needs no work.
 */
class Content {
  constructor(public pages: Map<number, Buffer>, public size: number, public mtimeMs: number) {}

  clone(): Content { return new Content(new Map(this.pages), this.size, this.mtimeMs); }

  read(buf: Uint8Array, offset: number, length: number, position: number): number {
    const end = Math.min(position + length, this.size);
    for (let p = position; p < end;) {
      const idx = Math.floor(p / PAGE);
      const inPage = p - idx * PAGE;
      const n = Math.min(PAGE - inPage, end - p);
      const page = this.pages.get(idx);
      const dst = offset + (p - position);
      if (page) buf.set(page.subarray(inPage, inPage + n), dst);
      else buf.fill(0, dst, dst + n);
      p += n;
    }
    return Math.max(0, end - position);
  }

  /** `owned` gains every page this content now holds privately or dropped. */
  write(position: number, data: Uint8Array, owned: Set<number>): void {
    const end = position + data.length;
    for (let p = position; p < end;) {
      const idx = Math.floor(p / PAGE);
      const inPage = p - idx * PAGE;
      const n = Math.min(PAGE - inPage, end - p);
      this.ownPage(idx, owned).set(data.subarray(p - position, p - position + n), inPage);
      p += n;
    }
    if (end > this.size) this.size = end;
  }

  truncate(size: number, owned: Set<number>): void {
    if (size < this.size) {
      for (const idx of [...this.pages.keys()]) {
        if (idx * PAGE >= size) { this.pages.delete(idx); owned.add(idx); }
      }
      const idx = Math.floor(size / PAGE);
      if (size % PAGE !== 0 && this.pages.has(idx)) this.ownPage(idx, owned).fill(0, size % PAGE);
    }
    this.size = size;
  }

  private ownPage(idx: number, owned: Set<number>): Buffer {
    const page = this.pages.get(idx);
    if (page && owned.has(idx)) return page;
    const mine = page ? Buffer.from(page) : Buffer.alloc(PAGE);
    this.pages.set(idx, mine);
    owned.add(idx);
    return mine;
  }
}

type PendingOp =
  | { kind: 'write'; position: number; data: Buffer; at: number }
  | { kind: 'truncate'; size: number; at: number };

class FileNode {
  readonly kind = 'file';
  /** Pages of `current` not shared with `durable`, or dropped from it, since the last datasync. */
  dirty = new Set<number>();
  pending: PendingOp[] = [];
  constructor(public current: Content, public durable: Content) {}

  datasync(): void {
    for (const idx of this.dirty) {
      const page = this.current.pages.get(idx);
      if (page) this.durable.pages.set(idx, page);
      else this.durable.pages.delete(idx);
    }
    this.durable.size = this.current.size;
    this.durable.mtimeMs = this.current.mtimeMs;
    this.dirty.clear();
    this.pending = [];
  }
}

class DirNode {
  readonly kind = 'dir';
  entries = new Map<string, Node>();
  durableEntries = new Map<string, Node>();
  constructor(public mtimeMs: number) {}
}

type Node = FileNode | DirNode;

interface ActiveFault {
  kinds: ReadonlySet<OpKind> | null;
  match: ((op: OpInfo) => boolean) | null;
  remaining: number;
  code: string;
  once: boolean;
  partialBytes: number;
  fired: boolean;
}

/** Mulberry32: a tiny seeded generator for reproducible crash states. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A simulated disk for crash and fault tests. It keeps apart what was written
 * (the page cache) and what was made durable (the platter), so that
 * `crash()` can produce any state a power cut may leave behind, and it can
 * fail chosen operations the way a real disk does (EIO, ENOSPC, short writes).
 *
 * Model:
 * - a file is an inode with current content, durable content, and the list of
 *   writes and truncates issued since its last datasync();
 * - a directory maps names to inodes twice: current entries and durable
 *   entries; open(create), mkdirp, rename, unlink and rmdir change the current
 *   entries only; syncDir(dir) makes that directory's entries durable;
 * - directories are entries of their parent like files, so a directory whose
 *   entry was never synced is lost by a crash with everything in it;
 * - relative paths resolve against `/`, the root of this disk (not the process cwd).
 *
 * Every call of FileIO, FileHandle and FileLock is one numbered operation
 * (`opCount`); faults and the crash point are placed by that number or by a
 * predicate over the operation. An operation takes effect after the `pause`
 * (by default one setImmediate), never synchronously, so ordering bugs show;
 * the exceptions are readSync and writeSync, synchronous by their contract
 * (offered only without a `pause` option).
 *
 * A process crash (kill -9) needs no crash(): keep the same disk, call
 * killProcess() to drop the dead process's locks and handles, and open again.
 */
export class SimDisk implements FileIO {
  private root: DirNode;
  private readonly now: () => number;
  private readonly pause: (kind: OpKind) => Promise<void>;
  private capacity: number | undefined;
  private space: ((p: string) => DiskSpace) | undefined;
  private ops = 0;
  private faults: ActiveFault[] = [];
  private crashPoint: number | undefined;
  private stopped = false;
  // Handles and locks belong to one process lifetime; killProcess() starts the next.
  private generation = 0;
  private locks = new Map<FileNode, object>();

  constructor(private readonly options: SimDiskOptions = {}) {
    this.now = options.now ?? Date.now;
    this.pause = options.pause ?? (() => new Promise<void>((r) => setImmediate(r)));
    this.capacity = options.capacity;
    this.root = new DirNode(this.now());
    for (const d of options.dirs ?? []) {
      let dir = this.root;
      for (const name of components(normalize(d))) {
        let next = dir.entries.get(name);
        if (!next) {
          next = new DirNode(this.now());
          dir.entries.set(name, next);
          dir.durableEntries.set(name, next);
        }
        if (next.kind !== 'dir') throw fsError('ENOTDIR', 'mkdir', d);
        dir = next;
      }
    }
  }

  /** Operations run so far (faulted ones included, those refused after a crash not). */
  get opCount(): number { return this.ops; }

  /** True once the crash point was passed or crash() was called: every operation now rejects with ECRASHED. */
  get frozen(): boolean { return this.stopped; }

  // ---- FileIO ----

  open(p: string, options: { create?: boolean } = {}): Promise<FileHandle> {
    const np = normalize(p);
    return this.run('open', np, () => {
      const node = options.create ? this.createFile(np, 'open') : this.lookup(np, 'open');
      if (!node) throw fsError('ENOENT', 'open', np);
      if (node.kind === 'dir') throw fsError('EISDIR', 'open', np);
      return this.handle(p, np, node);
    });
  }

  readdir(dir: string): Promise<string[]> {
    const np = normalize(dir);
    return this.run('readdir', np, () => [...this.dirAt(np, 'scandir').entries.keys()].sort());
  }

  mkdirp(dir: string): Promise<void> {
    const np = normalize(dir);
    return this.run('mkdirp', np, () => { this.makeDirs(np); });
  }

  stat(p: string): Promise<FileStat | null> {
    const np = normalize(p);
    return this.run('stat', np, () => {
      const node = this.lookup(np, 'stat');
      if (!node) return null;
      if (node.kind === 'dir') return { size: PAGE, mtimeMs: node.mtimeMs, isDirectory: true };
      return { size: node.current.size, mtimeMs: node.current.mtimeMs, isDirectory: false };
    });
  }

  unlink(p: string): Promise<void> {
    const np = normalize(p);
    return this.run('unlink', np, () => {
      if (np === '/') throw fsError('EISDIR', 'unlink', np);
      const { dir, name } = this.parentOf(np, 'unlink');
      const node = dir.entries.get(name);
      if (!node) throw fsError('ENOENT', 'unlink', np);
      if (node.kind === 'dir') throw fsError('EISDIR', 'unlink', np);
      dir.entries.delete(name);
      dir.mtimeMs = this.now();
    });
  }

  rmdir(p: string): Promise<void> {
    const np = normalize(p);
    return this.run('rmdir', np, () => {
      if (np === '/') throw fsError('EBUSY', 'rmdir', np);
      const { dir, name } = this.parentOf(np, 'rmdir');
      const node = dir.entries.get(name);
      if (!node) throw fsError('ENOENT', 'rmdir', np);
      if (node.kind !== 'dir') throw fsError('ENOTDIR', 'rmdir', np);
      if (node.entries.size > 0) throw fsError('ENOTEMPTY', 'rmdir', np);
      dir.entries.delete(name);
      dir.mtimeMs = this.now();
    });
  }

  rename(from: string, to: string): Promise<void> {
    const src = normalize(from);
    const dst = normalize(to);
    return this.run('rename', src, () => {
      if (src === '/' || dst === '/') throw fsError('EBUSY', 'rename', src);
      const a = this.parentOf(src, 'rename');
      const node = a.dir.entries.get(a.name);
      if (!node) throw fsError('ENOENT', 'rename', src);
      const b = this.parentOf(dst, 'rename');
      const existing = b.dir.entries.get(b.name);
      if (existing === node) return;
      if (node.kind === 'dir' && dst.startsWith(src + '/')) throw fsError('EINVAL', 'rename', src);
      if (existing?.kind === 'dir' && node.kind === 'file') throw fsError('EISDIR', 'rename', dst);
      if (existing?.kind === 'file' && node.kind === 'dir') throw fsError('ENOTDIR', 'rename', dst);
      if (existing?.kind === 'dir' && existing.entries.size > 0) throw fsError('ENOTEMPTY', 'rename', dst);
      a.dir.entries.delete(a.name);
      b.dir.entries.set(b.name, node);
      a.dir.mtimeMs = b.dir.mtimeMs = this.now();
    }, dst);
  }

  syncDir(dir: string): Promise<void> {
    const np = normalize(dir);
    return this.run('syncDir', np, () => {
      const node = this.lookup(np, 'fsync');
      if (!node) throw fsError('ENOENT', 'open', np);
      // fsync on a file descriptor of a regular file syncs its data, as on Linux.
      if (node.kind === 'file') node.datasync();
      else node.durableEntries = new Map(node.entries);
    });
  }

  lock(p: string): Promise<FileLock> {
    const np = normalize(p);
    return this.run('lock', np, () => {
      // Like NodeFileIO: the parent directories and the file are made when missing.
      this.makeDirs(path.posix.dirname(np));
      const node = this.createFile(np, 'open');
      if (node.kind === 'dir') throw fsError('EISDIR', 'open', np);
      if (this.locks.has(node)) throw fsError('EAGAIN', 'flock', np);
      const token = {};
      this.locks.set(node, token);
      return {
        release: () => this.run('release', np, () => {
          // A lock dropped by killProcess() may since be held by the next process: leave that one alone.
          if (this.locks.get(node) === token) this.locks.delete(node);
        }),
      };
    });
  }

  statfs(p: string): Promise<DiskSpace> {
    const np = normalize(p);
    return this.run('statfs', np, () => {
      if (!this.lookup(np, 'statfs')) throw fsError('ENOENT', 'statfs', np);
      if (this.space) return this.space(np);
      const total = this.capacity ?? DEFAULT_TOTAL_BYTES;
      return { totalBytes: total, freeBytes: Math.max(0, total - this.usedBytes()) };
    });
  }

  // ---- test controls (not operations: they are not counted and work on a frozen disk) ----

  /**
   * The disk after a power cut at this moment, as a new SimDisk; this one is
   * frozen (ECRASHED) from now on, like the machine that lost power. Durable
   * content and durable directory entries survive; unsynced namespace changes
   * are forgotten; unsynced writes survive as `options` say. crash() may be
   * called again on the frozen disk to explore other outcomes of the same cut.
   * The new disk has the same options, capacity and statfs override, and no
   * faults, locks, crash point or operations counted.
   */
  crash(options: CrashOptions = {}): SimDisk {
    const keep = options.keepUnsynced ?? 'none';
    const random = options.random;
    if ((keep === 'random' || options.tear) && !random) {
      throw new TypeError('crash(): keepUnsynced "random" and tear need options.random (see seededRandom)');
    }
    this.stopped = true;
    const after = new SimDisk(this.options);
    after.capacity = this.capacity;
    after.space = this.space;
    // One old inode becomes one new inode even when several durable names (or a cycle of directory moves) reach it.
    const rebuilt = new Map<Node, Node>();
    const rebuild = (node: Node): Node => {
      const done = rebuilt.get(node);
      if (done) return done;
      if (node.kind === 'file') {
        const content = survivingContent(node, keep, options.tear === true, random);
        const file = new FileNode(content.clone(), content);
        rebuilt.set(node, file);
        return file;
      }
      const dir = new DirNode(node.mtimeMs);
      rebuilt.set(node, dir);
      for (const [name, child] of node.durableEntries) dir.entries.set(name, rebuild(child));
      dir.durableEntries = new Map(dir.entries);
      return dir;
    };
    after.root = rebuild(this.root) as DirNode;
    return after;
  }

  /**
   * The process using the disk was killed (kill -9): written data stays,
   * its locks are released and its handles stop working (EBADF), so the test
   * can open the same disk again while the dead store's objects linger.
   */
  killProcess(): void {
    this.generation++;
    this.locks.clear();
  }

  /**
   * The disk as the next process finds it after the process using this one
   * was killed (kill -9) at this moment, as a new SimDisk; this one is frozen
   * as by crash(), so nothing the dead process still had in flight reaches the
   * new one. Unlike crash(), nothing is lost and nothing becomes durable: the
   * page cache survives, and a later crash() of the new disk still loses what
   * the dead process wrote and never synced (kill, reopen, then power cut).
   */
  killed(): SimDisk {
    this.stopped = true;
    const after = new SimDisk(this.options);
    after.capacity = this.capacity;
    after.space = this.space;
    const copied = new Map<Node, Node>();
    const copy = (node: Node): Node => {
      const done = copied.get(node);
      if (done) return done;
      if (node.kind === 'file') {
        const current = node.current.clone();
        // Dirty pages are the current content's own (mutated in place): the new disk gets copies.
        for (const idx of node.dirty) {
          const page = current.pages.get(idx);
          if (page) current.pages.set(idx, Buffer.from(page));
        }
        const file = new FileNode(current, node.durable.clone());
        file.dirty = new Set(node.dirty);
        file.pending = [...node.pending];
        copied.set(node, file);
        return file;
      }
      const dir = new DirNode(node.mtimeMs);
      copied.set(node, dir);
      for (const [name, child] of node.entries) dir.entries.set(name, copy(child));
      for (const [name, child] of node.durableEntries) dir.durableEntries.set(name, copy(child));
      return dir;
    };
    after.root = copy(this.root) as DirNode;
    return after;
  }

  /** After operation number `n` (1-based, counted since this disk was made) the disk freezes: later operations reject with ECRASHED and change nothing. */
  crashAt(n: number): void {
    this.crashPoint = n;
    if (this.ops >= n) this.stopped = true;
  }

  /** Adds a fault; the general form of failAt, failSync and failWrite. */
  fail(rule: FaultRule): void {
    this.faults.push({
      kinds: rule.kinds ? new Set(rule.kinds) : null,
      match: rule.match ?? null,
      remaining: rule.nth ?? 1,
      code: rule.code ?? 'EIO',
      once: rule.once ?? true,
      partialBytes: rule.partialBytes ?? 0,
      fired: false,
    });
  }

  /** Operation number `n` (as counted by opCount) fails; with once: false every later operation fails too (SQLite's persistent fault). */
  failAt(n: number, options: FaultOptions = {}): void {
    this.fail({ ...options, match: (op) => op.n >= n });
  }

  /**
   * The nth datasync or syncDir from now (that passes `match`) fails, EIO by default.
   * The writes it covered stay unsynced and a later sync may still make them
   * durable; Linux may instead mark them clean and lose them, which only a store
   * that retries fsync would notice (keelmq turns read-only instead).
   */
  failSync(options: Omit<FaultRule, 'kinds' | 'partialBytes'> = {}): void {
    this.fail({ ...options, kinds: ['datasync', 'syncDir'] });
  }

  /** The nth write from now (that passes `match`) fails, ENOSPC by default, after storing `partialBytes` of it. */
  failWrite(options: Omit<FaultRule, 'kinds'> = {}): void {
    this.fail({ ...options, code: options.code ?? 'ENOSPC', kinds: ['write'] });
  }

  clearFaults(): void { this.faults = []; }

  /** Bytes the disk can allocate; a write needing more fails with ENOSPC after storing what fits. `undefined`: unlimited. */
  setCapacity(bytes: number | undefined): void { this.capacity = bytes; }

  /** What statfs reports, overriding the figures derived from capacity and use; `undefined` restores them. */
  setSpace(space: DiskSpace | ((p: string) => DiskSpace) | undefined): void {
    this.space = typeof space === 'object' ? () => ({ ...space }) : space;
  }

  /** Allocated bytes (4 KiB pages) of the files reachable by name; sparse ranges cost nothing. */
  usedBytes(): number {
    const seen = new Set<Node>();
    let pages = 0;
    const walk = (node: Node): void => {
      if (seen.has(node)) return;
      seen.add(node);
      if (node.kind === 'file') pages += node.current.pages.size;
      else for (const child of node.entries.values()) walk(child);
    };
    walk(this.root);
    return pages * PAGE;
  }

  // ---- internals ----

  private async run<T>(kind: OpKind, p: string, body: () => T, to?: string, partial?: (bytes: number) => void): Promise<T> {
    await this.pause(kind);
    return this.runNow(kind, p, body, to, partial);
  }

  /** run() without the pause: for the calls that are synchronous by contract (readSync, writeSync). */
  private runNow<T>(kind: OpKind, p: string, body: () => T, to?: string, partial?: (bytes: number) => void): T {
    if (this.stopped) throw fsError('ECRASHED', kind, p);
    const op: OpInfo = to === undefined ? { n: ++this.ops, kind, path: p } : { n: ++this.ops, kind, path: p, to };
    try {
      const fault = this.takeFault(op);
      if (fault) {
        if (fault.partialBytes > 0 && partial) partial(fault.partialBytes);
        throw ioError(fault.code, `injected at operation ${op.n}, ${kind} '${p}'`);
      }
      return body();
    } finally {
      if (this.crashPoint !== undefined && op.n >= this.crashPoint) this.stopped = true;
    }
  }

  private takeFault(op: OpInfo): ActiveFault | undefined {
    for (const f of this.faults) {
      if (f.kinds && !f.kinds.has(op.kind)) continue;
      if (f.match && !f.match(op)) continue;
      if (!f.fired && --f.remaining > 0) continue;
      if (f.once) this.faults = this.faults.filter((g) => g !== f);
      else f.fired = true;
      return f;
    }
    return undefined;
  }

  private handle(given: string, np: string, node: FileNode): FileHandle {
    const generation = this.generation;
    let closed = false;
    const live = (syscall: string): FileNode => {
      if (closed || generation !== this.generation) throw fsError('EBADF', syscall, np);
      return node;
    };
    // Argument errors reject like every other failure, as NodeFileHandle's async methods do.
    const h: FileHandle = {
      path: given,
      read: async (buf, offset, length, position) => {
        checkRange(buf, offset, length);
        checkPosition(position, 'read');
        return this.run('read', np, () => live('read').current.read(buf, offset, length, position));
      },
      write: async (buf, offset, length, position) => {
        checkRange(buf, offset, length);
        checkPosition(position, 'write');
        const data = buf.subarray(offset, offset + length);
        return this.run('write', np, () => this.writeData(live('write'), np, data, position), undefined,
          (bytes) => this.writeData(live('write'), np, data.subarray(0, Math.min(bytes, data.length)), position));
      },
      datasync: () => this.run('datasync', np, () => live('fdatasync').datasync()),
      truncate: async (size) => {
        checkPosition(size, 'ftruncate');
        return this.run('truncate', np, () => {
          const f = live('ftruncate');
          const at = this.now();
          f.current.truncate(size, f.dirty);
          f.current.mtimeMs = at;
          f.pending.push({ kind: 'truncate', size, at });
        });
      },
      size: () => this.run('size', np, () => live('fstat').current.size),
      close: () => this.run('close', np, () => { live('close'); closed = true; }),
    };
    // The same operations as read and write (counted, faulted and crashed alike), done before returning.
    // Not offered with a pause hook: it may hold any operation, which a synchronous call cannot. Not
    // enumerable, as on NodeFileHandle's prototype: a test wrapper made by spreading a handle
    // ({ ...h, read }) must not inherit a synchronous way around the read or write it intercepts.
    if (!this.options.pause) {
      Object.defineProperties(h, {
        readSync: {
          value: (buf: Uint8Array, offset: number, length: number, position: number): number => {
            checkRange(buf, offset, length);
            checkPosition(position, 'read');
            return this.runNow('read', np, () => live('read').current.read(buf, offset, length, position));
          },
        },
        writeSync: {
          value: (buf: Uint8Array, offset: number, length: number, position: number): void => {
            checkRange(buf, offset, length);
            checkPosition(position, 'write');
            const data = buf.subarray(offset, offset + length);
            this.runNow('write', np, () => this.writeData(live('write'), np, data, position), undefined,
              (bytes) => this.writeData(live('write'), np, data.subarray(0, Math.min(bytes, data.length)), position));
          },
        },
      });
    }
    return h;
  }

  private writeData(node: FileNode, np: string, data: Uint8Array, position: number): void {
    if (data.length === 0) return;
    const fit = this.capacity === undefined ? data.length : this.bytesThatFit(node.current, position, data.length);
    if (fit > 0) {
      const at = this.now();
      // Copied: the caller may reuse its buffer, and a crash replays these bytes.
      const chunk = Buffer.from(data.subarray(0, fit));
      node.current.write(position, chunk, node.dirty);
      node.current.mtimeMs = at;
      node.pending.push({ kind: 'write', position, data: chunk, at });
    }
    if (fit < data.length) throw fsError('ENOSPC', 'write', np);
  }

  private bytesThatFit(content: Content, position: number, length: number): number {
    let free = Math.floor(((this.capacity ?? Infinity) - this.usedBytes()) / PAGE);
    const last = Math.floor((position + length - 1) / PAGE);
    for (let idx = Math.floor(position / PAGE); idx <= last; idx++) {
      if (content.pages.has(idx)) continue;
      if (free <= 0) return Math.max(0, idx * PAGE - position);
      free--;
    }
    return length;
  }

  private lookup(np: string, syscall: string): Node | undefined {
    let node: Node = this.root;
    for (const name of components(np)) {
      if (node.kind !== 'dir') throw fsError('ENOTDIR', syscall, np);
      const next: Node | undefined = node.entries.get(name);
      if (!next) return undefined;
      node = next;
    }
    return node;
  }

  private dirAt(np: string, syscall: string): DirNode {
    const node = this.lookup(np, syscall);
    if (!node) throw fsError('ENOENT', syscall, np);
    if (node.kind !== 'dir') throw fsError('ENOTDIR', syscall, np);
    return node;
  }

  private parentOf(np: string, syscall: string): { dir: DirNode; name: string } {
    const parent = this.lookup(path.posix.dirname(np), syscall);
    if (!parent) throw fsError('ENOENT', syscall, np);
    if (parent.kind !== 'dir') throw fsError('ENOTDIR', syscall, np);
    return { dir: parent, name: path.posix.basename(np) };
  }

  private createFile(np: string, syscall: string): Node {
    if (np === '/') return this.root;
    const { dir, name } = this.parentOf(np, syscall);
    const existing = dir.entries.get(name);
    if (existing) return existing;
    const at = this.now();
    const content = new Content(new Map(), 0, at);
    const node = new FileNode(content.clone(), content);
    dir.entries.set(name, node);
    dir.mtimeMs = at;
    return node;
  }

  private makeDirs(np: string): void {
    let dir = this.root;
    const names = components(np);
    names.forEach((name, i) => {
      let next = dir.entries.get(name);
      if (!next) {
        next = new DirNode(this.now());
        dir.entries.set(name, next);
        dir.mtimeMs = next.mtimeMs;
      }
      if (next.kind !== 'dir') throw fsError(i === names.length - 1 ? 'EEXIST' : 'ENOTDIR', 'mkdir', np);
      dir = next;
    });
  }
}

/** Durable content plus the unsynced operations that survive the crash. */
function survivingContent(node: FileNode, keep: 'none' | 'all' | 'random', tear: boolean, random: (() => number) | undefined): Content {
  if (keep === 'none' || node.pending.length === 0) return node.durable.clone();
  const kept = keep === 'all' ? node.pending : node.pending.filter(() => random!() < 0.5);
  let torn = -1;
  if (tear) for (let i = kept.length - 1; i >= 0 && torn < 0; i--) if (kept[i]!.kind === 'write') torn = i;
  const content = node.durable.clone();
  const owned = new Set<number>();
  kept.forEach((op, i) => {
    if (op.kind === 'truncate') content.truncate(op.size, owned);
    else content.write(op.position, i === torn ? tornPrefix(op.position, op.data, random!) : op.data, owned);
    content.mtimeMs = op.at;
  });
  return content;
}

/** A prefix of the write ending at a random sector boundary strictly inside it; whole when it lies in one sector. */
function tornPrefix(position: number, data: Buffer, random: () => number): Buffer {
  const first = (Math.floor(position / SECTOR) + 1) * SECTOR;
  const last = (Math.ceil((position + data.length) / SECTOR) - 1) * SECTOR;
  if (first > last) return data;
  const cut = first + Math.floor(random() * ((last - first) / SECTOR + 1)) * SECTOR;
  return data.subarray(0, cut - position);
}

function checkRange(buf: Uint8Array, offset: number, length: number): void {
  if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > buf.length) {
    throw new RangeError(`offset ${offset} + length ${length} outside a buffer of ${buf.length} bytes`);
  }
}

function checkPosition(n: number, syscall: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${syscall}: position or size must be a non-negative integer, got ${n}`);
}
