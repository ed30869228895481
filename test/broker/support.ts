import * as path from 'node:path';
import { Broker, type BrokerStartConfig } from '../../lib/broker/broker';
import type { Logger } from '../../lib/remoting/logger';
import { RemotingClient } from '../../lib/remoting/remoting-client';
import { RemotingCommand, type HeaderValue } from '../../lib/remoting/remoting-command';
import { RequestCode } from '../../lib/remoting/request-code';
import { decodeRecord } from '../../lib/store/message-codec';
import type { MessageExt } from '../../lib/common/message';
import { tmpDir } from '../support/tmp';

/** Tests look at codes, not log lines. */
export const silentLogger: Logger = { info: () => {}, warn: () => {} };

/** Delay levels short enough for tests: retries fall due in tens of milliseconds. */
export const FAST_LEVELS = '10ms 20ms 30ms 40ms 50ms';

export interface BrokerEnv {
  broker: Broker;
  dir: string;
  client: RemotingClient;
  addr: string;
  call(code: number, fields?: Record<string, HeaderValue>, body?: Buffer, timeoutMs?: number): Promise<RemotingCommand>;
  stop(): Promise<void>;
}

/** A broker on 127.0.0.1 with an OS port on a fresh directory, and a client for it; stop() removes everything. */
export async function startBroker(config: Partial<BrokerStartConfig> = {}): Promise<BrokerEnv> {
  const t = tmpDir('keelmq-broker-');
  const broker = await Broker.start({
    storeDir: path.join(t.dir, 'store'), port: 0, logger: silentLogger,
    services: { delayLevels: FAST_LEVELS }, ...config,
  });
  const client = new RemotingClient({ logger: silentLogger });
  const addr = broker.address();
  return {
    broker, dir: t.dir, client, addr,
    call: (code, fields, body, timeoutMs = 5000) => client.invokeSync(addr, RemotingCommand.request(code, fields, body), timeoutMs),
    async stop() {
      await client.close();
      await broker.close();
      t.cleanup();
    },
  };
}

/** A SEND_MESSAGE_V2 header as a 4.9.7 Java producer sends it. */
export function sendV2(topic: string, queueId: number, properties: Record<string, string> = {}, extra: Record<string, HeaderValue> = {}): Record<string, HeaderValue> {
  return {
    a: 'PG', b: topic, c: 'TBW102', d: 4, e: queueId, f: 0, g: Date.now(), h: 0,
    i: Object.entries(properties).map(([k, v]) => `${k}\u0001${v}`).join('\u0002'), j: 0, k: false, ...extra,
  };
}

/** A PULL_MESSAGE header (push consumer defaults: suspend, subscription from the heartbeat). */
export function pullHeader(group: string, topic: string, queueId: number, queueOffset: number, extra: Record<string, HeaderValue> = {}): Record<string, HeaderValue> {
  return {
    consumerGroup: group, topic, queueId, queueOffset, maxMsgNums: 32, sysFlag: 0, commitOffset: 0,
    suspendTimeoutMillis: 0, subVersion: 0, expressionType: 'TAG', ...extra,
  };
}

/** A pull that posts its subscription (sysFlag bit 4), as ali-ons does. */
export function pullWithSub(group: string, topic: string, queueId: number, queueOffset: number, subscription = '*', extra: Record<string, HeaderValue> = {}): Record<string, HeaderValue> {
  return pullHeader(group, topic, queueId, queueOffset, { sysFlag: 4, subscription, ...extra });
}

/** The records of a pull body, as a client decodes them. */
export function decodeRecords(body: Buffer | undefined): MessageExt[] {
  const out: MessageExt[] = [];
  if (!body) return out;
  for (let p = 0; p < body.length;) {
    const m = decodeRecord(body, p);
    out.push(m);
    p += m.storeSize;
  }
  return out;
}

/** A HeartbeatData body with one consumer group. */
export function heartbeatBody(clientID: string, group: string, subs: { topic: string; subString: string; subVersion?: number }[]): Buffer {
  return Buffer.from(JSON.stringify({
    clientID,
    consumerDataSet: [{
      consumeFromWhere: 'CONSUME_FROM_LAST_OFFSET', consumeType: 'CONSUME_PASSIVELY', groupName: group, messageModel: 'CLUSTERING',
      subscriptionDataSet: subs.map((s) => ({
        classFilterMode: false, codeSet: [], expressionType: 'TAG', subString: s.subString, subVersion: s.subVersion ?? 1, tagsSet: s.subString === '*' ? [] : s.subString.split('||').map((x) => x.trim()), topic: s.topic,
      })),
      unitMode: false,
    }],
    producerDataSet: [],
  }), 'utf8');
}

export { RequestCode };
