/**
 * The Producer on both transports: every kind of send read back, msgId = UNIQ_KEY, compression,
 * delay levels, the batch rules; over the network also the route cache, producer heartbeats, the
 * wire fields of a send and an unreachable name server.
 */
import { expect } from 'chai';
import * as net from 'node:net';
import * as path from 'node:path';
import { Broker } from '../../lib/broker/broker';
import { ConsumeStatus, PushConsumer } from '../../lib/client/push-consumer';
import { Producer, type SendResult } from '../../lib/client/producer';
import { RemotingTransport } from '../../lib/client/remoting-transport';
import { isKeelError } from '../../lib/common/errors';
import type { MessageExt } from '../../lib/common/message';
import { NameServer } from '../../lib/namesrv/name-server';
import { RequestCode } from '../../lib/remoting/request-code';
import { FAST_LEVELS, silentLogger } from '../broker/support';
import { rejectKeelCode } from '../support/reject-code';
import { tmpDir } from '../support/tmp';
import { CLIENT_ENVS_WITH_DEV, sleep, until, useClientEnv } from './client-envs';
import { readAll, TappedRemotingClient } from './producer-support';

function byUniqKey(msgs: MessageExt[], r: SendResult): MessageExt {
  const found = msgs.filter((m) => m.properties['UNIQ_KEY'] === r.msgId);
  expect(found, `the message with UNIQ_KEY ${r.msgId}`).to.have.length(1);
  return found[0]!;
}

for (const envDef of CLIENT_ENVS_WITH_DEV) {
  describe(`producer over ${envDef.name}`, function () {
    this.timeout(30_000);
    const env = useClientEnv(envDef);

    it(`producer (${envDef.name}) - promise, callback, oneway, batch, selector and sharding-key sends read back once each; msgId is the consumed UNIQ_KEY, offsetMsgId the stored id`, async () => {
      await env.createTopic('P', 4);
      const producer = new Producer(env.target(), { group: 'PG' });
      const results: [string, SendResult][] = [];
      results.push(['sync', await producer.send({ topic: 'P', body: 'sync', tags: 'T', keys: ['k1', 'k2'], properties: { a: '1' } })]);
      results.push(['callback', await new Promise<SendResult>((resolve, reject) => producer.send({ topic: 'P', body: 'callback' }, { onSuccess: resolve, onException: reject }))]);
      await producer.sendOneway({ topic: 'P', body: 'oneway', tags: 'O' });
      const batch = await producer.sendBatch([0, 1, 2].map((i) => ({ topic: 'P', body: `batch-${i}`, tags: 'B', keys: `b${i}` })));
      batch.forEach((r, i) => results.push([`batch-${i}`, r]));
      const selected = await producer.send({ topic: 'P', body: 'selected' }, (mqs, _msg, arg: number) => mqs[arg]!, 2);
      expect(selected.messageQueue.queueId).to.equal(2);
      results.push(['selected', selected]);
      for (const i of [0, 1]) results.push([`sharded-${i}`, await producer.send({ topic: 'P', body: `sharded-${i}`, shardingKey: 'customer-7' })]);

      for (const [, r] of results) {
        expect(r.status).to.equal('SEND_OK');
        expect(r.msgId).to.match(/^[0-9A-F]{32}$/);
        expect(r.messageQueue.topic).to.equal('P');
      }
      expect(new Set(results.map(([, r]) => r.msgId)).size).to.equal(results.length);
      // A batch is one queue, consecutive offsets.
      expect(new Set(batch.map((r) => r.messageQueue.queueId)).size).to.equal(1);
      expect(batch.map((r) => r.queueOffset - batch[0]!.queueOffset)).to.deep.equal([0, 1, 2]);
      expect(results.filter(([b]) => b.startsWith('sharded')).map(([, r]) => r.messageQueue.queueId)).to.satisfy((qs: number[]) => qs[0] === qs[1]);

      const all = await readAll(env.target(), 'P', results.length + 1);
      expect(all).to.have.length(results.length + 1);
      for (const [body, r] of results) {
        const m = byUniqKey(all, r);
        expect(m.body.toString()).to.equal(body);
        expect(m.msgId).to.equal(r.offsetMsgId);
        expect([m.queueId, m.queueOffset]).to.deep.equal([r.messageQueue.queueId, r.queueOffset]);
      }
      const sync = byUniqKey(all, results[0]![1]);
      expect([sync.tags, sync.keys, sync.properties['a']]).to.deep.equal(['T', ['k1', 'k2'], '1']);
      const oneway = all.find((m) => m.body.toString() === 'oneway')!;
      expect(oneway.tags).to.equal('O');
      expect(oneway.properties['UNIQ_KEY']).to.match(/^[0-9A-F]{32}$/);
      await producer.shutdown();
    });

    it(`producer (${envDef.name}) - bodies of 4 KiB and more are stored compressed and come back whole, to a pull, a push consumer and its retry`, async () => {
      await env.createTopic('Big', 2);
      const producer = new Producer(env.target());
      const big = 'compressible text '.repeat(4000);
      const bodies = { big, edge: 'x'.repeat(4096), small: 'y'.repeat(4095), binary: Buffer.from(Array.from({ length: 6000 }, (_, i) => (i * 7919) % 251)) };
      const sent = new Map<string, SendResult>();
      for (const [name, body] of Object.entries(bodies)) sent.set(name, await producer.send({ topic: 'Big', body, tags: name }));
      const all = await readAll(env.target(), 'Big', 4);
      for (const [name, body] of Object.entries(bodies)) {
        const m = byUniqKey(all, sent.get(name)!);
        expect(m.body.equals(Buffer.from(body)), name).to.equal(true);
      }
      // The stored record is the compressed body: far smaller than the text it carries.
      expect(byUniqKey(all, sent.get('big')!).storeSize).to.be.below(big.length / 10);
      expect(byUniqKey(all, sent.get('edge')!).storeSize).to.be.below(4096);
      expect(byUniqKey(all, sent.get('small')!).storeSize).to.be.above(4095);

      const seen: { body: Buffer; reconsumeTimes: number }[] = [];
      const consumer = new PushConsumer(env.target(), {
        group: 'BigReader', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
        listener: (msgs) => {
          seen.push(...msgs.map((m) => ({ body: m.body, reconsumeTimes: m.reconsumeTimes })));
          return msgs.some((m) => m.reconsumeTimes === 0 && m.tags === 'big') ? ConsumeStatus.RECONSUME_LATER : ConsumeStatus.CONSUME_SUCCESS;
        },
      }).subscribe('Big', 'big');
      await consumer.start();
      await until(() => seen.some((s) => s.reconsumeTimes === 1), 'the retried big message');
      await consumer.shutdown();
      expect(seen.every((s) => s.body.toString() === big)).to.equal(true);
    });

    it(`producer (${envDef.name}) - delay levels, and the batch rules: one topic, no delay; a shut-down producer refuses sends`, async () => {
      await env.createTopic('Later', 1);
      const producer = new Producer(env.target());
      const sentAt = Date.now();
      const r = await producer.send({ topic: 'Later', body: 'later', tags: 'D', delayLevel: 2 });
      expect(r.status).to.equal('SEND_OK');
      const big = 'delayed and compressed '.repeat(500);
      const rBig = await producer.send({ topic: 'Later', body: big, delayLevel: 1 });
      const later = await readAll(env.target(), 'Later', 2);
      const m = later.find((x) => x.properties['UNIQ_KEY'] === r.msgId);
      expect([m!.body.toString(), m!.tags]).to.deep.equal(['later', 'D']);
      // Level 2 is 20 ms here (FAST_LEVELS): the delivered copy is stored when it is due.
      expect(m!.storeTimestamp - sentAt).to.be.at.least(19);
      expect(later.find((x) => x.properties['UNIQ_KEY'] === rBig.msgId)!.body.toString()).to.equal(big);

      await rejectKeelCode(producer.sendBatch([{ topic: 'Later', body: 'a' }, { topic: 'Other', body: 'b' }]), 'PROPERTY_INVALID');
      await rejectKeelCode(producer.sendBatch([{ topic: 'Later', body: 'a', delayLevel: 1 }]), 'DELAY_LEVEL_INVALID');
      await rejectKeelCode(producer.sendBatch([{ topic: '%RETRY%g', body: 'a' }]), 'TOPIC_RESERVED');
      await rejectKeelCode(producer.send({ topic: 'Later', body: 'a', properties: { UNIQ_KEY: 'mine' } }), 'PROPERTY_INVALID');
      await producer.shutdown();
      await rejectKeelCode(producer.send({ topic: 'Later', body: 'after' }), 'CLIENT_STATE');
    });

    it(`producer (${envDef.name}) - a property with a blank name or value is refused, as Java's putUserProperty does (a RocketMQ 4.9.7 broker drops an empty value)`, async () => {
      await env.createTopic('Props', 1);
      const producer = new Producer(env.target());
      const refused: Record<string, string>[] = [{ empty: '' }, { blank: '  ' }, { '': 'v' }, { ok: 'v', empty: '' }];
      for (const properties of refused) {
        await rejectKeelCode(producer.send({ topic: 'Props', body: 'a', properties }), 'PROPERTY_INVALID');
        await rejectKeelCode(producer.sendOneway({ topic: 'Props', body: 'a', properties }), 'PROPERTY_INVALID');
        await rejectKeelCode(producer.sendBatch([{ topic: 'Props', body: 'a' }, { topic: 'Props', body: 'b', properties }]), 'PROPERTY_INVALID');
      }
      const r = await producer.send({ topic: 'Props', body: 'kept', properties: { city: 'Zürich – 東京', 'with space': ' a b ' } });
      const [m] = await readAll(env.target(), 'Props', 1);
      expect([m!.properties['UNIQ_KEY'], m!.properties['city'], m!.properties['with space']]).to.deep.equal([r.msgId, 'Zürich – 東京', ' a b ']);
      await producer.shutdown();
    });
  });
}

describe('producer over remoting - wire, route cache, heartbeats, unreachable name server', function () {
  this.timeout(30_000);
  let ns: NameServer;
  let broker: Broker;
  let t: { dir: string; cleanup(): void };
  const closers: (() => Promise<unknown>)[] = [];
  beforeEach(async () => {
    t = tmpDir('keelmq-producer-');
    ns = new NameServer({ port: 0, logger: silentLogger });
    await ns.start();
    broker = await Broker.start({ storeDir: path.join(t.dir, 'store'), port: 0, logger: silentLogger, namesrvAddr: [ns.address()], services: { delayLevels: FAST_LEVELS } });
  });
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
    await broker.close();
    await ns.close();
    t.cleanup();
  });

  it('producer (remoting) - SEND_MESSAGE_V2 carries the group, UNIQ_KEY and sysFlag 0x301 for a compressed body; one route request per pollNameServerInterval; the group is in heartbeats and unregistered at shutdown', async () => {
    const remoting = new TappedRemotingClient();
    const transport = new RemotingTransport({ namesrvAddr: [ns.address()], remoting });
    closers.push(() => remoting.close(), () => transport.close());
    const producer = new Producer(transport, { group: 'WireGroup', pollNameServerInterval: 300 });
    const small = await producer.send({ topic: 'Wire', body: 'small' });
    const big = await producer.send({ topic: 'Wire', body: 'z'.repeat(5000) });
    for (let i = 0; i < 8; i++) await producer.send({ topic: 'Wire', body: `m${i}` });
    const sends = remoting.requests.filter((r) => r.code === RequestCode.SEND_MESSAGE_V2);
    expect(sends).to.have.length(10);
    expect(sends.every((s) => s.fields['a'] === 'WireGroup')).to.equal(true);
    expect(sends[0]!.fields['f']).to.equal('0');
    expect(sends[1]!.fields['f']).to.equal(String(0x301));
    expect(sends[0]!.fields['i']).to.include(`UNIQ_KEY\u0001${small.msgId}`);
    expect(sends[1]!.fields['i']).to.include(`UNIQ_KEY\u0001${big.msgId}`);
    const routeRequests = () => remoting.requests.filter((r) => r.code === RequestCode.GET_ROUTEINFO_BY_TOPIC && r.fields['topic'] === 'Wire').length;
    expect(routeRequests()).to.equal(1);
    await sleep(350);
    await producer.send({ topic: 'Wire', body: 'after the interval' });
    await until(() => routeRequests() === 2, 'the route fetched again', 2000);

    await until(() => remoting.requests.some((r) => r.code === RequestCode.HEART_BEAT), 'a producer heartbeat', 2000);
    const hb = remoting.requests.find((r) => r.code === RequestCode.HEART_BEAT)!;
    expect(hb.addr).to.equal(broker.address());
    expect(JSON.parse(hb.body!.toString()).producerDataSet).to.deep.equal([{ groupName: 'WireGroup' }]);
    await producer.shutdown();
    const unregister = remoting.requests.find((r) => r.code === RequestCode.UNREGISTER_CLIENT);
    expect(unregister?.fields).to.include({ producerGroup: 'WireGroup', clientID: producer.clientId });
    await rejectKeelCode(producer.send({ topic: 'Wire', body: 'late' }), 'CLIENT_STATE');
  });

  it('producer (remoting) - an unreachable name server is a clear error within the timeout, never a hang', async () => {
    // Refused: nothing listens on the port.
    const refused = new RemotingTransport({ namesrvAddr: ['127.0.0.1:1'] });
    closers.push(() => refused.close());
    let start = Date.now();
    let e = await new Producer(refused).send({ topic: 'T', body: 'x' }).then(() => undefined, (err: unknown) => err);
    expect(isKeelError(e, 'REMOTING_CONNECT_FAILED'), String(e)).to.equal(true);
    expect((e as Error).message).to.match(/^send to T: cannot get the topic's route: /);
    expect(Date.now() - start).to.be.below(3000);

    // A black hole: it accepts the connection and never answers.
    const sockets: net.Socket[] = [];
    const hole = net.createServer((s) => { sockets.push(s); });
    await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => { for (const s of sockets) s.destroy(); hole.close(r); }));
    const silent = new RemotingTransport({ namesrvAddr: [`127.0.0.1:${(hole.address() as net.AddressInfo).port}`], timeoutMs: 500 });
    closers.push(() => silent.close());
    start = Date.now();
    e = await new Producer(silent).send({ topic: 'T', body: 'x' }).then(() => undefined, (err: unknown) => err);
    expect(isKeelError(e, 'REMOTING_TIMEOUT'), String(e)).to.equal(true);
    expect((e as Error).message).to.include("cannot get the topic's route");
    expect(Date.now() - start).to.be.within(400, 2000);
  });
});
