import { expect } from 'chai';
import { VirtualClock } from '../../lib/common/clock';
import type { MessageExt } from '../../lib/common/message';
import { tmpDir } from '../support/tmp';
import { rejectKeelCode } from '../support/reject-code';
import { openBroker, until, type Opened } from './support';
import { Producer } from '../../lib/client/producer';
import { PushConsumer } from '../../lib/client/push-consumer';

describe('consumer - what a producer sends reads back as sent', function () {
  this.timeout(30_000);
  let tmp: ReturnType<typeof tmpDir>;
  let o: Opened | null = null;
  beforeEach(() => { tmp = tmpDir('keelmq-roundtrip-'); });
  afterEach(async () => { await o?.close(); o = null; tmp.cleanup(); });

  it('keys that would come back split or dropped are refused, at send and at query', async () => {
    o = await openBroker(tmp.dir, new VirtualClock(1000));
    const p = new Producer(o.broker);
    for (const keys of ['order 42', ['order 42'], ['ok', ''], '', ['a', ' b']]) {
      await rejectKeelCode(p.send({ topic: 'Keys', body: 'x', keys }), 'PROPERTY_INVALID');
    }
    expect(o.store.stats().appendOffset, 'nothing stored').to.equal(0);
    await rejectKeelCode(o.broker.queryMessageByKey('Keys', 'order 42'), 'PROPERTY_INVALID');
    await p.send({ topic: 'Keys', body: 'kept', keys: ['order-42', 'customer\t7'] });
    await p.send({ topic: 'Keys', body: 'one', keys: 'order-43' });
    const [m] = await o.broker.queryMessageByKey('Keys', 'customer\t7');
    expect(m!.keys).to.deep.equal(['order-42', 'customer\t7']);
    expect((await o.broker.queryMessageByKey('Keys', 'order-43')).map((x) => x.keys)).to.deep.equal([['order-43']]);
  });

  it('tags no subscription could select are refused; a selectable tag is delivered to its subscription', async () => {
    o = await openBroker(tmp.dir, new VirtualClock(1000));
    const p = new Producer(o.broker);
    for (const tags of ['A||B', 'A || B', 'A|B', 'Paid now', ' Paid', '', '*', 'x*']) {
      await rejectKeelCode(p.send({ topic: 'Tags', body: 'x', tags }), 'PROPERTY_INVALID');
    }
    expect(o.store.stats().appendOffset, 'nothing stored').to.equal(0);
    const got: MessageExt[] = [];
    await new PushConsumer(o.broker, {
      group: 'g', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
      listener: (msgs) => { got.push(...msgs); return 'CONSUME_SUCCESS'; },
    }).subscribe('Tags', 'Payé || Paid-2').start();
    await p.send({ topic: 'Tags', body: 'x', tags: 'Payé' });
    await until(() => got.length === 1, 'the tagged message');
    expect(got[0]!.tags).to.equal('Payé');
  });

  it('the broker\'s own property names are refused as user properties instead of being overwritten', async () => {
    o = await openBroker(tmp.dir, new VirtualClock(1000));
    const p = new Producer(o.broker);
    const reserved = ['TAGS', 'KEYS', 'DELAY', 'REAL_TOPIC', 'REAL_QID', 'RETRY_TOPIC', 'ORIGIN_MESSAGE_ID', 'ORIGIN_QUEUE_ID', 'ORIGIN_QUEUE_OFFSET', 'DLQ_MESSAGE_ID', 'DLQ_REASON', 'UNIQ_KEY'];
    for (const name of reserved) {
      await rejectKeelCode(p.send({ topic: 'Props', body: 'x', tags: 'T', keys: 'k', properties: { [name]: 'mine' } }), 'PROPERTY_INVALID');
    }
    await rejectKeelCode(p.send({ topic: 'Props', body: 'x', properties: { TAGS: 'T' } }), 'PROPERTY_INVALID');
    expect(o.store.stats().appendOffset, 'nothing stored').to.equal(0);
    const r = await p.send({ topic: 'Props', body: 'x', tags: 'T', keys: 'k', properties: { tags: 'lower case is the user\'s' } });
    const m = await o.broker.lookupMessageById(r.offsetMsgId);
    expect(m!.properties).to.include({ TAGS: 'T', KEYS: 'k', tags: 'lower case is the user\'s' });
  });
});
