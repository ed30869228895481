/**
 * A broker process for the crash test: serves the data directory in argv[2] with the flush mode
 * in argv[3] on 127.0.0.1 and an OS port, and prints "ready <ip:port>" once it listens.
 * SIGTERM closes it cleanly; the test kills it with SIGKILL.
 */
import * as fs from 'node:fs';
import { Broker } from '../../lib/broker/broker';
import type { Logger } from '../../lib/remoting/logger';

/** The parent reads codes, not log lines. */
const silentLogger: Logger = { info: () => {}, warn: () => {} };

async function main(): Promise<void> {
  const broker = await Broker.start({
    storeDir: process.argv[2]!, flushMode: process.argv[3] === 'ASYNC' ? 'ASYNC' : 'SYNC', port: 0, logger: silentLogger,
    store: { commitLogSegmentSize: 1 << 20, maxBodySize: 64 * 1024 },
  });
  process.once('SIGTERM', () => { void broker.close().then(() => process.exit(0)); });
  fs.writeSync(1, `ready ${broker.address()}\n`);
}

main().catch((e) => {
  fs.writeSync(2, `${(e as Error).stack}\n`);
  process.exit(1);
});
