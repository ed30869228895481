import { expect } from 'chai';
import { VirtualClock } from '../../lib/common/clock';
import { KeelError } from '../../lib/common/errors';
import { MessageStore } from '../../lib/store/message-store';
import { EmbeddedBroker, type BrokerOptions } from '../../lib/consumer/embedded-broker';
import type { PushConsumerOptions } from '../../lib/client/push-consumer';
import { tmpDir } from '../support/tmp';
import { rejectKeelCode } from '../support/reject-code';
import { openBroker, testStoreOptions, type Opened } from './support';
import { Producer } from '../../lib/client/producer';
import { PushConsumer } from '../../lib/client/push-consumer';
import { PullConsumer } from '../../lib/client/pull-consumer';

const T0 = 1_700_000_000_000;
const listener = () => 'CONSUME_SUCCESS' as const;

describe('consumer - options and time arguments', function () {
  this.timeout(30_000);
  let tmp: ReturnType<typeof tmpDir>;
  let o: Opened | null = null;
  beforeEach(() => { tmp = tmpDir('keelmq-options-'); });
  afterEach(async () => { await o?.close(); o = null; tmp.cleanup(); });

  it('broker options: unknown names, wrong types and timers of 2^31 ms are OPTION_INVALID', async () => {
    const store = await MessageStore.open(tmp.dir, testStoreOptions(new VirtualClock(T0)));
    try {
      const bad: unknown[] = [
        { autoCreateTopic: false },
        { autoCreateTopics: 'no' },
        { offsetPersistIntervalMs: 2 ** 31 },
        { delayOffsetPersistIntervalMs: 0 },
        null,
        'fast',
      ];
      for (const options of bad) {
        await rejectKeelCode(EmbeddedBroker.open(store, options as Partial<BrokerOptions>), 'OPTION_INVALID');
      }
    } finally {
      await store.close();
    }
  });

  it('push consumer, pull consumer and producer options: unknown names and wrong values are OPTION_INVALID', async () => {
    o = await openBroker(tmp.dir, new VirtualClock(T0));
    const bad: unknown[] = [
      { group: 'g', listener, consumeBatchsize: 4 },
      { group: 'g', listener, consumeFromWhere: 'FIRST' },
      { group: 'g', listener, pullBatchSize: '32' },
    ];
    for (const options of bad) {
      expect(() => new PushConsumer(o!.broker, options as PushConsumerOptions), JSON.stringify(options)).to.throw(KeelError).with.property('code', 'OPTION_INVALID');
    }
    expect(() => new PullConsumer(o!.broker, { group: 'g', maxReconsumeTimes: -1 })).to.throw(KeelError).with.property('code', 'OPTION_INVALID');
    expect(() => new PullConsumer(o!.broker, { group: 'g', maxReconsume: 3 } as never)).to.throw(KeelError).with.property('code', 'OPTION_INVALID');
    expect(() => new Producer(o!.broker, { selector: 'hash' } as never)).to.throw(KeelError).with.property('code', 'OPTION_INVALID');
    expect(() => new Producer(o!.broker, { selecter: () => 0 } as never)).to.throw(KeelError).with.property('code', 'OPTION_INVALID');
  });

  it('pullBlockIfNotFound options: a wait beyond a timer\'s range or of the wrong type is OPTION_INVALID, not a busy loop', async () => {
    o = await openBroker(tmp.dir, new VirtualClock(T0));
    await o.broker.createTopic('Orders', 1);
    await new Producer(o.broker).send({ topic: 'Orders', body: 'm0' });
    const pull = new PullConsumer(o.broker, { group: 'billing' });
    for (const options of [{ timeoutMs: 2 ** 31 }, { timeoutMs: '100' }, { timeoutMs: -1 }, { max: 0 }, { timeout: 100 }]) {
      await rejectKeelCode(pull.pullBlockIfNotFound('Orders', 0, 0, options as never), 'OPTION_INVALID');
    }
    // A valid wait of 0 answers at once.
    expect((await pull.pullBlockIfNotFound('Orders', 0, 1, { timeoutMs: 0 })).status).to.equal('NO_NEW_MSG');
  });

  it('a consumeTimestamp that is not a finite number is a TypeError', async () => {
    o = await openBroker(tmp.dir, new VirtualClock(T0));
    for (const t of [NaN, Infinity, '2024-01-01']) {
      expect(() => new PushConsumer(o!.broker, { group: 'g', listener, consumeFromWhere: 'CONSUME_FROM_TIMESTAMP', consumeTimestamp: t as number }), String(t)).to.throw(TypeError);
    }
  });

  it('resetOffsetByTime with a time that is not a finite number is a TypeError and moves no offset', async () => {
    const clock = new VirtualClock(T0);
    o = await openBroker(tmp.dir, clock);
    await o.broker.createTopic('Orders', 2);
    const p = new Producer(o.broker);
    for (let i = 0; i < 10; i++) { await clock.advance(1); await p.send({ topic: 'Orders', body: `${i}`, queueId: i % 2 }); }
    const pull = new PullConsumer(o.broker, { group: 'billing' });
    pull.updateConsumeOffset('Orders', 0, 5);
    pull.updateConsumeOffset('Orders', 1, 5);
    for (const t of [NaN, undefined, '0']) {
      let error: unknown;
      try { await o.broker.resetOffsetByTime('billing', 'Orders', t as number); } catch (e) { error = e; }
      expect(error, String(t)).to.be.instanceOf(TypeError);
    }
    // Before the fix, NaN compared false with every store time and rewound the group to offset 0.
    expect(await Promise.all([pull.fetchConsumeOffset('Orders', 0), pull.fetchConsumeOffset('Orders', 1)])).to.deep.equal([5, 5]);
  });
});
