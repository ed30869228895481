/**
 * The broker rows: keelmq's name server + broker in a child process (bench/broker-server.ts), this
 * process as the client over loopback (bench/broker-client.ts). Each row gets a fresh broker on a
 * fresh data directory, an untimed warm-up on it, then the timed phase. See bench/README.md.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { NameServerClient } from '../lib/client/namesrv-client';
import { Producer } from '../lib/client/producer';
import { RemotingTransport } from '../lib/client/remoting-transport';
import { silentLogger } from '../lib/remoting/logger';
import { RemotingClient } from '../lib/remoting/remoting-client';
import { BenchProducer, maxOffset, QueuePuller } from './broker-client';
import type { ServerAddresses } from './broker-server';
import type { Budget } from './loops';
import type { Progress } from './progress';
import { now, secondsSince, type Measurement } from './stats';
import type { BodyPool } from './system';

export type BrokerFlush = 'async' | 'sync';

const GROUP = 'BenchGroup';
const TOPIC = 'BenchTopic';
const TAG = 'bench';
/** How long the route of a topic created by its first send may take to reach the name server. */
const ROUTE_WAIT_MS = 5000;
/** After the last send, how long the consumer may take to catch up before the row fails. */
const CATCH_UP_MS = 60_000;

/**
 * A young generation of 64 MiB semi-spaces instead of V8's 16: the 2,000 sends in flight survive
 * fewer scavenges, ~15 % less broker CPU per message. bench/java-compare.sh starts it alike.
 */
const BROKER_NODE_FLAGS = ['--max-semi-space-size=64'];

/** A running broker-server child and its addresses. */
interface BrokerServer {
  addresses: ServerAddresses;
  stop(): Promise<void>;
}

/**
 * Starts broker-server in a child. Its stdin is a pipe it watches: if this process dies, the
 * child sees end-of-file and closes too, so no broker outlives a crashed bench.
 */
async function startServer(dir: string, flush: BrokerFlush): Promise<BrokerServer> {
  const child: ChildProcess = spawn(process.execPath, [...BROKER_NODE_FLAGS, path.join(__dirname, 'broker-server.js'), '--dir', dir, '--flush', flush.toUpperCase(), '--exit-on-stdin-end'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = readline.createInterface({ input: child.stdout! });
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    void exited.then((code) => reject(new Error(`broker-server exited with ${String(code)} before listening`)));
  });
  lines.close();
  return {
    addresses: JSON.parse(first) as ServerAddresses,
    stop: async () => {
      child.kill('SIGTERM');
      const code = await exited;
      if (code !== 0) throw new Error(`broker-server exited with ${String(code)}`);
    },
  };
}

/** What the send loops drive: frames built here (BenchProducer), or keelmq's own Producer (ClientSender). */
interface Sender {
  send(body: Buffer, tag: string): Promise<unknown>;
  /** The send as an async sender issues it (Java: send(msg, callback)). */
  sendAsync(body: Buffer, tag: string): Promise<unknown>;
  sendBatch(bodies: readonly Buffer[], tag: string): Promise<unknown>;
}

/**
 * keelmq's Producer over a RemotingTransport on the session's connection: route cache, queue
 * choice, UNIQ_KEY, retry policy and result mapping on top of the same frames, so that the rows
 * beside the frame rows show what the client itself costs. Timeout 10 s, as BenchProducer's.
 */
class ClientSender implements Sender {
  readonly transport: RemotingTransport;
  private readonly producer: Producer;

  constructor(remoting: RemotingClient, namesrv: string, private readonly topic: string) {
    this.transport = new RemotingTransport({ namesrvAddr: [namesrv], remoting, timeoutMs: 10_000 });
    this.producer = new Producer(this.transport, { group: GROUP, sendMsgTimeout: 10_000 });
  }

  send(body: Buffer, tag: string): Promise<unknown> {
    return this.producer.send({ topic: this.topic, body, tags: tag });
  }

  sendAsync(body: Buffer, tag: string): Promise<unknown> {
    return new Promise((onSuccess, onException) => this.producer.send({ topic: this.topic, body, tags: tag }, { onSuccess, onException }));
  }

  sendBatch(bodies: readonly Buffer[], tag: string): Promise<unknown> {
    return this.producer.sendBatch(bodies.map((body) => ({ topic: this.topic, body, tags: tag })));
  }

  async close(): Promise<void> {
    await this.producer.shutdown();
    await this.transport.close();
  }
}

/** One connection (as one Java MQClientInstance) and a producer whose topic exists and whose queues the route gave. */
interface Session {
  remoting: RemotingClient;
  producer: Sender;
  brokerAddr: string;
  queues: number;
}

/**
 * The Java producer's start: a first send creates the topic (autoCreateTopicEnable), then the
 * name server's route gives the broker and the number of write queues to round-robin over.
 */
async function openSession(server: BrokerServer, topic: string, body: Buffer, client: boolean): Promise<Session & { close(): Promise<void> }> {
  const remoting = new RemotingClient({ logger: silentLogger });
  const namesrv = new NameServerClient({ remoting });
  const brokerAddr = server.addresses.broker;
  await new BenchProducer(remoting, brokerAddr, GROUP, topic, 1).send(body, TAG);
  const deadline = Date.now() + ROUTE_WAIT_MS;
  for (;;) {
    const route = await namesrv.getRouteInfoByTopic(server.addresses.namesrv, topic);
    const q = route?.queueDatas[0];
    const addr = route?.brokerDatas[0]?.brokerAddrs['0'];
    if (q !== undefined && addr !== undefined) {
      const sender = client ? new ClientSender(remoting, server.addresses.namesrv, topic) : undefined;
      return {
        remoting, brokerAddr: addr, queues: q.writeQueueNums,
        producer: sender ?? new BenchProducer(remoting, addr, GROUP, topic, q.writeQueueNums),
        async close() {
          await sender?.close();
          await remoting.close();
        },
      };
    }
    if (Date.now() > deadline) throw new Error(`no route for ${topic} within ${ROUTE_WAIT_MS} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface BrokerRun {
  flush: BrokerFlush;
  dir: string;
  pool: BodyPool;
  budget: Budget;
  warmUpSeconds: number;
  progress: Progress;
  /** Send with keelmq's Producer (RemotingTransport) instead of frames built here. */
  client: boolean;
}

/** A measurement and the CPU this (client) process spent in the timed phase, µs. */
export type BrokerMeasurement = Measurement & { clientCpuUs: number };

/** A fresh broker on a fresh directory, a session, an untimed warm-up of `loop`, then the timed `loop`. */
async function withBroker(run: BrokerRun, loop: (s: Session, budget: Budget) => Promise<Measurement>): Promise<BrokerMeasurement> {
  fs.rmSync(run.dir, { recursive: true, force: true });
  const server = await startServer(run.dir, run.flush);
  try {
    const session = await openSession(server, TOPIC, run.pool.at(0), run.client);
    try {
      await loop(session, { count: Number.MAX_SAFE_INTEGER, seconds: run.warmUpSeconds });
      // The client's own cost: CPU per message survives a loaded machine better than msg/s.
      const cpu0 = process.cpuUsage();
      const m = await loop(session, run.budget);
      const cpu = process.cpuUsage(cpu0);
      return { ...m, clientCpuUs: cpu.user + cpu.system };
    } finally {
      await session.close();
    }
  } finally {
    await server.stop();
    fs.rmSync(run.dir, { recursive: true, force: true });
  }
}

/** `producers` loops, each awaiting every send's reply before the next (Java: threads calling send()). */
export function syncSends(run: BrokerRun, producers: number): Promise<BrokerMeasurement> {
  return withBroker(run, async ({ producer }, budget) => {
    const latenciesNs: number[] = [];
    const deadline = now() + BigInt(Math.round(budget.seconds * 1e9));
    let taken = 0;
    const start = now();
    await Promise.all(Array.from({ length: producers }, async () => {
      while (taken < budget.count && now() < deadline) {
        const body = run.pool.at(taken++);
        const t = now();
        await producer.send(body, TAG);
        latenciesNs.push(Number(now() - t));
        run.progress.update(latenciesNs.length);
      }
    }));
    return { messages: latenciesNs.length, bodyBytes: run.pool.bodyBytes, seconds: secondsSince(start), latenciesNs };
  });
}

/** Sends issued without waiting, at most `inFlight` unanswered (Java: send(msg, callback) under a semaphore). */
export function asyncSends(run: BrokerRun, inFlight: number): Promise<BrokerMeasurement> {
  return withBroker(run, ({ producer }, budget) => new Promise<Measurement>((resolve, reject) => {
    const latenciesNs: number[] = [];
    const deadline = now() + BigInt(Math.round(budget.seconds * 1e9));
    let taken = 0;
    let outstanding = 0;
    let failed = false;
    const start = now();
    const issue = (): void => {
      while (!failed && outstanding < inFlight && taken < budget.count && now() < deadline) {
        const body = run.pool.at(taken++);
        outstanding++;
        const t = now();
        producer.sendAsync(body, TAG).then(() => {
          latenciesNs.push(Number(now() - t));
          outstanding--;
          run.progress.update(latenciesNs.length);
          issue();
          if (outstanding === 0) resolve({ messages: latenciesNs.length, bodyBytes: run.pool.bodyBytes, seconds: secondsSince(start), latenciesNs });
        }, (err: unknown) => {
          failed = true;
          reject(err);
        });
      }
    };
    issue();
  }));
}

/** `producers` loops of SEND_BATCH_MESSAGE with `batchSize` messages each; one latency per batch. */
export function batchSends(run: BrokerRun, producers: number, batchSize: number): Promise<BrokerMeasurement> {
  return withBroker(run, async ({ producer }, budget) => {
    const latenciesNs: number[] = [];
    const deadline = now() + BigInt(Math.round(budget.seconds * 1e9));
    let taken = 0;
    let done = 0;
    const start = now();
    await Promise.all(Array.from({ length: producers }, async () => {
      while (taken < budget.count && now() < deadline) {
        const batch = run.pool.slice(taken, batchSize);
        taken += batchSize;
        const t = now();
        await producer.sendBatch(batch, TAG);
        latenciesNs.push(Number(now() - t));
        done += batch.length;
        run.progress.update(done);
      }
    }));
    return { messages: done, bodyBytes: run.pool.bodyBytes, seconds: secondsSince(start), latenciesNs };
  });
}

/**
 * `producers` sync-send loops while one long-polling puller per queue consumes from the offset the
 * phase starts at. The body's first 4 bytes number the message; latency is from the start of its
 * send to the pull reply that brings it. Throughput is messages over first send to last delivery.
 */
export function endToEnd(run: BrokerRun, producers: number): Promise<BrokerMeasurement> {
  if (run.pool.bodyBytes < 4) throw new RangeError('end to end needs bodies of at least 4 bytes (the message number)');
  return withBroker(run, async ({ remoting, producer, brokerAddr, queues }, budget) => {
    const sentAt: bigint[] = [];
    const latenciesNs: number[] = [];
    let sendsDone = false;
    let allDelivered!: () => void;
    const delivered = new Promise<void>((resolve) => { allDelivered = resolve; });
    const onMessage = (body: Buffer): void => {
      if (body.length < 4) return;
      const sent = sentAt[body.readUInt32BE(0)];
      // Messages of an earlier phase on this topic carry numbers of that phase: not ours.
      if (sent === undefined) return;
      latenciesNs.push(Number(now() - sent));
      run.progress.update(latenciesNs.length);
      if (sendsDone && latenciesNs.length === sentAt.length) allDelivered();
    };
    // Each phase numbers from 0 again, so pullers start past what earlier phases wrote.
    const start0 = await Promise.all(Array.from({ length: queues }, (_, q) => maxOffset(remoting, brokerAddr, TOPIC, q)));
    const pullers = Array.from({ length: queues }, (_, q) => new QueuePuller(remoting, brokerAddr, GROUP, TOPIC, q, onMessage));
    const pulling = pullers.map((p, q) => p.run(start0[q]));
    let seconds: number;
    try {
      const deadline = now() + BigInt(Math.round(budget.seconds * 1e9));
      const start = now();
      await Promise.all(Array.from({ length: producers }, async () => {
        while (sentAt.length < budget.count && now() < deadline) {
          const i = sentAt.length;
          const body = Buffer.from(run.pool.at(i));
          body.writeUInt32BE(i, 0);
          sentAt.push(now());
          await producer.send(body, TAG);
        }
      }));
      sendsDone = true;
      if (latenciesNs.length === sentAt.length) allDelivered();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${sentAt.length - latenciesNs.length} of ${sentAt.length} messages not consumed ${CATCH_UP_MS} ms after the last send`)), CATCH_UP_MS);
      });
      try {
        await Promise.race([delivered, timedOut, ...pulling.map((p) => p.then(() => new Promise<never>(() => {})))]);
      } finally {
        clearTimeout(timer);
      }
      seconds = secondsSince(start);
    } finally {
      // Also when a send or a pull failed: no puller may outlive the phase.
      for (const p of pullers) p.stop();
      // Held pulls end when the connection closes; the next phase (or withBroker) opens a new one.
      remoting.closeChannel(brokerAddr);
      await Promise.allSettled(pulling);
    }
    return { messages: latenciesNs.length, bodyBytes: run.pool.bodyBytes, seconds, latenciesNs };
  });
}
