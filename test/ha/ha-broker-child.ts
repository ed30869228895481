/**
 * A broker process for the replication tests: the BrokerStartConfig in argv[2] (JSON) on
 * 127.0.0.1 with OS ports; prints "ready <ip:port> <ha ip:port or ->" once it serves.
 * SIGTERM closes it cleanly; the tests kill it with SIGKILL.
 */
import * as fs from 'node:fs';
import { Broker } from '../../lib/broker/broker';
import type { Logger } from '../../lib/remoting/logger';

const silentLogger: Logger = { info: () => {}, warn: () => {} };

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2]!) as Parameters<typeof Broker.start>[0];
  const broker = await Broker.start({ port: 0, haListenPort: 0, logger: silentLogger, ...config });
  process.once('SIGTERM', () => { void broker.close().then(() => process.exit(0)); });
  fs.writeSync(1, `ready ${broker.address()} ${broker.replication.haAddress() ?? '-'}\n`);
}

main().catch((e) => {
  fs.writeSync(2, `${(e as Error).stack}\n`);
  process.exit(1);
});
