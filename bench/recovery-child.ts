/**
 * Child of the recovery workload: reopens a closed store, appends a tail
 * ASYNC, reports it to the parent once every put of it is acknowledged, and
 * then waits to be SIGKILLed with that tail written but not flushed.
 *
 *   node dist/bench/recovery-child.js <dir> <tailBytes> <bodyBytes>
 */
import { MessageStore } from '../lib/index';
import { fill } from './keelmq';
import { BodyPool } from './system';

export interface TailReport {
  messages: number;
  endOffset: number;
}

async function main(): Promise<void> {
  const [dir, tailBytes, bodyBytes] = process.argv.slice(2);
  if (dir === undefined || process.send === undefined) throw new Error('recovery-child is started by bench/recovery.ts over IPC');
  const store = await MessageStore.open(dir, { flushMode: 'ASYNC' });
  const report: TailReport = await fill(store, new BodyPool(Number(bodyBytes)), Number(tailBytes));
  process.send(report);
  // Keep the store open (and the event loop alive) until the parent's SIGKILL.
  setInterval(() => undefined, 60_000);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
