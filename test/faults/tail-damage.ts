/**
 * Scenarios 3 and 7: damage a crash or the disk leaves in the CommitLog.
 * - Torn tail: the last 3 records (not yet flushed when the process died) cut
 *   at every byte, the rest zeros or garbage: recovery must end exactly at the
 *   last whole record before the cut, and audit must see the same end.
 * - Bit rot: one bit flipped in a random durable record of a closed store:
 *   audit must report that record, and reads must not serve it.
 */
import * as path from 'path';
import { seededRandom, type SimDisk } from '../../lib/io/sim-disk';
import type { FileHandle } from '../../lib/io/file-io';
import { VirtualClock } from '../../lib/common/clock';
import { MessageStore } from '../../lib/store/message-store';
import { audit } from '../../lib/store/audit';
import { segmentName } from '../../lib/store/segment-file';
import type { MessageExt, PutResult } from '../../lib/common/message';
import type { StoreOptions } from '../../lib/store/options';
import {
  DATA_DIR, EPOCH, caseSeed, judge, makePlan, readAll, runCases, runPlan, simOptions,
  type Failure, type Run, type Scenario, type ScenarioResult,
} from './harness';

const SEGMENT = 4096;

/** Writes `bytes` at log offset `at` of the CommitLog on `disk`, across segment files. */
/** Calls `io` for each segment's piece of log bytes [at, at + length): (handle, offset into the bytes, count, position in the file). */
async function eachPiece(disk: SimDisk, at: number, length: number, io: (h: FileHandle, done: number, n: number, filePos: number) => Promise<unknown>): Promise<void> {
  for (let done = 0; done < length;) {
    const off = at + done;
    const start = off - (off % SEGMENT);
    const n = Math.min(length - done, start + SEGMENT - off);
    const h = await disk.open(path.posix.join(DATA_DIR, 'commitlog', segmentName(start)));
    await io(h, done, n, off - start);
    await h.close();
    done += n;
  }
}

function writeLog(disk: SimDisk, at: number, bytes: Buffer): Promise<void> {
  return eachPiece(disk, at, bytes.length, (h, done, n, pos) => h.write(bytes, done, n, pos));
}

async function readLog(disk: SimDisk, at: number, length: number): Promise<Buffer> {
  const out = Buffer.alloc(length);
  await eachPiece(disk, at, length, (h, done, n, pos) => h.read(out, done, n, pos));
  return out;
}

// ---------------------------------------------------------------- 3: torn tail

interface TornBase { run: Run; units: { start: number; end: number }[]; logEnd: number }

/** A SYNC workload, then 3 more puts acknowledged in ASYNC mode and never flushed; the process dies. */
async function tornBase(seed: number): Promise<TornBase> {
  const plan = makePlan(seed, 'SYNC', 10);
  const run = await runPlan(plan);
  const store = run.store!;
  store.setFlushMode('ASYNC');
  const tail: PutResult[] = [];
  for (let i = 0; i < 3; i++) {
    const r = new Promise<PutResult>((resolve, reject) => {
      run.oracle.put(store, plan.shape, 0, 1, false, resolve);
      setTimeout(() => reject(new Error('tail put did not settle')), 5000);
    });
    tail.push(await r);
  }
  // The 8-byte end marker in front of a record that starts a segment is part of the tail too.
  const units: { start: number; end: number }[] = [];
  let prevEnd = tail[0]!.physicalOffset;
  for (const r of tail) {
    if (r.physicalOffset !== prevEnd) units.push({ start: prevEnd, end: prevEnd + 8 });
    units.push({ start: r.physicalOffset, end: r.physicalOffset + r.storeSize });
    prevEnd = r.physicalOffset + r.storeSize;
  }
  return { run, units, logEnd: prevEnd };
}

export interface TornCase extends Record<string, unknown> { seed: number; cut: number; fill: 'zeros' | 'garbage' }

async function tornOne(base: TornBase, c: TornCase): Promise<string[]> {
  const disk = base.run.disk.crash({ keepUnsynced: 'all' });
  const len = base.logEnd - c.cut;
  const rnd = seededRandom(c.cut);
  const fill = Buffer.alloc(len);
  if (c.fill === 'garbage') for (let i = 0; i < len; i++) fill[i] = Math.floor(rnd() * 256);
  const original = await readLog(disk, c.cut, len);
  await writeLog(disk, c.cut, fill);
  // The first unit the fill changes; a random byte equal to the one it replaces (the record's last byte, say) damages nothing.
  const changed = (u: { start: number; end: number }) => {
    const from = Math.max(u.start, c.cut) - c.cut;
    return !fill.subarray(from, u.end - c.cut).equals(original.subarray(from, u.end - c.cut));
  };
  const expected = base.units.find((u) => u.end > c.cut && changed(u))?.start ?? base.logEnd;
  const violations: string[] = [];
  const before = await audit(DATA_DIR, { io: disk });
  if (before.logEnd !== expected) violations.push(`audit before recovery puts the log end at ${before.logEnd}, expected ${expected}`);
  const v = await judge(DATA_DIR, simOptions(disk, new VirtualClock(EPOCH + 3_600_000), 'ASYNC'), base.run.oracle, {
    prefix: true,
    mustSurvive: (l, seq) => l.ends[seq]! <= expected,
    mustBeAbsent: (l, seq) => l.ends[seq] !== undefined && l.ends[seq]! > expected,
  });
  if (v.recovery && v.recovery.validEnd !== expected) violations.push(`recovery ended at ${v.recovery.validEnd}, expected ${expected} (${v.recovery.stopReason})`);
  return [...violations, ...v.violations];
}

async function tornCases(seed: number, stride: number, progress: (d: number, t: number) => void): Promise<{ cases: number; failures: Failure[] }> {
  const base = await tornBase(seed);
  const cases: TornCase[] = [];
  for (let cut = base.units[0]!.start; cut < base.logEnd; cut += stride) for (const fill of ['zeros', 'garbage'] as const) cases.push({ seed, cut, fill });
  return runCases(cases, (c) => tornOne(base, c), progress);
}

export const tornTailScenario: Scenario = {
  name: 'torn-tail',
  unit: 'workloads (each: the last 3 records cut at every byte, filled with zeros and with garbage)',
  fast: 1,
  full: 20,
  async run(iterations, seed, progress): Promise<ScenarioResult> {
    let cases = 0;
    const failures: Failure[] = [];
    for (let i = 0; i < iterations; i++) {
      const r = await tornCases(caseSeed(seed, i), 1, (d, t) => progress(i * t + d, iterations * t));
      cases += r.cases;
      failures.push(...r.failures);
    }
    return { cases, failures, metrics: { cases }, notes: [`${cases} torn tails (every byte of the last 3 records, zeros and garbage): recovery ended at the last whole record in ${cases - failures.length}`] };
  },
  async replay(p) {
    const base = await tornBase(p['seed'] as number);
    return tornOne(base, p as TornCase);
  },
};

// ---------------------------------------------------------------- 7: bit rot

/** `reopen`: options for the store the reads go through (tests turn verifyReads off to see served damage counted). */
interface FlipBase { run: Run; records: MessageExt[]; reopen: Partial<StoreOptions> }

/** A closed store of a few hundred records, all durable. */
async function flipBase(seed: number, reopen: Partial<StoreOptions> = {}): Promise<FlipBase> {
  const run = await runPlan(makePlan(seed, 'SYNC', 60));
  const { msgs } = await readAll(run.store!);
  // Keep copies: the views point into read buffers.
  const records = msgs.map((m) => ({ ...m, body: Buffer.from(m.body) }));
  await run.store!.close();
  return { run, records, reopen };
}

export interface FlipCase extends Record<string, unknown> { seed: number; trial: number }

export interface FlipOutcome { violations: string[]; detected: boolean; served: 'no' | 'intact' | 'corrupt' }

function sameMessage(a: MessageExt, b: MessageExt): boolean {
  return a.topic === b.topic && a.queueId === b.queueId && a.queueOffset === b.queueOffset && a.physicalOffset === b.physicalOffset
    && a.body.equals(b.body) && JSON.stringify(a.properties) === JSON.stringify(b.properties) && a.flag === b.flag && a.sysFlag === b.sysFlag
    && a.bornTimestamp === b.bornTimestamp && a.bornHost === b.bornHost && a.storeTimestamp === b.storeTimestamp && a.storeHost === b.storeHost
    && a.reconsumeTimes === b.reconsumeTimes && a.preparedTransactionOffset === b.preparedTransactionOffset && a.bodyCRC === b.bodyCRC;
}

async function flipOne(base: FlipBase, c: FlipCase): Promise<FlipOutcome> {
  const rnd = seededRandom(caseSeed(c.seed, c.trial));
  const rec = base.records[Math.floor(rnd() * base.records.length)]!;
  const byte = Math.floor(rnd() * rec.storeSize);
  const bit = Math.floor(rnd() * 8);
  const disk = base.run.disk.crash({ keepUnsynced: 'all' });
  const at = rec.physicalOffset + byte;
  const one = Buffer.alloc(1);
  const h = await disk.open(path.posix.join(DATA_DIR, 'commitlog', segmentName(at - (at % SEGMENT))));
  await h.read(one, 0, 1, at % SEGMENT);
  one[0] ^= 1 << bit;
  await h.write(one, 0, 1, at % SEGMENT);
  await h.close();
  const where = `bit ${bit} of byte ${byte} of the record at ${rec.physicalOffset}`;
  const violations: string[] = [];
  const report = await audit(DATA_DIR, { io: disk });
  const file = path.join('commitlog', segmentName(rec.physicalOffset - (rec.physicalOffset % SEGMENT)));
  const detected = report.damage.some((d) => d.kind === 'bad-record' && d.file === file && d.offset === rec.physicalOffset % SEGMENT);
  if (!detected) violations.push(`audit missed ${where}: ${JSON.stringify(report.damage)}`);
  let served: FlipOutcome['served'] = 'no';
  const store = await MessageStore.open(DATA_DIR, { ...simOptions(disk, new VirtualClock(EPOCH + 3_600_000), 'SYNC'), ...base.reopen });
  try {
    const got = [await store.getMessage(rec.physicalOffset).catch(() => null)];
    const r = await store.getMessages(rec.topic, rec.queueId, rec.queueOffset, 1).catch(() => null);
    if (r) got.push(...r.messages.filter((m) => m.physicalOffset === rec.physicalOffset));
    for (const m of got) if (m) served = served === 'corrupt' || !sameMessage(m, rec) ? 'corrupt' : 'intact';
  } finally {
    await store.close();
  }
  if (served !== 'no') violations.push(`a read served the record with ${where} (${served === 'corrupt' ? 'with wrong content' : 'content intact, CRC field hit'})`);
  return { violations, detected, served };
}

export interface FlipTally { trials: number; detected: number; servedCorrupt: number; servedIntact: number; records: number }

export async function bitFlips(seed: number, trials: number, progress: (d: number, t: number) => void, reopen: Partial<StoreOptions> = {}): Promise<{ tally: FlipTally; failures: Failure[] }> {
  const base = await flipBase(seed, reopen);
  const tally: FlipTally = { trials, detected: 0, servedCorrupt: 0, servedIntact: 0, records: base.records.length };
  // A flip audit misses and a damaged record a read served are both failures.
  const failures: Failure[] = [];
  for (let t = 0; t < trials; t++) {
    const c: FlipCase = { seed, trial: t };
    const o = await flipOne(base, c);
    if (o.detected) tally.detected++;
    if (o.served === 'corrupt') tally.servedCorrupt++;
    if (o.served === 'intact') tally.servedIntact++;
    if (o.violations.length) failures.push({ replay: c, violations: o.violations });
    progress(t + 1, trials);
  }
  return { tally, failures };
}

/** The bit-flip scenario; `reopen` overrides the options of the store that serves the reads. */
export function makeBitFlipScenario(reopen: Partial<StoreOptions> = {}): Scenario {
  return {
    name: 'bit-flip',
    unit: 'single-bit flips, each in a random durable record of a closed store',
    fast: 300,
    full: 10_000,
    async run(iterations, seed, progress): Promise<ScenarioResult> {
      const { tally: t, failures } = await bitFlips(seed, iterations, progress, reopen);
      return {
        cases: iterations,
        failures,
        notes: [`${t.trials} flips in a store of ${t.records} records: audit detected ${t.detected} (${(100 * t.detected / t.trials).toFixed(2)} %); reads served ${t.servedCorrupt} with wrong content and ${t.servedIntact} intact records whose CRC no longer matched`],
        metrics: { ...t },
      };
    },
    async replay(p) { return (await flipOne(await flipBase(p['seed'] as number, reopen), p as FlipCase)).violations; },
  };
}

export const bitFlipScenario = makeBitFlipScenario();
