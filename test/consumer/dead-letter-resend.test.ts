import { expect } from 'chai';
import { VirtualClock } from '../../lib/common/clock';
import { dlqTopic, retryTopic } from '../../lib/common/message-const';
import { tmpDir } from '../support/tmp';
import { rejectKeelCode } from '../support/reject-code';
import { openBroker, type Opened } from './support';
import { Producer } from '../../lib/client/producer';
import { PullConsumer } from '../../lib/client/pull-consumer';

describe('consumer - resending a dead letter', function () {
  this.timeout(30_000);
  let tmp: ReturnType<typeof tmpDir>;
  let o: Opened | null = null;
  beforeEach(() => { tmp = tmpDir('keelmq-resend-'); });
  afterEach(async () => { await o?.close(); o = null; tmp.cleanup(); });

  /** Two dead letters of group `puller`, sent back by a pull consumer with level -1. */
  async function deadLetters(opened: Opened): Promise<string[]> {
    const p = new Producer(opened.broker);
    await p.send({ topic: 'T', body: 'one', queueId: 1 });
    await p.send({ topic: 'T', body: 'two', queueId: 1 });
    const c = new PullConsumer(opened.broker, { group: 'puller' });
    for (const m of (await c.pull('T', 1, 0)).messages) await c.sendMessageBack(m, -1);
    return (await opened.broker.deadLetters('puller')).messages.map((m) => m.msgId);
  }

  it('reports the retry topic, queue and offset where the copy was stored', async () => {
    o = await openBroker(tmp.dir, new VirtualClock(1000));
    const [first, second] = await deadLetters(o);
    for (const [i, id] of [first!, second!].entries()) {
      const r = await o.broker.resendDeadLetter('puller', id);
      expect([r.topic, r.queueId, r.queueOffset]).to.deep.equal([retryTopic('puller'), 0, i]);
      const stored = await o.store.getMessages(r.topic, r.queueId, r.queueOffset, 1);
      expect(stored.messages[0]!.msgId).to.equal(r.msgId);
      expect(stored.messages[0]!.properties.DLQ_MESSAGE_ID).to.equal(id);
    }
  });

  it('a dead letter is resent once: again, concurrently, or after a restart is DEAD_LETTER_RESENT', async () => {
    const clock = new VirtualClock(1000);
    o = await openBroker(tmp.dir, clock);
    const [first, second] = await deadLetters(o);
    const r = await o.broker.resendDeadLetter('puller', first!);
    const again = await rejectKeelCode(o.broker.resendDeadLetter('puller', first!), 'DEAD_LETTER_RESENT');
    expect(again.message).to.include(r.msgId);
    const both = await Promise.allSettled([o.broker.resendDeadLetter('puller', second!), o.broker.resendDeadLetter('puller', second!)]);
    expect(both.map((s) => s.status).sort()).to.deep.equal(['fulfilled', 'rejected']);
    expect(o.store.getMaxOffsetInQueue(retryTopic('puller'), 0)).to.equal(2);
    await o.close();
    o = await openBroker(tmp.dir, clock);
    for (const id of [first!, second!]) await rejectKeelCode(o.broker.resendDeadLetter('puller', id), 'DEAD_LETTER_RESENT');
    expect(o.store.getMaxOffsetInQueue(retryTopic('puller'), 0), 'one copy per dead letter').to.equal(2);

    // The resent copy failing again becomes a new dead letter, which can be resent in its turn.
    const c = new PullConsumer(o.broker, { group: 'puller' });
    const [copy] = (await c.pull(retryTopic('puller'), 0, 0, { max: 1 })).messages;
    await c.sendMessageBack(copy!, -1);
    const newer = (await o.broker.deadLetters('puller', 2)).messages[0]!;
    expect(newer.topic).to.equal(dlqTopic('puller'));
    expect((await o.broker.resendDeadLetter('puller', newer.msgId)).queueOffset).to.equal(2);
  });
});
