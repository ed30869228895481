/**
 * The slave of the replication bench rows: a store in argv[2] following the HA master at
 * argv[3]; prints "ready" once started. SIGTERM closes it.
 */
import * as fs from 'node:fs';
import { MessageStore } from '../lib/store/message-store';
import { HASlave } from '../lib/ha/ha-slave';
import { silentLogger } from '../lib/remoting/logger';

async function main(): Promise<void> {
  const store = await MessageStore.open(process.argv[2]!, { flushMode: 'ASYNC', commitLogSegmentSize: 64 * 1024 * 1024 });
  const slave = HASlave.start(store, { masterAddress: process.argv[3]!, logger: silentLogger });
  process.once('SIGTERM', () => { void slave.close().then(() => store.close()).then(() => process.exit(0)); });
  fs.writeSync(1, 'ready\n');
}

main().catch((e) => {
  fs.writeSync(2, `${(e as Error).stack}\n`);
  process.exit(1);
});
