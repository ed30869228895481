import { expect } from 'chai';
import { VirtualClock } from '../../lib/common/clock';
import { MessageStore } from '../../lib/store/message-store';
import { EmbeddedBroker } from '../../lib/consumer/embedded-broker';
import type { MessageExt } from '../../lib/common/message';
import { SCHEDULE_DLQ_TOPIC, SCHEDULE_TOPIC } from '../../lib/common/message-const';
import { tmpDir } from '../support/tmp';
import { rejectKeelCode } from '../support/reject-code';
import { openBroker, sleep, testStoreOptions, until, type Opened } from './support';
import { Producer } from '../../lib/client/producer';
import { PushConsumer } from '../../lib/client/push-consumer';

const T0 = 1_700_000_000_000;

describe('consumer - internal topics and undeliverable schedule entries', function () {
  this.timeout(30_000);
  let tmp: ReturnType<typeof tmpDir>;
  let o: Opened | null = null;
  beforeEach(() => { tmp = tmpDir('keelmq-internal-'); });
  afterEach(async () => { await o?.close(); o = null; tmp.cleanup(); });

  it('a producer cannot send to the schedule, retry or dead-letter topics', async () => {
    o = await openBroker(tmp.dir, new VirtualClock(T0));
    const p = new Producer(o.broker);
    for (const topic of [SCHEDULE_TOPIC, '%RETRY%billing', '%DLQ%billing']) {
      await rejectKeelCode(p.send({ topic, body: 'x', queueId: 0, properties: { x: '1' } }), 'TOPIC_RESERVED');
      await rejectKeelCode(p.send({ topic, body: 'x', delayLevel: 2 }), 'TOPIC_RESERVED');
    }
    expect(o.store.stats().appendOffset, 'nothing stored').to.equal(0);
  });

  function consume(opened: Opened, got: MessageExt[]): Promise<void> {
    return new PushConsumer(opened.broker, {
      group: 'g', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
      listener: (msgs) => { got.push(...msgs); return 'CONSUME_SUCCESS'; },
    }).subscribe('Later').start();
  }

  it('a schedule entry with a bad destination is moved aside with its reason and does not block its level', async () => {
    const clock = new VirtualClock(T0);
    o = await openBroker(tmp.dir, clock, { delayLevels: '1s 2s' });
    await o.broker.createTopic('Later', 4);
    // Entries written past the producer, straight into level 1's queue, each due with the good one after it.
    const bad: Record<string, string>[] = [
      { REAL_TOPIC: 'no such topic', REAL_QID: '0', DELAY: '1' },
      { REAL_TOPIC: 'Later', REAL_QID: '7', DELAY: '1' },
      { REAL_TOPIC: 'Later', REAL_QID: 'x', DELAY: '1' },
      { REAL_QID: '0', DELAY: '1' },
      { REAL_TOPIC: SCHEDULE_TOPIC, REAL_QID: '0', DELAY: '1' },
    ];
    for (const [i, properties] of bad.entries()) {
      await o.store.put({ topic: SCHEDULE_TOPIC, queueId: 0, body: `bad ${i}`, properties, tagsCode: T0 + 1000 });
    }
    await new Producer(o.broker).send({ topic: 'Later', body: 'good', delayLevel: 1 });
    const got: MessageExt[] = [];
    await consume(o, got);
    await clock.advance(1000);
    await until(() => got.length === 1, 'the good message behind the bad entries');
    expect(got[0]!.body.toString()).to.equal('good');
    await until(() => o!.store.getMaxOffsetInQueue(SCHEDULE_DLQ_TOPIC, 0) === bad.length, 'bad entries moved aside');
    const aside = (await o.broker.deadLetters(SCHEDULE_TOPIC)).messages;
    expect(aside.map((m) => m.body.toString())).to.have.members(bad.map((_, i) => `bad ${i}`));
    for (const m of aside) {
      const i = Number(m.body.toString().slice(4));
      expect(m.properties, `entry ${i}`).to.include(bad[i]!);
      expect(m.properties.DLQ_REASON, `entry ${i}`).to.be.a('string').and.not.equal('');
    }
    expect(o.broker.schedule.progress()[0]).to.equal(bad.length + 1);
    await sleep(20);
    expect(got).to.have.length(1);
    await rejectKeelCode(o.broker.resendDeadLetter(SCHEDULE_TOPIC, aside[0]!.msgId), 'TOPIC_RESERVED');
  });

  it('an entry the store refuses as bad input on delivery is moved aside with the store\'s code as reason, pointing at the entry', async () => {
    const clock = new VirtualClock(T0);
    o = await openBroker(tmp.dir, clock, { delayLevels: '1s' });
    const p = new Producer(o.broker);
    await p.send({ topic: 'Later', body: 'x'.repeat(2000), delayLevel: 1, queueId: 0 });
    await p.send({ topic: 'Later', body: 'small', delayLevel: 1, queueId: 0 });
    await o.close();
    // Reopened with a lower body limit: the first entry can never be put into its real topic again.
    const store = await MessageStore.open(tmp.dir, { ...testStoreOptions(clock), maxBodySize: 1000 });
    const broker = await EmbeddedBroker.open(store, { delayLevels: '1s' });
    o = { store, broker, async close() { await broker.close(); await store.close(); } };
    const got: MessageExt[] = [];
    await consume(o, got);
    await clock.advance(1000);
    await until(() => got.length === 1, 'the small message');
    expect(got[0]!.body.toString()).to.equal('small');
    await until(() => store.getMaxOffsetInQueue(SCHEDULE_DLQ_TOPIC, 0) === 1, 'the big one moved aside');
    const [aside] = (await broker.deadLetters(SCHEDULE_TOPIC)).messages;
    expect(aside!.properties).to.include({ REAL_TOPIC: 'Later', REAL_QID: '0', DELAY: '1' });
    // The body is over the limit for the copy too: the reason names the entry, which still holds it.
    const reason = /^BODY_TOO_LARGE: .*; body and properties are in ([0-9A-F]{32})$/.exec(aside!.properties.DLQ_REASON!);
    expect(reason, aside!.properties.DLQ_REASON).to.not.equal(null);
    const entry = await broker.lookupMessageById(reason![1]!);
    expect([entry!.topic, entry!.body.length]).to.deep.equal([SCHEDULE_TOPIC, 2000]);
  });
});
