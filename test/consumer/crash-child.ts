/**
 * A consumer process for the crash test: consumes the topic `Work` in group
 * `crash` from the data directory in argv[2] and writes one line per message
 * to stdout ("queueId queueOffset body") before the listener returns, slowly
 * enough that the parent can kill it mid-batch. A pipe write is synchronous on
 * Linux, so every line the parent reads was written before the message was
 * acknowledged.
 */
import * as fs from 'fs';
import { MessageStore } from '../../lib/store/message-store';
import { EmbeddedBroker } from '../../lib/consumer/embedded-broker';
import { ConsumeStatus, PushConsumer } from '../../lib/client/push-consumer';

async function main(): Promise<void> {
  const store = await MessageStore.open(process.argv[2]!, { commitLogSegmentSize: 1 << 20, maxBodySize: 64 * 1024 });
  const broker = await EmbeddedBroker.open(store, { offsetPersistIntervalMs: 50 });
  await new PushConsumer(broker, {
    group: 'crash',
    consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
    consumeBatchSize: 8,
    consumeConcurrency: 4,
    pullBatchSize: 16,
    maxInFlightPerQueue: 64,
    listener: async (msgs) => {
      for (const m of msgs) {
        fs.writeSync(1, `${m.queueId} ${m.queueOffset} ${m.body.toString()}\n`);
        await new Promise((r) => setTimeout(r, 1));
      }
      return ConsumeStatus.CONSUME_SUCCESS;
    },
  }).subscribe('Work').start();
  fs.writeSync(1, 'ready\n');
}

main().catch((e) => {
  fs.writeSync(2, `${(e as Error).stack}\n`);
  process.exit(1);
});
