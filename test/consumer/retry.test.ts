import { expect } from 'chai';
import { VirtualClock } from '../../lib/common/clock';
import type { MessageExt } from '../../lib/common/message';
import { parseDelayLevels, DEFAULT_DELAY_LEVELS } from '../../lib/consumer/schedule-service';
import { dlqTopic, retryTopic, SCHEDULE_TOPIC } from '../../lib/common/message-const';
import { tmpDir } from '../support/tmp';
import { openBroker, sleep, until, type Opened } from './support';
import { Producer } from '../../lib/client/producer';
import { PushConsumer } from '../../lib/client/push-consumer';

const DELAYS = parseDelayLevels(DEFAULT_DELAY_LEVELS);
const T0 = 1_700_000_000_000;

interface Call { at: number; msg: MessageExt; topic: string }

describe('consumer - retries and dead letters', function () {
  this.timeout(60_000);
  let tmp: ReturnType<typeof tmpDir>;
  let o: Opened | null = null;
  beforeEach(() => { tmp = tmpDir('keelmq-retry-'); });
  afterEach(async () => { await o?.close(); o = null; tmp.cleanup(); });

  for (const k of [1, 5, 16, 17]) {
    it(`a message failed ${k} time(s) comes back ${Math.min(k, 16)} time(s) at the level delays${k > 16 ? ', then lands in the DLQ once' : ''}`, async () => {
      const clock = new VirtualClock(T0);
      o = await openBroker(tmp.dir, clock);
      const { broker, store } = o;
      const producer = new Producer(broker);
      const sent = await producer.send({ topic: 'Orders', body: 'order-1', tags: 'Paid', keys: ['K1'], properties: { customer: 'c7' } });
      const calls: Call[] = [];
      const consumer = new PushConsumer(broker, {
        group: 'billing',
        consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
        listener: (msgs, ctx) => {
          for (const m of msgs) calls.push({ at: clock.now(), msg: m, topic: ctx.topic });
          if (calls.length <= k) {
            if (calls.length % 2 === 0) throw new Error('a throw counts as RECONSUME_LATER');
            return 'RECONSUME_LATER';
          }
          return 'CONSUME_SUCCESS';
        },
      }).subscribe('Orders', '*');
      await consumer.start();
      await until(() => calls.length === 1, 'first delivery');
      expect(calls[0]!.msg.msgId).to.equal(sent.offsetMsgId);

      const retries = Math.min(k, 16);
      for (let i = 1; i <= retries; i++) {
        const level = 3 + (i - 1);
        const delay = DELAYS[level - 1]!;
        // The failed message must be waiting in its level's schedule queue before time moves.
        await until(() => store.getMaxOffsetInQueue(SCHEDULE_TOPIC, level - 1) === 1, `send-back of failure ${i} to level ${level}`);
        await clock.advance(delay - 1);
        await sleep(15);
        expect(calls.length, `retry ${i} must not come before ${delay} ms`).to.equal(i);
        await clock.advance(1);
        await until(() => calls.length === i + 1, `retry ${i}`);
        const c = calls[i]!;
        expect(c.at - calls[i - 1]!.at).to.equal(delay);
        expect(c.msg.reconsumeTimes).to.equal(i);
        expect(c.topic).to.equal(retryTopic('billing'));
        expect(c.msg.topic, 'listener sees the original topic').to.equal('Orders');
        expect(c.msg.body.toString()).to.equal('order-1');
        expect(c.msg.tags).to.equal('Paid');
        expect(c.msg.keys).to.deep.equal(['K1']);
        expect(c.msg.properties.customer).to.equal('c7');
        expect(c.msg.properties.ORIGIN_MESSAGE_ID).to.equal(sent.offsetMsgId);
      }

      if (k > 16) {
        await until(() => store.getMaxOffsetInQueue(dlqTopic('billing'), 0) === 1, 'dead letter');
      }
      // Long after the last retry level, nothing else happens.
      await clock.advance(3 * 3_600_000);
      await sleep(30);
      expect(calls.length).to.equal(retries + 1);
      const dlq = await broker.deadLetters('billing');
      if (k > 16) {
        expect(dlq.messages).to.have.length(1);
        const d = dlq.messages[0]!;
        expect(d.body.toString()).to.equal('order-1');
        expect(d.reconsumeTimes).to.equal(17);
        expect(d.tags).to.equal('Paid');
        expect(d.keys).to.deep.equal(['K1']);
        expect(d.properties).to.include({ customer: 'c7', RETRY_TOPIC: 'Orders', ORIGIN_MESSAGE_ID: sent.offsetMsgId });
      } else {
        expect(dlq.messages).to.have.length(0);
        await until(() => broker.consumerOffset('billing', retryTopic('billing'), 0) === k, 'retry topic offset');
      }
      expect(broker.consumerOffset('billing', 'Orders', sent.messageQueue.queueId)).to.equal(1);
    });
  }

  it('a dead letter can be read and sent again to the group, which consumes it', async () => {
    const clock = new VirtualClock(T0);
    o = await openBroker(tmp.dir, clock);
    const { broker } = o;
    let fail = true;
    const seen: MessageExt[] = [];
    const consumer = new PushConsumer(broker, {
      group: 'g', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
      listener: (msgs, ctx) => {
        seen.push(...msgs);
        if (fail) { ctx.delayLevelWhenNextConsume = -1; return 'RECONSUME_LATER'; }
        return 'CONSUME_SUCCESS';
      },
    }).subscribe('T');
    await consumer.start();
    const sent = await new Producer(broker).send({ topic: 'T', body: 'x' });
    await until(() => seen.length === 1, 'first delivery');
    await until(() => o!.store.getMaxOffsetInQueue(dlqTopic('g'), 0) === 1, 'dead letter (level -1 skips retries)');
    const [dead] = (await broker.deadLetters('g')).messages;
    fail = false;
    await broker.resendDeadLetter('g', dead!.msgId);
    await until(() => seen.length === 2, 'resent dead letter');
    expect(seen[1]!.topic).to.equal('T');
    expect(seen[1]!.reconsumeTimes).to.equal(0);
    expect(seen[1]!.properties.ORIGIN_MESSAGE_ID).to.equal(sent.offsetMsgId);
  });
});
