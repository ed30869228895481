import { expect } from 'chai';
import type { MQAdmin } from '../../lib/client/mq-admin';
import { Producer } from '../../lib/client/producer';
import { ConsumeStatus, PushConsumer } from '../../lib/client/push-consumer';
import type { ClientTransport } from '../../lib/client/transport';
import { EmbeddedBroker } from '../../lib/consumer/embedded-broker';
import { CLIENT_ENVS, sleep, until, type ClientEnv } from './client-envs';

/** Reset by time as an admin does it: in-process on the broker, over the network INVOKE_BROKER_TO_RESET_OFFSET (the broker then sends RESET_CONSUMER_CLIENT_OFFSET to online clients). */
async function resetOffsetByTime(target: EmbeddedBroker | ClientTransport, group: string, topic: string, timestamp: number): Promise<void> {
  if (target instanceof EmbeddedBroker) await target.resetOffsetByTime(group, topic, timestamp);
  // The admin the transport routes with (the Admin API is another part of issue 12).
  else await (target as unknown as { admin: MQAdmin }).admin.resetOffsetByTime(group, topic, timestamp);
}

for (const envDef of CLIENT_ENVS) {
  describe(`push consumer offset reset over ${envDef.name}`, function () {
    this.timeout(60_000);
    let env: ClientEnv;
    beforeEach(async () => { env = await envDef.start(); });
    afterEach(async () => { await env.stop(); });

    it(`reset (${envDef.name}) - a running consumer honours a reset of its group's offsets by time: it drops what it has in flight and consumes again from there`, async () => {
      await env.createTopic('Rs', 2);
      const target = env.target();
      const producer = new Producer(target);
      for (let i = 0; i < 10; i++) await producer.send({ topic: 'Rs', body: `m${i}` });
      const got: string[] = [];
      const consumer = new PushConsumer(target, {
        group: 'RSG', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
        listener: (msgs) => { got.push(...msgs.map((m) => m.body.toString())); return ConsumeStatus.CONSUME_SUCCESS; },
      }).subscribe('Rs');
      await consumer.start();
      await until(() => got.length === 10, 'the first pass');
      await sleep(300);
      await resetOffsetByTime(target, 'RSG', 'Rs', 0);
      await until(() => got.length === 20, 'the second pass after the reset');
      await sleep(300);
      expect(got.slice(10).sort()).to.deep.equal(got.slice(0, 10).sort());
      await producer.send({ topic: 'Rs', body: 'after' });
      await until(() => got.length === 21, 'a new message');
      await consumer.shutdown();
      expect(got[20]).to.equal('after');
    });
  });
}
