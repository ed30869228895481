import * as path from 'path';
import type { MessageStore } from '../store/message-store';
import type { Message, MessageExt } from '../common/message';
import type { Clock, TimerHandle } from '../common/clock';
import { KeelError, type KeelErrorCode } from '../common/errors';
import { ConfigFile } from './config-file';
import {
  PROPERTY_DELAY, PROPERTY_DLQ_REASON, PROPERTY_ORIGIN_MESSAGE_ID, PROPERTY_REAL_QID, PROPERTY_REAL_TOPIC, SCHEDULE_DLQ_TOPIC, SCHEDULE_TOPIC,
} from '../common/message-const';
import type { TopicConfigManager } from './topic-config';

export const DEFAULT_DELAY_LEVELS = '1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "1s 5s 1m 2h" → delays in milliseconds, level 1 first. */
export function parseDelayLevels(spec: string): number[] {
  const levels = spec.trim().split(/\s+/).map((item) => {
    const m = /^(\d+)(ms|s|m|h|d)$/.exec(item);
    if (!m) throw new KeelError('OPTION_INVALID', `delay level ${JSON.stringify(item)} must be a number and a unit (ms, s, m, h, d)`);
    return Number(m[1]) * UNIT_MS[m[2]!]!;
  });
  if (levels.length === 0 || levels.length > 64) throw new KeelError('OPTION_INVALID', `1..64 delay levels, got ${levels.length}`);
  return levels;
}

interface DelayOffsetsFile {
  /** level → next offset in its schedule queue not yet delivered. */
  offsetTable: Record<string, number>;
}

interface LevelState {
  level: number;
  delayMs: number;
  offset: number;
  running: boolean;
  /** Set when something may be due while a pass runs, so the pass goes round again. */
  again: boolean;
  timer: TimerHandle | null;
}

const BATCH = 32;
/** After a failed delivery (store read-only, disk full), try again this much later. */
const RETRY_AFTER_FAILURE_MS = 10_000;
/** Put rejections that every later attempt would get again: the entry is moved aside instead of retried. */
const UNDELIVERABLE: ReadonlySet<KeelErrorCode> = new Set(['TOPIC_INVALID', 'QUEUE_INVALID', 'PROPERTY_INVALID', 'PROPERTIES_TOO_LONG', 'BODY_TOO_LARGE']);

/**
 * Delay levels (RocketMQ's ScheduleMessageService). A delayed message is
 * stored in SCHEDULE_TOPIC_XXXX, queue `level - 1`, its real topic and queue
 * kept in properties and its deliver-at time in the ConsumeQueue's tag slot.
 * One task per level walks its queue in order and re-puts each message to its
 * real topic once due. Because every message of a level has the same delay,
 * the queue is in deliver-at order and the task only ever waits for its head:
 * it sleeps on a clock timer until the head is due, or on the store's arrival
 * signal when the queue is empty. Progress per level is persisted in
 * `config/delayOffset.json`; a crash re-delivers what was delivered since the
 * last write (at-least-once), never loses a delayed message. An entry that
 * can never be delivered (no or a bad REAL_TOPIC/REAL_QID, or refused by the
 * store as bad input) is moved to SCHEDULE_DLQ_TOPIC with DLQ_REASON rather
 * than blocking its level; failures that may pass (disk full, read-only
 * store) hold the level and are retried.
 */
export class ScheduleMessageService {
  private readonly states: LevelState[];
  private readonly file: ConfigFile<DelayOffsetsFile>;
  private unsubscribe: (() => void) | null = null;
  private closed = false;
  private readonly passes = new Set<Promise<void>>();

  private constructor(
    private readonly store: MessageStore,
    private readonly topics: TopicConfigManager,
    private readonly clock: Clock,
    readonly levels: readonly number[],
  ) {
    this.states = levels.map((delayMs, i) => ({ level: i + 1, delayMs, offset: 0, running: false, again: false, timer: null }));
    this.file = new ConfigFile(store.io, path.join(store.dir, 'config', 'delayOffset.json'), () => this.snapshot());
  }

  static async start(store: MessageStore, topics: TopicConfigManager, clock: Clock, levels: readonly number[], persistIntervalMs: number): Promise<ScheduleMessageService> {
    const s = new ScheduleMessageService(store, topics, clock, levels);
    await topics.ensure(SCHEDULE_TOPIC, levels.length);
    const saved = await s.file.load();
    for (const st of s.states) {
      st.offset = Math.max(saved?.offsetTable[String(st.level)] ?? 0, store.getMinOffsetInQueue(SCHEDULE_TOPIC, st.level - 1));
    }
    s.unsubscribe = store.onArrival((topic, queueId) => {
      // A level asleep until its head is due ignores arrivals: a newer message of the same level falls due later.
      if (topic === SCHEDULE_TOPIC && s.states[queueId]?.timer === null) s.wake(queueId + 1);
    });
    s.file.autosave(clock, persistIntervalMs);
    for (const st of s.states) s.wake(st.level);
    return s;
  }

  /** The delay of a level in ms; DELAY_LEVEL_INVALID outside 1..levels. */
  delayOf(level: number): number {
    const d = Number.isInteger(level) ? this.levels[level - 1] : undefined;
    if (d === undefined) throw new KeelError('DELAY_LEVEL_INVALID', `delay level must be 1..${this.levels.length}, got ${level}`);
    return d;
  }

  /** Rewrites a message bound for `msg.topic`/`msg.queueId` so that it is stored in the level's schedule queue. */
  toScheduled(msg: Message & { queueId: number }, level: number): Message {
    const deliverAt = this.clock.now() + this.delayOf(level);
    return {
      ...msg,
      topic: SCHEDULE_TOPIC,
      queueId: level - 1,
      tagsCode: deliverAt,
      properties: {
        ...msg.properties,
        [PROPERTY_REAL_TOPIC]: msg.topic,
        [PROPERTY_REAL_QID]: String(msg.queueId),
        [PROPERTY_DELAY]: String(level),
      },
    };
  }

  /** The next schedule-queue offset each level will deliver (level 1 first). */
  progress(): number[] { return this.states.map((s) => s.offset); }

  /**
   * A slave takes its master's progress (RocketMQ's SlaveSynchronize.syncDelayOffset), so that
   * once promoted it does not deliver again what its master delivered; persisted at once.
   * Levels not listed keep theirs.
   */
  async assignProgress(offsets: ReadonlyMap<number, number>): Promise<void> {
    for (const st of this.states) {
      const off = offsets.get(st.level);
      if (off === undefined || off === st.offset) continue;
      st.offset = off;
      this.file.markDirty();
      this.wake(st.level);
    }
    await this.file.persist();
  }

  /** Every level looks at its queue now (a promoted slave: its failed deliveries wait no longer). */
  wakeAll(): void {
    for (const st of this.states) this.wake(st.level);
  }

  private wake(level: number): void {
    const st = this.states[level - 1];
    if (!st || this.closed) return;
    if (st.running) { st.again = true; return; }
    st.timer?.cancel();
    st.timer = null;
    st.running = true;
    const pass = this.deliverDue(st)
      .catch(() => this.sleep(st, RETRY_AFTER_FAILURE_MS))
      .finally(() => {
        st.running = false;
        this.passes.delete(pass);
        if (st.again) { st.again = false; this.wake(level); }
      });
    this.passes.add(pass);
  }

  private sleep(st: LevelState, ms: number): void {
    if (this.closed) return;
    st.timer?.cancel();
    st.timer = this.clock.setTimeout(() => { st.timer = null; this.wake(st.level); }, ms);
  }

  /** Delivers the level's due messages in order; stops at the first one not due and sleeps until it is. */
  private async deliverDue(st: LevelState): Promise<void> {
    const queueId = st.level - 1;
    while (!this.closed) {
      st.again = false;
      const deliverAts: number[] = [];
      // Accepting every entry keeps the captured tag codes aligned with the messages returned.
      const r = await this.store.getMessages(SCHEDULE_TOPIC, queueId, st.offset, BATCH, {
        matchTagsCode: (code) => { deliverAts.push(code); return true; },
      });
      if (r.status === 'OFFSET_MOVED') { st.offset = r.nextBeginOffset; this.file.markDirty(); continue; }
      if (r.status !== 'FOUND') return;
      const now = this.clock.now();
      let due = 0;
      while (due < r.messages.length) {
        const at = deliverAts[due]!;
        // A deliver-at further away than the level's delay means the clock went back: deliver now.
        if (at > now && at - now <= st.delayMs) break;
        due++;
      }
      if (due > 0) {
        await Promise.all(r.messages.slice(0, due).map((m) => this.deliver(m)));
        st.offset = r.messages[due - 1]!.queueOffset + 1;
        this.file.markDirty();
      }
      if (due < r.messages.length) {
        this.sleep(st, deliverAts[due]! - now);
        return;
      }
    }
  }

  /** Puts a due entry into its real topic, or moves it aside when no attempt could. */
  private async deliver(m: MessageExt): Promise<void> {
    const real = realMessage(m, this.topics);
    if (typeof real === 'string') return this.moveAside(m, real);
    try {
      await this.store.put(real);
    } catch (e) {
      if (!(e instanceof KeelError && UNDELIVERABLE.has(e.code))) throw e;
      await this.moveAside(m, `${e.code}: ${e.message}`);
    }
  }

  /**
   * Stores the entry as it was, plus DLQ_REASON, in SCHEDULE_DLQ_TOPIC. When
   * the copy is itself refused as bad input (a body over a lowered limit, no
   * room left for the reason), a copy with only the routing properties and no
   * body is stored instead, its reason naming the entry that still holds them.
   */
  private async moveAside(m: MessageExt, reason: string): Promise<void> {
    await this.topics.ensure(SCHEDULE_DLQ_TOPIC, 1);
    const aside = (body: Buffer, properties: Record<string, string>, why: string): Message => ({
      topic: SCHEDULE_DLQ_TOPIC,
      queueId: 0,
      body,
      properties: { ...properties, [PROPERTY_DLQ_REASON]: why, [PROPERTY_ORIGIN_MESSAGE_ID]: m.properties[PROPERTY_ORIGIN_MESSAGE_ID] ?? m.msgId },
      flag: m.flag,
      sysFlag: m.sysFlag,
      bornTimestamp: m.bornTimestamp,
      bornHost: m.bornHost,
      reconsumeTimes: m.reconsumeTimes,
    });
    const why = reason.slice(0, 200);
    try {
      await this.store.put(aside(m.body, m.properties, why));
    } catch (e) {
      if (!(e instanceof KeelError && UNDELIVERABLE.has(e.code))) throw e;
      const routing: Record<string, string> = {};
      for (const name of [PROPERTY_REAL_TOPIC, PROPERTY_REAL_QID, PROPERTY_DELAY]) if (m.properties[name] !== undefined) routing[name] = m.properties[name]!.slice(0, 200);
      await this.store.put(aside(Buffer.alloc(0), routing, `${why}; body and properties are in ${m.msgId}`));
    }
  }

  private snapshot(): DelayOffsetsFile {
    const offsetTable: Record<string, number> = {};
    for (const st of this.states) offsetTable[String(st.level)] = st.offset;
    return { offsetTable };
  }

  /** Stops every level task, waits for deliveries under way, and persists progress. */
  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe?.();
    for (const st of this.states) st.timer?.cancel();
    await Promise.all([...this.passes]);
    await this.file.close();
  }
}

/**
 * The message as its real topic receives it: same body, tags, keys and
 * properties, without the delay; or why it cannot be delivered: an entry put
 * into the schedule topic by hand may name no topic, an unknown one, the
 * schedule topic itself, or a queue the topic does not have.
 */
function realMessage(m: MessageExt, topics: TopicConfigManager): Message | string {
  const properties = { ...m.properties };
  delete properties[PROPERTY_DELAY];
  const realTopic = properties[PROPERTY_REAL_TOPIC];
  const realQid = Number(properties[PROPERTY_REAL_QID]);
  if (realTopic === undefined) return `no ${PROPERTY_REAL_TOPIC}`;
  const t = realTopic === SCHEDULE_TOPIC ? undefined : topics.get(realTopic);
  if (t === undefined) return `${PROPERTY_REAL_TOPIC} ${JSON.stringify(realTopic)} is not a topic of the broker`;
  if (!Number.isInteger(realQid) || realQid < 0 || realQid >= t.queues) {
    return `${PROPERTY_REAL_QID} ${JSON.stringify(properties[PROPERTY_REAL_QID] ?? null)} is not a queue of ${realTopic} (0..${t.queues - 1})`;
  }
  return {
    topic: realTopic,
    queueId: realQid,
    body: m.body,
    properties,
    flag: m.flag,
    sysFlag: m.sysFlag,
    bornTimestamp: m.bornTimestamp,
    bornHost: m.bornHost,
    reconsumeTimes: m.reconsumeTimes,
  };
}
