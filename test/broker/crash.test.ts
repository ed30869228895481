import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { RemotingClient } from '../../lib/remoting/remoting-client';
import { RemotingCommand } from '../../lib/remoting/remoting-command';
import { RequestCode } from '../../lib/remoting/request-code';
import { ResponseCode } from '../../lib/remoting/response-code';
import { tmpDir } from '../support/tmp';
import { decodeRecords, pullWithSub, sendV2, silentLogger } from './support';

const CHILD = path.join(__dirname, 'broker-child.js');
const QUEUES = 4;
const SENDERS = 16;

interface Child { proc: ChildProcess; addr: Promise<string>; exited: Promise<void>; stderr: string[] }

function startChild(dir: string): Child {
  const proc = spawn(process.execPath, [CHILD, dir, 'SYNC'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr: string[] = [];
  proc.stderr!.on('data', (b: Buffer) => stderr.push(b.toString()));
  const addr = new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /ready (\S+)\n/.exec(out);
      if (m) resolve(m[1]!);
    });
    proc.once('exit', () => reject(new Error(`broker child exited before it was ready: ${stderr.join('')}`)));
  });
  addr.catch(() => {});
  return { proc, addr, stderr, exited: new Promise((r) => proc.once('exit', () => r())) };
}

describe('broker - crash', function () {
  this.timeout(60_000);
  let tmp: ReturnType<typeof tmpDir>;
  const children: Child[] = [];
  const clients: RemotingClient[] = [];
  beforeEach(() => { tmp = tmpDir('keelmq-broker-crash-'); });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    for (const c of children.splice(0)) {
      if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
      await c.exited;
    }
    tmp.cleanup();
  });

  it('broker - SIGKILLed mid-send in SYNC flush and restarted on its directory: every send answered SUCCESS is pullable where the reply said', async () => {
    const first = startChild(tmp.dir);
    children.push(first);
    const addr1 = await first.addr;
    const client = new RemotingClient({ logger: silentLogger });
    clients.push(client);
    const acked = new Map<string, { queueId: number; queueOffset: number }>();
    let stop = false;
    let n = 0;
    // Senders that record what the broker acknowledged; any failure after the kill stops them.
    const send = async () => {
      while (!stop) {
        const i = n++;
        const body = `m${i}`;
        let res: RemotingCommand;
        try {
          res = await client.invokeSync(addr1, RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, sendV2('Crash', i % QUEUES), Buffer.from(body)), 5000);
        } catch {
          return;
        }
        if (res.code === ResponseCode.SUCCESS) acked.set(body, { queueId: Number(res.field('queueId')), queueOffset: Number(res.field('queueOffset')) });
      }
    };
    const senders = Array.from({ length: SENDERS }, () => send());
    while (acked.size < 500) await new Promise((r) => setTimeout(r, 5));
    first.proc.kill('SIGKILL');
    await first.exited;
    stop = true;
    await Promise.all(senders);
    expect(first.proc.signalCode).to.equal('SIGKILL');
    expect(n).to.be.greaterThan(acked.size);

    const second = startChild(tmp.dir);
    children.push(second);
    const addr2 = await second.addr;
    const found = new Map<string, { queueId: number; queueOffset: number }>();
    for (let q = 0; q < QUEUES; q++) {
      for (let off = 0; ;) {
        const r = await client.invokeSync(addr2, RemotingCommand.request(RequestCode.PULL_MESSAGE, pullWithSub('G', 'Crash', q, off)), 5000);
        if (r.code !== ResponseCode.SUCCESS) break;
        for (const m of decodeRecords(r.body)) found.set(m.body.toString(), { queueId: m.queueId, queueOffset: m.queueOffset });
        off = Number(r.field('nextBeginOffset'));
      }
    }
    const missing = [...acked.keys()].filter((b) => found.get(b) === undefined);
    expect(missing, 'acknowledged but not pullable').to.deep.equal([]);
    for (const [b, at] of acked) expect(found.get(b), b).to.deep.equal(at);
    second.proc.kill('SIGTERM');
    await second.exited;
    expect(second.proc.exitCode).to.equal(0);
  });
});
