/**
 * Scenarios 2 and 4: a power cut at every I/O step of a short workload, and at
 * random steps, on SimDisk. After the cut a random subset of the unsynced
 * writes survives and the last one is torn. SYNC: nothing acknowledged is lost.
 * ASYNC: only acknowledged puts beyond the flushed offset may be lost (counted).
 */
import * as fc from 'fast-check';
import { seededRandom, type SimDisk, type CrashOptions } from '../../lib/io/sim-disk';
import { VirtualClock } from '../../lib/common/clock';
import type { FlushMode } from '../../lib/store/options';
import type { MessageStore } from '../../lib/store/message-store';
import type { PutResult } from '../../lib/common/message';
import {
  DATA_DIR, EPOCH, caseSeed, countOps, judge, makePlan, recordOps, runCases, runPlan, simOptions,
  type CheckStats, type Failure, type Scenario, type ScenarioResult,
} from './harness';

export interface PowerCutCase extends Record<string, unknown> {
  /** Workload seed. */
  seed: number;
  mode: FlushMode;
  /** The disk loses power after this operation. */
  point: number;
  /** Seed of the crash outcome (which unsynced writes survive, where the last one tears). */
  crash: number;
  keep?: CrashOptions['keepUnsynced'];
  steps?: number;
  /** Damage the newest checkpoint slot, or both, after the cut (recovery must fall back to the other slot, or to a full scan). */
  checkpoint?: 'newest' | 'both';
}

export interface PowerCutOutcome { violations: string[]; stats: CheckStats; fullRebuild: boolean | null }

/** In SYNC mode a PUT_OK must never run ahead of the flushed offset. */
export function syncAckCheck(mode: FlushMode, violations: string[]) {
  return (store: MessageStore, r: PutResult) => {
    const flushed = store.stats().flushedOffset;
    if (mode === 'SYNC' && r.status === 'PUT_OK' && r.physicalOffset + r.storeSize > flushed) {
      violations.push(`PUT_OK for ${r.physicalOffset}+${r.storeSize} while only ${flushed} was flushed`);
    }
  };
}

/** A store that came back must take puts again, at the right place. */
export async function takesPuts(store: MessageStore): Promise<string[]> {
  try {
    const r = await store.put({ topic: 'after', body: 'after recovery' });
    const back = await store.getMessage(r.physicalOffset);
    return back && back.body.toString() === 'after recovery' ? [] : [`a put after recovery at ${r.physicalOffset} does not read back`];
  } catch (e) {
    return [`a put after recovery failed: ${(e as Error).message}`];
  }
}

export async function powerCut(p: PowerCutCase, arm?: (disk: SimDisk) => void): Promise<PowerCutOutcome> {
  const plan = makePlan(p.seed, p.mode, p.steps);
  const ackViolations: string[] = [];
  const run = await runPlan(plan, (d) => { d.crashAt(p.point); arm?.(d); }, syncAckCheck(p.mode, ackViolations));
  const keep = p.keep ?? 'random';
  const after = run.disk.crash({ keepUnsynced: keep, tear: keep !== 'none', random: seededRandom(p.crash) });
  if (p.checkpoint) await damageCheckpoint(after, p.checkpoint);
  // SYNC: every acknowledged put; ASYNC: those the flushed offset covered when power went.
  const mustSurvive = p.mode === 'SYNC' ? undefined : (l: { ends: number[] }, seq: number) => l.ends[seq]! <= run.flushedAtEnd;
  const v = await judge(DATA_DIR, simOptions(after, new VirtualClock(EPOCH + 3_600_000), p.mode), run.oracle, { prefix: true, mustSurvive }, takesPuts);
  return { violations: [...ackViolations, ...v.violations], stats: v.stats, fullRebuild: v.recovery ? v.recovery.fullRebuild : null };
}

const SLOT = 512;

/** Overwrites the sequence number of the newest valid-looking slot (or of both) so its CRC fails. */
async function damageCheckpoint(disk: SimDisk, which: 'newest' | 'both'): Promise<void> {
  const file = `${DATA_DIR}/checkpoint`;
  if (!(await disk.stat(file))) return;
  const h = await disk.open(file);
  const buf = Buffer.alloc(2 * SLOT);
  await h.read(buf, 0, buf.length, 0);
  const seqOf = (i: number) => buf.readUInt32BE(i * SLOT + 4) * 2 ** 32 + buf.readUInt32BE(i * SLOT + 8);
  const slots = which === 'both' ? [0, 1] : [seqOf(0) >= seqOf(1) ? 0 : 1];
  for (const i of slots) await h.write(Buffer.from([0xff, 0xee]), 0, 2, i * SLOT + 10);
  await h.datasync();
  await h.close();
}

/** fast-check arbitrary of crash cases: any workload seed, any point up to past the end of the workload. */
export function powerCutArbitrary(mode: FlushMode, maxPoint: number): fc.Arbitrary<PowerCutCase> {
  return fc.record({
    seed: fc.integer({ min: 0, max: 1_000_000 }),
    mode: fc.constant(mode),
    point: fc.integer({ min: 1, max: maxPoint }),
    crash: fc.integer({ min: 0, max: 0x7fffffff }),
  });
}

/** Crash-state counts, and how recovery rebuilt the index after each: incremental, or from the whole log. */
interface CutStats extends CheckStats { incremental: number; full: number }

function emptyStats(): CutStats {
  return { present: 0, acked: 0, ackedLostAllowed: 0, unackedPresent: 0, incremental: 0, full: 0 };
}

function tally(into: CutStats, o: PowerCutOutcome): void {
  const s = o.stats;
  into.present += s.present; into.acked += s.acked; into.ackedLostAllowed += s.ackedLostAllowed; into.unackedPresent += s.unackedPresent;
  if (o.fullRebuild === true) into.full++;
  else if (o.fullRebuild === false) into.incremental++;
}

/** Random crash states through fast-check, which shrinks a failure to a small case before reporting it. */
export async function randomPowerCuts(mode: FlushMode, runs: number, seed: number, progress: (d: number, t: number) => void): Promise<{ failures: Failure[]; stats: CutStats }> {
  const stats = emptyStats();
  let done = 0;
  let last: string[] = [];
  const out = await fc.check(fc.asyncProperty(powerCutArbitrary(mode, 240), async (p) => {
    const r = await powerCut(p);
    tally(stats, r);
    progress(++done, runs);
    last = r.violations;
    return r.violations.length === 0;
  }), { numRuns: runs, seed });
  const failures: Failure[] = out.failed && out.counterexample ? [{ replay: out.counterexample[0], violations: [...last, `(fast-check seed ${out.seed}, path ${out.counterexample ? out.counterexamplePath : ''})`] }] : [];
  return { failures, stats };
}

/** Every operation of one workload as the crash point. */
export async function everyPowerCut(seed: number, mode: FlushMode, steps: number, progress: (d: number, t: number) => void): Promise<{ cases: number; failures: Failure[]; stats: CutStats }> {
  const ops = await countOps(makePlan(seed, mode, steps));
  const stats = emptyStats();
  const cases = Array.from({ length: ops }, (_, i): PowerCutCase => ({ seed, mode, point: i + 1, crash: caseSeed(seed, i), steps }));
  const r = await runCases(cases, async (p) => { const o = await powerCut(p); tally(stats, o); return o.violations; }, progress);
  return { ...r, stats };
}

function notes(label: string, s: CutStats): string {
  return `${label}: ${s.acked} acknowledged puts across the crash states, ${s.ackedLostAllowed} of them lost within the ASYNC bound (not yet flushed), ${s.unackedPresent} unacknowledged puts survived, ${s.present} messages read back; index recovery ${s.incremental} incremental, ${s.full} full rebuilds`;
}

export const powerCutScenario: Scenario = {
  name: 'power-cut',
  unit: 'crash states (SYNC and ASYNC, half each, plus every step of one workload per mode)',
  fast: 260,
  full: 10_000,
  async run(iterations, seed, progress): Promise<ScenarioResult> {
    const half = Math.max(1, Math.floor(iterations / 2));
    const total = iterations + 2 * 120;
    let base = 0;
    const step = (d: number) => progress(base + d, total);
    const sync = await randomPowerCuts('SYNC', Math.max(half, Math.min(iterations, 200)), seed, step);
    base += Math.max(half, Math.min(iterations, 200));
    const async_ = await randomPowerCuts('ASYNC', Math.max(1, iterations - half), seed + 1, step);
    base += Math.max(1, iterations - half);
    const everySync = await everyPowerCut(seed, 'SYNC', 10, step);
    base += everySync.cases;
    const everyAsync = await everyPowerCut(seed + 1, 'ASYNC', 10, step);
    const cases = Math.max(half, Math.min(iterations, 200)) + Math.max(1, iterations - half) + everySync.cases + everyAsync.cases;
    return {
      cases,
      failures: [...sync.failures, ...async_.failures, ...everySync.failures, ...everyAsync.failures],
      notes: [
        notes('SYNC random', sync.stats), notes('ASYNC random', async_.stats),
        `every step: ${everySync.cases} SYNC and ${everyAsync.cases} ASYNC crash points`,
        notes('SYNC every step', everySync.stats), notes('ASYNC every step', everyAsync.stats),
      ],
      metrics: {
        syncRandom: Math.max(half, Math.min(iterations, 200)), syncAcked: sync.stats.acked + everySync.stats.acked,
        asyncLostAllowed: async_.stats.ackedLostAllowed + everyAsync.stats.ackedLostAllowed,
        unackedPresent: sync.stats.unackedPresent + everySync.stats.unackedPresent,
        incremental: sync.stats.incremental + async_.stats.incremental + everySync.stats.incremental + everyAsync.stats.incremental,
        full: sync.stats.full + async_.stats.full + everySync.stats.full + everyAsync.stats.full,
      },
    };
  },
  async replay(p) { return (await powerCut(p as PowerCutCase)).violations; },
};

/**
 * Scenario 4: power cuts at each step of a CommitLog segment roll (end marker
 * write, creating, sizing and syncing the next segment and its directory) and
 * of a checkpoint write, each with the three crash outcomes (no, all, and a
 * random torn subset of unsynced writes surviving). A damaged newest
 * checkpoint slot must fall back to the other one.
 */
export async function rollAndCheckpointPoints(seed: number, mode: FlushMode): Promise<{ roll: number[]; checkpoint: number[] }> {
  let ops: ReturnType<typeof recordOps> = [];
  await runPlan(makePlan(seed, mode, 16), (d) => { ops = recordOps(d); });
  const roll = new Set<number>();
  const checkpoint = new Set<number>();
  for (const op of ops) {
    const inLog = op.path.startsWith(`${DATA_DIR}/commitlog`);
    // Creating the next segment: open(create), truncate to full size, datasync (the step after), syncDir.
    if (inLog && (op.kind === 'open' || op.kind === 'truncate' || op.kind === 'syncDir')) {
      // The step before and after each file operation of the roll too.
      for (const n of [op.n - 1, op.n, op.n + 1]) if (n > 0) roll.add(n);
    }
    if (op.path === `${DATA_DIR}/checkpoint` && (op.kind === 'write' || op.kind === 'datasync')) {
      for (const n of [op.n - 1, op.n, op.n + 1]) if (n > 0) checkpoint.add(n);
    }
  }
  return { roll: [...roll].sort((a, b) => a - b), checkpoint: [...checkpoint].sort((a, b) => a - b) };
}

export const rollScenario: Scenario = {
  name: 'roll-and-checkpoint',
  unit: 'workloads (each: every roll and checkpoint step × 3 crash outcomes, and damaged checkpoint slots; SYNC and ASYNC alternately)',
  fast: 1,
  full: 20,
  async run(iterations, seed, progress): Promise<ScenarioResult> {
    const cases: PowerCutCase[] = [];
    let rolls = 0;
    let checkpoints = 0;
    for (let i = 0; i < iterations; i++) {
      const s = caseSeed(seed, i);
      const mode: FlushMode = i % 2 === 0 ? 'SYNC' : 'ASYNC';
      const pts = await rollAndCheckpointPoints(s, mode);
      rolls += pts.roll.length;
      checkpoints += pts.checkpoint.length;
      for (const point of new Set([...pts.roll, ...pts.checkpoint])) {
        for (const keep of ['none', 'all', 'random'] as const) cases.push({ seed: s, mode, point, crash: caseSeed(s, point), keep, steps: 16 });
      }
      for (const point of pts.checkpoint) {
        for (const checkpoint of ['newest', 'both'] as const) cases.push({ seed: s, mode, point, crash: caseSeed(s, point), keep: 'random', steps: 16, checkpoint });
      }
    }
    const r = await runCases(cases, async (p) => (await powerCut(p)).violations, progress);
    return { ...r, metrics: { rolls, checkpoints }, notes: [`${rolls} segment-roll steps and ${checkpoints} checkpoint steps, × 3 crash outcomes, plus damaged checkpoint slots at each checkpoint step: ${cases.length} crash states`] };
  },
  async replay(p) { return (await powerCut(p as PowerCutCase)).violations; },
};
