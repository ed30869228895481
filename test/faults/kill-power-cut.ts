/**
 * Kill, reopen, (puts or none), power cut — on SimDisk. A real SIGKILL child
 * cannot be followed by a power cut of its page cache, so the sequence is
 * modelled in-process: the first process's disk freezes at a random
 * operation and SimDisk.killed() hands the next process that disk with its
 * page cache intact (unsynced writes still unsynced); the reopened store
 * recovers the tail from there, optionally takes more puts, and then the
 * power goes at a random later operation (unsynced writes dropped at random,
 * the last one torn). fsyncs are slowed, so that in SYNC mode too the
 * unsynced tail at the kill often spans several 4 KiB segments.
 *
 * Judged by reopening, reading every offset of every queue and auditing:
 * nothing acknowledged before the kill is lost (it survived the kill, and
 * recovery must have made it durable), nothing acknowledged SYNC after it is
 * lost, every record the reopened store served before the cut reads back the
 * same, nothing damaged is served, and the audit is clean.
 */
import { seededRandom, SimDisk } from '../../lib/io/sim-disk';
import { VirtualClock } from '../../lib/common/clock';
import type { FlushMode } from '../../lib/store/options';
import { MessageStore } from '../../lib/store/message-store';
import type { RecoveryReport } from '../../lib/store/recovery';
import {
  DATA_DIR, EPOCH, Oracle, caseSeed, drive, judge, makePlan, readAll, simOptions,
  type Failure, type Scenario, type ScenarioResult,
} from './harness';
import { syncAckCheck, takesPuts } from './power-cut';

const SEGMENT = 4096;

export interface KillCutCase extends Record<string, unknown> {
  seed: number;
  mode: FlushMode;
  /** The first process dies after this operation of its disk (past its last operation: after the workload). */
  kill: number;
  /** Power goes after this many operations of the reopened store, counted once it recovered and was read. */
  cut: number;
  /** Seed of the crash outcome (which unsynced writes survive, where the last one tears). */
  crash: number;
  /** The reopened store takes a second workload before the cut. */
  puts: boolean;
}

export interface KillCutOutcome {
  violations: string[];
  /** CommitLog bytes the killed process left unsynced and recovery found valid, and the segments they span. */
  tailAtKill: number;
  tailSegments: number;
  /** Unsynced CommitLog bytes of the reopened store when the power went (written - flushed). */
  tailAtCut: number;
  /** What recovery after the cut did; null when that open failed. */
  afterCut: RecoveryReport | null;
}

/** A disk whose fdatasyncs take up to 40 turns: writes pile up behind each one, as behind a busy disk. */
function slowSyncDisk(seed: number, now: () => number): SimDisk {
  const rnd = seededRandom(seed);
  return new SimDisk({
    now,
    dirs: ['/'],
    pause: async (kind) => {
      const turns = kind === 'datasync' ? 1 + Math.floor(rnd() * 40) : 1;
      for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
    },
  });
}

export async function killPowerCut(c: KillCutCase): Promise<KillCutOutcome> {
  const violations: string[] = [];
  const out: KillCutOutcome = { violations, tailAtKill: 0, tailSegments: 0, tailAtCut: 0, afterCut: null };
  // First process: a workload, killed at operation `kill`.
  const clock1 = new VirtualClock(EPOCH);
  const disk1 = slowSyncDisk(c.seed, () => clock1.now());
  disk1.crashAt(c.kill);
  const oracle = new Oracle();
  const plan1 = makePlan(c.seed, c.mode, 24, 'w');
  let flushedAtKill = 0;
  try {
    const first = await MessageStore.open(DATA_DIR, simOptions(disk1, clock1, c.mode));
    await drive(first, plan1, clock1, oracle, syncAckCheck(c.mode, violations));
    flushedAtKill = first.stats().flushedOffset;
  } catch {
    // Killed while opening: nothing was acknowledged.
  }
  const disk2 = disk1.killed();

  // Second process: recovers from the page cache and serves what it found.
  const clock2 = new VirtualClock(EPOCH + 3_600_000);
  let second: MessageStore;
  try {
    second = await MessageStore.open(DATA_DIR, simOptions(disk2, clock2, c.mode));
  } catch (e) {
    violations.push(`reopen after the kill failed: ${(e as { code?: string }).code ?? ''} ${(e as Error).message}`);
    return out;
  }
  out.tailAtKill = Math.max(0, second.recovery.validEnd - flushedAtKill);
  if (out.tailAtKill > 0) out.tailSegments = Math.floor((second.recovery.validEnd - 1) / SEGMENT) - Math.floor(flushedAtKill / SEGMENT) + 1;
  const served = await readAll(second);
  violations.push(...served.violations.map((v) => `after the kill: ${v}`));

  // The power goes `cut` operations later: during the second workload, the checkpoints, or at its end.
  disk2.crashAt(disk2.opCount + c.cut);
  if (c.puts) await drive(second, makePlan(caseSeed(c.seed, 1), c.mode, 12, 'r'), clock2, oracle, syncAckCheck(c.mode, violations));
  else await clock2.advance(200);
  const stats = second.stats();
  const flushedAtCut = stats.flushedOffset;
  out.tailAtCut = stats.writtenOffset - flushedAtCut;
  const after = disk2.crash({ keepUnsynced: 'random', tear: true, random: seededRandom(c.crash) });

  const mustSurvive = (l: { shape: { tag: string }; ends: number[] }, seq: number) =>
    l.shape.tag === 'w' || c.mode === 'SYNC' || l.ends[seq]! <= flushedAtCut;
  const stillServed = async (store: MessageStore): Promise<string[]> => {
    const lost: string[] = [];
    for (const m of served.msgs) {
      const back = await store.getMessage(m.physicalOffset);
      if (!back || back.msgId !== m.msgId || !back.body.equals(m.body)) lost.push(`${m.properties['ID']} at ${m.physicalOffset}, served after the kill, is gone after the power cut`);
    }
    return lost;
  };
  const v = await judge(DATA_DIR, simOptions(after, new VirtualClock(EPOCH + 7_200_000), c.mode), oracle, { prefix: true, mustSurvive },
    async (s) => [...await stillServed(s), ...await takesPuts(s)]);
  violations.push(...v.violations);
  out.afterCut = v.recovery;
  return out;
}

export interface KillCutTally {
  states: number;
  failures: Failure[];
  /** Index recovery after the cut: incremental, or a full rebuild from the whole log. */
  incremental: number;
  full: number;
  /** States whose killed tail spanned at least 2 and at least 3 segments; the first also for SYNC alone. */
  multiSegment: number;
  threeSegments: number;
  multiSegmentSync: number;
  tailAtKill: number;
  tailAtCut: number;
  scannedAfterCut: number;
  /** Largest excess of scanned bytes over the unsynced tail at the cut, among incremental recoveries. */
  maxScanOverTail: number;
}

export async function runKillPowerCuts(iterations: number, seed: number, progress: (d: number, t: number) => void): Promise<KillCutTally> {
  const t: KillCutTally = { states: 0, failures: [], incremental: 0, full: 0, multiSegment: 0, threeSegments: 0, multiSegmentSync: 0, tailAtKill: 0, tailAtCut: 0, scannedAfterCut: 0, maxScanOverTail: 0 };
  for (let i = 0; i < iterations; i++) {
    const s = caseSeed(seed, i);
    const rnd = seededRandom(s);
    const c: KillCutCase = {
      seed: s, mode: i % 2 === 0 ? 'SYNC' : 'ASYNC',
      kill: 1 + Math.floor(rnd() * 260), cut: 1 + Math.floor(rnd() * 160), crash: Math.floor(rnd() * 0x7fffffff), puts: i % 4 < 2,
    };
    let o: KillCutOutcome;
    try {
      o = await killPowerCut(c);
    } catch (e) {
      o = { violations: [`threw: ${(e as Error).stack ?? String(e)}`], tailAtKill: 0, tailSegments: 0, tailAtCut: 0, afterCut: null };
    }
    t.states++;
    if (o.violations.length) t.failures.push({ replay: c, violations: o.violations });
    if (o.tailSegments >= 2) t.multiSegment++;
    if (o.tailSegments >= 2 && c.mode === 'SYNC') t.multiSegmentSync++;
    if (o.tailSegments >= 3) t.threeSegments++;
    t.tailAtKill += o.tailAtKill;
    t.tailAtCut += o.tailAtCut;
    if (o.afterCut) {
      if (o.afterCut.fullRebuild) t.full++; else t.incremental++;
      t.scannedAfterCut += o.afterCut.scannedBytes;
      if (!o.afterCut.fullRebuild) t.maxScanOverTail = Math.max(t.maxScanOverTail, o.afterCut.scannedBytes - o.tailAtCut);
    }
    progress(i + 1, iterations);
  }
  return t;
}

export const killPowerCutScenario: Scenario = {
  name: 'kill-power-cut',
  unit: 'states (kill -> reopen -> puts or none -> power cut; SYNC and ASYNC alternately)',
  fast: 40,
  full: 1_000,
  async run(iterations, seed, progress): Promise<ScenarioResult> {
    const t = await runKillPowerCuts(iterations, seed, progress);
    const mean = (x: number) => (t.states ? Math.round(x / t.states) : 0);
    return {
      cases: t.states,
      failures: t.failures,
      notes: [
        `${t.states} states: killed tail ${mean(t.tailAtKill)} B on average, spanning >= 2 segments in ${t.multiSegment} (${t.multiSegmentSync} of them SYNC), >= 3 in ${t.threeSegments}`,
        `index recovery after the power cut: ${t.incremental} incremental, ${t.full} full rebuilds`,
        `recovery work after the power cut: ${mean(t.scannedAfterCut)} B scanned on average for an unsynced tail of ${mean(t.tailAtCut)} B; at most ${t.maxScanOverTail} B beyond the tail (incremental recoveries)`,
      ],
      metrics: { states: t.states, incremental: t.incremental, full: t.full, multiSegment: t.multiSegment, multiSegmentSync: t.multiSegmentSync, maxScanOverTail: t.maxScanOverTail },
    };
  },
  async replay(p) { return (await killPowerCut(p as KillCutCase)).violations; },
};
