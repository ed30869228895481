/**
 * Where the client suites run: in-process over an EmbeddedBroker, and over the network against a
 * lib/broker Broker and a NameServer on 127.0.0.1 (OS ports). Every client test file loops over
 * CLIENT_ENVS, so each behaviour is checked on both transports; the main suites loop over
 * CLIENT_ENVS_WITH_DEV, which adds the real `keelmq dev` process.
 */
import * as path from 'node:path';
import { Broker } from '../../lib/broker/broker';
import { MQAdmin } from '../../lib/client/mq-admin';
import { RemotingTransport } from '../../lib/client/remoting-transport';
import type { ClientTransport } from '../../lib/client/transport';
import { EmbeddedBroker } from '../../lib/consumer/embedded-broker';
import { NameServer } from '../../lib/namesrv/name-server';
import { MessageStore } from '../../lib/store/message-store';
import { FAST_LEVELS, silentLogger } from '../broker/support';
import { startDev, stopped } from '../support/keelmq-process';
import { tmpDir } from '../support/tmp';

/** What the suite runs against: a client target (an EmbeddedBroker or a transport) and how to set the stage. */
export interface ClientEnv {
  /** A client target as a fresh application process would make it. */
  target(): EmbeddedBroker | ClientTransport;
  createTopic(topic: string, queues: number): Promise<void>;
  /** Closes the clients `target` made since the last call (an env shared by a describe's tests). */
  endTest?(): Promise<void>;
  stop(): Promise<void>;
}

export interface ClientEnvDef {
  name: string;
  start(): Promise<ClientEnv>;
  /**
   * Started once for a describe's tests rather than for each (a child process costs its start):
   * only for suites whose tests use topics and groups of their own. See useClientEnv.
   */
  perDescribe?: boolean;
}

/** A stage over the network: clients reach `namesrv`; `close` stops the servers. */
function remotingEnv(namesrv: string, close: () => Promise<void>): ClientEnv & { endTest(): Promise<void> } {
  const admin = new MQAdmin({ namesrvAddr: [namesrv] });
  const transports: RemotingTransport[] = [];
  const endTest = async () => { for (const tr of transports.splice(0)) await tr.close(); };
  return {
    target() {
      const tr = new RemotingTransport({ namesrvAddr: [namesrv], offsetPersistIntervalMs: 200 });
      transports.push(tr);
      return tr;
    },
    async createTopic(topic, queues) {
      await admin.createTopic(topic, queues);
      // The broker registers a new topic with the name server at once, but on its own time.
      for (let i = 0; i < 100 && (await admin.route(topic))?.queueDatas[0]?.readQueueNums !== queues; i++) await sleep(20);
    },
    endTest,
    async stop() {
      await endTest();
      await admin.close();
      await close();
    },
  };
}

export const CLIENT_ENVS: ClientEnvDef[] = [
  {
    name: 'in-process',
    async start() {
      const t = tmpDir('keelmq-client-');
      const store = await MessageStore.open(t.dir);
      const broker = await EmbeddedBroker.open(store, { delayLevels: FAST_LEVELS });
      return {
        target: () => broker,
        async createTopic(topic, queues) { await broker.createTopic(topic, queues); },
        async stop() { await broker.close(); await store.close(); t.cleanup(); },
      };
    },
  },
  {
    name: 'remoting',
    async start() {
      const t = tmpDir('keelmq-client-');
      const ns = new NameServer({ port: 0, logger: silentLogger });
      await ns.start();
      const broker = await Broker.start({
        storeDir: path.join(t.dir, 'store'), port: 0, logger: silentLogger, namesrvAddr: [ns.address()], services: { delayLevels: FAST_LEVELS },
      });
      return remotingEnv(ns.address(), async () => {
        await broker.close();
        await ns.close();
        t.cleanup();
      });
    },
  },
];

/** The real command line: `keelmq dev` as a child process, stopped by SIGTERM and expected to exit 0. */
export const KEELMQ_DEV_ENV: ClientEnvDef = {
  name: 'keelmq dev',
  perDescribe: true,
  async start() {
    const t = tmpDir('keelmq-client-dev-');
    const dev = await startDev(t.dir, path.join(t.dir, 'data'), ['--delay-levels', FAST_LEVELS]);
    return remotingEnv(dev.namesrv, async () => {
      try {
        dev.child.kill('SIGTERM');
        const code = await Promise.race([dev.exited, sleep(10_000).then(() => 'still running 10 s after SIGTERM')]);
        if (code !== 0) throw new Error(`keelmq dev ended with ${String(code)}: ${dev.output()}`);
      } finally {
        stopped(dev);
        t.cleanup();
      }
    });
  },
};

/** The suites issue 12 names (send, push concurrent and orderly, lite pull, admin) also run against `keelmq dev`. */
export const CLIENT_ENVS_WITH_DEV: ClientEnvDef[] = [...CLIENT_ENVS, KEELMQ_DEV_ENV];

/**
 * Installs the hooks that start and stop `def` around a describe's tests — per test, or once with
 * `perDescribe` (then the clients a test made are closed after it) — and returns the env of the
 * test running.
 */
export function useClientEnv(def: ClientEnvDef): Pick<ClientEnv, 'target' | 'createTopic'> {
  let env: ClientEnv | undefined;
  const start = async () => { env = await def.start(); };
  const stop = async () => {
    const e = env;
    env = undefined;
    await e?.stop();
  };
  if (def.perDescribe) {
    before(start);
    afterEach(async () => { await env?.endTest?.(); });
    after(stop);
  } else {
    beforeEach(start);
    afterEach(stop);
  }
  const current = () => {
    if (!env) throw new Error(`the ${def.name} env is not started`);
    return env;
  };
  return { target: () => current().target(), createTopic: (topic, queues) => current().createTopic(topic, queues) };
}

export function sleep(ms: number): Promise<void> { return new Promise((r) => setTimeout(r, ms)); }

export async function until(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}
