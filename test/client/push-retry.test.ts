import { expect } from 'chai';
import { transportOf } from '../../lib/client/in-process-transport';
import { Producer } from '../../lib/client/producer';
import { PullConsumer } from '../../lib/client/pull-consumer';
import { ConsumeStatus, PushConsumer } from '../../lib/client/push-consumer';
import type { ClientTransport } from '../../lib/client/transport';
import { KeelError } from '../../lib/common/errors';
import type { MessageExt } from '../../lib/common/message';
import { CLIENT_ENVS_WITH_DEV, sleep, until, useClientEnv } from './client-envs';

/** FAST_LEVELS (test/broker/support.ts): level n waits n × 10 ms; a retry n uses level 3 + n. */
const LEVEL_MS = (reconsumeTimes: number) => (3 + reconsumeTimes) * 10;

for (const envDef of CLIENT_ENVS_WITH_DEV) {
  describe(`push consumer retries over ${envDef.name}`, function () {
    this.timeout(60_000);
    const env = useClientEnv(envDef);

    it(`retry (${envDef.name}) - RECONSUME_LATER, a throw and a consumeTimeout come back after their level's delay; past maxReconsumeTimes the message is in %DLQ%<group>, readable by a pull consumer`, async () => {
      await env.createTopic('Rt', 2);
      const producer = new Producer(env.target());
      for (const body of ['ok', 'bad', 'throws', 'slow']) await producer.send({ topic: 'Rt', body });
      const seen: { body: string; reconsumeTimes: number; at: number; topic: string }[] = [];
      const answered = new Map<string, number>();
      const consumer = new PushConsumer(env.target(), {
        group: 'RTG', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', maxReconsumeTimes: 2, consumeTimeoutMs: 300,
        listener: async (msgs: MessageExt[]) => {
          const m = msgs[0]!;
          const body = m.body.toString();
          seen.push({ body, reconsumeTimes: m.reconsumeTimes, at: Date.now(), topic: m.topic });
          try {
            if (body === 'bad') return ConsumeStatus.RECONSUME_LATER;
            if (body === 'throws' && m.reconsumeTimes === 0) throw new Error('boom');
            if (body === 'slow' && m.reconsumeTimes === 0) await sleep(2000);
            return ConsumeStatus.CONSUME_SUCCESS;
          } finally {
            answered.set(`${body}#${m.reconsumeTimes}`, Date.now());
          }
        },
      }).subscribe('Rt');
      await consumer.start();
      await until(() => seen.filter((s) => s.body === 'bad').length === 3 && seen.some((s) => s.body === 'throws' && s.reconsumeTimes === 1)
        && seen.some((s) => s.body === 'slow' && s.reconsumeTimes === 1), 'the retries');
      const bad = seen.filter((s) => s.body === 'bad');
      expect(bad.map((s) => s.reconsumeTimes)).to.deep.equal([0, 1, 2]);
      // Retries are presented at the topic they were sent to.
      expect(seen.every((s) => s.topic === 'Rt')).to.equal(true);
      for (let n = 1; n < bad.length; n++) {
        expect(bad[n]!.at - answered.get(`bad#${n - 1}`)!, `retry ${n}`).to.be.at.least(LEVEL_MS(n - 1) - 5);
      }
      // The slow one came back after consumeTimeoutMs, while its first call was still running.
      const slow = seen.filter((s) => s.body === 'slow');
      expect(slow[1]!.at - slow[0]!.at).to.be.at.least(300);
      expect(slow[1]!.at).to.be.below(answered.get('slow#0') ?? Infinity);

      const reader = new PullConsumer(env.target(), { group: 'dlq-reader' });
      let dead: MessageExt[] = [];
      // The DLQ topic appears with the first dead letter (over the network, once the broker registered it).
      for (let i = 0; i < 100 && dead.length === 0; i++) {
        dead = (await reader.pull('%DLQ%RTG', 0, 0).catch(() => ({ messages: [] as MessageExt[] }))).messages;
        if (dead.length === 0) await sleep(50);
      }
      expect(dead.map((m) => m.body.toString())).to.deep.equal(['bad']);
      expect(dead[0]!.properties['RETRY_TOPIC']).to.equal('Rt');
      await sleep(200);
      // Nothing else: no retry after the DLQ, and ok/throws/slow each succeeded once after their failures.
      expect(seen.filter((s) => s.body === 'bad')).to.have.length(3);
      expect(seen.filter((s) => s.body === 'ok')).to.have.length(1);
      await consumer.shutdown();
    });

    // Client logic alone; over the network, where a send-back can fail on its way (once: the
    // keelmq dev run would repeat the remoting one, 5 s more).
    if (envDef.name === 'remoting') it(`retry (${envDef.name}) - when send-back fails, the batch is consumed again locally 5 s later, one retry more, and the offset waits for it`, async function () {
      this.timeout(30_000);
      await env.createTopic('Sb', 1);
      const producer = new Producer(env.target());
      await producer.send({ topic: 'Sb', body: 'x' });
      const inner = transportOf(env.target());
      let failSendBack = true;
      // The same transport, with send-back failing (a broker that refuses CONSUMER_SEND_MSG_BACK).
      const t: ClientTransport = Object.create(inner, {
        sendBack: { value: async (...args: Parameters<ClientTransport['sendBack']>) => { if (failSendBack) throw new Error('send-back refused'); return inner.sendBack(...args); } },
      });
      const seen: { reconsumeTimes: number; at: number }[] = [];
      const consumer = new PushConsumer(t, {
        group: 'SBG', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
        listener: (msgs) => {
          seen.push({ reconsumeTimes: msgs[0]!.reconsumeTimes, at: Date.now() });
          return seen.length === 1 ? ConsumeStatus.RECONSUME_LATER : ConsumeStatus.CONSUME_SUCCESS;
        },
      }).subscribe('Sb');
      await consumer.start();
      await until(() => seen.length === 1, 'the first delivery');
      const mq = { topic: 'Sb', brokerName: (await inner.route('Sb')).readQueues[0]!.brokerName, queueId: 0 };
      await sleep(1000);
      await inner.flushOffsets('SBG');
      expect(await inner.queryOffset('SBG', mq)).to.equal(0);
      failSendBack = false;
      await until(() => seen.length === 2, 'the local re-consumption', 10_000);
      expect(seen[1]!.reconsumeTimes).to.equal(1);
      expect(seen[1]!.at - seen[0]!.at).to.be.at.least(4900);
      await consumer.shutdown();
      expect(await inner.queryOffset('SBG', mq)).to.equal(1);
    });

    it(`retry (${envDef.name}) - the group's retry topic not routed yet at start (a Java broker registers it oneway after the first heartbeat): start() succeeds and retries arrive once it is routed`, async () => {
      await env.createTopic('Nr', 1);
      const producer = new Producer(env.target());
      await producer.send({ topic: 'Nr', body: 'x' });
      const inner = transportOf(env.target());
      let routed = false;
      const t: ClientTransport = Object.create(inner, {
        route: { value: (topic: string) => (!routed && topic === '%RETRY%NRG' ? Promise.reject(new KeelError('TOPIC_NOT_FOUND', `no route for topic ${topic}`)) : inner.route(topic)) },
      });
      const seen: number[] = [];
      const consumer = new PushConsumer(t, {
        group: 'NRG', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', rebalanceIntervalMs: 200,
        listener: (msgs, ctx) => {
          seen.push(msgs[0]!.reconsumeTimes);
          ctx.delayLevelWhenNextConsume = 1;
          return seen.length === 1 ? ConsumeStatus.RECONSUME_LATER : ConsumeStatus.CONSUME_SUCCESS;
        },
      }).subscribe('Nr');
      await consumer.start();
      try {
        await until(() => seen.length === 1, 'the first delivery');
        expect(consumer.assignedQueues().map((q) => q.topic)).to.deep.equal(['Nr']);
        routed = true;
        await until(() => seen.length === 2, 'the retry, read from the retry topic once routed', 10_000);
        expect(seen).to.deep.equal([0, 1]);
        expect(consumer.assignedQueues().some((q) => q.topic === '%RETRY%NRG')).to.equal(true);
      } finally {
        await consumer.shutdown();
      }
    });
  });
}
