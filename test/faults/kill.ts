/**
 * Scenario 1 (and issue 3's must-show): a real child process writes with
 * several concurrent producers and is killed with SIGKILL at a random moment;
 * the parent reopens the store and judges it against the acknowledgements the
 * child printed. A data directory lives for several generations (kill,
 * recover, write again) so that recovered stores are killed too.
 */
import { spawn, type ChildProcess } from 'child_process';
import * as path from 'path';
import { seededRandom } from '../../lib/io/sim-disk';
import type { FlushMode, StoreOptions } from '../../lib/store/options';
import { tmpDir } from '../support/tmp';
import { caseSeed, judge, Oracle, type Failure, type Scenario, type ScenarioResult, type Shape } from './harness';

export interface KillChildArgs { dir: string; mode: FlushMode; shape: Shape; window: number; perProducer: number }

/** 64 KiB segments roll every few hundred messages. */
export function killStoreOptions(mode: FlushMode): Partial<StoreOptions> {
  // crcWorkerMinBytes: the writes of one turn (up to 32 puts) go through the CRC worker, so kills land in its hand-offs too.
  return { flushMode: mode, commitLogSegmentSize: 64 * 1024, consumeQueueEntries: 256, maxBodySize: 4096, maxTopicLength: 32, maxPropertiesLength: 1024, crcWorkerMinBytes: 4096 };
}

const CHILD = path.join(__dirname, 'kill-child.js');
const GENERATIONS_PER_DIR = 5;
/** Children still running, so that nothing outlives the test that started it. */
const live = new Set<ChildProcess>();

export function stopChildren(): void {
  for (const c of live) c.kill('SIGKILL');
}

export interface KillOutcome { violations: string[]; acks: number; whileWriting: boolean; millis: number }

/** One generation: start the writer, kill it at a random moment, judge. */
export async function killOnce(dir: string, gen: number, mode: FlushMode, seed: number, oracle: Oracle): Promise<KillOutcome> {
  const rnd = seededRandom(seed);
  const shape: Shape = { tag: `g${gen}`, producers: 4, topics: ['alpha', 'beta', 'gamma'], queuesPerTopic: 3, maxBody: 4096 };
  const args: KillChildArgs = { dir, mode, shape, window: 8, perProducer: 400 };
  const violations: string[] = [];
  const started = Date.now();
  let acks = 0;
  let ready = false;
  let buffered = '';
  // Every producer may have written without any acknowledgement reaching us.
  for (let p = 0; p < shape.producers; p++) oracle.log(shape, p).attempts = Infinity;
  const child = spawn(process.execPath, [CHILD, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  let onReady: () => void = () => undefined;
  const readyP = new Promise<void>((r) => { onReady = r; });
  let onFirstAck: () => void = () => undefined;
  const firstAckP = new Promise<void>((r) => { onFirstAck = r; });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  child.stdout!.on('data', (d: Buffer) => {
    buffered += d.toString();
    const lines = buffered.split('\n');
    // The last piece may be a line cut by the kill: only whole lines count.
    buffered = lines.pop()!;
    for (const line of lines) {
      const [k, p, s, end] = line.split(' ');
      if (k === 'ready') { ready = true; onReady(); } else if (k === 'A') { if (acks++ === 0) onFirstAck(); oracle.ackFromChild(shape, Number(p), Number(s), Number(end)); } else if (k === 'E') violations.push(`child failed a put: ${line}`);
    }
  });
  try {
    // While producing (from the first acknowledgement on, so that a slow, loaded machine still
    // kills mid-write); one generation in 5, early, during the child's open of the recovered store.
    if (gen % 5 === 3) await sleep(rnd() * 150);
    else { await Promise.race([readyP.then(() => firstAckP), closed]); await sleep(rnd() * 300); }
  } finally {
    child.kill('SIGKILL');
    await closed;
    live.delete(child);
  }
  if (child.signalCode !== 'SIGKILL') violations.push(`child exited on its own (code ${child.exitCode}): ${stderr.slice(0, 500)}`);
  const whileWriting = ready && acks > 0;
  const v = await judge(dir, killStoreOptions(mode), oracle, { prefix: true });
  violations.push(...v.violations);
  return { violations, acks, whileWriting, millis: Date.now() - started };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface KillCase extends Record<string, unknown> { seed: number; kills: number; mode: FlushMode }

/** `kills` generations in one directory; returns per-kill outcomes. */
export async function killSeries(c: KillCase, progress?: () => void): Promise<{ failures: Failure[]; outcomes: KillOutcome[] }> {
  const tmp = tmpDir('keelmq-kill-');
  const oracle = new Oracle();
  const failures: Failure[] = [];
  const outcomes: KillOutcome[] = [];
  try {
    for (let g = 0; g < c.kills; g++) {
      const o = await killOnce(tmp.dir, g, c.mode, caseSeed(c.seed, g), oracle);
      outcomes.push(o);
      if (o.violations.length) failures.push({ replay: c, violations: [`generation ${g}:`, ...o.violations] });
      progress?.();
    }
  } finally {
    stopChildren();
    tmp.cleanup();
  }
  return { failures, outcomes };
}

export const killScenario: Scenario = {
  name: 'sigkill',
  unit: 'SIGKILLs of a writer process (5 SYNC : 1 ASYNC directories of up to 5 generations; one kill in 5 lands in the open)',
  fast: 36,
  full: 1000,
  async run(iterations, seed, progress): Promise<ScenarioResult> {
    const failures: Failure[] = [];
    const byMode: Record<FlushMode, KillOutcome[]> = { SYNC: [], ASYNC: [] };
    let done = 0;
    for (let i = 0; done < iterations; i++) {
      const mode: FlushMode = i % 6 === 5 ? 'ASYNC' : 'SYNC';
      const kills = Math.min(GENERATIONS_PER_DIR, iterations - done);
      const r = await killSeries({ seed: caseSeed(seed, i), kills, mode }, () => progress(++done, iterations));
      failures.push(...r.failures);
      byMode[mode].push(...r.outcomes);
    }
    const line = (m: FlushMode) => {
      const o = byMode[m];
      const writing = o.filter((x) => x.whileWriting).length;
      const acks = o.reduce((n, x) => n + x.acks, 0);
      const ms = o.reduce((n, x) => n + x.millis, 0);
      return `${m}: ${o.length} kills, ${writing} while puts were being acknowledged, ${acks} acknowledged messages checked after reopen, ${o.length ? Math.round(ms / o.length) : 0} ms per kill`;
    };
    const writing = (m: FlushMode) => byMode[m].filter((x) => x.whileWriting).length;
    return {
      cases: done, failures, notes: [line('SYNC'), line('ASYNC')],
      metrics: { syncKills: byMode.SYNC.length, syncKillsWhileWriting: writing('SYNC'), asyncKills: byMode.ASYNC.length, asyncKillsWhileWriting: writing('ASYNC') },
    };
  },
  async replay(p) {
    const r = await killSeries(p as KillCase);
    return r.failures.flatMap((f) => f.violations);
  },
};
