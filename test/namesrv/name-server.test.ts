import { expect } from 'chai';
import { VirtualClock } from '../../lib/common/clock';
import { BrokerRegistration, NameServerClient } from '../../lib/client/namesrv-client';
import { NameServer, NameServerOptions } from '../../lib/namesrv/name-server';
import { bodyCrc32, encodeRegisterBrokerBody, TopicConfig } from '../../lib/remoting/register-broker-body';
import { RemotingClient } from '../../lib/remoting/remoting-client';
import { RemotingCommand } from '../../lib/remoting/remoting-command';
import { RequestCode } from '../../lib/remoting/request-code';
import { ResponseCode } from '../../lib/remoting/response-code';
import { encodeTopicRouteData } from '../../lib/remoting/topic-route-data';
import { ROUTE_BODY } from '../remoting/golden-frames';
import { MemoryLogger, until } from '../remoting/support';

function topic(name: string, queues = 4, perm = 6): TopicConfig {
  return { topicName: name, readQueueNums: queues, writeQueueNums: queues, perm, topicFilterType: 'SINGLE_TAG', topicSysFlag: 0, order: false };
}

/** What a broker with autoCreateTopicEnable registers: its topics and TBW102 (perm 7, 8 queues). */
function broker(name: string, port: number, topics: TopicConfig[], counter = 1, compressed = false): BrokerRegistration {
  return {
    clusterName: 'DefaultCluster', brokerName: name, brokerId: 0, brokerAddr: `127.0.0.1:${port}`, haServerAddr: `127.0.0.1:${port + 1}`,
    body: { dataVersion: { counter, timestamp: 1700000000000 }, topicConfigTable: [...topics, topic('TBW102', 8, 7)], filterServerList: [] },
    compressed,
  };
}

describe('namesrv - name server', () => {
  const servers: NameServer[] = [];
  const clients: NameServerClient[] = [];
  let logger: MemoryLogger;

  async function start(options: NameServerOptions = {}): Promise<NameServer> {
    const ns = new NameServer({ port: 0, logger, ...options });
    await ns.start();
    servers.push(ns);
    return ns;
  }

  /** Each client has its own connections: one client plays one broker (or one application). */
  function client(): NameServerClient {
    const c = new NameServerClient({ remoting: new RemotingClient({ logger }) });
    clients.push(c);
    return c;
  }

  beforeEach(() => { logger = new MemoryLogger(); });

  afterEach(async () => {
    for (const c of clients.splice(0)) await c.remoting.close();
    for (const s of servers.splice(0)) await s.close();
  });

  it('namesrv - a registered topic routes exactly as a 4.9.7 name server writes it (quoted keys, sorted fields)', async () => {
    const ns = await start();
    await client().registerBroker(ns.address(), broker('broker-a', 10911, [topic('TopicTest')]));
    const res = await client().remoting.invokeSync(ns.address(), RemotingCommand.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: 'TopicTest' }), 1000);
    expect(res.code).to.equal(0);
    expect(res.version).to.equal(407);
    expect(res.body!.toString('utf8')).to.equal(ROUTE_BODY);
  });

  it('namesrv - two brokers (JSON and compressed bodies) share a topic; cluster info and topic list show both', async () => {
    const ns = await start();
    const app = client();
    await client().registerBroker(ns.address(), broker('broker-a', 10911, [topic('T1'), topic('OnlyA', 2)]));
    await client().registerBroker(ns.address(), broker('broker-b', 20911, [topic('T1', 8)], 1, true));
    const route = (await app.getRouteInfoByTopic(ns.address(), 'T1'))!;
    expect(route.queueDatas.map((q) => [q.brokerName, q.writeQueueNums])).to.deep.equal([['broker-a', 4], ['broker-b', 8]]);
    expect(route.brokerDatas.map((b) => b.brokerAddrs['0'])).to.deep.equal(['127.0.0.1:10911', '127.0.0.1:20911']);
    const onlyA = (await app.getRouteInfoByTopic(ns.address(), 'OnlyA'))!;
    expect(onlyA.brokerDatas.map((b) => b.brokerName)).to.deep.equal(['broker-a']);
    const info = await app.getBrokerClusterInfo(ns.address());
    expect(info.clusterAddrTable).to.deep.equal({ DefaultCluster: ['broker-a', 'broker-b'] });
    expect(info.brokerAddrTable['broker-b']!.brokerAddrs).to.deep.equal({ 0: '127.0.0.1:20911' });
    expect((await app.getTopicList(ns.address())).sort()).to.deep.equal(['OnlyA', 'T1', 'TBW102']);
  });

  it('namesrv - a body whose bodyCrc32 does not match is refused with SYSTEM_ERROR "crc32 not match"; CRC 0 skips the check', async () => {
    const ns = await start();
    const c = client();
    const reg = broker('broker-a', 10911, [topic('T')]);
    const body = encodeRegisterBrokerBody(reg.body, false);
    const fields = { brokerName: 'broker-a', brokerAddr: reg.brokerAddr, clusterName: 'DefaultCluster', haServerAddr: reg.haServerAddr, brokerId: 0, compressed: false };
    const bad = await c.remoting.invokeSync(ns.address(), RemotingCommand.request(RequestCode.REGISTER_BROKER, { ...fields, bodyCrc32: bodyCrc32(body) ^ 1 }, body), 1000);
    expect([bad.code, bad.remark]).to.deep.equal([ResponseCode.SYSTEM_ERROR, 'crc32 not match']);
    // As Java: the (empty) RegisterBrokerResponseHeader is on every reply, `"extFields":{}`.
    expect(bad.extFields && { ...bad.extFields }).to.deep.equal({});
    expect(await c.getRouteInfoByTopic(ns.address(), 'T')).to.equal(undefined);
    const unchecked = await c.remoting.invokeSync(ns.address(), RemotingCommand.request(RequestCode.REGISTER_BROKER, { ...fields, bodyCrc32: 0 }, body), 1000);
    expect(unchecked.code).to.equal(0);
    expect(await c.getRouteInfoByTopic(ns.address(), 'T')).to.not.equal(undefined);
  });

  it('namesrv - header numbers as JSON numbers (ali-ons style) are accepted; a missing required field is SYSTEM_ERROR', async () => {
    const ns = await start();
    const c = client();
    await client().registerBroker(ns.address(), broker('broker-a', 10911, [topic('T')]));
    const raw = RemotingCommand.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: 'T' });
    raw.version = 121;
    expect((await c.remoting.invokeSync(ns.address(), raw, 1000)).code).to.equal(0);
    const missing = await c.remoting.invokeSync(ns.address(), RemotingCommand.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, {}), 1000);
    expect([missing.code, missing.remark]).to.deep.equal([ResponseCode.SYSTEM_ERROR, 'the custom field <topic> is null']);
    const unknown = await c.remoting.invokeSync(ns.address(), RemotingCommand.request(9999), 1000);
    expect(unknown.code).to.equal(ResponseCode.REQUEST_CODE_NOT_SUPPORTED);
  });

  it('namesrv - any valid topic gets a route on the auto-create brokers (4 queues, 1 for %RETRY%/%DLQ%); TBW102 itself too; invalid names get 17', async () => {
    const ns = await start();
    const c = client();
    expect(await c.getRouteInfoByTopic(ns.address(), 'NewTopic')).to.equal(undefined);
    await client().registerBroker(ns.address(), broker('broker-a', 10911, []));
    const fresh = (await c.getRouteInfoByTopic(ns.address(), 'NewTopic'))!;
    expect(fresh.queueDatas).to.deep.equal([{ brokerName: 'broker-a', readQueueNums: 4, writeQueueNums: 4, perm: 6, topicSysFlag: 0 }]);
    expect(fresh.brokerDatas.map((b) => b.brokerName)).to.deep.equal(['broker-a']);
    const retry = (await c.getRouteInfoByTopic(ns.address(), '%RETRY%G1'))!;
    expect(retry.queueDatas[0]!.writeQueueNums).to.equal(1);
    const tbw = (await c.getRouteInfoByTopic(ns.address(), 'TBW102'))!;
    expect(tbw.queueDatas[0]).to.include({ perm: 7, writeQueueNums: 8 });
    const res = await c.remoting.invokeSync(ns.address(), RemotingCommand.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: 'bad topic!' }), 1000);
    expect(res.code).to.equal(ResponseCode.TOPIC_NOT_EXIST);
    expect(res.remark).to.equal('No topic route info in name server for the topic: bad topic!\nSee http://rocketmq.apache.org/docs/faq/ for further details.');
  });

  it('namesrv - a broker without TBW102 (auto-create off) gets no made-up routes', async () => {
    const ns = await start();
    const reg = broker('broker-a', 10911, [topic('T')]);
    reg.body.topicConfigTable = [topic('T')];
    await client().registerBroker(ns.address(), reg);
    expect(await client().getRouteInfoByTopic(ns.address(), 'Other')).to.equal(undefined);
  });

  it('namesrv - KV config: put, get, delete; a miss is QUERY_NOT_FOUND; ORDER_TOPIC_CONFIG reaches routes when enabled', async () => {
    const ns = await start({ orderMessageEnable: true });
    const c = client();
    await c.putKVConfig(ns.address(), 'NS', 'k', 'v1');
    expect(await c.getKVConfig(ns.address(), 'NS', 'k')).to.equal('v1');
    const miss = await c.remoting.invokeSync(ns.address(), RemotingCommand.request(RequestCode.GET_KV_CONFIG, { namespace: 'NS', key: 'nope' }), 1000);
    expect([miss.code, miss.remark]).to.deep.equal([ResponseCode.QUERY_NOT_FOUND, 'No config item, Namespace: NS Key: nope']);
    expect(miss.extFields && { ...miss.extFields }).to.deep.equal({});
    await c.deleteKVConfig(ns.address(), 'NS', 'k');
    expect(await c.getKVConfig(ns.address(), 'NS', 'k')).to.equal(undefined);
    await c.putKVConfig(ns.address(), 'ORDER_TOPIC_CONFIG', 'T', 'broker-a:4');
    const reg = await client().registerBroker(ns.address(), broker('broker-a', 10911, [topic('T')]));
    expect(reg.kvTable).to.deep.equal({ T: 'broker-a:4' });
    expect((await c.getRouteInfoByTopic(ns.address(), 'T'))!.orderTopicConf).to.equal('broker-a:4');
  });

  it('namesrv - a broker whose connection closes loses its routes at once; the other keeps them', async () => {
    const ns = await start();
    const app = client();
    const a = client();
    const b = client();
    await a.registerBroker(ns.address(), broker('broker-a', 10911, [topic('T'), topic('OnlyA')]));
    await b.registerBroker(ns.address(), broker('broker-b', 20911, [topic('T'), topic('OnlyB')]));
    expect((await app.getRouteInfoByTopic(ns.address(), 'T'))!.brokerDatas).to.have.length(2);
    await b.remoting.close();
    await until(() => ns.routes.pickupTopicRouteData('OnlyB') === undefined, 1000, 'broker-b to vanish');
    const t = (await app.getRouteInfoByTopic(ns.address(), 'T'))!;
    expect(t.brokerDatas.map((x) => x.brokerName)).to.deep.equal(['broker-a']);
    expect(t.queueDatas.map((x) => x.brokerName)).to.deep.equal(['broker-a']);
    expect(await app.getRouteInfoByTopic(ns.address(), 'OnlyA')).to.not.equal(undefined);
    expect((await app.getBrokerClusterInfo(ns.address())).clusterAddrTable).to.deep.equal({ DefaultCluster: ['broker-a'] });
  });

  it('namesrv - a broker that stops registering expires after brokerExpireMs (virtual clock); one that keeps registering stays', async () => {
    const clock = new VirtualClock(1_000_000);
    const ns = await start({ clock, brokerExpireMs: 120_000, scanIntervalMs: 10_000 });
    const app = client();
    const a = client();
    const b = client();
    const regA = broker('broker-a', 10911, [topic('T')]);
    await a.registerBroker(ns.address(), regA);
    await b.registerBroker(ns.address(), broker('broker-b', 20911, [topic('T'), topic('OnlyB')]));
    for (let t = 0; t < 4; t++) {
      await clock.advance(30_000);
      await a.registerBroker(ns.address(), regA);
    }
    const brokersOf = async (t: string) => (await app.getRouteInfoByTopic(ns.address(), t))!.brokerDatas.map((x) => x.brokerName);
    // 120 s since broker-b's only registration: not yet past the limit.
    expect(await brokersOf('OnlyB')).to.deep.equal(['broker-b']);
    await clock.advance(10_000);
    expect(ns.routes.pickupTopicRouteData('OnlyB')).to.equal(undefined);
    // What is left for OnlyB is the made-up route on the auto-create broker that is still alive.
    expect(await brokersOf('OnlyB')).to.deep.equal(['broker-a']);
    expect(await brokersOf('T')).to.deep.equal(['broker-a']);
    expect(logger.lines.some((l) => l.includes('broker 127.0.0.1:20911 expired'))).to.equal(true);
    // Java closes the expired broker's connection too.
    await until(() => ns['server'].channels().length === 2, 1000, 'the expired broker connection to close');
  });

  it('namesrv - DELETE_TOPIC_IN_NAMESRV drops a topic for one cluster or everywhere; GET_TOPICS_BY_CLUSTER lists a cluster\'s topics', async () => {
    const ns = await start();
    const c = client();
    await client().registerBroker(ns.address(), broker('broker-a', 10911, [topic('T'), topic('U')]));
    await client().registerBroker(ns.address(), { ...broker('broker-b', 20911, [topic('T')]), clusterName: 'Other' });
    expect((await c.getTopicsByCluster(ns.address(), 'Other')).sort()).to.deep.equal(['T', 'TBW102']);
    await c.deleteTopic(ns.address(), 'T', 'DefaultCluster');
    expect(ns.routes.pickupTopicRouteData('T')!.brokerDatas.map((b) => b.brokerName)).to.deep.equal(['broker-b']);
    await c.deleteTopic(ns.address(), 'U');
    expect(ns.routes.pickupTopicRouteData('U')).to.equal(undefined);
    expect((await c.getTopicsByCluster(ns.address(), 'DefaultCluster')).sort()).to.deep.equal(['TBW102']);
  });

  it('namesrv - UNREGISTER_BROKER removes the broker and its topics', async () => {
    const ns = await start();
    const a = client();
    await a.registerBroker(ns.address(), broker('broker-a', 10911, [topic('T')]));
    await a.unregisterBroker(ns.address(), { clusterName: 'DefaultCluster', brokerName: 'broker-a', brokerId: 0, brokerAddr: '127.0.0.1:10911' });
    expect(await a.getRouteInfoByTopic(ns.address(), 'T')).to.equal(undefined);
    expect((await a.getBrokerClusterInfo(ns.address())).clusterAddrTable).to.deep.equal({});
  });

  it('namesrv - a slave registers beside its master: the route lists both ids, the slave learns the master and its HA address', async () => {
    const ns = await start();
    await client().registerBroker(ns.address(), broker('broker-a', 10911, [topic('T')]));
    const slave = { ...broker('broker-a', 10921, [topic('T')]), brokerId: 1 };
    const res = await client().registerBroker(ns.address(), slave);
    expect(res).to.deep.equal({ haServerAddr: '127.0.0.1:10912', masterAddr: '127.0.0.1:10911' });
    const route = (await client().getRouteInfoByTopic(ns.address(), 'T'))!;
    expect(route.brokerDatas[0]!.brokerAddrs).to.deep.equal({ 0: '127.0.0.1:10911', 1: '127.0.0.1:10921' });
    expect(encodeTopicRouteData(route).toString()).to.contain('"brokerAddrs":{"0":"127.0.0.1:10911","1":"127.0.0.1:10921"}');
  });

  it('namesrv - name servers side by side share nothing', async () => {
    const ns1 = await start();
    const ns2 = await start();
    const b = client();
    await b.registerBroker(ns1.address(), broker('broker-a', 10911, [topic('T')]));
    expect(await b.getRouteInfoByTopic(ns1.address(), 'T')).to.not.equal(undefined);
    expect(await b.getRouteInfoByTopic(ns2.address(), 'T')).to.equal(undefined);
    await b.registerBroker(ns2.address(), broker('broker-a', 10911, [topic('T')]));
    await ns1.close();
    expect(await b.getRouteInfoByTopic(ns2.address(), 'T')).to.not.equal(undefined);
  });
});
