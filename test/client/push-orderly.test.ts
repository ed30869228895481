import { expect } from 'chai';
import { Producer } from '../../lib/client/producer';
import { ConsumeOrderlyStatus, PushConsumer, type ConsumeOrderlyContext } from '../../lib/client/push-consumer';
import type { MessageExt, MessageQueue } from '../../lib/common/message';
import { parseSubscription } from '../../lib/common/tag-filter';
import { transportOf } from '../../lib/client/in-process-transport';
import { CLIENT_ENVS_WITH_DEV, sleep, until, useClientEnv } from './client-envs';

const KEYS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'];
const PER_KEY = 40;
const SUSPEND_MS = 300;

for (const envDef of CLIENT_ENVS_WITH_DEV) {
  describe(`push consumer orderly over ${envDef.name}`, function () {
    this.timeout(60_000);
    const env = useClientEnv(envDef);

    it(`orderly (${envDef.name}) - per sharding key, messages are consumed in send order, one batch at a time per queue, across a SUSPEND_CURRENT_QUEUE_A_MOMENT and a consumer restart`, async () => {
      await env.createTopic('Ord', 4);
      const producer = new Producer(env.target());
      for (let i = 0; i < PER_KEY; i++) {
        for (const k of KEYS) await producer.send({ topic: 'Ord', body: `${k}:${i}`, shardingKey: k });
      }
      const done = new Map<string, number[]>(KEYS.map((k) => [k, []]));
      const running = new Map<number, number>();
      let overlap = 0;
      let suspendedAt = 0;
      let redelivered: { afterMs: number; reconsumeTimes: number } | undefined;
      const listener = async (msgs: MessageExt[], ctx: ConsumeOrderlyContext) => {
        running.set(ctx.queueId, (running.get(ctx.queueId) ?? 0) + 1);
        if (running.get(ctx.queueId)! > 1) overlap++;
        try {
          await sleep(1);
          const [k, seq] = msgs[0]!.body.toString().split(':') as [string, string];
          if (k === 'bob' && seq === '5') {
            if (suspendedAt === 0) {
              suspendedAt = Date.now();
              return ConsumeOrderlyStatus.SUSPEND_CURRENT_QUEUE_A_MOMENT;
            }
            redelivered ??= { afterMs: Date.now() - suspendedAt, reconsumeTimes: msgs[0]!.reconsumeTimes };
          }
          done.get(k)!.push(Number(seq));
          return ConsumeOrderlyStatus.SUCCESS;
        } finally {
          running.set(ctx.queueId, running.get(ctx.queueId)! - 1);
        }
      };
      const options = { group: 'OG', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET' as const, orderlyListener: listener, suspendCurrentQueueTimeMillis: SUSPEND_MS };
      const first = new PushConsumer(env.target(), options).subscribe('Ord');
      await first.start();
      const total = () => [...done.values()].reduce((n, l) => n + l.length, 0);
      await until(() => total() >= (KEYS.length * PER_KEY) / 3 && redelivered !== undefined, 'a third of the messages and the suspended one');
      await first.shutdown();
      const atRestart = total();
      expect(atRestart).to.be.below(KEYS.length * PER_KEY);

      const second = new PushConsumer(env.target(), options).subscribe('Ord');
      await second.start();
      await until(() => total() === KEYS.length * PER_KEY, 'every message');
      await sleep(200);
      await second.shutdown();

      const inOrder = Array.from({ length: PER_KEY }, (_, i) => i);
      for (const k of KEYS) expect(done.get(k), k).to.deep.equal(inOrder);
      expect(overlap).to.equal(0);
      expect(redelivered!.reconsumeTimes).to.equal(1);
      expect(redelivered!.afterMs).to.be.at.least(SUSPEND_MS - 20);
      console.log(`      [${envDef.name}] restart after ${atRestart} of ${KEYS.length * PER_KEY}; suspended message again after ${redelivered!.afterMs} ms`);
    });

    it(`orderly (${envDef.name}) - a queue locked by one consumer of the group is not read by another until it lets go; past maxReconsumeTimes a message goes to the DLQ and the queue goes on`, async () => {
      await env.createTopic('Ord1', 1);
      const producer = new Producer(env.target());
      for (let i = 0; i < 5; i++) await producer.send({ topic: 'Ord1', body: `m${i}` });
      const got: string[] = [];
      const attempts: number[] = [];
      // Every consumer wants every queue: only the broker's lock keeps them apart.
      const everything = { name: 'ALL', allocate: (_g: string, _c: string, mqs: readonly MessageQueue[]) => [...mqs] };
      const mk = (instanceName: string) => new PushConsumer(env.target(), {
        group: 'OG1', instanceName, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', maxReconsumeTimes: 2, suspendCurrentQueueTimeMillis: 20,
        allocateStrategy: everything, rebalanceIntervalMs: 200,
        orderlyListener: (msgs) => {
          const b = msgs[0]!.body.toString();
          if (b === 'm2') {
            attempts.push(msgs[0]!.reconsumeTimes);
            return ConsumeOrderlyStatus.SUSPEND_CURRENT_QUEUE_A_MOMENT;
          }
          got.push(`${instanceName}:${b}`);
          return ConsumeOrderlyStatus.SUCCESS;
        },
      }).subscribe('Ord1');
      const a = mk('a');
      await a.start();
      await until(() => got.length === 4, 'the four good messages');
      expect(got).to.deep.equal(['a:m0', 'a:m1', 'a:m3', 'a:m4']);
      // Tried at reconsumeTimes 0, 1, 2 (the maximum), then dead-lettered.
      expect(attempts).to.deep.equal([0, 1, 2]);

      const b = mk('b');
      await b.start();
      await sleep(500);
      expect(b.assignedQueues().filter((q) => q.topic === 'Ord1')).to.deep.equal([]);
      await producer.send({ topic: 'Ord1', body: 'm5' });
      await until(() => got.length === 5, 'm5');
      await a.shutdown();
      await until(() => b.assignedQueues().some((q) => q.topic === 'Ord1'), 'b locks the queue once a let go');
      await producer.send({ topic: 'Ord1', body: 'm6' });
      await until(() => got.length === 6, 'm6');
      await b.shutdown();
      expect(got.slice(4)).to.deep.equal(['a:m5', 'b:m6']);

      // The dead letter is in %DLQ%OG1 (1 queue), readable by any client.
      const t = transportOf(env.target());
      const route = await t.route('%DLQ%OG1');
      const r = await t.pull({ group: 'reader', mq: route.readQueues[0]!, offset: 0, maxMessages: 32, subscription: parseSubscription('*'), suspendMs: 0 });
      expect(r.messages.map((m) => m.body.toString())).to.deep.equal(['m2']);
    });
  });
}
