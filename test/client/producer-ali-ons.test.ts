/**
 * Interop with ali-ons 3.12 over a keelmq broker: what keelmq's Producer sends (a compressed body
 * among them) an ali-ons push consumer reads as sent, with the UNIQ_KEY the send resolved with;
 * what an ali-ons producer sends, keelmq's PushConsumer reads.
 */
import { expect } from 'chai';
import { Producer } from '../../lib/client/producer';
import { ConsumeStatus, PushConsumer } from '../../lib/client/push-consumer';
import { RemotingTransport } from '../../lib/client/remoting-transport';
import { NameServer } from '../../lib/namesrv/name-server';
import { silentLogger, startBroker, type BrokerEnv } from '../broker/support';
import { sleep, until } from './client-envs';

/* eslint-disable @typescript-eslint/no-require-imports, @typescript-eslint/no-explicit-any */
const ons = require('ali-ons') as { Producer: any; Consumer: any; Message: any };
const quietLogger = { info() {}, warn() {}, error() {}, debug() {} };

describe('producer - ali-ons interop', function () {
  this.timeout(60_000);
  let ns: NameServer;
  let env: BrokerEnv;
  let transport: RemotingTransport;
  const closers: (() => Promise<unknown>)[] = [];
  // One broker for both: ali-ons clients keep working for a moment after close() (offset writes,
  // reconnects), and a broker stopped under them fails the run from a socket nobody listens on.
  before(async () => {
    ns = new NameServer({ port: 0, logger: silentLogger });
    await ns.start();
    env = await startBroker({ namesrvAddr: [ns.address()] });
    transport = new RemotingTransport({ namesrvAddr: [ns.address()] });
  });
  after(async () => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
    await sleep(1000);
    await transport.close();
    await env.stop();
    await ns.close();
  });

  it('producer - keelmq Producer → ali-ons consumer: tags, keys, properties, a 20 KiB compressed body and the UNIQ_KEY arrive as sent', async () => {
    const producer = new Producer(transport, { group: 'KeelToOns' });
    const big = 'ali-ons inflates this '.repeat(1000);
    const sent = new Map<string, string>();
    for (let i = 0; i < 10; i++) {
      const body = i === 5 ? big : `m${i}`;
      const r = await producer.send({ topic: 'KeelToOns', body, tags: 'TagA', keys: [`k${i}`], properties: { n: String(i) } });
      sent.set(r.msgId, body);
    }
    await producer.shutdown();

    const seen = new Map<string, { body: string; tags: string; keys: string; n: string }>();
    const consumer = new ons.Consumer({
      nameSrv: [ns.address()], httpclient: {}, logger: quietLogger, persistConsumerOffsetInterval: 200, rebalanceInterval: 500,
      consumerGroup: 'ons-reader', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
    });
    const errors: string[] = [];
    consumer.on('error', (e: Error) => errors.push(e.message));
    closers.push(() => consumer.close());
    consumer.subscribe('KeelToOns', 'TagA', async (msg: any) => {
      seen.set(msg.properties.UNIQ_KEY, { body: msg.body.toString(), tags: msg.tags, keys: msg.properties.KEYS, n: msg.properties.n });
    });
    await consumer.ready();
    await until(() => seen.size === sent.size, 'every message at the ali-ons consumer', 30_000);
    expect(errors).to.deep.equal([]);
    for (const [id, body] of sent) {
      const m = seen.get(id)!;
      expect(m.body, id).to.equal(body);
      expect([m.tags, m.keys, m.n]).to.deep.equal(['TagA', `k${body === big ? 5 : body.slice(1)}`, body === big ? '5' : body.slice(1)]);
    }
  });

  it('producer - ali-ons producer → keelmq PushConsumer: every tagged message consumed once', async () => {
    const producer = new ons.Producer({ nameSrv: [ns.address()], httpclient: {}, logger: quietLogger, producerGroup: 'ons-writer' });
    producer.on('error', () => undefined);
    closers.push(() => producer.close());
    await producer.ready();
    const expected: string[] = [];
    for (let i = 0; i < 20; i++) {
      const tag = i % 2 === 0 ? 'TagA' : 'TagB';
      const r = await producer.send(new ons.Message('OnsToKeel', tag, Buffer.from(`m${i}`)));
      expect(r.sendStatus).to.equal('SEND_OK');
      if (tag === 'TagA') expected.push(`m${i}`);
    }
    const seen: string[] = [];
    const consumer = new PushConsumer(transport, {
      group: 'keel-reader', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
      listener: (msgs) => { seen.push(...msgs.map((m) => m.body.toString())); return ConsumeStatus.CONSUME_SUCCESS; },
    }).subscribe('OnsToKeel', 'TagA');
    await consumer.start();
    closers.push(() => consumer.shutdown());
    await until(() => seen.length >= expected.length, 'the TagA messages', 30_000);
    await sleep(200);
    expect(seen.sort()).to.deep.equal(expected.sort());
  });
});
