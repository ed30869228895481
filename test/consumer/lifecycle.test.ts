import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { VirtualClock } from '../../lib/common/clock';
import { EmbeddedBroker } from '../../lib/consumer/embedded-broker';
import { SCHEDULE_TOPIC } from '../../lib/common/message-const';
import type { ConsumeStatus } from '../../lib/client/push-consumer';
import { isKeelError } from '../../lib/common/errors';
import { tmpDir } from '../support/tmp';
import { openBroker, sleep, until, type Opened } from './support';
import { Producer } from '../../lib/client/producer';
import { PushConsumer } from '../../lib/client/push-consumer';
import { PullConsumer } from '../../lib/client/pull-consumer';

const T0 = 1_700_000_000_000;

async function rejects(p: Promise<unknown>): Promise<unknown> { return p.then(() => null, (e: unknown) => e); }

/** Whether `p` settles within `ms` of real time (the virtual clock standing still). */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  void p.then(() => { settled = true; }, () => { settled = true; });
  const end = Date.now() + ms;
  while (!settled && Date.now() < end) await sleep(2);
  return settled;
}

function savedOffsets(dir: string, topic: string, group: string): Record<string, number> | undefined {
  return JSON.parse(fs.readFileSync(path.join(dir, 'config', 'consumerOffset.json'), 'utf8')).offsetTable[`${topic}@${group}`];
}

describe('consumer - broker and consumer lifecycle', function () {
  this.timeout(30_000);
  let tmp: ReturnType<typeof tmpDir>;
  let o: Opened | null = null;
  beforeEach(() => { tmp = tmpDir('keelmq-lifecycle-'); });
  afterEach(async () => { await o?.close(); o = null; tmp.cleanup(); });

  it('lifecycle - a second broker on one store is refused with BROKER_IN_USE, so delayed messages are delivered once; after close one opens again', async () => {
    const clock = new VirtualClock(T0);
    o = await openBroker(tmp.dir, clock);
    const second = await rejects(EmbeddedBroker.open(o.store));
    expect(isKeelError(second, 'BROKER_IN_USE'), String(second)).to.equal(true);

    await o.broker.createTopic('Later', 1);
    await new Producer(o.broker).send({ topic: 'Later', body: 'once', delayLevel: 1 });
    await until(() => o!.store.getMaxOffsetInQueue(SCHEDULE_TOPIC, 0) === 1, 'the delayed message in its level');
    await clock.advance(1000);
    await until(() => o!.store.getMaxOffsetInQueue('Later', 0) === 1, 'the delivery');
    await clock.advance(60_000);
    await sleep(20);
    expect(o.store.getMaxOffsetInQueue('Later', 0), 'delivered once').to.equal(1);

    await o.broker.close();
    const again = await EmbeddedBroker.open(o.store);
    expect(again.topic('Later')?.queues).to.equal(1);
    await again.close();
  });

  it('lifecycle - closing the store closes its broker first: a running consumer stops, its offsets are written, a long poll ends', async () => {
    const clock = new VirtualClock(T0);
    o = await openBroker(tmp.dir, clock);
    const { store, broker } = o;
    await broker.createTopic('T', 1);
    const got: string[] = [];
    const c = new PushConsumer(broker, { group: 'g', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', listener: (msgs) => { got.push(...msgs.map((m) => m.body.toString())); return 'CONSUME_SUCCESS'; } }).subscribe('T');
    await c.start();
    for (let i = 0; i < 3; i++) await new Producer(broker).send({ topic: 'T', body: String(i) });
    await until(() => got.length === 3, 'consumed');
    const poll = rejects(new PullConsumer(broker, { group: 'p' }).pullBlockIfNotFound('T', 0, 3, { timeoutMs: 3_600_000 }));
    await store.close();
    o = null;
    expect(savedOffsets(tmp.dir, 'T', 'g')).to.deep.equal({ 0: 3 });
    expect(isKeelError(await poll, 'CLIENT_STATE')).to.equal(true);
    expect(isKeelError(await rejects(c.start()), 'CLIENT_STATE')).to.equal(true);
    expect(fs.existsSync(path.join(tmp.dir, 'abort')), 'a clean close').to.equal(false);
  });

  it('lifecycle - broker.close() wakes a pending long poll at once (CLIENT_STATE), without waiting for its timeout', async () => {
    o = await openBroker(tmp.dir, new VirtualClock(T0));
    await o.broker.createTopic('Poll', 1);
    const poll = rejects(new PullConsumer(o.broker, { group: 'p' }).pullBlockIfNotFound('Poll', 0, 0, { timeoutMs: 3_600_000 }));
    expect(await settlesWithin(poll, 20), 'waits while nothing arrives').to.equal(false);
    await o.broker.close();
    expect(await settlesWithin(poll, 5000), 'woken by close').to.equal(true);
    expect(isKeelError(await poll, 'CLIENT_STATE')).to.equal(true);
  });

  // The default is RocketMQ's consumeTimeout of 15 minutes.
  for (const [given, timeout] of [[60_000, 60_000], [undefined, 15 * 60_000]] as const) {
    it(`lifecycle - a listener that does not return within consumeTimeoutMs (${given === undefined ? 'default, 15 min' : `${given} ms`}) has its batch retried; its late answer is ignored`, async () => {
      const clock = new VirtualClock(T0);
      o = await openBroker(tmp.dir, clock);
      const { store, broker } = o;
      await broker.createTopic('Slow', 1);
      const calls: { body: string; reconsumeTimes: number }[] = [];
      let answerLate: (s: ConsumeStatus) => void = () => undefined;
      const c = new PushConsumer(broker, {
        group: 'slow', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', ...(given === undefined ? {} : { consumeTimeoutMs: given }),
        listener: (msgs) => {
          calls.push(...msgs.map((m) => ({ body: m.body.toString(), reconsumeTimes: m.reconsumeTimes })));
          if (msgs[0]!.reconsumeTimes > 0) return 'CONSUME_SUCCESS';
          return new Promise<ConsumeStatus>((resolve) => { answerLate = resolve; });
        },
      }).subscribe('Slow');
      await new Producer(broker).send({ topic: 'Slow', body: 'stuck' });
      await c.start();
      await until(() => calls.length === 1, 'first delivery');
      await clock.advance(timeout - 1);
      await sleep(20);
      expect(store.getMaxOffsetInQueue(SCHEDULE_TOPIC, 2), 'not retried before the timeout').to.equal(0);
      await clock.advance(1);
      // Retried like RECONSUME_LATER: level 3 (10 s) for a first failure.
      await until(() => store.getMaxOffsetInQueue(SCHEDULE_TOPIC, 2) === 1, 'the send-back at the timeout');
      await until(() => broker.consumerOffset('slow', 'Slow', 0) === 1, 'the original offset passing the timed-out message');
      await clock.advance(10_000);
      await until(() => calls.length === 2, 'the retry');
      expect(calls).to.deep.equal([{ body: 'stuck', reconsumeTimes: 0 }, { body: 'stuck', reconsumeTimes: 1 }]);
      answerLate('RECONSUME_LATER');
      await sleep(20);
      expect(store.getMaxOffsetInQueue(SCHEDULE_TOPIC, 2), 'the late answer sends nothing back').to.equal(1);
      expect(await settlesWithin(c.shutdown(), 5000), 'shutdown does not wait for the timed-out listener').to.equal(true);
    });
  }

  // The default is RocketMQ's awaitTerminationMillisWhenShutdown of 30 s.
  for (const [given, bound] of [[5000, 5000], [undefined, 30_000]] as const) {
    it(`lifecycle - shutdown() is bounded by awaitTerminationMs (${given === undefined ? 'default, 30 s' : `${given} ms`}); a batch still running stays uncommitted and comes again`, async () => {
      const clock = new VirtualClock(T0);
      o = await openBroker(tmp.dir, clock);
      const { broker } = o;
      await broker.createTopic('T', 1);
      const p = new Producer(broker);
      for (const body of ['ok', 'stuck', 'after']) await p.send({ topic: 'T', body });
      const first: string[] = [];
      const c = new PushConsumer(broker, {
        group: 'g', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', ...(given === undefined ? {} : { awaitTerminationMs: given }),
        listener: (msgs) => {
          first.push(msgs[0]!.body.toString());
          return msgs[0]!.body.toString() === 'stuck' ? new Promise<ConsumeStatus>(() => undefined) : 'CONSUME_SUCCESS';
        },
      }).subscribe('T');
      await c.start();
      await until(() => first.length === 3, 'all three delivered');
      const stopped = c.shutdown();
      // Time moves once shutdown has stopped the readers and waits for the listener.
      await sleep(20);
      await clock.advance(bound - 1);
      expect(await settlesWithin(stopped, 20), 'waits for the running batch').to.equal(false);
      await clock.advance(1);
      expect(await settlesWithin(stopped, 5000), 'gives up at awaitTerminationMs').to.equal(true);
      expect(savedOffsets(tmp.dir, 'T', 'g')).to.deep.equal({ 0: 1 });

      const second: string[] = [];
      await new PushConsumer(broker, { group: 'g', listener: (msgs) => { second.push(msgs[0]!.body.toString()); return 'CONSUME_SUCCESS'; } }).subscribe('T').start();
      await until(() => second.length === 2, 'the uncommitted messages again');
      expect(second.sort()).to.deep.equal(['after', 'stuck']);
    });
  }

  it('lifecycle - broker.close() while a consumer is shutting down waits for that shutdown, and writes its offsets', async () => {
    o = await openBroker(tmp.dir, new VirtualClock(T0));
    const { broker } = o;
    await broker.createTopic('T', 1);
    let answer: ((s: ConsumeStatus) => void) | null = null;
    const c = new PushConsumer(broker, {
      group: 'g', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
      listener: () => new Promise<ConsumeStatus>((resolve) => { answer = resolve; }),
    }).subscribe('T');
    await c.start();
    await new Producer(broker).send({ topic: 'T', body: 'x' });
    await until(() => answer !== null, 'delivery');
    const order: string[] = [];
    void c.shutdown().then(() => order.push('shutdown'));
    const closed = broker.close().then(() => order.push('close'));
    await sleep(30);
    expect(order, 'close waits for the consumer').to.deep.equal([]);
    answer!('CONSUME_SUCCESS');
    await closed;
    expect(order).to.deep.equal(['shutdown', 'close']);
    expect(savedOffsets(tmp.dir, 'T', 'g')).to.deep.equal({ 0: 1 });
  });
});
