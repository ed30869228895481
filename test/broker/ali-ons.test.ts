import { expect } from 'chai';
import { NameServer } from '../../lib/namesrv/name-server';
import { sleep } from '../remoting/support';
import { BrokerEnv, startBroker, silentLogger } from './support';

/* eslint-disable @typescript-eslint/no-require-imports, @typescript-eslint/no-explicit-any */
const ons = require('ali-ons') as { Producer: any; Consumer: any; Message: any };

const quietLogger = { info() {}, warn() {}, error() {}, debug() {} };
const TOTAL = 1000;

async function until(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('broker - ali-ons client', function () {
  this.timeout(120_000);
  let ns: NameServer;
  let env: BrokerEnv;
  const closers: (() => Promise<void>)[] = [];
  before(async () => {
    ns = new NameServer({ port: 0, logger: silentLogger });
    await ns.start();
    env = await startBroker({ namesrvAddr: [ns.address()] });
  });
  after(async () => {
    for (const c of closers.reverse()) await c().catch(() => {});
    await env.stop();
    await ns.close();
  });

  it('broker - ali-ons produces 1,000 tagged messages; a TagA push consumer gets exactly those, one RECONSUME_LATER comes back through the retry topic, and a restart resumes from the committed offset', async () => {
    const common = { nameSrv: [ns.address()], httpclient: {}, logger: quietLogger, persistConsumerOffsetInterval: 200, rebalanceInterval: 500 };
    const producer = new ons.Producer({ ...common, producerGroup: 'ons-producer' });
    closers.push(() => producer.close());
    await producer.ready();
    const expected = new Set<string>();
    for (let i = 0; i < TOTAL; i++) {
      const tag = i % 2 === 0 ? 'TagA' : 'TagB';
      const r = await producer.send(new ons.Message('OnsTopic', tag, Buffer.from(`m${i}`)));
      expect(r.sendStatus).to.equal('SEND_OK');
      if (tag === 'TagA') expected.add(`m${i}`);
    }

    const seen: string[] = [];
    const errors: string[] = [];
    const retried: { body: string; reconsumeTimes: number; topic: string }[] = [];
    const startConsumer = async () => {
      const consumer = new ons.Consumer({ ...common, consumerGroup: 'ons-group', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET' });
      consumer.on('error', (e: Error) => errors.push(e.message));
      consumer.subscribe('OnsTopic', 'TagA', async (msg: any) => {
        const body = msg.body.toString();
        if (body === 'm10' && msg.reconsumeTimes === 0) return ons.Consumer.ACTION_RETRY;
        if (body === 'm10') retried.push({ body, reconsumeTimes: msg.reconsumeTimes, topic: msg.topic });
        expect(msg.tags).to.equal('TagA');
        seen.push(body);
      });
      await consumer.ready();
      return consumer;
    };
    let consumer = await startConsumer();
    await until(() => new Set(seen).size === expected.size, 'every TagA message');
    expect(new Set(seen)).to.deep.equal(expected);
    expect(seen).to.have.length(expected.size);
    expect(retried).to.deep.equal([{ body: 'm10', reconsumeTimes: 1, topic: 'OnsTopic' }]);
    // The retry went through the broker's retry topic.
    expect(env.broker.store.getMaxOffsetInQueue('%RETRY%ons-group', 0)).to.equal(1);
    await sleep(500);
    await consumer.close();

    // Restart: only what was sent since is consumed.
    seen.length = 0;
    for (let i = TOTAL; i < TOTAL + 20; i++) await producer.send(new ons.Message('OnsTopic', 'TagA', Buffer.from(`m${i}`)));
    consumer = await startConsumer();
    closers.push(() => consumer.close());
    await until(() => seen.length >= 20, 'the new messages');
    await sleep(1000);
    expect(seen.sort()).to.deep.equal(Array.from({ length: 20 }, (_, i) => `m${TOTAL + i}`).sort());
    expect(errors).to.deep.equal([]);
  });
});
