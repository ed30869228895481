import { expect } from 'chai';
import { VirtualClock } from '../../lib/common/clock';
import type { MessageExt } from '../../lib/common/message';
import { dlqTopic, retryTopic, SCHEDULE_TOPIC } from '../../lib/common/message-const';
import { tmpDir } from '../support/tmp';
import { openBroker, until, type Opened } from './support';
import { Producer } from '../../lib/client/producer';
import { PushConsumer } from '../../lib/client/push-consumer';

const T0 = 1_700_000_000_000;

describe('consumer - a retried message keeps its original position', function () {
  this.timeout(30_000);
  let tmp: ReturnType<typeof tmpDir>;
  let o: Opened | null = null;
  beforeEach(() => { tmp = tmpDir('keelmq-retrypos-'); });
  afterEach(async () => { await o?.close(); o = null; tmp.cleanup(); });

  it('the listener sees every retry at the topic, queue and offset of the message first consumed, and so does its dead letter', async () => {
    const clock = new VirtualClock(T0);
    o = await openBroker(tmp.dir, clock);
    const { broker, store } = o;
    await broker.createTopic('Orders', 4);
    const producer = new Producer(broker);
    for (const body of ['a', 'b']) await producer.send({ topic: 'Orders', body, queueId: 2 });
    const sent = await producer.send({ topic: 'Orders', body: 'c', queueId: 2 });
    expect([sent.messageQueue.queueId, sent.queueOffset]).to.deep.equal([2, 2]);

    const calls: { m: MessageExt; ctxTopic: string; ctxQueue: number }[] = [];
    await new PushConsumer(broker, {
      group: 'billing', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', maxReconsumeTimes: 2,
      listener: (msgs, ctx) => {
        const m = msgs[0]!;
        if (m.body.toString() !== 'c') return 'CONSUME_SUCCESS';
        calls.push({ m, ctxTopic: ctx.topic, ctxQueue: ctx.queueId });
        ctx.delayLevelWhenNextConsume = 1;
        return 'RECONSUME_LATER';
      },
    }).subscribe('Orders').start();

    for (let retry = 1; retry <= 2; retry++) {
      await until(() => store.getMaxOffsetInQueue(SCHEDULE_TOPIC, 0) === retry, `send-back ${retry}`);
      await clock.advance(1000);
      await until(() => calls.length === retry + 1, `retry ${retry}`);
      const { m, ctxTopic, ctxQueue } = calls[retry]!;
      expect([ctxTopic, ctxQueue], 'the batch was read from the retry topic').to.deep.equal([retryTopic('billing'), 0]);
      expect([m.topic, m.queueId, m.queueOffset], `retry ${retry}`).to.deep.equal(['Orders', 2, 2]);
      expect(m.reconsumeTimes).to.equal(retry);
      expect(m.properties.ORIGIN_MESSAGE_ID).to.equal(sent.offsetMsgId);
      // The triple names the message itself, not another one of the topic.
      const named = await store.getMessages(m.topic, m.queueId, m.queueOffset, 1);
      expect(named.messages[0]!.msgId).to.equal(sent.offsetMsgId);
    }
    await until(() => store.getMaxOffsetInQueue(dlqTopic('billing'), 0) === 1, 'dead letter');
    const [dead] = (await broker.deadLetters('billing')).messages;
    expect(dead!.properties).to.include({ RETRY_TOPIC: 'Orders', ORIGIN_QUEUE_ID: '2', ORIGIN_QUEUE_OFFSET: '2', ORIGIN_MESSAGE_ID: sent.offsetMsgId });
  });
});
