import { expect } from 'chai';
import { VirtualClock } from '../../lib/common/clock';
import type { MessageExt } from '../../lib/common/message';
import { ConsumeStatus, PushConsumer } from '../../lib/client/push-consumer';
import { tmpDir } from '../support/tmp';
import { openBroker, sleep, until, type Opened } from './support';
import { Producer } from '../../lib/client/producer';

const T0 = 1_700_000_000_000;

describe('consumer - reset offsets by time', function () {
  this.timeout(30_000);
  let tmp: ReturnType<typeof tmpDir>;
  let o: Opened | null = null;
  beforeEach(() => { tmp = tmpDir('keelmq-reset-'); });
  afterEach(async () => { await o?.close(); o = null; tmp.cleanup(); });

  it('a running consumer re-delivers exactly the messages stored at or after the instant, per queue', async () => {
    const clock = new VirtualClock(T0);
    o = await openBroker(tmp.dir, clock);
    const { broker, store } = o;
    const p = new Producer(broker);
    // Three messages per millisecond tick, so the instant falls on a run of equal store times.
    const stored: { body: string; queueId: number; queueOffset: number; at: number }[] = [];
    for (let tick = 0; tick < 80; tick++) {
      await clock.advance(1);
      const rs = await Promise.all([0, 1, 2].map((j) => p.send({ topic: 'Events', body: `${tick}.${j}` })));
      rs.forEach((r, j) => stored.push({ body: `${tick}.${j}`, queueId: r.messageQueue.queueId, queueOffset: r.queueOffset, at: r.storeTimestamp! }));
    }
    const got: MessageExt[] = [];
    await new PushConsumer(broker, {
      group: 'audit', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', consumeConcurrency: 4,
      listener: (msgs) => { got.push(...msgs); return 'CONSUME_SUCCESS'; },
    }).subscribe('Events').start();
    await until(() => got.length === stored.length, 'first pass');

    const instant = stored[120]!.at; // tick 40, the first of its three messages
    got.length = 0;
    const offsets = await broker.resetOffsetByTime('audit', 'Events', instant);
    const expected = stored.filter((s) => s.at >= instant);
    await until(() => got.length >= expected.length, 're-delivery');
    await sleep(30);
    expect(got.map((m) => m.body.toString()).sort()).to.deep.equal(expected.map((s) => s.body).sort());
    for (let q = 0; q < 4; q++) {
      const fromQ = expected.filter((s) => s.queueId === q).map((s) => s.queueOffset);
      expect(offsets.get(q), `queue ${q} reset to its first message at or after the instant`).to.equal(Math.min(...fromQ));
      expect(got.filter((m) => m.queueId === q).map((m) => m.queueOffset).sort((a, b) => a - b)).to.deep.equal(fromQ);
      await until(() => broker.consumerOffset('audit', 'Events', q) === store.getMaxOffsetInQueue('Events', q), `offset of queue ${q}`);
    }
  });

  it('a reset while messages are in flight is not undone by their late completion', async () => {
    const clock = new VirtualClock(T0);
    o = await openBroker(tmp.dir, clock);
    const { broker, store } = o;
    const p = new Producer(broker);
    for (let i = 0; i < 40; i++) { await clock.advance(10); await p.send({ topic: 'Slow', body: String(i), queueId: 0 }); }
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const got: string[] = [];
    await new PushConsumer(broker, {
      group: 'slow', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', consumeConcurrency: 8,
      listener: async (msgs) => { got.push(...msgs.map((m) => m.body.toString())); await gate; return ConsumeStatus.CONSUME_SUCCESS; },
    }).subscribe('Slow').start();
    await until(() => got.length === 8, 'eight batches in flight');
    // Forward past everything: the eight in-flight messages finishing later must not pull the offset back.
    await broker.resetOffsetByTime('slow', 'Slow', clock.now() + 1);
    release();
    await sleep(50);
    expect(broker.consumerOffset('slow', 'Slow', 0)).to.equal(store.getMaxOffsetInQueue('Slow', 0));
    expect(got).to.have.length(8);
  });
});
