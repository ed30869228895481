import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isKeelError } from '../../lib/common/errors';
import { transportOf } from '../../lib/client/in-process-transport';
import { Producer } from '../../lib/client/producer';
import { ConsumeOrderlyStatus, ConsumeStatus, PushConsumer } from '../../lib/client/push-consumer';
import { tmpDir } from '../support/tmp';
import { CLIENT_ENVS, sleep, until, type ClientEnv } from './client-envs';

for (const envDef of CLIENT_ENVS) {
  describe(`push consumer broadcasting over ${envDef.name}`, function () {
    this.timeout(60_000);
    let env: ClientEnv;
    let dir: ReturnType<typeof tmpDir>;
    beforeEach(async () => { env = await envDef.start(); dir = tmpDir('keelmq-offsets-'); });
    afterEach(async () => { await env.stop(); dir.cleanup(); });

    it(`broadcasting (${envDef.name}) - two consumers of a group each get every message; a failed one is not retried; offsets are kept locally and survive a restart; a damaged offset file stops the start`, async () => {
      await env.createTopic('Bc', 3);
      const producer = new Producer(env.target());
      const got = new Map<string, string[]>([['one', []], ['two', []]]);
      const mk = (instanceName: string) => new PushConsumer(env.target(), {
        group: 'BG', messageModel: 'BROADCASTING', instanceName, offsetStoreDir: dir.dir,
        listener: (msgs) => {
          got.get(instanceName)!.push(...msgs.map((m) => m.body.toString()));
          return msgs[0]!.body.toString() === 'm7' ? ConsumeStatus.RECONSUME_LATER : ConsumeStatus.CONSUME_SUCCESS;
        },
      }).subscribe('Bc');
      const one = mk('one');
      const two = mk('two');
      await one.start();
      await two.start();
      expect(one.assignedQueues()).to.have.length(3);
      expect(two.assignedQueues()).to.have.length(3);
      const first = Array.from({ length: 30 }, (_, i) => `m${i}`);
      for (const body of first) await producer.send({ topic: 'Bc', body });
      await until(() => got.get('one')!.length >= 30 && got.get('two')!.length >= 30, 'every message at both');
      await sleep(200);
      for (const c of ['one', 'two']) expect([...got.get(c)!].sort(), c).to.deep.equal([...first].sort());
      await one.shutdown();
      await two.shutdown();

      // The offsets are in the local files, not in the broker.
      const file = path.join(dir.dir, one.clientId, 'BG', 'offsets.json');
      const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as { offsetTable: { mq: { queueId: number }; offset: number }[] };
      expect(saved.offsetTable.reduce((n, e) => n + e.offset, 0)).to.equal(30);
      const t = transportOf(env.target());
      // (A networked broker answers 0 for a group it has no offset of, while message 0 is in memory.)
      for (const mq of (await t.route('Bc')).readQueues) expect((await t.queryOffset('BG', mq)) ?? 0).to.equal(0);

      // Sent while both are down; "last offset" would skip these without the kept offsets.
      for (let i = 30; i < 40; i++) await producer.send({ topic: 'Bc', body: `m${i}` });
      got.set('one', []);
      const again = mk('one');
      await again.start();
      await until(() => got.get('one')!.length >= 10, 'the messages sent while down');
      await sleep(200);
      await again.shutdown();
      expect([...got.get('one')!].sort()).to.deep.equal(Array.from({ length: 10 }, (_, i) => `m${30 + i}`).sort());

      // A damaged offset file stops the start: starting over from "last" would skip what it had not read.
      fs.writeFileSync(file, '{"offsetTable":[');
      const damaged = mk('one');
      const e = await damaged.start().then(() => undefined, (err: unknown) => err);
      expect(isKeelError(e, 'OFFSET_FILE_INVALID'), String(e)).to.equal(true);
    });

    it(`broadcasting (${envDef.name}) - two orderly consumers of a group each get every message of a queue in order (no broker lock keeps one off)`, async () => {
      await env.createTopic('BcO', 2);
      const producer = new Producer(env.target());
      const got = new Map<string, string[]>([['one', []], ['two', []]]);
      const mk = (instanceName: string) => new PushConsumer(env.target(), {
        group: 'BGO', messageModel: 'BROADCASTING', instanceName, offsetStoreDir: dir.dir,
        orderlyListener: (msgs) => { got.get(instanceName)!.push(...msgs.map((m) => m.body.toString())); return ConsumeOrderlyStatus.SUCCESS; },
      }).subscribe('BcO');
      const one = mk('one');
      const two = mk('two');
      await one.start();
      await two.start();
      for (let i = 0; i < 20; i++) await producer.send({ topic: 'BcO', body: `m${i}`, shardingKey: 'k' });
      await until(() => got.get('one')!.length >= 20 && got.get('two')!.length >= 20, 'every message at both');
      await one.shutdown();
      await two.shutdown();
      const inOrder = Array.from({ length: 20 }, (_, i) => `m${i}`);
      expect(got.get('one')).to.deep.equal(inOrder);
      expect(got.get('two')).to.deep.equal(inOrder);
    });
  });
}
