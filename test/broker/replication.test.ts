import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { Broker } from '../../lib/broker/broker';
import { BrokerClient } from '../../lib/client/broker-client';
import { NameServerClient } from '../../lib/client/namesrv-client';
import { NameServer } from '../../lib/namesrv/name-server';
import { RemotingClient } from '../../lib/remoting/remoting-client';
import { RemotingCommand } from '../../lib/remoting/remoting-command';
import { RequestCode } from '../../lib/remoting/request-code';
import { ResponseCode } from '../../lib/remoting/response-code';
import { silentLogger } from '../../lib/remoting/logger';
import { tmpDir } from '../support/tmp';
import { until } from '../remoting/support';

const STORE = { commitLogSegmentSize: 256 * 1024, consumeQueueEntries: 1024, maxBodySize: 64 * 1024 };

describe('broker - master/slave replication', function () {
  this.timeout(30_000);
  let t: { dir: string; cleanup(): void };
  let ns: NameServer;
  const brokers: Broker[] = [];
  const remoting = new RemotingClient();
  const client = new BrokerClient(remoting);
  const nsClient = new NameServerClient();
  const start = async (name: string, extra: Record<string, unknown>) => {
    const b = await Broker.start({
      storeDir: path.join(t.dir, name), port: 0, namesrvAddr: [ns.address()], logger: silentLogger, store: STORE,
      ha: { reconnectMinMs: 20, reconnectMaxMs: 200, syncTimeoutMs: 1000 }, ...extra,
    });
    brokers.push(b);
    return b;
  };
  beforeEach(async () => {
    t = tmpDir();
    ns = new NameServer({ port: 0, logger: silentLogger });
    await ns.start();
  });
  afterEach(async () => {
    for (const b of brokers.splice(0).reverse()) await b.close();
    await ns.close();
    t.cleanup();
  });
  after(async () => { await remoting.close(); await nsClient.close(); });

  const send = (addr: string, i: number) => client.send(addr, 'PG', i % 4, { topic: 'Orders', body: Buffer.from(`order ${i}`), tags: 'A' });

  it('replication - a slave registers as brokerId 1 under the master\'s name, serves pulls of what SYNC_MASTER acknowledged, refuses sends; runtime info shows the link', async () => {
    const m = await start('m', { brokerRole: 'SYNC_MASTER', flushMode: 'SYNC' });
    const s = await start('s', { brokerRole: 'SLAVE', haMasterAddress: m.replication.haAddress() });
    await until(() => (m.replication.info().master?.slaves.length ?? 0) === 1 && m.replication.info().master!.slaves[0]!.ackOffset >= 0);
    await client.createTopic(m.address(), 'Orders', 4);
    for (let i = 0; i < 40; i++) expect((await send(m.address(), i)).status).to.equal('SEND_OK');
    const route = await nsClient.getRouteInfoByTopic(ns.address(), 'Orders');
    expect(route!.brokerDatas[0]!.brokerAddrs).to.deep.equal({ 0: m.address(), 1: s.address() });
    const got = await client.pull(s.address(), { group: 'G', topic: 'Orders', queueId: 1, offset: 0, maxMessages: 32, subscription: '*', suspendMs: 0 });
    expect(got.messages.map((x) => x.body.toString())).to.deep.equal(Array.from({ length: 10 }, (_, k) => `order ${k * 4 + 1}`));
    const raw = await remoting.invokeSync(s.address(), RemotingCommand.request(RequestCode.PULL_MESSAGE, {
      consumerGroup: 'G', topic: 'Orders', queueId: 1, queueOffset: 0, maxMsgNums: 1, sysFlag: 4, commitOffset: 0, suspendTimeoutMillis: 0, subscription: '*', subVersion: 0, expressionType: 'TAG',
    }), 3000);
    expect(raw.field('suggestWhichBrokerId')).to.equal('0');
    const refused = await remoting.invokeSync(s.address(), RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, {
      a: 'PG', b: 'Orders', c: 'TBW102', d: 4, e: 0, f: 0, g: Date.now(), h: 0, i: '', j: 0, k: false,
    }, Buffer.from('x')), 3000);
    expect(refused.code).to.equal(ResponseCode.SERVICE_NOT_AVAILABLE);
    const info = await remoting.invokeSync(m.address(), RemotingCommand.request(RequestCode.GET_BROKER_RUNTIME_INFO, {}), 3000);
    const table = (JSON.parse(info.body!.toString()) as { table: Record<string, string> }).table;
    expect(table.brokerRole).to.equal('SYNC_MASTER');
    expect(table.haConnectionCount).to.equal('1');
    expect(Number(table.haSlaveFallBehindBytes)).to.equal(0);
    const sinfo = await remoting.invokeSync(s.address(), RemotingCommand.request(RequestCode.GET_BROKER_RUNTIME_INFO, {}), 3000);
    const st = (JSON.parse(sinfo.body!.toString()) as { table: Record<string, string> }).table;
    expect(st.brokerRole).to.equal('SLAVE');
    expect(st.haCaughtUp).to.equal('true');
  });

  it('replication - promote: refused while the slave never caught up (unless forced); a caught-up slave becomes brokerId 0 and takes sends', async () => {
    const lonely = await start('lonely', { brokerRole: 'SLAVE', haMasterAddress: '127.0.0.1:1' });
    const no = await remoting.invokeSync(lonely.address(), RemotingCommand.request(RequestCode.PROMOTE_TO_MASTER, {}), 3000);
    expect(no.code).to.equal(ResponseCode.SYSTEM_ERROR);
    expect(no.remark).to.match(/^NOT_MASTER: this slave has not caught up/);
    const forced = await remoting.invokeSync(lonely.address(), RemotingCommand.request(RequestCode.PROMOTE_TO_MASTER, { force: true }), 3000);
    expect(forced.code).to.equal(ResponseCode.SUCCESS);

    const m = await start('m', { brokerRole: 'ASYNC_MASTER', brokerName: 'broker-b' });
    const s = await start('s', { brokerRole: 'SLAVE', brokerName: 'broker-b', haMasterAddress: m.replication.haAddress() });
    await client.createTopic(m.address(), 'Orders', 4);
    for (let i = 0; i < 20; i++) await send(m.address(), i);
    await until(() => s.replication.info().slave!.caughtUp && s.store.stats().appendOffset === m.store.stats().appendOffset);
    await brokers.splice(brokers.indexOf(m), 1)[0]!.close();
    const r = await s.promote();
    expect(r.caughtUp).to.equal(true);
    let routed = false;
    for (let k = 0; k < 100 && !routed; k++) {
      routed = (await nsClient.getRouteInfoByTopic(ns.address(), 'Orders'))?.brokerDatas.find((b) => b.brokerName === 'broker-b')?.brokerAddrs[0] === s.address();
      if (!routed) await new Promise((r) => setTimeout(r, 50));
    }
    expect(routed).to.equal(true);
    const res = await send(s.address(), 99);
    expect(res.status).to.equal('SEND_OK');
    expect(res.queueOffset).to.equal(5);
  });

  it('replication - a slave copies its master\'s topics, consumer offsets and delay progress within one sync period; promoted, it resumes the group there and delivers no delayed message again', async () => {
    const levels = { delayLevels: '300ms 5s' };
    const m = await start('m', { brokerRole: 'SYNC_MASTER', flushMode: 'SYNC', brokerName: 'broker-d', services: levels });
    const s = await start('s', {
      brokerRole: 'SLAVE', brokerName: 'broker-d', haMasterAddress: m.replication.haAddress(), services: levels,
      ha: { reconnectMinMs: 20, reconnectMaxMs: 200, slaveSyncIntervalMs: 400 },
    });
    const period = 400 + 600; // one sync period, and a margin for a loaded machine
    await client.createTopic(m.address(), 'Fresh', 6);
    await until(() => s.services.topic('Fresh')?.queues === 6, period, 'Fresh on the slave with 6 queues');
    expect(s.store.queueIds('Fresh')).to.deep.equal([]); // known from the master's table, not from a record

    await client.createTopic(m.address(), 'Orders', 4);
    for (let i = 0; i < 40; i++) expect((await send(m.address(), i)).status).to.equal('SEND_OK');
    const committed = [3, 5, 7, 10];
    for (let q = 0; q < 4; q++) await client.updateConsumerOffset(m.address(), 'G', 'Orders', q, committed[q]!);
    const slaveOffsets = () => [0, 1, 2, 3].map((q) => s.services.consumerOffset('G', 'Orders', q));
    await until(() => slaveOffsets().every((o, q) => o === committed[q]), period, 'offsets on the slave');
    // Persisted by the sync round itself (the file is written after the table is applied).
    const saved = () => {
      const f = path.join(t.dir, 's', 'config', 'consumerOffset.json');
      return fs.existsSync(f) ? (JSON.parse(fs.readFileSync(f, 'utf8')) as { offsetTable: Record<string, Record<string, number>> }).offsetTable['Orders@G'] : undefined;
    };
    await until(() => JSON.stringify(saved()) === JSON.stringify({ 0: 3, 1: 5, 2: 7, 3: 10 }), 1000, 'offsets saved on the slave');

    for (let i = 0; i < 5; i++) {
      const r = await client.send(m.address(), 'PG', 0, { topic: 'Later', body: Buffer.from(`later ${i}`), properties: { DELAY: '1' } });
      expect(r.status).to.equal('SEND_OK');
    }
    await until(() => m.services.schedule.progress()[0] === 5, 5000, 'delayed messages delivered on the master');
    expect(m.store.getMaxOffsetInQueue('Later', 0)).to.equal(5);
    await until(() => s.services.schedule.progress()[0] === 5, period, 'delay progress on the slave');
    expect(s.services.schedule.progress()).to.deep.equal(m.services.schedule.progress());

    // The bodies as RocketMQ 4.9.7 writes them (fastjson: integer map keys unquoted), which a Java slave reads.
    const raw = async (code: number) => (await remoting.invokeSync(m.address(), RemotingCommand.request(code, {}), 3000)).body!.toString();
    expect(await raw(RequestCode.GET_ALL_CONSUMER_OFFSET)).to.equal('{"offsetTable":{"Orders@G":{0:3,1:5,2:7,3:10}}}');
    expect(await raw(RequestCode.GET_ALL_DELAY_OFFSET)).to.equal('{"offsetTable":{1:5,2:0}}');
    expect(JSON.parse(await raw(RequestCode.GET_ALL_TOPIC_CONFIG)).topicConfigTable.Fresh).to.deep.equal({
      order: false, perm: 6, readQueueNums: 6, topicFilterType: 'SINGLE_TAG', topicName: 'Fresh', topicSysFlag: 0, writeQueueNums: 6,
    });

    await until(() => s.replication.info().slave!.caughtUp && s.store.stats().appendOffset === m.store.stats().appendOffset);
    await brokers.splice(brokers.indexOf(m), 1)[0]!.close();
    expect((await s.promote()).caughtUp).to.equal(true);
    // A new consumer of G asks where the group stands, and pulls from there: nothing consumed comes again.
    for (let q = 0; q < 4; q++) {
      const at = await client.queryConsumerOffset(s.address(), 'G', 'Orders', q);
      expect(at).to.equal(committed[q]);
      const got = await client.pull(s.address(), { group: 'G', topic: 'Orders', queueId: q, offset: at!, maxMessages: 32, subscription: '*', suspendMs: 0 });
      expect(got.messages.map((x) => x.body.toString())).to.deep.equal(Array.from({ length: 10 - committed[q]! }, (_, k) => `order ${(committed[q]! + k) * 4 + q}`));
    }
    // Every delayed message was due long ago: a promoted slave that had not copied the progress delivers all 5 again.
    await new Promise((r) => setTimeout(r, 800));
    expect(s.store.getMaxOffsetInQueue('Later', 0)).to.equal(5);
  });

  it('replication - a slave whose log diverged (its directory held another master\'s records) refuses pulls until TRUNCATE_SLAVE, then follows its master', async () => {
    const m = await start('m', { brokerRole: 'ASYNC_MASTER', brokerName: 'broker-c' });
    await client.createTopic(m.address(), 'Orders', 4);
    for (let i = 0; i < 8; i++) await send(m.address(), i);
    const old = await start('s', { brokerRole: 'ASYNC_MASTER', brokerName: 'broker-old' });
    await client.createTopic(old.address(), 'Orders', 4);
    for (let i = 0; i < 12; i++) await send(old.address(), 100 + i);
    await brokers.splice(brokers.indexOf(old), 1)[0]!.close();
    const s = await start('s', { brokerRole: 'SLAVE', brokerName: 'broker-c', haMasterAddress: m.replication.haAddress() });
    await until(() => s.replication.info().slave!.diverged !== null);
    const pullRaw = () => remoting.invokeSync(s.address(), RemotingCommand.request(RequestCode.PULL_MESSAGE, {
      consumerGroup: 'G', topic: 'Orders', queueId: 1, queueOffset: 0, maxMsgNums: 32, sysFlag: 4, commitOffset: 0, suspendTimeoutMillis: 0, subscription: '*', subVersion: 0, expressionType: 'TAG',
    }), 3000);
    const refused = await pullRaw();
    expect(refused.code).to.equal(ResponseCode.SYSTEM_ERROR);
    expect(refused.remark).to.match(/diverged/);
    const promoted = await remoting.invokeSync(s.address(), RemotingCommand.request(RequestCode.PROMOTE_TO_MASTER, { force: true }), 3000);
    expect(promoted.remark).to.match(/^REPLICA_DIVERGED/);
    const cut = await remoting.invokeSync(s.address(), RemotingCommand.request(RequestCode.TRUNCATE_SLAVE, {}), 5000);
    expect(cut.code, cut.remark).to.equal(ResponseCode.SUCCESS);
    await until(() => s.replication.info().slave!.caughtUp && s.store.stats().appendOffset === m.store.stats().appendOffset);
    const got = await client.pull(s.address(), { group: 'G', topic: 'Orders', queueId: 1, offset: 0, maxMessages: 32, subscription: '*', suspendMs: 0 });
    expect(got.messages.map((x) => x.body.toString())).to.deep.equal(['order 1', 'order 5']);
  });
});
