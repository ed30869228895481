/**
 * Admin on every transport: create / list / route / stats / delete topics, consumer progress
 * with its lag, reset offset by time for an online PushConsumer (it is told and reads again) and
 * for an offline group, query by offset msgId, UNIQ_KEY and key, cluster list.
 */
import { expect } from 'chai';
import { Admin } from '../../lib/client/admin';
import { LitePullConsumer } from '../../lib/client/lite-pull-consumer';
import { transportOf } from '../../lib/client/in-process-transport';
import { ConsumeStatus, PushConsumer } from '../../lib/client/push-consumer';
import type { MessageQueue } from '../../lib/client/transport';
import { createUniqId } from '../../lib/client/unique-id';
import { isKeelError } from '../../lib/common/errors';
import { CLIENT_ENVS_WITH_DEV, sleep, until, useClientEnv } from './client-envs';

async function eventually(cond: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!await cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

for (const envDef of CLIENT_ENVS_WITH_DEV) {
  describe(`admin over ${envDef.name}`, function () {
    this.timeout(30_000);
    const env = useClientEnv(envDef);

    it(`admin (${envDef.name}) - create, list, route, stats (min/max/last update per queue), delete; cluster list`, async () => {
      const admin = new Admin(env.target());
      const masters = await admin.createTopic('AdminT', { queues: 3 });
      expect(masters).to.have.length(1);
      expect(await admin.topicList()).to.include('AdminT');
      const route = await admin.route('AdminT');
      expect(route.readQueues.map((q) => q.queueId)).to.deep.equal([0, 1, 2]);
      expect(route.writeQueues.every((q) => q.brokerName === masters[0]!.brokerName)).to.equal(true);

      const t = transportOf(env.target());
      const before = Date.now();
      for (let i = 0; i < 5; i++) await t.send(route.writeQueues[i % 2]!, { topic: 'AdminT', body: `s-${i}` });
      const stats = await admin.topicStats('AdminT');
      expect(stats.map((s) => [s.queueId, s.minOffset, s.maxOffset])).to.deep.equal([[0, 0, 3], [1, 0, 2], [2, 0, 0]]);
      expect(stats[0]!.lastUpdateTimestamp).to.be.within(before - 1000, Date.now() + 1000);
      expect(stats[2]!.lastUpdateTimestamp).to.equal(0);

      const cluster = await admin.clusterList();
      expect(cluster.map((b) => [b.brokerName, b.brokerId])).to.deep.equal([[masters[0]!.brokerName, 0]]);
      if (envDef.name !== 'in-process') expect(cluster[0]!.runtime['brokerVersionDesc']).to.equal('V4_9_7');

      await admin.deleteTopic('AdminT');
      expect(await admin.topicList()).to.not.include('AdminT');
      let missing: unknown;
      await admin.topicStats('AdminT').catch((e: unknown) => { missing = e; });
      expect(isKeelError(missing, 'TOPIC_NOT_FOUND'), String(missing)).to.equal(true);
    });

    it(`admin (${envDef.name}) - consumer progress: broker offset, consumer offset and lag per queue; an offline group's reset by time moves its offsets back and forward`, async () => {
      const admin = new Admin(env.target());
      await admin.createTopic('Lag', { queues: 2 });
      const t = transportOf(env.target());
      const [q0, q1] = (await t.route('Lag')).writeQueues as [MessageQueue, MessageQueue];
      for (let i = 0; i < 5; i++) await t.send(q0, { topic: 'Lag', body: `a-${i}` });
      for (let i = 0; i < 4; i++) await t.send(q1, { topic: 'Lag', body: `b-${i}` });
      t.commitOffset('OG', q0, 3);
      t.commitOffset('OG', q1, 4);
      await t.flushOffsets('OG');

      const p = await admin.consumerProgress('OG', 'Lag');
      expect(p.queues.map((q) => [q.queueId, q.brokerOffset, q.consumerOffset, q.lag])).to.deep.equal([[0, 5, 3, 2], [1, 4, 4, 0]]);
      expect(p.totalLag).to.equal(2);
      expect(p.queues[0]!.lastTimestamp).to.be.greaterThan(0);
      // Without a topic: every topic the group has offsets in.
      expect((await admin.consumerProgress('OG')).totalLag).to.equal(2);

      const back = await admin.resetOffsetByTime('OG', 'Lag', 0);
      expect(back.map((q) => [q.queueId, q.offset])).to.deep.equal([[0, 0], [1, 0]]);
      expect((await admin.consumerProgress('OG', 'Lag')).totalLag).to.equal(9);
      expect(await transportOf(env.target()).queryOffset('OG', q0)).to.equal(0);
      await admin.resetOffsetByTime('OG', 'Lag', -1);
      expect((await admin.consumerProgress('OG', 'Lag')).queues.map((q) => q.consumerOffset)).to.deep.equal([5, 4]);
    });

    it(`admin (${envDef.name}) - reset offset by time moves an online PushConsumer back: it consumes the messages again`, async () => {
      const admin = new Admin(env.target());
      await admin.createTopic('Reset', { queues: 2 });
      const t = transportOf(env.target());
      const queues = (await t.route('Reset')).writeQueues;
      const sent = Array.from({ length: 6 }, (_, i) => `r-${i}`);
      const t0 = Date.now() - 1;
      for (let i = 0; i < sent.length; i++) await t.send(queues[i % 2]!, { topic: 'Reset', body: sent[i]! });
      const got: string[] = [];
      const c = new PushConsumer(env.target(), {
        group: 'RG', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', listener: (msgs) => { got.push(...msgs.map((m) => m.body.toString())); return ConsumeStatus.CONSUME_SUCCESS; },
      }).subscribe('Reset');
      await c.start();
      try {
        await until(() => got.length === 6, 'the first delivery');
        await eventually(async () => (await admin.consumerProgress('RG', 'Reset')).totalLag === 0, 'the offsets at the end');
        const reset = await admin.resetOffsetByTime('RG', 'Reset', t0);
        expect(reset.map((q) => q.offset)).to.deep.equal([0, 0]);
        await until(() => got.length === 12, 'the messages again after the reset');
        expect(got.slice(6).sort()).to.deep.equal(sent);
        await sleep(200);
        expect(got).to.have.length(12);
      } finally {
        await c.shutdown();
      }
      expect((await admin.consumerProgress('RG', 'Reset')).totalLag).to.equal(0);
    });

    it(`admin (${envDef.name}) - reset offset by time moves an online LitePullConsumer back too`, async () => {
      const admin = new Admin(env.target());
      await admin.createTopic('ResetLite', { queues: 1 });
      const t = transportOf(env.target());
      const [q] = (await t.route('ResetLite')).writeQueues as [MessageQueue];
      for (let i = 0; i < 4; i++) await t.send(q, { topic: 'ResetLite', body: `l-${i}` });
      const c = new LitePullConsumer(env.target(), { group: 'RLG', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET' }).subscribe('ResetLite');
      await c.start();
      try {
        const got: string[] = [];
        const poll = async (n: number) => {
          const end = Date.now() + 10_000;
          while (got.length < n && Date.now() < end) got.push(...(await c.poll(100)).map((m) => m.body.toString()));
        };
        await poll(4);
        await c.commitSync();
        await admin.resetOffsetByTime('RLG', 'ResetLite', 0);
        await poll(8);
        expect(got).to.deep.equal(['l-0', 'l-1', 'l-2', 'l-3', 'l-0', 'l-1', 'l-2', 'l-3']);
      } finally {
        await c.shutdown();
      }
    });

    it(`admin (${envDef.name}) - query a message by offset msgId, by UNIQ_KEY and by key`, async () => {
      const admin = new Admin(env.target());
      await admin.createTopic('Find', { queues: 2 });
      const t = transportOf(env.target());
      const queues = (await t.route('Find')).writeQueues;
      const uniq = createUniqId();
      const r = await t.send(queues[1]!, { topic: 'Find', body: 'needle', keys: ['order-7', 'shop-1'], properties: { UNIQ_KEY: uniq } });
      await t.send(queues[0]!, { topic: 'Find', body: 'hay', keys: 'order-8' });

      const byId = await admin.queryMessageById('Find', r.offsetMsgId);
      expect(byId?.body.toString()).to.equal('needle');
      expect(byId).to.include({ queueId: 1, queueOffset: 0, msgId: r.offsetMsgId });
      const byUniq = await admin.queryMessageById('Find', uniq);
      expect(byUniq?.msgId).to.equal(r.offsetMsgId);
      expect(await admin.queryMessageById('Find', createUniqId())).to.equal(undefined);

      const byKey = await admin.queryMessageByKey('Find', 'order-7');
      expect(byKey.map((m) => m.body.toString())).to.deep.equal(['needle']);
      expect(await admin.queryMessageByKey('Find', 'order-9')).to.deep.equal([]);
    });
  });
}
