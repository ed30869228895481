import * as path from 'path';
import type { MessageStore } from '../store/message-store';
import { KeelError } from '../common/errors';
import type { Clock } from '../common/clock';
import { ConfigFile } from './config-file';

export interface TopicConfig {
  name: string;
  /** Queues 0..queues-1. */
  queues: number;
}

interface TopicsFile {
  topics: Record<string, { queues: number }>;
}

/**
 * The topics a broker knows and their queue counts (RocketMQ's
 * TopicConfigManager), persisted in `config/topics.json`. A topic is saved
 * before the first message is sent to it, so a restart never finds messages in
 * a queue its config does not list; topics found only in the store (written by
 * an older version or by the store API directly) are adopted at load.
 */
export class TopicConfigManager {
  private readonly topics = new Map<string, TopicConfig>();
  private readonly clock: Clock;
  private readonly changeListeners: ((t: TopicConfig | { name: string; queues: 0 }) => void)[] = [];
  private readonly file: ConfigFile<TopicsFile>;
  /** RocketMQ's DataVersion of the table: a new one at every change (a slave's sync compares it with the last it applied). */
  dataVersion: { counter: number; timestamp: number };

  private constructor(store: MessageStore, private readonly maxQueues: number) {
    this.dataVersion = { counter: 0, timestamp: store.clock.now() };
    this.clock = store.clock;
    this.file = new ConfigFile(store.io, path.join(store.dir, 'config', 'topics.json'), () => this.snapshot());
  }

  static async load(store: MessageStore, maxQueues: number): Promise<TopicConfigManager> {
    const m = new TopicConfigManager(store, maxQueues);
    const saved = await m.file.load();
    for (const [name, t] of Object.entries(saved?.topics ?? {})) m.topics.set(name, { name, queues: t.queues });
    let adopted = false;
    for (const name of store.topics()) {
      const queues = Math.max(0, ...store.queueIds(name)) + 1;
      const known = m.topics.get(name);
      if (!known || known.queues < queues) {
        m.topics.set(name, { name, queues });
        adopted = true;
      }
    }
    if (adopted) await m.save();
    return m;
  }

  get(name: string): TopicConfig | undefined { return this.topics.get(name); }

  list(): TopicConfig[] { return [...this.topics.values()].sort((a, b) => (a.name < b.name ? -1 : 1)); }

  /**
   * Creates the topic, or grows its queue count; never shrinks it, because
   * the messages in the higher queues would become unreachable.
   */
  async ensure(name: string, queues: number): Promise<TopicConfig> {
    if (!Number.isInteger(queues) || queues < 1 || queues > this.maxQueues) {
      throw new KeelError('QUEUE_INVALID', `a topic has 1..${this.maxQueues} queues, got ${queues}`);
    }
    const known = this.topics.get(name);
    if (known && known.queues >= queues) return known;
    const t = { name, queues };
    this.topics.set(name, t);
    await this.save();
    for (const l of this.changeListeners) l(t);
    return t;
  }

  /**
   * Forgets a topic (RocketMQ's deleteTopicConfig). Its messages stay in the
   * store until they expire, so a restart adopts it again if any are left.
   */
  async remove(name: string): Promise<boolean> {
    if (!this.topics.delete(name)) return false;
    await this.save();
    for (const l of this.changeListeners) l({ name, queues: 0 });
    return true;
  }

  /**
   * Makes the table exactly `topics` (a slave taking its master's table, RocketMQ's
   * SlaveSynchronize.syncTopicConfig): topics not listed are forgotten, the others take the
   * listed queue count, which may be lower (the master's table is the truth). One save.
   */
  async replaceAll(topics: readonly TopicConfig[]): Promise<void> {
    const changed: (TopicConfig | { name: string; queues: 0 })[] = [];
    const next = new Map(topics.map((t) => [t.name, { name: t.name, queues: t.queues }]));
    for (const name of this.topics.keys()) if (!next.has(name)) changed.push({ name, queues: 0 });
    for (const t of next.values()) if (this.topics.get(t.name)?.queues !== t.queues) changed.push(t);
    if (changed.length === 0) return;
    for (const t of changed) {
      if (t.queues === 0) this.topics.delete(t.name);
      else this.topics.set(t.name, t);
    }
    await this.save();
    for (const t of changed) for (const l of this.changeListeners) l(t);
  }

  /** Called after a topic is created, grown or removed (queues 0), once it is saved; a networked broker re-registers then. */
  onChange(listener: (t: TopicConfig | { name: string; queues: 0 }) => void): void {
    this.changeListeners.push(listener);
  }

  private save(): Promise<void> {
    this.dataVersion = { counter: this.dataVersion.counter + 1, timestamp: this.clock.now() };
    this.file.markDirty();
    return this.file.persist();
  }

  private snapshot(): TopicsFile {
    const topics: TopicsFile['topics'] = {};
    for (const t of this.list()) topics[t.name] = { queues: t.queues };
    return { topics };
  }
}
