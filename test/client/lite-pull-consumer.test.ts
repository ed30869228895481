/**
 * LitePullConsumer on every transport: subscribe (alone in its group: every queue), assign, poll,
 * seek / seekToBegin / seekToEnd, pause / resume, commitSync, auto-commit, and a restart that
 * resumes at the committed offsets.
 */
import { expect } from 'chai';
import { LitePullConsumer } from '../../lib/client/lite-pull-consumer';
import { transportOf } from '../../lib/client/in-process-transport';
import type { MessageQueue } from '../../lib/client/transport';
import { isKeelError } from '../../lib/common/errors';
import type { MessageExt } from '../../lib/common/message';
import { CLIENT_ENVS_WITH_DEV, sleep, useClientEnv, type ClientEnv } from './client-envs';

/** Polls until `n` messages came (or fails after `ms`). */
async function pollN(c: LitePullConsumer, n: number, ms = 10_000): Promise<MessageExt[]> {
  const got: MessageExt[] = [];
  const end = Date.now() + ms;
  while (got.length < n) {
    if (Date.now() > end) throw new Error(`polled ${got.length} of ${n} messages`);
    got.push(...await c.poll(200));
  }
  return got;
}

async function send(env: Pick<ClientEnv, 'target'>, topic: string, bodies: string[], tags?: (i: number) => string): Promise<void> {
  const t = transportOf(env.target());
  const queues = (await t.route(topic)).writeQueues;
  for (let i = 0; i < bodies.length; i++) {
    await t.send(queues[i % queues.length]!, { topic, body: bodies[i]!, tags: tags?.(i) });
  }
}

const bodies = (ms: MessageExt[]) => ms.map((m) => m.body.toString()).sort();
const range = (from: number, to: number, p = 'm') => Array.from({ length: to - from }, (_, i) => `${p}-${from + i}`);

for (const envDef of CLIENT_ENVS_WITH_DEV) {
  describe(`lite pull consumer over ${envDef.name}`, function () {
    this.timeout(30_000);
    const consumers: LitePullConsumer[] = [];
    // Before the env's own hooks: consumers go before their clients and broker.
    afterEach(async () => {
      for (const c of consumers.splice(0)) await c.shutdown().catch(() => undefined);
    });
    const env = useClientEnv(envDef);
    const consumer = (o: ConstructorParameters<typeof LitePullConsumer>[1]) => {
      const c = new LitePullConsumer(env.target(), o);
      consumers.push(c);
      return c;
    };

    it(`lite pull (${envDef.name}) - subscribe alone takes every queue; tags filter; commitSync stores the offsets; a restarted consumer resumes after them`, async () => {
      await env.createTopic('Lite', 4);
      await send(env, 'Lite', range(0, 40), (i) => (i % 2 === 0 ? 'A' : 'B'));
      const c = consumer({ group: 'LG', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', autoCommit: false }).subscribe('Lite', 'A');
      await c.start();
      expect(c.assignment().map((q) => q.queueId)).to.deep.equal([0, 1, 2, 3]);
      const got = await pollN(c, 20);
      expect(bodies(got)).to.deep.equal(range(0, 40).filter((_, i) => i % 2 === 0).sort());
      expect(got.every((m) => m.tags === 'A')).to.equal(true);
      expect(got.length).to.equal(20);
      // Queues 1 and 3 hold only B: their pulls find nothing to match and move on to 10, each in
      // its own time; poll (nothing more comes) and commit until every queue got there.
      const other = transportOf(env.target());
      const committed = async () => Promise.all(c.assignment().map((mq) => other.queryOffset('LG', mq)));
      for (let i = 0; i < 100; i++) {
        expect(await c.poll(20)).to.deep.equal([]);
        await c.commitSync();
        if ((await committed()).every((o) => o === 10)) break;
      }
      // Read back through another client: what reached the broker.
      expect(await committed()).to.deep.equal([10, 10, 10, 10]);
      await c.shutdown();

      await send(env, 'Lite', range(40, 48), () => 'A');
      const again = consumer({ group: 'LG', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', autoCommit: false }).subscribe('Lite', 'A');
      await again.start();
      const resumed = await pollN(again, 8);
      await sleep(300);
      resumed.push(...await again.poll(0));
      expect(bodies(resumed)).to.deep.equal(range(40, 48).sort());
    });

    it(`lite pull (${envDef.name}) - assign, seek, seekToBegin / seekToEnd, pause / resume; a seek out of range is refused`, async () => {
      await env.createTopic('Seek', 2);
      const t = transportOf(env.target());
      const [q0, q1] = (await t.route('Seek')).writeQueues as [MessageQueue, MessageQueue];
      for (let i = 0; i < 10; i++) await t.send(q0, { topic: 'Seek', body: `a-${i}` });
      for (let i = 0; i < 5; i++) await t.send(q1, { topic: 'Seek', body: `b-${i}` });
      const c = consumer({ group: 'SG', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', pullBatchSize: 4 });
      const mqs = await c.fetchMessageQueues('Seek');
      c.assign(mqs.filter((q) => q.queueId === 0));
      await c.start();
      expect(c.assignment().map((q) => q.queueId)).to.deep.equal([0]);
      const first = await pollN(c, 10);
      expect(first.map((m) => m.body.toString())).to.deep.equal(range(0, 10, 'a'));
      expect(first.every((m) => m.queueId === 0)).to.equal(true);

      await c.seek(q0, 7);
      expect((await pollN(c, 3)).map((m) => m.queueOffset)).to.deep.equal([7, 8, 9]);
      await c.seekToBegin(q0);
      expect((await pollN(c, 10)).map((m) => m.queueOffset)).to.deep.equal(Array.from({ length: 10 }, (_, i) => i));
      await c.seekToEnd(q0);
      expect(await c.poll(300)).to.deep.equal([]);
      let refused: unknown;
      await c.seek(q0, 11).catch((e: unknown) => { refused = e; });
      expect(isKeelError(refused, 'OFFSET_INVALID')).to.equal(true);
      await c.seek(q1, 0).catch((e: unknown) => { refused = e; });
      expect(isKeelError(refused, 'QUEUE_INVALID')).to.equal(true);

      c.pause([q0]);
      expect(c.isPaused(q0)).to.equal(true);
      await t.send(q0, { topic: 'Seek', body: 'a-10' });
      expect(await c.poll(1500)).to.deep.equal([]);
      c.resume([q0]);
      expect((await pollN(c, 1)).map((m) => m.body.toString())).to.deep.equal(['a-10']);

      // Reassigned: the other queue only, from the group's offset (none: the first).
      c.assign([q1]);
      expect((await pollN(c, 5)).map((m) => m.body.toString())).to.deep.equal(range(0, 5, 'b'));
    });

    it(`lite pull (${envDef.name}) - two subscribers of one group share the queues (2/2 of 4) after a rebalance; every message is polled once`, async function () {
      await env.createTopic('Share', 4);
      const o = { group: 'ShareG', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET' as const, rebalanceIntervalMs: 300 };
      const c1 = consumer(o).subscribe('Share');
      await c1.start();
      expect(c1.assignment()).to.have.length(4);
      const c2 = consumer(o).subscribe('Share');
      try {
        await c2.start();
      } catch (e) {
        // An EmbeddedBroker that admits one consumer per group (before rebalance in-process).
        if (isKeelError(e, 'GROUP_IN_USE')) this.skip();
        throw e;
      }
      const end = Date.now() + 10_000;
      while (c1.assignment().length !== 2 || c2.assignment().length !== 2) {
        if (Date.now() > end) throw new Error(`assignments ${c1.assignment().length}/${c2.assignment().length}`);
        await sleep(50);
      }
      const ids = (c: LitePullConsumer) => c.assignment().map((q) => q.queueId);
      expect([...ids(c1), ...ids(c2)].sort()).to.deep.equal([0, 1, 2, 3]);
      await send(env, 'Share', range(0, 40));
      const got: MessageExt[] = [];
      const deadline = Date.now() + 10_000;
      while (got.length < 40 && Date.now() < deadline) got.push(...await c1.poll(100), ...await c2.poll(100));
      expect(bodies(got)).to.deep.equal(range(0, 40).sort());
    });

    it(`lite pull (${envDef.name}) - auto-commit stores what poll() returned at the next poll after the interval, and at shutdown`, async () => {
      await env.createTopic('Auto', 1);
      await send(env, 'Auto', range(0, 6));
      const c = consumer({ group: 'AG', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', autoCommitIntervalMs: 1000, pullBatchSize: 3 });
      c.subscribe('Auto');
      await c.start();
      const [mq] = c.assignment() as [MessageQueue];
      const other = transportOf(env.target());
      expect((await pollN(c, 3)).length).to.equal(3);
      await sleep(1100);
      // This poll is past the interval: it commits the 3 returned before it.
      expect((await pollN(c, 3)).length).to.equal(3);
      const end = Date.now() + 5000;
      while (await other.queryOffset('AG', mq) !== 3) {
        if (Date.now() > end) throw new Error(`offset is ${await other.queryOffset('AG', mq)}, not 3`);
        await sleep(20);
      }
      await c.shutdown();
      expect(await transportOf(env.target()).queryOffset('AG', mq)).to.equal(6);
    });
  });
}
