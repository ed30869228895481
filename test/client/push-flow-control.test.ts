import { expect } from 'chai';
import { Producer } from '../../lib/client/producer';
import { ConsumeStatus, PushConsumer } from '../../lib/client/push-consumer';
import { CLIENT_ENVS, sleep, until, type ClientEnv } from './client-envs';

for (const envDef of CLIENT_ENVS) {
  describe(`push consumer flow control over ${envDef.name}`, function () {
    this.timeout(60_000);
    let env: ClientEnv;
    beforeEach(async () => { env = await envDef.start(); });
    afterEach(async () => { await env.stop(); });

    it(`flow control (${envDef.name}) - a queue is not read while more than pullThresholdForQueue of its messages are cached; it goes on as they are consumed`, async () => {
      await env.createTopic('Fc', 1);
      const producer = new Producer(env.target());
      for (let i = 0; i < 50; i++) await producer.send({ topic: 'Fc', body: `m${i}` });
      let open = false;
      const waiting: (() => void)[] = [];
      const delivered = new Set<string>();
      const consumer = new PushConsumer(env.target(), {
        group: 'FCG', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', pullThresholdForQueue: 5, pullBatchSize: 4, consumeConcurrency: 100,
        listener: async (msgs) => {
          for (const m of msgs) delivered.add(m.body.toString());
          if (!open) await new Promise<void>((r) => waiting.push(r));
          return ConsumeStatus.CONSUME_SUCCESS;
        },
      }).subscribe('Fc');
      await consumer.start();
      await until(() => delivered.size >= 5, 'the first pulls');
      await sleep(500);
      // Pulled while 5 or fewer were cached: at most 5 + one pull of 4.
      expect(delivered.size).to.be.within(6, 9);
      open = true;
      for (const w of waiting.splice(0)) w();
      await until(() => delivered.size === 50, 'the rest once the cache drains');
      await consumer.shutdown();
    });
  });
}
