import * as path from 'path';
import type { MessageStore } from '../store/message-store';
import type { Clock } from '../common/clock';
import { ConfigFile } from './config-file';

interface OffsetsFile {
  /** `topic@group` → queueId → next queue offset to consume. */
  offsetTable: Record<string, Record<string, number>>;
}

/**
 * Consumer offsets per (topic, group, queue) (RocketMQ's
 * ConsumerOffsetManager). An offset is the next message the group has not
 * finished, so everything below it is done and a restart resumes there.
 * Kept in memory, written to `config/consumerOffset.json` every interval when
 * something changed, and on close.
 */
export class OffsetStore {
  private readonly table = new Map<string, Map<number, number>>();
  private readonly file: ConfigFile<OffsetsFile>;

  private constructor(store: MessageStore) {
    this.file = new ConfigFile(store.io, path.join(store.dir, 'config', 'consumerOffset.json'), () => this.snapshot());
  }

  static async load(store: MessageStore, clock: Clock, intervalMs: number): Promise<OffsetStore> {
    const s = new OffsetStore(store);
    const saved = await s.file.load();
    for (const [k, queues] of Object.entries(saved?.offsetTable ?? {})) {
      const m = new Map<number, number>();
      for (const [q, off] of Object.entries(queues)) m.set(Number(q), off);
      s.table.set(k, m);
    }
    s.file.autosave(clock, intervalMs);
    return s;
  }

  /** The group's offset in a queue, or undefined when the group never consumed it. */
  read(group: string, topic: string, queueId: number): number | undefined {
    return this.table.get(key(topic, group))?.get(queueId);
  }

  update(group: string, topic: string, queueId: number, offset: number): void {
    const k = key(topic, group);
    let m = this.table.get(k);
    if (!m) this.table.set(k, (m = new Map()));
    if (m.get(queueId) === offset) return;
    m.set(queueId, offset);
    this.file.markDirty();
  }

  /** The whole table, `topic@group` → queueId → offset (RocketMQ's offsetTable, served to slaves). */
  all(): ReadonlyMap<string, ReadonlyMap<number, number>> { return this.table; }

  /**
   * A slave takes its master's offsets (RocketMQ's SlaveSynchronize.syncConsumerOffset,
   * `offsetTable.putAll`): each `topic@group` listed replaces the slave's own entry whole, even
   * where the slave's consumers committed further; entries the master lacks are kept.
   */
  putAll(table: ReadonlyMap<string, ReadonlyMap<number, number>>): void {
    for (const [k, queues] of table) {
      const mine = this.table.get(k);
      if (mine && mine.size === queues.size && [...queues].every(([q, off]) => mine.get(q) === off)) continue;
      this.table.set(k, new Map(queues));
      this.file.markDirty();
    }
  }

  /** Every (group, topic) with an offset, for admin views (who consumes a topic, a group's topics). */
  subscriptions(): { group: string; topic: string }[] {
    return [...this.table.keys()].map((k) => {
      const at = k.indexOf('@');
      return { topic: k.slice(0, at), group: k.slice(at + 1) };
    });
  }

  /** Writes the offsets now (if anything changed); resolves once they are on disk. */
  persist(): Promise<void> { return this.file.persist(); }

  close(): Promise<void> { return this.file.close(); }

  private snapshot(): OffsetsFile {
    const offsetTable: OffsetsFile['offsetTable'] = {};
    for (const [k, m] of this.table) {
      const queues: Record<string, number> = {};
      for (const [q, off] of [...m].sort((a, b) => a[0] - b[0])) queues[String(q)] = off;
      offsetTable[k] = queues;
    }
    return { offsetTable };
  }
}

/** RocketMQ's key: a topic cannot contain '@'. */
function key(topic: string, group: string): string { return `${topic}@${group}`; }
