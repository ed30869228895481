/**
 * The one harness of the crash and fault suite: a deterministic workload, an
 * oracle of what the store acknowledged, and a judge (reopen, read back
 * everything, close, audit) that turns the store's guarantees into a list of
 * violations. Every scenario — in-process on SimDisk or a SIGKILLed child on a
 * real disk — uses these, so they all check the same contract.
 */
import { isDeepStrictEqual } from 'util';
import { MessageStore } from '../../lib/store/message-store';
import type { Message, MessageExt, PutResult } from '../../lib/common/message';
import type { FlushMode, StoreOptions } from '../../lib/store/options';
import type { FileIO } from '../../lib/io/file-io';
import { SimDisk, seededRandom } from '../../lib/io/sim-disk';
import { VirtualClock } from '../../lib/common/clock';
import { audit, type AuditReport } from '../../lib/store/audit';
import { crc32 } from '../../lib/store/crc32';

// ---------------------------------------------------------------- messages

/** What a run writes: every message is a pure function of (shape, producer, seq), so a parent process can check a child's writes. */
export interface Shape {
  /** Distinguishes runs (and SIGKILL generations) that write to the same store. */
  tag: string;
  producers: number;
  topics: readonly string[];
  queuesPerTopic: number;
  maxBody: number;
}

export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export interface MessageId { tag: string; producer: number; seq: number }

export function idString(tag: string, producer: number, seq: number): string {
  return `${tag}.${producer}.${seq}`;
}

export function parseId(s: string | undefined): MessageId | null {
  const m = s === undefined ? null : /^([\w-]+)\.(\d+)\.(\d+)$/.exec(s);
  return m ? { tag: m[1]!, producer: Number(m[2]), seq: Number(m[3]) } : null;
}

export function messageFor(shape: Shape, producer: number, seq: number): Message {
  const id = idString(shape.tag, producer, seq);
  const rnd = seededRandom(fnv1a(id));
  const topic = shape.topics[Math.floor(rnd() * shape.topics.length)]!;
  const queueId = Math.floor(rnd() * shape.queuesPerTopic);
  // Mostly small bodies, some large ones so that segments roll at different places.
  const len = rnd() < 0.85 ? Math.floor(rnd() * Math.min(200, shape.maxBody)) : Math.floor(rnd() * shape.maxBody);
  const body = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) body[i] = Math.floor(rnd() * 256);
  const msg: Message = { topic, queueId, body, properties: { ID: id } };
  const t = rnd();
  if (t < 0.6) msg.tags = `tag${Math.floor(t * 10)}`;
  if (rnd() < 0.5) msg.keys = [`k${seq}`, `p${producer}`];
  return msg;
}

// ---------------------------------------------------------------- oracle

export type Outcome = 'pending' | 'acked' | 'timeout' | 'rejected';

/** What one producer attempted and what the store told it. */
export interface ProducerLog {
  shape: Shape;
  producer: number;
  /** Seqs below this were attempted; Infinity when a child process attempted an unknown number. */
  attempts: number;
  outcomes: Outcome[];
  /** Per seq: end offset (physicalOffset + size) of an acknowledged put. */
  ends: number[];
  /** Per seq: the error code of a rejected put. */
  errors: (string | undefined)[];
}

export class Oracle {
  readonly producers = new Map<string, ProducerLog>();
  /** Every settlement in the order the producers saw them: an outcome, or an error code. */
  readonly settlements: string[] = [];

  log(shape: Shape, producer: number): ProducerLog {
    const key = `${shape.tag}.${producer}`;
    let l = this.producers.get(key);
    if (!l) {
      l = { shape, producer, attempts: 0, outcomes: [], ends: [], errors: [] };
      this.producers.set(key, l);
    }
    return l;
  }

  /** Issues the producer's next `n` messages, one put each or one putBatch; `check` runs at each acknowledgement. */
  put(store: MessageStore, shape: Shape, producer: number, n: number, batch: boolean, check?: (r: PutResult) => void): void {
    const l = this.log(shape, producer);
    const seqs = Array.from({ length: n }, () => l.attempts++);
    const msgs = seqs.map((s) => messageFor(shape, producer, s));
    for (const s of seqs) l.outcomes[s] = 'pending';
    const settle = (at: number[], results: PutResult[]) => {
      results.forEach((r, i) => {
        const s = at[i]!;
        l.outcomes[s] = r.status === 'PUT_OK' ? 'acked' : 'timeout';
        l.ends[s] = r.physicalOffset + r.storeSize;
        this.settlements.push(r.status);
        check?.(r);
      });
    };
    const fail = (at: number[], e: unknown) => {
      const code = (e as { code?: string }).code ?? String(e);
      for (const s of at) { l.outcomes[s] = 'rejected'; l.errors[s] = code; this.settlements.push(code); }
    };
    if (batch) store.putBatch(msgs).then((rs) => settle(seqs, rs), (e) => fail(seqs, e));
    else msgs.forEach((m, i) => store.put(m).then((r) => settle([seqs[i]!], [r]), (e) => fail([seqs[i]!], e)));
  }

  /** Records an acknowledgement reported by a child process. */
  ackFromChild(shape: Shape, producer: number, seq: number, end: number): void {
    const l = this.log(shape, producer);
    l.attempts = Infinity;
    l.outcomes[seq] = 'acked';
    l.ends[seq] = end;
  }

  get pending(): number {
    let n = 0;
    for (const l of this.producers.values()) for (const o of l.outcomes) if (o === 'pending') n++;
    return n;
  }

  count(o: Outcome): number {
    let n = 0;
    for (const l of this.producers.values()) for (const x of l.outcomes) if (x === o) n++;
    return n;
  }

  errorCodes(): Map<string, number> {
    const m = new Map<string, number>();
    for (const l of this.producers.values()) for (const e of l.errors) if (e) m.set(e, (m.get(e) ?? 0) + 1);
    return m;
  }
}

// ---------------------------------------------------------------- checking

export interface Policy {
  /** Per producer, the messages present are exactly its first k attempts (true unless a failed write rolled puts back). */
  prefix: boolean;
  /** Whether an acknowledged put must have survived; by default every acknowledged one must. */
  mustSurvive?: (l: ProducerLog, seq: number) => boolean;
  /** Whether a put must not be there (e.g. rejected with WRITE_FAILED by a store that cut the failed write). */
  mustBeAbsent?: (l: ProducerLog, seq: number) => boolean;
}

export interface CheckStats { present: number; acked: number; ackedLostAllowed: number; unackedPresent: number }

/** Compares what a reopened store holds with what the oracle knows; returns violations (empty = the contract held). */
export function checkMessages(msgs: MessageExt[], oracle: Oracle, policy: Policy): { violations: string[]; stats: CheckStats } {
  const violations: string[] = [];
  const stats: CheckStats = { present: msgs.length, acked: 0, ackedLostAllowed: 0, unackedPresent: 0 };
  const seen = new Map<string, Map<number, MessageExt>>();
  for (const m of msgs) {
    const where = `${m.topic}:${m.queueId}@${m.queueOffset} (log offset ${m.physicalOffset})`;
    const id = parseId(m.properties['ID']);
    const l = id && oracle.producers.get(`${id.tag}.${id.producer}`);
    if (!id || !l || id.seq >= l.attempts) { violations.push(`${where}: message ${m.properties['ID']} was never put`); continue; }
    const bySeq = seen.get(`${id.tag}.${id.producer}`) ?? new Map<number, MessageExt>();
    seen.set(`${id.tag}.${id.producer}`, bySeq);
    if (bySeq.has(id.seq)) { violations.push(`${where}: duplicate of ${m.properties['ID']} at log offset ${bySeq.get(id.seq)!.physicalOffset}`); continue; }
    bySeq.set(id.seq, m);
    const bad = contentMismatch(m, messageFor(l.shape, id.producer, id.seq));
    if (bad) violations.push(`${where}: ${m.properties['ID']} corrupt: ${bad}`);
    if (l.outcomes[id.seq] !== 'acked') stats.unackedPresent++;
    if (policy.mustBeAbsent?.(l, id.seq)) violations.push(`${where}: ${m.properties['ID']} is present although its put was rejected with ${l.errors[id.seq]}`);
  }
  for (const [key, l] of oracle.producers) {
    const bySeq = seen.get(key) ?? new Map<number, MessageExt>();
    const seqs = [...bySeq.keys()].sort((a, b) => a - b);
    if (policy.prefix && seqs.length && seqs[seqs.length - 1] !== seqs.length - 1) {
      const hole = seqs.findIndex((s, i) => s !== i);
      violations.push(`producer ${key}: not a prefix of its puts: seq ${hole} missing while seq ${seqs[seqs.length - 1]} is present`);
    }
    // Each producer's puts land in the log in the order it issued them.
    for (let i = 1; i < seqs.length; i++) {
      const a = bySeq.get(seqs[i - 1]!)!;
      const b = bySeq.get(seqs[i]!)!;
      if (b.physicalOffset <= a.physicalOffset) violations.push(`producer ${key}: seq ${seqs[i]} at ${b.physicalOffset} is not after seq ${seqs[i - 1]} at ${a.physicalOffset}`);
    }
    l.outcomes.forEach((o, seq) => {
      if (o !== 'acked') return;
      stats.acked++;
      if (bySeq.has(seq)) return;
      if (policy.mustSurvive && !policy.mustSurvive(l, seq)) { stats.ackedLostAllowed++; return; }
      violations.push(`acknowledged message ${key}.${seq} (ending at log offset ${l.ends[seq]}) is lost`);
    });
  }
  return { violations, stats };
}

function contentMismatch(m: MessageExt, want: Message): string | null {
  const body = Buffer.from(want.body as Uint8Array);
  if (m.topic !== want.topic) return `topic ${m.topic}, want ${want.topic}`;
  if (m.queueId !== want.queueId) return `queue ${m.queueId}, want ${want.queueId}`;
  if (!m.body.equals(body)) return `body differs (${m.body.length} bytes, want ${body.length})`;
  if (m.bodyCRC !== ((crc32(m.body, 0, m.body.length) & 0x7fffffff) >>> 0)) return `bodyCRC field ${m.bodyCRC} does not match the body`;
  if (m.tags !== want.tags) return `tags ${m.tags}, want ${want.tags}`;
  const keys = want.keys === undefined ? [] : (want.keys as string[]);
  if (!isDeepStrictEqual(m.keys, keys)) return `keys ${m.keys.join(' ')}, want ${keys.join(' ')}`;
  const props: Record<string, string> = { ...want.properties };
  if (want.tags !== undefined) props['TAGS'] = want.tags;
  if (keys.length) props['KEYS'] = keys.join(' ');
  if (!isDeepStrictEqual({ ...m.properties }, props)) return `properties ${JSON.stringify(m.properties)}, want ${JSON.stringify(props)}`;
  return null;
}

/**
 * Every message of every queue through getMessages, each checked against
 * getMessage at its offset; queue offsets must run without gaps.
 */
export async function readAll(store: MessageStore): Promise<{ msgs: MessageExt[]; violations: string[] }> {
  const msgs: MessageExt[] = [];
  const violations: string[] = [];
  for (const topic of store.topics()) {
    for (const q of store.queueIds(topic)) {
      let offset = store.getMinOffsetInQueue(topic, q);
      const max = store.getMaxOffsetInQueue(topic, q);
      while (offset < max) {
        const r = await store.getMessages(topic, q, offset, 32);
        if (r.status !== 'FOUND' || r.messages.length === 0) { violations.push(`${topic}:${q}: getMessages at ${offset} (max ${max}) gave ${r.status}`); break; }
        for (const m of r.messages) {
          if (m.queueOffset !== offset) violations.push(`${topic}:${q}: entry ${offset} holds a record with queue offset ${m.queueOffset}`);
          const single = await store.getMessage(m.physicalOffset);
          if (!single || single.msgId !== m.msgId || !single.body.equals(m.body)) violations.push(`${topic}:${q}@${offset}: getMessage(${m.physicalOffset}) disagrees with getMessages`);
          msgs.push(m);
          offset++;
        }
      }
    }
  }
  return { msgs, violations };
}

export function formatDamage(r: AuditReport): string[] {
  return r.damage.map((d) => `audit: ${d.kind} in ${d.file} at ${d.offset}: ${d.detail}`);
}

export interface Verdict {
  violations: string[];
  stats: CheckStats;
  recovery: MessageStore['recovery'] | null;
}

/**
 * The judge: open (which recovers), read everything back and compare with the
 * oracle, close cleanly, then audit the closed directory. `afterOpen` runs on
 * the reopened store before it is closed (e.g. to check it takes puts again).
 */
export async function judge(dir: string, options: Partial<StoreOptions>, oracle: Oracle, policy: Policy, afterOpen?: (s: MessageStore) => Promise<string[]>): Promise<Verdict> {
  const verdict: Verdict = { violations: [], stats: { present: 0, acked: 0, ackedLostAllowed: 0, unackedPresent: 0 }, recovery: null };
  let store: MessageStore;
  try {
    store = await MessageStore.open(dir, options);
  } catch (e) {
    verdict.violations.push(`reopen failed: ${(e as { code?: string }).code ?? ''} ${(e as Error).message}`);
    return verdict;
  }
  verdict.recovery = store.recovery;
  try {
    const read = await readAll(store);
    const checked = checkMessages(read.msgs, oracle, policy);
    verdict.stats = checked.stats;
    verdict.violations.push(...read.violations, ...checked.violations);
    if (afterOpen) verdict.violations.push(...await afterOpen(store));
  } finally {
    await store.close();
  }
  const report = await audit(dir, { io: options.io });
  verdict.violations.push(...formatDamage(report));
  return verdict;
}

// ---------------------------------------------------------------- in-process workloads on SimDisk

export const DATA_DIR = '/data';
export const EPOCH = 1_700_000_000_000;

/** Small segments so that a short workload rolls CommitLog and ConsumeQueue files and writes checkpoints. */
export function simOptions(io: FileIO, clock: VirtualClock, mode: FlushMode): Partial<StoreOptions> {
  return {
    io, clock, flushMode: mode,
    commitLogSegmentSize: 4096,
    consumeQueueEntries: 16,
    maxBodySize: 600,
    maxTopicLength: 32,
    maxPropertiesLength: 256,
    asyncFlushIntervalMs: 10,
    asyncFlushLeastBytes: 0,
    asyncFlushThoroughIntervalMs: 50,
    checkpointIntervalMs: 40,
  };
}

export type Step =
  | { kind: 'put'; producer: number; n: number; batch: boolean }
  | { kind: 'advance'; ms: number };

export interface Plan { seed: number; mode: FlushMode; shape: Shape; steps: Step[] }

/** A short deterministic workload: bursts of concurrent puts and batches from several producers, with time passing between them. */
export function makePlan(seed: number, mode: FlushMode, steps = 24, tag = 'w'): Plan {
  const rnd = seededRandom(seed);
  const shape: Shape = { tag, producers: 3, topics: ['alpha', 'beta'], queuesPerTopic: 2, maxBody: 600 };
  const out: Step[] = [];
  for (let i = 0; i < steps; i++) {
    const burst = 1 + Math.floor(rnd() * 3);
    for (let b = 0; b < burst; b++) {
      out.push({ kind: 'put', producer: Math.floor(rnd() * shape.producers), n: 1 + Math.floor(rnd() * 3), batch: rnd() < 0.2 });
    }
    out.push({ kind: 'advance', ms: rnd() < 0.5 ? 0 : Math.floor(rnd() * 30) });
  }
  return { seed, mode, shape, steps: out };
}

export interface Run {
  disk: SimDisk;
  clock: VirtualClock;
  oracle: Oracle;
  store: MessageStore | null;
  /** Why open failed, if it did. */
  openError: unknown;
  /** The CommitLog's flushed offset when the workload ended: what a power cut cannot take. */
  flushedAtEnd: number;
}

/**
 * Runs a plan on a fresh SimDisk. `arm` places faults or the crash point
 * before the store opens. Puts still pending at the end are given virtual time
 * until they settle (a SYNC put times out after 5 s at the latest).
 */
export async function runPlan(plan: Plan, arm?: (disk: SimDisk) => void, onAck?: (store: MessageStore, r: PutResult) => void): Promise<Run> {
  const clock = new VirtualClock(EPOCH);
  const disk = new SimDisk({ now: () => clock.now(), dirs: ['/'] });
  const oracle = new Oracle();
  arm?.(disk);
  const run: Run = { disk, clock, oracle, store: null, openError: null, flushedAtEnd: 0 };
  try {
    run.store = await MessageStore.open(DATA_DIR, simOptions(disk, clock, plan.mode));
  } catch (e) {
    run.openError = e;
    return run;
  }
  await drive(run.store, plan, clock, oracle, onAck);
  run.flushedAtEnd = run.store.stats().flushedOffset;
  return run;
}

/** Runs a plan's steps on an open store; puts still pending at the end are given virtual time until they settle. */
export async function drive(store: MessageStore, plan: Plan, clock: VirtualClock, oracle: Oracle, onAck?: (store: MessageStore, r: PutResult) => void): Promise<void> {
  const check = onAck ? (r: PutResult) => onAck(store, r) : undefined;
  for (const s of plan.steps) {
    if (s.kind === 'put') oracle.put(store, plan.shape, s.producer, s.n, s.batch, check);
    else await clock.advance(s.ms);
  }
  for (let i = 0; i < 40 && oracle.pending > 0; i++) await clock.advance(250);
}

/** Ops of a full, fault-free run of the plan (the range crash points and faults are drawn from). */
export async function countOps(plan: Plan): Promise<number> {
  const r = await runPlan(plan);
  return r.disk.opCount;
}

/** Records every operation of a disk (a fault rule that never fires but sees everything). */
export function recordOps(disk: SimDisk): { n: number; kind: string; path: string }[] {
  const ops: { n: number; kind: string; path: string }[] = [];
  disk.fail({ match: (op) => { ops.push({ n: op.n, kind: op.kind, path: op.path }); return false; } });
  return ops;
}

// ---------------------------------------------------------------- scenarios and the runner

/** One case that failed, with what replays it: `npm run test:faults -- --replay '<json>'`. */
export interface Failure { replay: Record<string, unknown>; violations: string[] }

export interface ScenarioResult {
  cases: number;
  failures: Failure[];
  /** Measured numbers worth printing (kills, crash states, detections...). */
  notes: string[];
  /** The same numbers for the tests to assert on. */
  metrics?: Record<string, number>;
}

export interface Scenario {
  name: string;
  /** What one iteration is. */
  unit: string;
  /** Iterations of the slice `npm test` runs, and of the full run. */
  fast: number;
  full: number;
  run(iterations: number, seed: number, progress: (done: number, total: number) => void): Promise<ScenarioResult>;
  /** Runs the one case a failure printed. */
  replay(params: Record<string, unknown>): Promise<string[]>;
}

export function replayLine(scenario: string, replay: Record<string, unknown>): string {
  return `npm run test:faults -- --replay '${JSON.stringify({ scenario, ...replay })}'`;
}

/** Runs cases one after another, collecting failures (at most `keep` listed in full). */
export async function runCases<P extends Record<string, unknown>>(
  cases: P[], one: (p: P) => Promise<string[]>, progress: (done: number, total: number) => void,
): Promise<{ cases: number; failures: Failure[] }> {
  const failures: Failure[] = [];
  for (let i = 0; i < cases.length; i++) {
    let violations: string[];
    try {
      violations = await one(cases[i]!);
    } catch (e) {
      violations = [`threw: ${(e as Error).stack ?? String(e)}`];
    }
    if (violations.length) failures.push({ replay: cases[i]!, violations });
    progress(i + 1, cases.length);
  }
  return { cases: cases.length, failures };
}

/** Per-case seeds derived from the run seed, so one case replays alone. */
export function caseSeed(seed: number, i: number): number {
  return fnv1a(`${seed}:${i}`);
}
