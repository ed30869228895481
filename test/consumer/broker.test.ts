import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { VirtualClock } from '../../lib/common/clock';
import type { MessageExt } from '../../lib/common/message';
import { isKeelError } from '../../lib/common/errors';
import { tmpDir } from '../support/tmp';
import { openBroker, until, type Opened } from './support';
import { Producer } from '../../lib/client/producer';
import { PullConsumer } from '../../lib/client/pull-consumer';
import { PushConsumer } from '../../lib/client/push-consumer';

const T0 = 1_700_000_000_000;

async function rejects(p: Promise<unknown>): Promise<unknown> { return p.then(() => null, (e: unknown) => e); }

describe('consumer - topics, producer, offsets, pull and lookup', function () {
  this.timeout(30_000);
  let tmp: ReturnType<typeof tmpDir>;
  let o: Opened | null = null;
  beforeEach(() => { tmp = tmpDir('keelmq-broker-'); });
  afterEach(async () => { await o?.close(); o = null; tmp.cleanup(); });

  it('topics are created explicitly or on first send, persisted in config/topics.json, and refused when auto-creation is off', async () => {
    const clock = new VirtualClock(T0);
    o = await openBroker(tmp.dir, clock);
    await o.broker.createTopic('Eight', 8);
    const r = await new Producer(o.broker).send({ topic: 'Auto', body: 'x' });
    expect(r.messageQueue.queueId).to.be.within(0, 3);
    const saved = JSON.parse(fs.readFileSync(path.join(tmp.dir, 'config', 'topics.json'), 'utf8'));
    expect(saved.topics.Eight).to.deep.equal({ queues: 8 });
    expect(saved.topics.Auto).to.deep.equal({ queues: 4 });
    expect(isKeelError(await rejects(o.broker.createTopic('bad topic')), 'TOPIC_INVALID')).to.equal(true);
    await o.close();
    o = await openBroker(tmp.dir, clock, { autoCreateTopics: false });
    expect(o.broker.topic('Eight')?.queues).to.equal(8);
    expect(isKeelError(await rejects(new Producer(o.broker).send({ topic: 'Nope', body: 'x' })), 'TOPIC_NOT_FOUND')).to.equal(true);
    expect(o.broker.topic('Nope')).to.equal(undefined);
  });

  it('the producer spreads messages round robin, keeps a sharding key on one queue, and honours a selector', async () => {
    o = await openBroker(tmp.dir, new VirtualClock(T0));
    const p = new Producer(o.broker);
    const rr = await Promise.all(Array.from({ length: 8 }, () => p.send({ topic: 'RR', body: 'x' })));
    expect(rr.map((r) => r.messageQueue.queueId).sort()).to.deep.equal([0, 0, 1, 1, 2, 2, 3, 3]);
    const sharded = await Promise.all(Array.from({ length: 6 }, (_, i) => p.send({ topic: 'RR', body: String(i), shardingKey: 'order-42' })));
    expect(new Set(sharded.map((r) => r.messageQueue.queueId)).size).to.equal(1);
    const offsets = sharded.map((r) => r.queueOffset);
    expect(offsets).to.deep.equal([...offsets].sort((a, b) => a - b));
    const sel = new Producer(o.broker, { selector: (queues) => queues - 1 });
    expect((await sel.send({ topic: 'RR', body: 'x' })).messageQueue.queueId).to.equal(3);
    expect(isKeelError(await rejects(p.send({ topic: 'RR', body: 'x', queueId: 4 })), 'QUEUE_INVALID')).to.equal(true);
  });

  it('a new group starts at the last offset, the first, or a timestamp; a restarted group resumes at its committed offset', async () => {
    const clock = new VirtualClock(T0);
    o = await openBroker(tmp.dir, clock);
    await o.broker.createTopic('Log', 1);
    const p = new Producer(o.broker);
    for (let i = 0; i < 10; i++) { await clock.advance(1000); await p.send({ topic: 'Log', body: String(i) }); }
    const start = async (group: string, options: object, got: string[]) => {
      const c = new PushConsumer(o!.broker, { group, listener: (msgs) => { got.push(...msgs.map((m) => m.body.toString())); return 'CONSUME_SUCCESS'; }, ...options }).subscribe('Log');
      await c.start();
      return c;
    };
    const last: string[] = [], first: string[] = [], byTime: string[] = [];
    const cLast = await start('last', {}, last);
    await start('first', { consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET' }, first);
    await start('time', { consumeFromWhere: 'CONSUME_FROM_TIMESTAMP', consumeTimestamp: T0 + 7000 }, byTime);
    await until(() => first.length === 10 && byTime.length === 4, 'first and timestamp groups');
    expect(byTime).to.deep.equal(['6', '7', '8', '9']);
    expect(last).to.deep.equal([]);
    await p.send({ topic: 'Log', body: '10' });
    await until(() => last.length === 1 && first.length === 11, 'the new message');
    expect(last).to.deep.equal(['10']);
    await cLast.shutdown();
    await p.send({ topic: 'Log', body: '11' });
    await o.close();
    o = await openBroker(tmp.dir, clock);
    const again: string[] = [];
    await start('last', { instanceName: 'one' }, again);
    await until(() => again.length === 1, 'resumed group');
    expect(again).to.deep.equal(['11']);
    // Consumers of a group share its queues out; one client id is one consumer of a group.
    expect(isKeelError(await rejects(start('last', { instanceName: 'one' }, [])), 'GROUP_IN_USE')).to.equal(true);
  });

  it('a pull consumer reads with a tag filter, stores offsets when told, and long-polls until a message arrives', async () => {
    const clock = new VirtualClock(T0);
    o = await openBroker(tmp.dir, clock);
    await o.broker.createTopic('Pull', 1);
    const p = new Producer(o.broker);
    for (let i = 0; i < 6; i++) await p.send({ topic: 'Pull', body: String(i), tags: i % 2 ? 'odd' : 'even' });
    const c = new PullConsumer(o.broker, { group: 'puller' });
    expect(await c.queues('Pull')).to.deep.equal([0]);
    const r = await c.pull('Pull', 0, 0, { expression: 'odd' });
    expect(r.messages.map((m) => m.body.toString())).to.deep.equal(['1', '3', '5']);
    expect(r.nextBeginOffset).to.equal(6);
    expect(await c.fetchConsumeOffset('Pull', 0)).to.equal(undefined);
    c.updateConsumeOffset('Pull', 0, r.nextBeginOffset);
    await c.persistConsumerOffset();
    const saved = JSON.parse(fs.readFileSync(path.join(tmp.dir, 'config', 'consumerOffset.json'), 'utf8'));
    expect(saved.offsetTable['Pull@puller']).to.deep.equal({ 0: 6 });

    const waiting = c.pullBlockIfNotFound('Pull', 0, 6, { timeoutMs: 10_000 });
    let settled = false;
    void waiting.then(() => { settled = true; });
    await new Promise((res) => setTimeout(res, 20));
    expect(settled).to.equal(false);
    await p.send({ topic: 'Pull', body: 'late' });
    const late = await waiting;
    expect(late.messages.map((m) => m.body.toString())).to.deep.equal(['late']);
    const timedOut = c.pullBlockIfNotFound('Pull', 0, 7, { timeoutMs: 1000 });
    await clock.advance(1000);
    expect((await timedOut).status).to.equal('NO_NEW_MSG');
  });

  it('finds messages by key (within a time window) and by id', async () => {
    const clock = new VirtualClock(T0);
    o = await openBroker(tmp.dir, clock);
    const p = new Producer(o.broker);
    const ids: string[] = [];
    for (let i = 0; i < 200; i++) {
      await clock.advance(10);
      ids.push((await p.send({ topic: 'Keys', body: String(i), keys: [`k${i % 50}`, 'all'] })).offsetMsgId);
    }
    const byKey = await o.broker.queryMessageByKey('Keys', 'k7');
    expect(byKey.map((m) => Number(m.body.toString())).sort((a, b) => a - b)).to.deep.equal([7, 57, 107, 157]);
    const windowed = await o.broker.queryMessageByKey('Keys', 'k7', { begin: T0 + 580, end: T0 + 1080 });
    expect(windowed.map((m) => m.body.toString()).sort()).to.deep.equal(['107', '57']);
    expect(await o.broker.queryMessageByKey('Keys', 'all', { max: 5 })).to.have.length(5);
    expect(await o.broker.queryMessageByKey('Keys', 'missing')).to.have.length(0);
    const m = (await o.broker.lookupMessageById(ids[123]!)) as MessageExt;
    expect(m.body.toString()).to.equal('123');
  });
});
