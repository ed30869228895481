/**
 * Latency-based broker avoidance (sendLatencyFaultEnable) over the network: two brokers behind one
 * name server; the client's requests to one of them are delayed (TappedRemotingClient, the
 * client's view of a slow broker). While it is slow it gets far fewer sends, and after it
 * recovers its share returns. Without avoidance, the slow broker keeps its round-robin share.
 */
import { expect } from 'chai';
import { MQAdmin } from '../../lib/client/mq-admin';
import { Producer } from '../../lib/client/producer';
import { RemotingTransport } from '../../lib/client/remoting-transport';
import { NameServer } from '../../lib/namesrv/name-server';
import { silentLogger, startBroker, type BrokerEnv } from '../broker/support';
import { sleep } from './client-envs';
import { TappedRemotingClient } from './producer-support';

const SLOW_MS = 400;
/** Thresholds and periods scaled down (550 ms → 30 s by default): 400 ms reaches 300 ms, avoided for 1 s. */
const LATENCY_MAX = [50, 100, 300, 1000, 2000, 3000, 15000];
const NOT_AVAILABLE = [0, 0, 1000, 3000, 4000, 5000, 6000];

describe('producer - latency avoidance over the network', function () {
  this.timeout(60_000);
  let ns: NameServer;
  let a: BrokerEnv;
  let b: BrokerEnv;
  let admin: MQAdmin;
  let remoting: TappedRemotingClient;
  let transport: RemotingTransport;
  before(async () => {
    ns = new NameServer({ port: 0, logger: silentLogger });
    await ns.start();
    a = await startBroker({ namesrvAddr: [ns.address()], brokerName: 'broker-a' });
    b = await startBroker({ namesrvAddr: [ns.address()], brokerName: 'broker-b' });
    admin = new MQAdmin({ namesrvAddr: [ns.address()] });
    await admin.createTopic('Lat', 4);
    const both = async () => { const r = await admin.route('Lat'); return r?.queueDatas.length === 2 && r.brokerDatas.length === 2; };
    for (let i = 0; i < 200 && !await both(); i++) await sleep(20);
    expect(await both(), 'both brokers in the route').to.equal(true);
    remoting = new TappedRemotingClient();
    transport = new RemotingTransport({ namesrvAddr: [ns.address()], remoting });
  });
  after(async () => {
    await transport.close();
    await remoting.close();
    await admin.close();
    await a.stop();
    await b.stop();
    await ns.close();
  });

  /** Sequential sends for `ms` (or `count` sends): how many went to each broker. */
  async function sendFor(producer: Producer, ms: number, count = Infinity): Promise<{ a: number; b: number }> {
    const counts = { a: 0, b: 0 };
    const end = Date.now() + ms;
    for (let i = 0; i < count && Date.now() < end; i++) {
      const r = await producer.send({ topic: 'Lat', body: 'x' });
      expect(r.status).to.equal('SEND_OK');
      if (r.messageQueue.brokerName === 'broker-a') counts.a++; else counts.b++;
    }
    return counts;
  }

  it('producer - a slow broker gets far fewer sends while slow (and half without avoidance); its share returns once it is fast again', async () => {
    const producer = new Producer(transport, { sendLatencyFaultEnable: true, latencyMax: LATENCY_MAX, notAvailableDuration: NOT_AVAILABLE });
    // Counted rounds of the 8 queues (4 per broker): a loaded machine changes the time, not the share.
    const before = await sendFor(producer, 10_000, 16);
    expect(before.b, JSON.stringify(before)).to.be.within(4, 12);

    remoting.delays.set(b.addr, SLOW_MS);
    const slow = await sendFor(producer, 1500);
    // At most one send per avoidance period (plus the one that found it slow).
    expect(slow.b, JSON.stringify(slow)).to.be.at.most(3);
    expect(slow.a, JSON.stringify(slow)).to.be.at.least(10 * Math.max(1, slow.b));

    producer.sendLatencyFaultEnable = false;
    // One round of the 8 queues (4 per broker), slow or not.
    const plain = await sendFor(producer, 10_000, 8);
    expect(plain, 'round robin without avoidance').to.deep.equal({ a: 4, b: 4 });

    producer.sendLatencyFaultEnable = true;
    remoting.delays.delete(b.addr);
    await sleep(NOT_AVAILABLE[2]! + 100);
    const after = await sendFor(producer, 10_000, 16);
    expect(after.b, JSON.stringify(after)).to.be.within(4, 12);
    await producer.shutdown();
  });
});
