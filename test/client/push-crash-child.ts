/**
 * A push consumer in a process of its own, for the rebalance crash test: it joins group argv[3]
 * on topic argv[4] through the name server argv[2] and prints one line per message consumed
 * ("got <body>"), after "started <clientId>", until it is killed.
 */
import * as fs from 'fs';
import { ConsumeStatus, PushConsumer } from '../../lib/client/push-consumer';
import { RemotingTransport } from '../../lib/client/remoting-transport';

async function main(): Promise<void> {
  const [namesrv, group, topic, periodMs] = process.argv.slice(2);
  const consumer = new PushConsumer(new RemotingTransport({ namesrvAddr: [namesrv!], offsetPersistIntervalMs: 200 }), {
    group: group!, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', rebalanceIntervalMs: Number(periodMs),
    listener: (msgs) => {
      // Printed before the answer: a message counts as consumed once the application saw it.
      for (const m of msgs) fs.writeSync(1, `got ${m.body.toString()}\n`);
      return ConsumeStatus.CONSUME_SUCCESS;
    },
  }).subscribe(topic!);
  await consumer.start();
  fs.writeSync(1, `started ${consumer.clientId}\n`);
}

main().catch((e: unknown) => { fs.writeSync(2, `${(e as Error).stack ?? String(e)}\n`); process.exit(1); });
