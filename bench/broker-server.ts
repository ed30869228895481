/**
 * A keelmq name server + broker in a process of their own, for the broker rows
 * and for RocketMQ's Java bench: a real client is another process, so the
 * broker gets a core's worth of event loop to itself and the client's work is
 * not charged to it (or the other way round).
 *
 *   node dist/bench/broker-server.js --dir DIR [--flush ASYNC|SYNC]
 *                                    [--namesrv-port 0] [--broker-port 0] [--segment-mib 128]
 *                                    [--exit-on-stdin-end]
 *
 * Once both listen it prints one JSON line on stdout,
 * {"namesrv":"127.0.0.1:p","broker":"127.0.0.1:q","pid":n}, and runs until
 * SIGTERM or SIGINT, when it closes both (the store cleanly) and exits 0.
 * Ports 0 (the default) let the OS choose.
 */
import { parseArgs } from 'node:util';
import { Broker } from '../lib/broker/broker';
import { NameServer } from '../lib/namesrv/name-server';

export interface ServerAddresses {
  namesrv: string;
  broker: string;
  pid: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    strict: true,
    options: {
      dir: { type: 'string' },
      flush: { type: 'string', default: 'ASYNC' },
      'namesrv-port': { type: 'string', default: '0' },
      'broker-port': { type: 'string', default: '0' },
      // RocketMQ's run.sh uses 128 MiB CommitLog files; the same here keeps the comparison even.
      'segment-mib': { type: 'string', default: '128' },
      'exit-on-stdin-end': { type: 'boolean', default: false },
    },
  });
  const flush = values.flush?.toUpperCase();
  if (values.dir === undefined || (flush !== 'ASYNC' && flush !== 'SYNC')) {
    throw new Error('usage: broker-server --dir DIR [--flush ASYNC|SYNC] [--namesrv-port N] [--broker-port N]');
  }
  const namesrv = new NameServer({ host: '127.0.0.1', port: Number(values['namesrv-port']) });
  await namesrv.start();
  const broker = await Broker.start({
    storeDir: values.dir,
    host: '127.0.0.1',
    port: Number(values['broker-port']),
    namesrvAddr: [namesrv.address()],
    flushMode: flush,
    store: { commitLogSegmentSize: Number(values['segment-mib']) * 1024 * 1024 },
  });
  const addresses: ServerAddresses = { namesrv: namesrv.address(), broker: broker.address(), pid: process.pid };
  process.stdout.write(`${JSON.stringify(addresses)}\n`);
  let closing = false;
  const stop = (): void => {
    if (closing) return;
    closing = true;
    broker.close().then(() => namesrv.close()).then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // Started by the bench with a pipe on stdin: when the bench dies, the pipe ends and so do we.
  if (values['exit-on-stdin-end']) {
    process.stdin.on('end', stop);
    process.stdin.resume();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
