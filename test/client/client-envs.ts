/**
 * Where the client suites run: in-process over an EmbeddedBroker, and over the network against a
 * lib/broker Broker and a NameServer on 127.0.0.1 (OS ports). Every client test file loops over
 * CLIENT_ENVS, so each behaviour is checked on both transports.
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
import { tmpDir } from '../support/tmp';

/** What the suite runs against: a client target (an EmbeddedBroker or a transport) and how to set the stage. */
export interface ClientEnv {
  /** A client target as a fresh application process would make it. */
  target(): EmbeddedBroker | ClientTransport;
  createTopic(topic: string, queues: number): Promise<void>;
  stop(): Promise<void>;
}

export const CLIENT_ENVS: { name: string; start(): Promise<ClientEnv> }[] = [
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
      const admin = new MQAdmin({ namesrvAddr: [ns.address()] });
      const transports: RemotingTransport[] = [];
      return {
        target() {
          const tr = new RemotingTransport({ namesrvAddr: [ns.address()], offsetPersistIntervalMs: 200 });
          transports.push(tr);
          return tr;
        },
        async createTopic(topic, queues) {
          await admin.createTopic(topic, queues);
          // The broker registers a new topic with the name server at once, but on its own time.
          for (let i = 0; i < 100 && (await admin.route(topic))?.queueDatas[0]?.readQueueNums !== queues; i++) await sleep(20);
        },
        async stop() {
          for (const tr of transports) await tr.close();
          await admin.close();
          await broker.close();
          await ns.close();
          t.cleanup();
        },
      };
    },
  },
];

export function sleep(ms: number): Promise<void> { return new Promise((r) => setTimeout(r, ms)); }

export async function until(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}
