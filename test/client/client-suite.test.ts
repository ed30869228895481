/**
 * One client suite, run on every transport: in-process over an EmbeddedBroker, and over the
 * network against a lib/broker Broker and a NameServer on 127.0.0.1 (OS ports). Issue 12 grows it.
 */
import { expect } from 'chai';
import { Producer } from '../../lib/client/producer';
import { ConsumeStatus, PushConsumer } from '../../lib/client/push-consumer';
import { transportOf } from '../../lib/client/in-process-transport';
import type { MessageExt } from '../../lib/common/message';
import { parseSubscription } from '../../lib/common/tag-filter';
import { CLIENT_ENVS_WITH_DEV, sleep, until, useClientEnv } from './client-envs';

for (const envDef of CLIENT_ENVS_WITH_DEV) {
  describe(`client suite over ${envDef.name}`, function () {
    this.timeout(30_000);
    const env = useClientEnv(envDef);

    it(`client (${envDef.name}) - sync sends; a push consumer with a tag filter gets exactly its tags; RECONSUME_LATER comes back through the retry topic; a restart resumes at the committed offset`, async () => {
      await env.createTopic('Orders', 4);
      const producer = new Producer(env.target());
      const sent = new Map<string, string>();
      for (let i = 0; i < 20; i++) {
        const tags = i % 2 === 0 ? 'A' : 'B';
        const r = await producer.send({ topic: 'Orders', body: `m-${i}`, tags, keys: [`k-${i}`] });
        expect(r.status).to.equal('SEND_OK');
        expect(r.msgId).to.match(/^[0-9A-F]{32}$/);
        expect(r.messageQueue.topic).to.equal('Orders');
        sent.set(`m-${i}`, tags);
      }

      const deliveries: MessageExt[] = [];
      let failedOnce = false;
      const listener = (msgs: MessageExt[]) => {
        deliveries.push(...msgs);
        if (!failedOnce && msgs.some((m) => m.body.toString() === 'm-4')) {
          failedOnce = true;
          return ConsumeStatus.RECONSUME_LATER;
        }
        return ConsumeStatus.CONSUME_SUCCESS;
      };
      const first = new PushConsumer(env.target(), { group: 'G', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', listener }).subscribe('Orders', 'A');
      await first.start();
      const wantA = [...sent].filter(([, t]) => t === 'A').map(([b]) => b).sort();
      await until(() => deliveries.filter((m) => m.reconsumeTimes === 1).length === 1 && new Set(deliveries.map((m) => m.body.toString())).size === wantA.length, 'the A messages and the retry');
      expect([...new Set(deliveries.map((m) => m.body.toString()))].sort()).to.deep.equal(wantA);
      expect(deliveries.every((m) => m.tags === 'A')).to.equal(true);
      const again = deliveries.filter((m) => m.reconsumeTimes === 1);
      expect(again.map((m) => m.body.toString())).to.deep.equal(['m-4']);
      // The retry is presented where the message was first consumed from.
      const original = deliveries.find((m) => m.body.toString() === 'm-4' && m.reconsumeTimes === 0)!;
      expect(again[0]).to.include({ topic: 'Orders', queueId: original.queueId, queueOffset: original.queueOffset });
      await first.shutdown();

      for (let i = 20; i < 30; i++) await producer.send({ topic: 'Orders', body: `m-${i}`, tags: i % 2 === 0 ? 'A' : 'B' });
      const resumed: string[] = [];
      // LAST_OFFSET would skip the new messages if the group had no committed offset: it has one.
      const second = new PushConsumer(env.target(), {
        group: 'G', consumeFromWhere: 'CONSUME_FROM_LAST_OFFSET',
        listener: (msgs) => { resumed.push(...msgs.map((m) => m.body.toString())); return ConsumeStatus.CONSUME_SUCCESS; },
      }).subscribe('Orders', 'A');
      await second.start();
      await until(() => resumed.length >= 5, 'the messages sent while the group was down');
      await sleep(200);
      await second.shutdown();
      expect(resumed.sort()).to.deep.equal(['m-20', 'm-22', 'm-24', 'm-26', 'm-28']);
    });

    it(`client (${envDef.name}) - transport: batch send, a held pull answered by an arrival, offsets committed and read back, queue offsets`, async () => {
      await env.createTopic('Raw', 1);
      const t = transportOf(env.target());
      const [mq] = (await t.route('Raw')).writeQueues;
      const before = Date.now();
      const rs = await t.sendBatch(mq!, [0, 1, 2].map((i) => ({ topic: 'Raw', body: `b-${i}`, tags: i === 1 ? 'X' : 'Y', keys: `k${i}` })));
      expect(rs.map((r) => r.queueOffset)).to.deep.equal([0, 1, 2]);
      const all = await t.pull({ group: 'R', mq: mq!, offset: 0, maxMessages: 32, subscription: parseSubscription('*'), suspendMs: 0 });
      expect(all.messages.map((m) => [m.body.toString(), m.tags, m.keys])).to.deep.equal([['b-0', 'Y', ['k0']], ['b-1', 'X', ['k1']], ['b-2', 'Y', ['k2']]]);
      expect(all.messages.map((m) => m.msgId)).to.deep.equal(rs.map((r) => r.offsetMsgId));
      const onlyX = await t.pull({ group: 'R', mq: mq!, offset: 0, maxMessages: 32, subscription: parseSubscription('X'), suspendMs: 0 });
      expect(onlyX.messages.map((m) => m.body.toString())).to.deep.equal(['b-1']);

      const held = t.pull({ group: 'R', mq: mq!, offset: 3, maxMessages: 32, subscription: parseSubscription('*'), suspendMs: 10_000 });
      await sleep(100);
      const sentAt = Date.now();
      await t.send(mq!, { topic: 'Raw', body: 'late' });
      const late = await held;
      expect(late.messages.map((m) => m.body.toString())).to.deep.equal(['late']);
      expect(Date.now() - sentAt).to.be.below(1000);
      // Nothing comes: the hold ends after its time with NO_NEW_MSG at the same offset.
      const empty = await t.pull({ group: 'R', mq: mq!, offset: 4, maxMessages: 32, subscription: parseSubscription('*'), suspendMs: 200 });
      expect(empty).to.include({ status: 'NO_NEW_MSG', nextBeginOffset: 4 });

      // (No "none yet" check: a RocketMQ broker answers 0 for a group new to a queue that starts at 0.)
      t.commitOffset('R', mq!, 3);
      await t.flushOffsets('R');
      expect(await transportOf(env.target()).queryOffset('R', mq!)).to.equal(3);
      expect([await t.minOffset(mq!), await t.maxOffset(mq!)]).to.deep.equal([0, 4]);
      expect(await t.searchOffset(mq!, before - 60_000)).to.equal(0);
    });

    it(`client (${envDef.name}) - queue locks (orderly consumers): one client holds a queue of a group until it unlocks it`, async () => {
      await env.createTopic('Locked', 2);
      const t = transportOf(env.target());
      const mqs = (await t.route('Locked')).readQueues;
      expect(mqs).to.have.length(2);
      expect(await t.lockBatch('G', 'client-a', mqs)).to.deep.equal(mqs);
      expect(await t.lockBatch('G', 'client-b', mqs)).to.deep.equal([]);
      expect(await t.lockBatch('Other', 'client-b', mqs)).to.deep.equal(mqs);
      await t.unlockBatch('G', 'client-a', [mqs[0]!]);
      expect(await t.lockBatch('G', 'client-b', mqs)).to.deep.equal([mqs[0]]);
    });
  });
}

