/**
 * Scenarios 5, 6 and 8: the disk reports errors instead of losing power.
 * - fsync EIO on the k-th sync: no success for data not on disk, waiting puts
 *   reject FLUSH_FAILED, later puts STORE_READ_ONLY, the store reopens clean;
 * - the N-th I/O operation fails, once or from then on (SQLite's method):
 *   every error is typed, the store reopens (once the fault is gone) and audits clean;
 * - ENOSPC in the middle of a CommitLog write (a short write, or a full disk):
 *   the puts of that write reject WRITE_FAILED and no part of them survives.
 */
import { seededRandom, type SimDisk } from '../../lib/io/sim-disk';
import { VirtualClock } from '../../lib/common/clock';
import { audit } from '../../lib/store/audit';
import type { KeelErrorCode } from '../../lib/common/errors';
import type { FlushMode } from '../../lib/store/options';
import {
  DATA_DIR, EPOCH, caseSeed, countOps, formatDamage, judge, makePlan, recordOps, runCases, runPlan, simOptions,
  type Oracle, type Policy, type Run, type Scenario, type ScenarioResult,
} from './harness';
import { syncAckCheck } from './power-cut';

const TYPED: ReadonlySet<string> = new Set<KeelErrorCode>(['STORE_READ_ONLY', 'WRITE_FAILED', 'FLUSH_FAILED', 'STORE_CLOSED', 'CORRUPT_STORE', 'DISK_FULL']);

/** Every rejection a producer saw must be one of the store's typed errors. */
function untypedRejections(oracle: Oracle): string[] {
  return [...oracle.errorCodes()].filter(([c]) => !TYPED.has(c)).map(([c, n]) => `${n} puts rejected with an untyped error ${c}`);
}

/** After a failure the store must refuse puts with STORE_READ_ONLY. */
async function refusesPuts(run: Run): Promise<string[]> {
  if (!run.store || run.store.stats().state !== 'read-only') return [];
  try {
    await run.store.put({ topic: 'late', body: 'x' });
    return ['a read-only store took a put'];
  } catch (e) {
    return (e as { code?: string }).code === 'STORE_READ_ONLY' ? [] : [`a read-only store rejected a put with ${(e as { code?: string }).code}, not STORE_READ_ONLY`];
  }
}

/** Closes the faulted store (errors allowed, if typed), then restarts the "process" on the same disk with the fault gone. */
async function restart(run: Run): Promise<string[]> {
  const out: string[] = [];
  if (run.store) {
    try { await run.store.close(); } catch (e) {
      const code = (e as { code?: string }).code;
      if (!code) out.push(`close failed with an untyped error: ${(e as Error).message}`);
    }
  }
  run.disk.killProcess();
  run.disk.clearFaults();
  run.disk.setCapacity(undefined);
  return out;
}

const later = () => new VirtualClock(EPOCH + 3_600_000);

// ---------------------------------------------------------------- 5: fsync EIO

export interface SyncFailCase extends Record<string, unknown> { seed: number; k: number }

export async function syncFailure(p: SyncFailCase): Promise<{ violations: string[]; fired: boolean; flushFailed: number }> {
  const plan = makePlan(p.seed, 'SYNC', 80);
  const violations: string[] = [];
  let ops: ReturnType<typeof recordOps> = [];
  const run = await runPlan(plan, (d) => { ops = recordOps(d); d.failSync({ nth: p.k }); }, syncAckCheck('SYNC', violations));
  const syncs = ops.filter((o) => o.kind === 'datasync' || o.kind === 'syncDir');
  const fired = syncs.length >= p.k;
  if (run.openError && !(run.openError as { code?: string }).code) violations.push(`open failed with an untyped error: ${String(run.openError)}`);
  violations.push(...untypedRejections(run.oracle));
  // Nothing is acknowledged once a flush failure was reported.
  const s = run.oracle.settlements;
  const firstFail = s.indexOf('FLUSH_FAILED');
  if (firstFail >= 0 && s.indexOf('PUT_OK', firstFail) >= 0) violations.push(`PUT_OK reported after FLUSH_FAILED (settlements ${s.slice(firstFail, firstFail + 10).join(',')}...)`);
  violations.push(...await refusesPuts(run));
  // Only what was fsynced survives 'none': every PUT_OK must be among it.
  const durableOnly = run.disk.crash({ keepUnsynced: 'none' });
  const restarted = run.disk.crash({ keepUnsynced: 'all' });
  for (const [label, disk] of [['power cut', durableOnly], ['restart', restarted]] as const) {
    const v = await judge(DATA_DIR, simOptions(disk, later(), 'SYNC'), run.oracle, { prefix: true });
    violations.push(...v.violations.map((x) => `${label}: ${x}`));
  }
  return { violations, fired, flushFailed: run.oracle.errorCodes().get('FLUSH_FAILED') ?? 0 };
}

export const fsyncScenario: Scenario = {
  name: 'fsync-eio',
  unit: 'values of k (the k-th datasync/syncDir fails with EIO), k = 1, 2, ...; a fast slice samples k up to 200',
  fast: 40,
  full: 200,
  async run(iterations, seed, progress): Promise<ScenarioResult> {
    const stride = Math.max(1, Math.floor(200 / iterations));
    const cases: SyncFailCase[] = Array.from({ length: iterations }, (_, i) => ({ seed: caseSeed(seed, i), k: iterations >= 200 ? i + 1 : 1 + i * stride }));
    let fired = 0;
    let flushFailed = 0;
    let readOnly = 0;
    const r = await runCases(cases, async (c) => {
      const o = await syncFailure(c);
      if (o.fired) fired++;
      flushFailed += o.flushFailed;
      if (o.flushFailed > 0) readOnly++;
      return o.violations;
    }, progress);
    return { ...r, metrics: { fired, flushFailed }, notes: [`${fired} of ${cases.length} faults fired; ${flushFailed} waiting puts rejected FLUSH_FAILED in ${readOnly} runs`] };
  },
  async replay(p) { return (await syncFailure(p as SyncFailCase)).violations; },
};

// ---------------------------------------------------------------- 6: the N-th I/O fails

export interface NthCase extends Record<string, unknown> { seed: number; mode: FlushMode; n: number; once: boolean }

export async function nthFailure(p: NthCase): Promise<{ violations: string[]; openFailed: boolean }> {
  const plan = makePlan(p.seed, p.mode, 16);
  const violations: string[] = [];
  const run = await runPlan(plan, (d) => d.failAt(p.n, { once: p.once }), syncAckCheck(p.mode, violations));
  if (run.openError && !(run.openError as { code?: string }).code) violations.push(`open failed with an untyped error: ${String(run.openError)}`);
  violations.push(...untypedRejections(run.oracle));
  violations.push(...await refusesPuts(run));
  violations.push(...await restart(run));
  // Still the same disk: what reached the OS is there, so every acknowledged put must be.
  const v = await judge(DATA_DIR, simOptions(run.disk, later(), p.mode), run.oracle, { prefix: false });
  violations.push(...v.violations);
  return { violations, openFailed: run.openError !== null };
}

export const nthScenario: Scenario = {
  name: 'nth-io-fails',
  unit: 'cases (operation N of a workload fails once or for good; SYNC and ASYNC; every N of each workload in a full run)',
  fast: 80,
  full: 2000,
  async run(iterations, seed, progress): Promise<ScenarioResult> {
    const cases: NthCase[] = [];
    for (let w = 0; cases.length < iterations; w++) {
      const s = caseSeed(seed, w);
      const all: NthCase[] = [];
      for (const mode of ['SYNC', 'ASYNC'] as const) {
        const ops = await countOps(makePlan(s, mode, 16));
        for (let n = 1; n <= ops; n++) for (const once of [true, false]) all.push({ seed: s, mode, n, once });
      }
      // A fast slice spreads its cases over the whole workload.
      const stride = Math.max(1, Math.floor(all.length / (iterations - cases.length)));
      for (let i = 0; i < all.length && cases.length < iterations; i += stride) cases.push(all[i]!);
    }
    let openFailed = 0;
    const r = await runCases(cases, async (c) => { const o = await nthFailure(c); if (o.openFailed) openFailed++; return o.violations; }, progress);
    return { ...r, metrics: { openFailed }, notes: [`${cases.length} faulted runs; in ${openFailed} the fault hit open(), which failed with a coded error (KeelError or errno) and succeeded once the fault was gone`] };
  },
  async replay(p) { return (await nthFailure(p as NthCase)).violations; },
};

// ---------------------------------------------------------------- 8: ENOSPC

export interface NoSpaceCase extends Record<string, unknown> { seed: number; mode: FlushMode; k: number; partial: number; capacityPages?: number }

export async function noSpace(p: NoSpaceCase): Promise<{ violations: string[]; writeFailed: number }> {
  const plan = makePlan(p.seed, p.mode, 20);
  const violations: string[] = [];
  const arm = (d: SimDisk) => {
    if (p.capacityPages !== undefined) d.setCapacity(p.capacityPages * 4096);
    else d.failWrite({ nth: p.k, partialBytes: p.partial, match: (op) => op.path.startsWith(`${DATA_DIR}/commitlog/`) });
  };
  const run = await runPlan(plan, arm, syncAckCheck(p.mode, violations));
  violations.push(...untypedRejections(run.oracle));
  const writeFailed = run.oracle.errorCodes().get('WRITE_FAILED') ?? 0;
  const stillWritable = run.store !== null && run.store.stats().state === 'open';
  const policy: Policy = {
    prefix: false,
    // A store that stayed writable cut the failed write: none of its puts may come back.
    mustBeAbsent: stillWritable ? (l, seq) => l.errors[seq] === 'WRITE_FAILED' : undefined,
  };
  if (stillWritable && run.store) {
    // No partial record: the closed store audits clean without any recovery.
    await run.store.close();
    const report = await audit(DATA_DIR, { io: run.disk });
    // A close whose final flush failed (the disk is full) leaves the index to recovery; the CommitLog must be clean regardless.
    if (!report.cleanShutdown) report.damage = report.damage.filter((d) => d.file.startsWith('commitlog'));
    violations.push(...formatDamage(report).map((x) => `before reopen: ${x}`));
  }
  violations.push(...await restart(run));
  const v = await judge(DATA_DIR, simOptions(run.disk, later(), p.mode), run.oracle, policy);
  violations.push(...v.violations);
  return { violations, writeFailed };
}

export const enospcScenario: Scenario = {
  name: 'enospc',
  unit: 'cases (the k-th CommitLog write fails ENOSPC after a random part of it is stored; every 4th case a full disk instead)',
  fast: 40,
  full: 1000,
  async run(iterations, seed, progress): Promise<ScenarioResult> {
    const cases: NoSpaceCase[] = Array.from({ length: iterations }, (_, i) => {
      const rnd = seededRandom(caseSeed(seed, i));
      const mode: FlushMode = rnd() < 0.5 ? 'SYNC' : 'ASYNC';
      return i % 4 === 3
        ? { seed: caseSeed(seed, i), mode, k: 0, partial: 0, capacityPages: 4 + Math.floor(rnd() * 12) }
        : { seed: caseSeed(seed, i), mode, k: 1 + Math.floor(rnd() * 30), partial: Math.floor(rnd() * 2000) };
    });
    let writeFailed = 0;
    const r = await runCases(cases, async (c) => { const o = await noSpace(c); writeFailed += o.writeFailed; return o.violations; }, progress);
    return { ...r, metrics: { writeFailed }, notes: [`${writeFailed} puts rejected WRITE_FAILED; none of them came back where the store stayed writable`] };
  },
  async replay(p) { return (await noSpace(p as NoSpaceCase)).violations; },
};
