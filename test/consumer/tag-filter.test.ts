import { expect } from 'chai';
import { VirtualClock } from '../../lib/common/clock';
import { parseSubscription } from '../../lib/common/tag-filter';
import { tagsHashCode } from '../../lib/common/tag-hash';
import { isKeelError } from '../../lib/common/errors';
import { tmpDir } from '../support/tmp';
import { openBroker, sleep, until, type Opened } from './support';
import { Producer } from '../../lib/client/producer';
import { PushConsumer } from '../../lib/client/push-consumer';

describe('consumer - tag filter', function () {
  this.timeout(30_000);
  let tmp: ReturnType<typeof tmpDir>;
  let o: Opened | null = null;
  beforeEach(() => { tmp = tmpDir('keelmq-tags-'); });
  afterEach(async () => { await o?.close(); o = null; tmp.cleanup(); });

  it('delivers exactly the messages whose tag matches, also when another tag has the same hash', async () => {
    // The ConsumeQueue only holds the hash; 'Aa' and 'BB' collide, so only the check on the message can tell them apart.
    expect(tagsHashCode('Aa')).to.equal(tagsHashCode('BB'));
    o = await openBroker(tmp.dir, new VirtualClock(1000));
    const { broker } = o;
    const tags = ['TagA', 'TagB', 'TagC', 'Aa', 'BB', undefined];
    const p = new Producer(broker);
    const sent: { id: string; tags: string | undefined }[] = [];
    for (let i = 0; i < 300; i++) {
      const t = tags[(i * 7) % tags.length];
      await p.send({ topic: 'Mixed', body: String(i), tags: t });
      sent.push({ id: String(i), tags: t });
    }
    const runs: Record<string, Set<string>> = { 'TagA || BB': new Set(['TagA', 'BB']), 'Aa': new Set(['Aa']), '*': new Set(tags.map(String)) };
    const got: Record<string, string[]> = {};
    for (const [i, expr] of Object.keys(runs).entries()) {
      got[expr] = [];
      await new PushConsumer(broker, {
        group: `g${i}`, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', consumeBatchSize: 4,
        listener: (msgs) => { for (const m of msgs) got[expr]!.push(m.body.toString()); return 'CONSUME_SUCCESS'; },
      }).subscribe('Mixed', expr).start();
    }
    for (const [i, [expr, want]] of Object.entries(runs).entries()) {
      const expected = sent.filter((s) => want.has(String(s.tags))).map((s) => s.id).sort();
      await until(() => got[expr]!.length >= expected.length, expr);
      await sleep(20);
      expect(got[expr]!.sort(), expr).to.deep.equal(expected);
      // Skipped messages count as consumed: the group's offsets reach the end of every queue.
      for (let q = 0; q < 4; q++) {
        await until(() => broker.consumerOffset(`g${i}`, 'Mixed', q) === o!.store.getMaxOffsetInQueue('Mixed', q), `offset of ${expr} in queue ${q}`);
      }
    }
  });

  it('parses "*", one tag and "A || B"; rejects malformed expressions', () => {
    expect(parseSubscription('*').tags).to.equal(null);
    expect(parseSubscription(undefined).tags).to.equal(null);
    expect([...parseSubscription(' A ||B|| C').tags!]).to.deep.equal(['A', 'B', 'C']);
    for (const bad of ['A ||', '|| B', 'A | B', 'A B', 'A || *']) {
      let err: unknown = null;
      try { parseSubscription(bad); } catch (e) { err = e; }
      expect(isKeelError(err, 'SUBSCRIPTION_INVALID'), bad).to.equal(true);
    }
  });
});
