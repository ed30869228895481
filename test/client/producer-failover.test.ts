/**
 * Two `keelmq broker` processes (SYNC flush) behind one name server, four producers sending sync;
 * one broker is SIGKILLed mid-run. Sends keep succeeding (retried on the other broker), and once
 * the killed broker restarts on its directory every send answered SEND_OK is there to consume.
 */
import { expect } from 'chai';
import * as path from 'node:path';
import { MQAdmin } from '../../lib/client/mq-admin';
import { Producer, type SendResult } from '../../lib/client/producer';
import { RemotingTransport } from '../../lib/client/remoting-transport';
import { NameServer } from '../../lib/namesrv/name-server';
import { silentLogger } from '../broker/support';
import { tmpDir } from '../support/tmp';
import { sleep } from './client-envs';
import { killBroker, readAll, startBrokerProcess, type BrokerProcess } from './producer-support';

const PRODUCERS = 4;

describe('producer - a broker killed under load', function () {
  this.timeout(90_000);
  let ns: NameServer;
  let t: { dir: string; cleanup(): void };
  const brokers: BrokerProcess[] = [];
  const closers: (() => Promise<unknown>)[] = [];
  before(async () => {
    t = tmpDir('keelmq-failover-');
    ns = new NameServer({ port: 0, logger: silentLogger });
    await ns.start();
  });
  after(async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    for (const b of brokers) await killBroker(b);
    await ns.close();
    t.cleanup();
  });

  it('producer - 4 producers, broker-b SIGKILLed mid-run: every send succeeds (on broker-a), and after broker-b restarts every SEND_OK message is consumed', async () => {
    const dirA = path.join(t.dir, 'a'), dirB = path.join(t.dir, 'b');
    brokers.push(await startBrokerProcess(dirA, 'broker-a', ns.address()));
    let b = await startBrokerProcess(dirB, 'broker-b', ns.address());
    brokers.push(b);
    const admin = new MQAdmin({ namesrvAddr: [ns.address()] });
    closers.push(() => admin.close());
    for (let i = 0; i < 200 && Object.keys((await admin.clusterInfo()).brokerAddrTable).length < 2; i++) await sleep(20);
    await admin.createTopic('Failover', 4);
    const route = async () => admin.route('Failover');
    for (let i = 0; i < 200 && (await route())?.brokerDatas.length !== 2; i++) await sleep(20);

    const acked: SendResult[] = [];
    const failures: string[] = [];
    let killedAt = Infinity;
    let stop = false;
    const loops = Array.from({ length: PRODUCERS }, async (_, p) => {
      const transport = new RemotingTransport({ namesrvAddr: [ns.address()] });
      closers.push(() => transport.close());
      const producer = new Producer(transport, { group: 'FailoverProducers' });
      for (let n = 0; !stop; n++) {
        try {
          const r = await producer.send({ topic: 'Failover', body: `p${p}-${n}`, keys: `p${p}-${n}` });
          acked.push(r);
        } catch (e) {
          failures.push(`p${p}-${n}: ${(e as Error).message}`);
        }
      }
      await producer.shutdown();
    });
    // Counted, not timed: on a loaded machine a SYNC-flush send may take tens of ms.
    const acks = async (n: number) => { for (let i = 0; i < 1500 && acked.length < n; i++) await sleep(20); };
    await acks(40);
    const beforeKill = acked.length;
    await killBroker(b);
    killedAt = acked.length;
    await acks(killedAt + 40);
    stop = true;
    await Promise.all(loops);

    expect(failures, failures.slice(0, 3).join('\n')).to.deep.equal([]);
    expect(beforeKill, 'sends before the kill').to.be.at.least(40);
    const afterKill = acked.slice(killedAt);
    expect(afterKill.length, 'sends after the kill').to.be.at.least(40);
    expect(acked.slice(0, beforeKill).some((r) => r.messageQueue.brokerName === 'broker-b'), 'broker-b took sends before the kill').to.equal(true);
    // Past the sends in flight when it died, nothing more is answered by broker-b.
    expect(afterKill.slice(PRODUCERS).every((r) => r.messageQueue.brokerName === 'broker-a')).to.equal(true);
    expect(acked.every((r) => r.status === 'SEND_OK')).to.equal(true);

    b = await startBrokerProcess(dirB, 'broker-b', ns.address());
    brokers.push(b);
    for (let i = 0; i < 200 && (await route())?.brokerDatas.find((d) => d.brokerName === 'broker-b')?.brokerAddrs['0'] !== b.addr; i++) await sleep(20);
    const reader = new RemotingTransport({ namesrvAddr: [ns.address()] });
    closers.push(() => reader.close());
    const consumed = new Set((await readAll(reader, 'Failover', acked.length)).map((m) => m.properties['UNIQ_KEY']));
    const missing = acked.filter((r) => !consumed.has(r.msgId));
    expect(missing.map((r) => `${r.messageQueue.brokerName}:${r.messageQueue.queueId}@${r.queueOffset}`)).to.deep.equal([]);
  });
});
