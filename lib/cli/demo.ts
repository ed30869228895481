import { spawn } from 'child_process';
import * as path from 'path';
import { MessageStore } from '../store/message-store';
import type { RecoveryProgress } from '../store/options';

export interface DemoOptions {
  dir: string;
  /** Concurrent producers in the writer process. */
  producers: number;
  /** The writer is killed at a random moment in [killAfterMs/2, killAfterMs]. */
  killAfterMs: number;
  segmentSize: number;
}

const TOPIC = 'demo';
const QUEUES = 4;

/**
 * The writer: SYNC flush, `producers` loops each awaiting every put, one
 * stdout line per acknowledged put. It runs until killed.
 */
export async function demoWriter(dir: string, producers: number, segmentSize: number): Promise<never> {
  const store = await MessageStore.open(dir, { flushMode: 'SYNC', commitLogSegmentSize: segmentSize });
  process.stdout.write(`ready ${store.stats().appendOffset}\n`);
  const run = async (p: number) => {
    for (let i = 0; ; i++) {
      const id = `${process.pid}-${p}-${i}`;
      const r = await store.put({ topic: TOPIC, queueId: (p + i) % QUEUES, body: `message ${id}`, keys: id });
      // The line is written only after the put resolved: every printed id was acknowledged.
      process.stdout.write(`ack ${id} ${r.queueId} ${r.queueOffset}\n`);
    }
  };
  await Promise.all(Array.from({ length: producers }, (_, p) => run(p)));
  throw new Error('unreachable');
}

export interface Ack { queueId: number; queueOffset: number }

export interface WriterRun {
  pid: number;
  /** The append offset the writer reported when it was ready. */
  startOffset: number;
  /** Every id the writer printed an `ack` line for. */
  acked: Map<string, Ack>;
  killedAfterMs: number;
}

/**
 * Starts a writer (`command`, printing `ready <offset>` and then one
 * `ack <id> <queueId> <queueOffset>` line per acknowledged put), kills it with
 * SIGKILL at a random moment in [killAfterMs/2, killAfterMs], and returns once
 * its stdout has ended, so ack lines still in the pipe when it died are
 * counted. Null when the writer exits before it is ready.
 */
export async function runAndKillWriter(command: readonly string[], killAfterMs: number): Promise<WriterRun | null> {
  const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  const acked = new Map<string, Ack>();
  let startOffset = 0;
  let ready!: () => void;
  const readyP = new Promise<void>((r) => { ready = r; });
  let tail = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    const lines = (tail + chunk.toString()).split('\n');
    tail = lines.pop()!;
    for (const line of lines) {
      const [kind, id, q, off] = line.split(' ');
      if (kind === 'ack') acked.set(id!, { queueId: Number(q), queueOffset: Number(off) });
      else if (kind === 'ready') { startOffset = Number(id); ready(); }
    }
  });
  // 'exit' comes when the process is gone, 'close' once its stdout is drained too:
  // counting at 'exit' dropped the ack lines still in the pipe.
  const closed = new Promise<void>((r) => child.on('close', () => r()));
  const early = await Promise.race([readyP.then(() => false), closed.then(() => true)]);
  if (early) return null;
  const killedAfterMs = killAfterMs / 2 + Math.random() * (killAfterMs / 2);
  await new Promise((r) => setTimeout(r, killedAfterMs));
  child.kill('SIGKILL');
  await closed;
  return { pid: child.pid!, startOffset, acked, killedAfterMs };
}

/** Runs a writer, kills it with SIGKILL, recovers, and checks every acknowledged message. Returns the exit code. */
export async function runDemo(o: DemoOptions, log: (line: string) => void): Promise<number> {
  const dir = path.resolve(o.dir);
  log(`keelmq crash demo — data directory ${dir}`);
  log(`1. a writer process puts messages in SYNC mode (${o.producers} concurrent producers, each awaiting every put)`);
  const writer = await runAndKillWriter(
    [process.execPath, process.argv[1]!, 'demo-writer', '--dir', dir, '--producers', String(o.producers), '--segment-size', String(o.segmentSize)],
    o.killAfterMs,
  );
  if (!writer) { log('the writer process failed to start'); return 1; }
  const { acked, startOffset } = writer;
  log(`2. killed it with SIGKILL after ${Math.round(writer.killedAfterMs)} ms: ${acked.size} puts had been acknowledged`);

  log('3. reopening the store (recovery)');
  const t0 = process.hrtime.bigint();
  const store = await MessageStore.open(dir, {
    onProgress: (p: RecoveryProgress) => log(`   recovering ${p.phase}: ${(p.done / 2 ** 20).toFixed(1)} of ${(p.total / 2 ** 20).toFixed(1)} MiB`),
    commitLogSegmentSize: o.segmentSize,
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const r = store.recovery;
  log(`   ${r.clean ? 'clean' : 'unclean'} shutdown found; opened in ${ms.toFixed(1)} ms`);
  log(`   validated ${r.scannedBytes} bytes of CommitLog tail, re-dispatched ${r.redispatched} index entries, log ends at ${r.validEnd}`);
  if (r.stopReason) log(`   the scan stopped at: ${r.stopReason} (a torn or unfinished write, now cut)`);

  log('4. checking every acknowledged message');
  let missing = 0;
  let found = 0;
  const seen = new Set<string>();
  for (let q = 0; q < QUEUES; q++) {
    let off = 0;
    for (;;) {
      const g = await store.getMessages(TOPIC, q, off, 512);
      if (g.status !== 'FOUND') break;
      for (const m of g.messages) seen.add(m.keys[0]!);
      off = g.nextBeginOffset;
    }
  }
  for (const id of acked.keys()) {
    if (seen.has(id)) found++; else missing++;
  }
  const thisRun = [...seen].filter((id) => id.startsWith(`${writer.pid}-`)).length;
  await store.close();
  log(`   acknowledged: ${acked.size}, present after recovery: ${found}, lost: ${missing}`);
  log(`   stored by the killed writer but not yet acknowledged when it died: ${thisRun - found}`);
  log(`   the store now holds ${seen.size} messages (runs accumulate; start offset of this run ${startOffset})`);
  if (missing > 0) {
    log('FAIL: acknowledged messages were lost');
    return 1;
  }
  log('OK: nothing acknowledged was lost');
  return 0;
}
