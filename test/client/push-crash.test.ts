import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { messageQueueKey } from '../../lib/client/message-queue';
import { MQAdmin } from '../../lib/client/mq-admin';
import { Producer } from '../../lib/client/producer';
import { ConsumeStatus, PushConsumer } from '../../lib/client/push-consumer';
import { RemotingTransport } from '../../lib/client/remoting-transport';
import { NameServer } from '../../lib/namesrv/name-server';
import { BrokerEnv, silentLogger, startBroker } from '../broker/support';
import { sleep, until } from './client-envs';

const CHILD = path.join(__dirname, 'push-crash-child.js');
const PERIOD_MS = 2000;

describe('push consumer rebalance after a crash', function () {
  this.timeout(60_000);
  let ns: NameServer;
  let env: BrokerEnv;
  const closers: (() => Promise<void>)[] = [];
  let child: ChildProcess | undefined;
  before(async () => {
    ns = new NameServer({ port: 0, logger: silentLogger });
    await ns.start();
    env = await startBroker({ namesrvAddr: [ns.address()] });
  });
  after(async () => {
    child?.kill('SIGKILL');
    for (const c of closers.reverse()) await c().catch(() => {});
    await env.stop();
    await ns.close();
  });

  it('crash - a consumer SIGKILLed mid-run: its connection closes, the broker tells the group, the other consumer takes every queue within one rebalance period, and every message sent is consumed at least once', async () => {
    const admin = new MQAdmin({ namesrvAddr: [ns.address()] });
    closers.push(() => admin.close());
    await admin.createTopic('Crash', 8);
    for (let i = 0; i < 100 && (await admin.route('Crash'))?.queueDatas[0]?.readQueueNums !== 8; i++) await sleep(20);

    const consumed = new Set<string>();
    const lines: string[] = [];
    child = spawn(process.execPath, [CHILD, ns.address(), 'CG', 'Crash', String(PERIOD_MS)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop()!;
      for (const l of parts) {
        lines.push(l);
        if (l.startsWith('got ')) consumed.add(l.slice(4));
      }
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    await until(() => lines.some((l) => l.startsWith('started ')), `the child consumer (${stderr})`, 20_000);

    const transport = new RemotingTransport({ namesrvAddr: [ns.address()], offsetPersistIntervalMs: 200 });
    closers.push(() => transport.close());
    const ours = new PushConsumer(transport, {
      group: 'CG', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', rebalanceIntervalMs: PERIOD_MS,
      listener: (msgs) => { for (const m of msgs) consumed.add(m.body.toString()); return ConsumeStatus.CONSUME_SUCCESS; },
    }).subscribe('Crash');
    closers.push(() => ours.shutdown());
    await ours.start();
    const mine = () => ours.assignedQueues().filter((q) => q.topic === 'Crash').map(messageQueueKey);
    await until(() => mine().length === 4, 'a 4/4 split with the child');

    const producer = new Producer(transport);
    const sent: string[] = [];
    let producing = true;
    const sending = (async () => {
      for (let i = 0; producing; i++) {
        await producer.send({ topic: 'Crash', body: `m${i}` });
        sent.push(`m${i}`);
        await sleep(2);
      }
    })();
    await until(() => lines.filter((l) => l.startsWith('got ')).length >= 20, 'the child consuming');
    const t0 = Date.now();
    child.kill('SIGKILL');
    await until(() => mine().length === 8, 'every queue taken over', PERIOD_MS);
    const takeoverMs = Date.now() - t0;
    await sleep(300);
    producing = false;
    await sending;
    await until(() => sent.every((b) => consumed.has(b)), `every sent message consumed (${sent.length} sent)`, 20_000);
    expect(takeoverMs).to.be.below(PERIOD_MS);
    console.log(`      ${sent.length} messages; queues of the killed consumer taken over ${takeoverMs} ms after SIGKILL`);
  });
});
