/**
 * Test seams for producer tests: a RemotingClient that records the requests a transport makes and
 * delays those to chosen addresses (a slow broker, as the client sees it), passed to a
 * RemotingTransport through its `remoting` option; `keelmq broker` child processes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { RemotingClient } from '../../lib/remoting/remoting-client';
import type { RemotingCommand } from '../../lib/remoting/remoting-command';
import { transportOf } from '../../lib/client/in-process-transport';
import type { ClientTransport } from '../../lib/client/transport';
import type { MessageExt } from '../../lib/common/message';
import { parseSubscription } from '../../lib/common/tag-filter';
import type { EmbeddedBroker } from '../../lib/consumer/embedded-broker';
import { sleep } from './client-envs';

export interface SeenRequest { addr: string; code: number; fields: Record<string, string>; body: Buffer | undefined; oneway: boolean }

export class TappedRemotingClient extends RemotingClient {
  readonly requests: SeenRequest[] = [];
  /** addr → ms added before each request to it is sent. */
  readonly delays = new Map<string, number>();

  override async invokeSync(addr: string, request: RemotingCommand, timeoutMs: number): Promise<RemotingCommand> {
    this.requests.push({ addr, code: request.code, fields: { ...request.extFields }, body: request.body, oneway: false });
    const delay = this.delays.get(addr) ?? 0;
    if (delay > 0) await sleep(delay);
    return super.invokeSync(addr, request, timeoutMs);
  }

  override async invokeOneway(addr: string, request: RemotingCommand, timeoutMs: number): Promise<void> {
    this.requests.push({ addr, code: request.code, fields: { ...request.extFields }, body: request.body, oneway: true });
    return super.invokeOneway(addr, request, timeoutMs);
  }
}

/** A `keelmq broker` child process once it printed `ready broker=ADDR`. */
export interface BrokerProcess { child: ChildProcess; addr: string; exited: Promise<void> }

const MAIN = path.resolve(__dirname, '../../lib/cli/main.js');

/** Starts `keelmq broker` (SYNC flush, an OS port) on `dir`, registering with `namesrv`. */
export async function startBrokerProcess(dir: string, brokerName: string, namesrv: string): Promise<BrokerProcess> {
  const child = spawn(process.execPath, [MAIN, 'broker', '--dir', dir, '--port', '0', '--flush-mode', 'SYNC', '--broker-name', brokerName, '-n', namesrv], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  let out = '';
  const addr = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`broker ${brokerName} not ready within 15 s: ${out}`)); }, 15_000);
    const check = (c: Buffer) => {
      out += c.toString();
      const m = /^ready broker=(\S+)$/m.exec(out);
      if (m) { clearTimeout(timer); resolve(m[1]!); }
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    void exited.then(() => { clearTimeout(timer); reject(new Error(`broker ${brokerName} exited: ${out}`)); });
  });
  return { child, addr, exited };
}

/** SIGKILL, and resolves once it is gone. */
export async function killBroker(b: BrokerProcess): Promise<void> {
  if (b.child.exitCode === null && b.child.signalCode === null) b.child.kill('SIGKILL');
  await b.exited;
}

/** Every message of `topic` from offset 0, every queue of every broker, once there are at least `n`. */
export async function readAll(target: EmbeddedBroker | ClientTransport, topic: string, n: number): Promise<MessageExt[]> {
  const transport = transportOf(target);
  const subscription = parseSubscription('*');
  let all: MessageExt[] = [];
  const end = Date.now() + 10_000;
  do {
    all = [];
    for (const mq of (await transport.route(topic)).readQueues) {
      for (let offset = 0; ;) {
        const r = await transport.pull({ group: 'reader', mq, offset, maxMessages: 32, subscription, suspendMs: 0 });
        if (r.messages.length === 0) break;
        all.push(...r.messages);
        offset = r.nextBeginOffset;
      }
    }
    if (all.length >= n) return all;
    await sleep(20);
  } while (Date.now() < end);
  throw new Error(`only ${all.length} of ${n} messages in ${topic}`);
}
