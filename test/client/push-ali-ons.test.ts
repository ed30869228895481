import { expect } from 'chai';
import { messageQueueKey } from '../../lib/client/message-queue';
import { MQAdmin } from '../../lib/client/mq-admin';
import { ConsumeStatus, PushConsumer } from '../../lib/client/push-consumer';
import { RemotingTransport } from '../../lib/client/remoting-transport';
import { NameServer } from '../../lib/namesrv/name-server';
import { BrokerEnv, silentLogger, startBroker } from '../broker/support';
import { sleep, until } from './client-envs';

/* eslint-disable @typescript-eslint/no-require-imports, @typescript-eslint/no-explicit-any */
const ons = require('ali-ons') as { Producer: any; Consumer: any; Message: any };
const quietLogger = { info() {}, warn() {}, error() {}, debug() {} };

describe('push consumer with ali-ons', function () {
  this.timeout(60_000);
  let ns: NameServer;
  let env: BrokerEnv;
  let admin: MQAdmin;
  const closers: (() => Promise<void>)[] = [];
  before(async () => {
    ns = new NameServer({ port: 0, logger: silentLogger });
    await ns.start();
    env = await startBroker({ namesrvAddr: [ns.address()] });
    admin = new MQAdmin({ namesrvAddr: [ns.address()] });
  });
  after(async () => {
    for (const c of closers.reverse()) await c().catch(() => {});
    await admin.close();
    await env.stop();
    await ns.close();
  });

  async function createTopic(topic: string, queues: number): Promise<void> {
    await admin.createTopic(topic, queues);
    for (let i = 0; i < 100 && (await admin.route(topic))?.queueDatas[0]?.readQueueNums !== queues; i++) await sleep(20);
  }

  const common = () => ({ nameSrv: [ns.address()], httpclient: {}, logger: quietLogger, persistConsumerOffsetInterval: 200, rebalanceInterval: 300 });

  it('ali-ons - messages an ali-ons producer sends are consumed by a keelmq PushConsumer; an ali-ons and a keelmq consumer of one group split the queues without overlap', async () => {
    await createTopic('Mixed', 8);
    const producer = new ons.Producer({ ...common(), producerGroup: 'ons-p' });
    closers.push(() => producer.close());
    await producer.ready();
    const transport = new RemotingTransport({ namesrvAddr: [ns.address()], offsetPersistIntervalMs: 200 });
    closers.push(() => transport.close());

    const byUs: string[] = [];
    const byOns: string[] = [];
    const ours = new PushConsumer(transport, {
      group: 'mixed', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', rebalanceIntervalMs: 300,
      listener: (msgs) => { byUs.push(...msgs.map((m) => `${m.tags}:${m.body.toString()}`)); return ConsumeStatus.CONSUME_SUCCESS; },
    }).subscribe('Mixed', 'A');
    closers.push(() => ours.shutdown());
    await ours.start();
    for (let i = 0; i < 20; i++) {
      const r = await producer.send(new ons.Message('Mixed', i % 2 ? 'B' : 'A', Buffer.from(`a${i}`)));
      expect(r.sendStatus).to.equal('SEND_OK');
    }
    await until(() => byUs.length >= 10, 'the ali-ons messages');
    await sleep(200);
    expect(byUs.sort()).to.deep.equal(Array.from({ length: 10 }, (_, i) => `A:a${i * 2}`).sort());

    const onsConsumer = new ons.Consumer({ ...common(), consumerGroup: 'mixed', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET' });
    closers.push(() => onsConsumer.close());
    onsConsumer.subscribe('Mixed', 'A', async (msg: any) => { byOns.push(`${msg.tags}:${msg.body.toString()}`); });
    await onsConsumer.ready();
    const onsQueues = (): string[] => [...onsConsumer.processQueueTable.values()]
      .filter((v: any) => v.messageQueue.topic === 'Mixed' && !v.processQueue.droped).map((v: any) => messageQueueKey(v.messageQueue));
    const ourQueues = (): string[] => ours.assignedQueues().filter((q) => q.topic === 'Mixed').map(messageQueueKey);
    const disjointCover = (): boolean => {
      const all = [...onsQueues(), ...ourQueues()];
      return onsQueues().length === 4 && ourQueues().length === 4 && new Set(all).size === 8;
    };
    await until(disjointCover, 'a 4/4 split', 10_000);
    // ali-ons rebalances on its timer only: give it two more periods to prove the split is stable.
    await sleep(700);
    expect(disjointCover()).to.equal(true);
    console.log(`      client ids: keelmq ${ours.clientId}, ali-ons ${onsConsumer._mqClient?.clientId ?? '(unknown)'}`);

    byUs.length = 0;
    byOns.length = 0;
    for (let i = 0; i < 40; i++) await producer.send(new ons.Message('Mixed', 'A', Buffer.from(`b${i}`)));
    await until(() => byUs.length + byOns.length >= 40, 'the second round');
    await sleep(300);
    // Each message once, by the consumer whose queue it was in; both got some.
    expect([...byUs, ...byOns].sort()).to.deep.equal(Array.from({ length: 40 }, (_, i) => `A:b${i}`).sort());
    expect(byUs.length).to.be.greaterThan(0);
    expect(byOns.length).to.be.greaterThan(0);
  });
});
