/**
 * A process that only waits on keelmq, for the keep-alive test: it opens the
 * store in argv[2] and, by argv[3], awaits a long poll until a message arrives
 * (`pull`), awaits a long poll until the store is closed (`close`), or runs a
 * push consumer until a message arrives (`push`). What ends the wait is
 * started by an unref'd timer, which fires only if keelmq keeps the process
 * alive. Prints one line: what it got and after how long.
 */
import * as fs from 'fs';
import { MessageStore } from '../../lib/store/message-store';
import { EmbeddedBroker } from '../../lib/consumer/embedded-broker';
import { ConsumeStatus, PushConsumer } from '../../lib/client/push-consumer';
import { Producer } from '../../lib/client/producer';
import { PullConsumer } from '../../lib/client/pull-consumer';

const LATER_MS = 300;

async function main(): Promise<void> {
  const [dir, mode] = process.argv.slice(2);
  const store = await MessageStore.open(dir!, { commitLogSegmentSize: 1 << 20, maxBodySize: 64 * 1024 });
  const broker = await EmbeddedBroker.open(store);
  await broker.createTopic('Wait', 1);
  const t0 = Date.now();
  const later = (fn: () => Promise<unknown>): void => { setTimeout(() => { fn().catch(fail); }, LATER_MS).unref(); };
  const send = () => new Producer(broker).send({ topic: 'Wait', body: 'hello' });
  const say = (what: string) => fs.writeSync(1, `${what} after ${Date.now() - t0} ms\n`);

  if (mode === 'push') {
    const consumer = new PushConsumer(broker, {
      group: 'waiter',
      listener: (msgs) => {
        say(`got ${msgs[0]!.body.toString()}`);
        // Closing the store shuts the consumer down and closes the broker.
        setImmediate(() => { store.close().catch(fail); });
        return ConsumeStatus.CONSUME_SUCCESS;
      },
    }).subscribe('Wait');
    await consumer.start();
    later(send);
    return;
  }
  const puller = new PullConsumer(broker, { group: 'waiter' });
  if (mode === 'pull') {
    later(send);
    const r = await puller.pullBlockIfNotFound('Wait', 0, 0, { timeoutMs: 60_000 });
    say(`got ${r.messages.map((m) => m.body.toString()).join(',')}`);
    await store.close();
    return;
  }
  let closing: Promise<void> | null = null;
  later(() => (closing = store.close()));
  try {
    await puller.pullBlockIfNotFound('Wait', 0, 0, { timeoutMs: 60_000 });
    say('not woken');
  } catch (e) {
    say(`woken ${(e as { code?: string }).code}`);
  }
  await closing;
}

function fail(e: unknown): void {
  fs.writeSync(2, `${(e as Error).stack}\n`);
  process.exit(1);
}

main().catch(fail);
