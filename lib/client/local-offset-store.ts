/**
 * A broadcasting consumer's offsets, kept by the client itself (RocketMQ's LocalFileOffsetStore):
 * every consumer of a broadcasting group reads every queue, so the broker's one offset per group
 * and queue cannot serve them. One JSON file per client and group,
 * `<dir>/<clientId>/<group>/offsets.json`, written every persistIntervalMs when changed and at
 * close, as temp file → rename, so a crash leaves the old file or the new one. Java keeps
 * `~/.rocketmq_offsets/<clientId>/<group>/offsets.json`; keelmq's default directory is
 * `~/.keelmq_offsets` (DEFAULT_LOCAL_OFFSET_DIR).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Clock, TimerHandle } from '../common/clock';
import { KeelError } from '../common/errors';
import { messageQueueKey, type MessageQueue } from './message-queue';

export const DEFAULT_LOCAL_OFFSET_DIR = path.join(os.homedir(), '.keelmq_offsets');

interface OffsetFile {
  offsetTable: { mq: MessageQueue; offset: number }[];
}

export class LocalOffsetStore {
  private readonly table = new Map<string, { mq: MessageQueue; offset: number }>();
  private dirty = false;
  private timer: TimerHandle | null = null;
  private closed = false;
  readonly file: string;

  private constructor(dir: string, clientId: string, group: string, private readonly clock: Clock, private readonly persistIntervalMs: number) {
    // A client id holds '@' and '#', which every file system takes; ':' of an IPv6 address is replaced for Windows.
    this.file = path.join(dir, clientId.replace(/[:/\\]/g, '_'), group, 'offsets.json');
  }

  static async open(dir: string, clientId: string, group: string, clock: Clock, persistIntervalMs: number): Promise<LocalOffsetStore> {
    const s = new LocalOffsetStore(dir, clientId, group, clock, persistIntervalMs);
    let text: string | undefined;
    try {
      text = await fs.promises.readFile(s.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (text !== undefined) {
      let parsed: OffsetFile;
      try {
        parsed = JSON.parse(text) as OffsetFile;
      } catch (e) {
        throw new KeelError('OFFSET_FILE_INVALID', `local offset file ${s.file} does not parse: ${(e as Error).message}`);
      }
      for (const { mq, offset } of parsed.offsetTable ?? []) s.table.set(messageQueueKey(mq), { mq, offset });
    }
    s.schedule();
    return s;
  }

  read(mq: MessageQueue): number | undefined { return this.table.get(messageQueueKey(mq))?.offset; }

  update(mq: MessageQueue, offset: number): void {
    const k = messageQueueKey(mq);
    if (this.table.get(k)?.offset === offset) return;
    this.table.set(k, { mq, offset });
    this.dirty = true;
  }

  async persist(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    const body: OffsetFile = { offsetTable: [...this.table.values()] };
    try {
      await fs.promises.mkdir(path.dirname(this.file), { recursive: true });
      const tmp = `${this.file}.tmp`;
      await fs.promises.writeFile(tmp, JSON.stringify(body, null, 1));
      await fs.promises.rename(tmp, this.file);
    } catch (e) {
      this.dirty = true;
      throw e;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.timer?.cancel();
    await this.persist();
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = this.clock.setTimeout(() => {
      // A failed write is tried again at the next tick and at close.
      this.persist().catch(() => undefined).finally(() => this.schedule());
    }, this.persistIntervalMs);
  }
}
