/**
 * The writer that scenario 1 SIGKILLs: opens the store on the real disk and
 * runs several concurrent producers until killed. Each acknowledged put is
 * reported on stdout as `A <producer> <seq> <end offset>` (written with a
 * synchronous write, so a line the parent reads was an acknowledgement that
 * really happened); `ready` follows open.
 *
 *   node dist/test/faults/kill-child.js '<KillChildArgs as JSON>'
 */
import * as fs from 'fs';
import { MessageStore } from '../../lib/store/message-store';
import { messageFor } from './harness';
import { killStoreOptions, type KillChildArgs } from './kill';

function out(line: string): void {
  const buf = Buffer.from(line + '\n');
  // stdout is a non-blocking pipe: when the parent falls behind, a write fails with EAGAIN (or is short) and is retried.
  for (let at = 0; at < buf.length;) {
    try {
      at += fs.writeSync(1, buf, at);
    } catch (e) {
      if ((e as { code?: string }).code !== 'EAGAIN') throw e;
    }
  }
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '') as KillChildArgs;
  const store = await MessageStore.open(args.dir, killStoreOptions(args.mode));
  out('ready');
  for (let p = 0; p < args.shape.producers; p++) {
    let seq = 0;
    let inFlight = 0;
    const pump = (): void => {
      while (inFlight < args.window && seq < args.perProducer) {
        const s = seq++;
        inFlight++;
        store.put(messageFor(args.shape, p, s)).then((r) => {
          out(`${r.status === 'PUT_OK' ? 'A' : 'T'} ${p} ${s} ${r.physicalOffset + r.storeSize}`);
          inFlight--;
          pump();
        }, (e: unknown) => {
          out(`E ${p} ${s} ${(e as { code?: string }).code ?? String(e)}`);
          process.exit(3);
        });
      }
    };
    pump();
  }
  // Idle with the store open once every producer is done, until the parent's SIGKILL.
  setInterval(() => undefined, 60_000);
}

main().catch((e: unknown) => {
  out(`E - - ${(e as Error).message}`);
  process.exit(2);
});
