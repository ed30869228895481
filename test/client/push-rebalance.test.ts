import { expect } from 'chai';
import type { MessageQueue } from '../../lib/common/message';
import { messageQueueKey } from '../../lib/client/message-queue';
import { transportOf } from '../../lib/client/in-process-transport';
import { Producer } from '../../lib/client/producer';
import type { ClientTransport, ConsumerRegistration } from '../../lib/client/transport';
import { ConsumeStatus, PushConsumer } from '../../lib/client/push-consumer';
import { CLIENT_ENVS_WITH_DEV, sleep, until, useClientEnv } from './client-envs';

const QUEUES = 8;
const PERIOD_MS = 2000;

function queuesOf(c: PushConsumer, topic: string): MessageQueue[] {
  return c.assignedQueues().filter((q) => q.topic === topic);
}

/** True when the consumers' shares of `topic` have these sizes (any order), share no queue and cover all `total`. */
function split(cs: PushConsumer[], topic: string, sizes: number[], total: number): boolean {
  const shares = cs.map((c) => queuesOf(c, topic));
  const keys = shares.flat().map(messageQueueKey);
  return new Set(keys).size === keys.length && keys.length === total
    && JSON.stringify(shares.map((s) => s.length).sort()) === JSON.stringify([...sizes].sort());
}

for (const envDef of CLIENT_ENVS_WITH_DEV) {
  describe(`push consumer rebalance over ${envDef.name}`, function () {
    this.timeout(60_000);
    const env = useClientEnv(envDef);

    it(`rebalance (${envDef.name}) - 3 consumers of a group over 8 queues take 3/3/2, none shared; when one leaves its queues are taken within one rebalance period; with sends going on, no message is skipped`, async () => {
      await env.createTopic('Reb', QUEUES);
      const producer = new Producer(env.target());
      const sent = new Set<string>();
      const consumed = new Set<string>();
      let producing = true;
      const sending = (async () => {
        for (let i = 0; producing; i++) {
          await producer.send({ topic: 'Reb', body: `m${i}` });
          sent.add(`m${i}`);
          await sleep(2);
        }
      })();
      const consumers: PushConsumer[] = [];
      for (let i = 0; i < 3; i++) {
        consumers.push(new PushConsumer(env.target(), {
          group: 'RG', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', rebalanceIntervalMs: PERIOD_MS,
          listener: (msgs) => { for (const m of msgs) consumed.add(m.body.toString()); return ConsumeStatus.CONSUME_SUCCESS; },
        }).subscribe('Reb'));
        await consumers[i]!.start();
      }
      await until(() => split(consumers, 'Reb', [3, 3, 2], QUEUES), 'a 3/3/2 split', 10_000);
      // Stable: a period later it is still the same split.
      const before = consumers.map((c) => queuesOf(c, 'Reb').map(messageQueueKey).join());
      await sleep(PERIOD_MS + 200);
      expect(consumers.map((c) => queuesOf(c, 'Reb').map(messageQueueKey).join())).to.deep.equal(before);

      const leaving = consumers.find((c) => queuesOf(c, 'Reb').length === 3)!;
      const stay = consumers.filter((c) => c !== leaving);
      const t0 = Date.now();
      await leaving.shutdown();
      await until(() => split(stay, 'Reb', [4, 4], QUEUES), 'the remaining two take every queue', PERIOD_MS);
      const takeoverMs = Date.now() - t0;
      expect(takeoverMs).to.be.below(PERIOD_MS);

      await sleep(300);
      producing = false;
      await sending;
      await until(() => [...sent].every((b) => consumed.has(b)), `every sent message consumed (${sent.size} sent)`, 20_000);
      for (const c of stay) await c.shutdown();
      console.log(`      [${envDef.name}] ${sent.size} messages; queues taken over ${takeoverMs} ms after the shutdown`);
    });

    it(`rebalance (${envDef.name}) - a custom allocation strategy decides which queues each consumer takes, as the group changes`, async () => {
      await env.createTopic('Alloc', 4);
      // Everything to the lowest client id, the retry queue included.
      const firstTakesAll = { name: 'FIRST', allocate: (_g: string, cid: string, mqs: readonly MessageQueue[], cids: readonly string[]) => (cid === cids[0] ? [...mqs] : []) };
      const mk = (instanceName: string) => new PushConsumer(env.target(), {
        group: 'AG', instanceName, allocateStrategy: firstTakesAll, rebalanceIntervalMs: 300, listener: () => ConsumeStatus.CONSUME_SUCCESS,
      }).subscribe('Alloc');
      const b = mk('b');
      await b.start();
      expect(queuesOf(b, 'Alloc')).to.have.length(4);
      const a = mk('a');
      await a.start();
      await until(() => queuesOf(a, 'Alloc').length === 4 && queuesOf(b, 'Alloc').length === 0, 'every queue moved to the lower id');
      expect(a.clientId < b.clientId).to.equal(true);
      expect(a.clientId).to.match(/@a$/);
      await a.shutdown();
      await until(() => queuesOf(b, 'Alloc').length === 4, 'the queues back');
      await b.shutdown();
    });

    it(`rebalance (${envDef.name}) - a consumer that misses the broker's notice takes the queues over on its rebalance timer, within one period`, async () => {
      await env.createTopic('Deaf', 4);
      const inner = transportOf(env.target());
      // The same transport, with the group-change notices not passed on.
      const deaf: ClientTransport = Object.create(inner, {
        registerConsumer: { value: (c: ConsumerRegistration) => inner.registerConsumer({ ...c, idsChanged: undefined }) },
      });
      const period = 1000;
      const mk = (t: ClientTransport, instanceName: string) => new PushConsumer(t, {
        group: 'DG', instanceName, rebalanceIntervalMs: period, listener: () => ConsumeStatus.CONSUME_SUCCESS,
      }).subscribe('Deaf');
      const a = mk(deaf, 'a');
      const b = mk(inner, 'b');
      await a.start();
      await b.start();
      await until(() => queuesOf(a, 'Deaf').length === 2 && queuesOf(b, 'Deaf').length === 2, 'a 2/2 split (a on its timer)', 3 * period);
      const t0 = Date.now();
      await b.shutdown();
      await until(() => queuesOf(a, 'Deaf').length === 4, 'a takes every queue', 2 * period);
      const ms = Date.now() - t0;
      expect(ms).to.be.below(period + 300);
      await a.shutdown();
    });
  });
}
