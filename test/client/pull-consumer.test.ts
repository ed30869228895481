/**
 * PullConsumer on every transport: its queues with their brokers, the queue offsets (min, max,
 * by time) a start point is chosen from, a tag-filtered pull from there.
 */
import { expect } from 'chai';
import { transportOf } from '../../lib/client/in-process-transport';
import { PullConsumer } from '../../lib/client/pull-consumer';
import { CLIENT_ENVS_WITH_DEV, sleep, useClientEnv } from './client-envs';

for (const envDef of CLIENT_ENVS_WITH_DEV) {
  describe(`pull consumer over ${envDef.name}`, function () {
    this.timeout(30_000);
    const env = useClientEnv(envDef);

    it(`pull consumer (${envDef.name}) - fetchSubscribeMessageQueues, min / max / search offset, and a tag-filtered pull from the offset found by time`, async () => {
      await env.createTopic('PullQ', 2);
      const pc = new PullConsumer(env.target(), { group: 'PQ' });
      const mqs = await pc.fetchSubscribeMessageQueues('PullQ');
      expect(mqs.map((q) => [q.topic, q.queueId])).to.deep.equal([['PullQ', 0], ['PullQ', 1]]);
      expect(new Set(mqs.map((q) => q.brokerName)).size).to.equal(1);
      const t = transportOf(env.target());
      for (let i = 0; i < 3; i++) await t.send(mqs[1]!, { topic: 'PullQ', body: `old-${i}`, tags: 'X' });
      await sleep(20);
      const middle = Date.now();
      await sleep(20);
      for (let i = 0; i < 4; i++) await t.send(mqs[1]!, { topic: 'PullQ', body: `new-${i}`, tags: i % 2 ? 'Y' : 'X' });
      expect(await pc.minOffset('PullQ', 1)).to.equal(0);
      expect(await pc.maxOffset('PullQ', 1)).to.equal(7);
      const from = await pc.searchOffset('PullQ', 1, middle);
      expect(from).to.equal(3);
      const r = await pc.pull('PullQ', 1, from, { expression: 'X' });
      expect(r.messages.map((m) => m.body.toString())).to.deep.equal(['new-0', 'new-2']);
    });
  });
}
