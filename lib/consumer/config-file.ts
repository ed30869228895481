import * as path from 'path';
import type { FileIO } from '../io/file-io';
import type { Clock, TimerHandle } from '../common/clock';
import { KeelError } from '../common/errors';

/**
 * One JSON file under `<store>/config/` (topics.json, consumerOffset.json,
 * delayOffset.json) holding a snapshot of some in-memory table. Every write
 * goes to a temporary file, is fsynced, renamed over the old file, and the
 * directory is fsynced, so after a crash the file holds either the previous or
 * the new content, never a torn mix.
 */
export class ConfigFile<T> {
  private dirty = false;
  private writeQueued = false;
  private chain: Promise<void> = Promise.resolve();
  private dirReady = false;
  private timer: TimerHandle | null = null;
  private stopped = false;

  /** `snapshot` is called when a write starts, so a write always saves the latest state. */
  constructor(private readonly io: FileIO, readonly path: string, private readonly snapshot: () => T) {}

  /** The saved content, or null when the file does not exist yet. */
  async load(): Promise<T | null> {
    if ((await this.io.stat(this.path)) === null) return null;
    const h = await this.io.open(this.path);
    try {
      const size = await h.size();
      const buf = Buffer.alloc(size);
      let done = 0;
      while (done < size) {
        const n = await h.read(buf, done, size - done, done);
        if (n === 0) break;
        done += n;
      }
      try {
        return JSON.parse(buf.toString('utf8', 0, done)) as T;
      } catch (e) {
        // The rename makes a torn file impossible; a bad one was edited or damaged by hand.
        throw new KeelError('CORRUPT_STORE', `${this.path} is not valid JSON`, { cause: e });
      }
    } finally {
      await h.close();
    }
  }

  /** Notes that the table changed; the next persist() writes it. */
  markDirty(): void { this.dirty = true; }

  /**
   * Writes the table if it changed since the last write, and resolves once
   * every change made before the call is on disk. Writes are serialised (they
   * share the temporary file) and a burst of calls costs at most two writes.
   */
  persist(): Promise<void> {
    if (!this.dirty || this.writeQueued) return this.chain;
    this.writeQueued = true;
    this.chain = this.chain.catch(() => undefined).then(async () => {
      this.writeQueued = false;
      this.dirty = false;
      try {
        await this.write(this.snapshot());
      } catch (e) {
        this.dirty = true;
        throw e;
      }
    });
    return this.chain;
  }

  /** Persists every `intervalMs` of the clock until close(). */
  autosave(clock: Clock, intervalMs: number): void {
    this.timer = clock.setTimeout(() => {
      // A failed write is retried at the next interval; close() reports it.
      this.persist().catch(() => undefined).finally(() => { if (!this.stopped) this.autosave(clock, intervalMs); });
    }, intervalMs);
  }

  /** Stops autosaving and writes what is left. */
  async close(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.persist();
  }

  private async write(data: T): Promise<void> {
    const dir = path.dirname(this.path);
    const tmp = `${this.path}.tmp`;
    const bytes = Buffer.from(JSON.stringify(data, null, 2) + '\n', 'utf8');
    if (!this.dirReady) {
      await this.io.mkdirp(dir);
      // The directory's name must be durable too, or the files in it can vanish. Synced even when it exists:
      // a process killed before this sync left it in the page cache only.
      await this.io.syncDir(path.dirname(dir));
      this.dirReady = true;
    }
    const h = await this.io.open(tmp, { create: true });
    try {
      await h.truncate(0);
      await h.write(bytes, 0, bytes.length, 0);
      await h.datasync();
    } finally {
      await h.close();
    }
    await this.io.rename(tmp, this.path);
    await this.io.syncDir(dir);
  }
}
