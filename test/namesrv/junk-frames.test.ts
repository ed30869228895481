import { expect } from 'chai';
import * as net from 'node:net';
import * as zlib from 'node:zlib';
import { NameServerClient } from '../../lib/client/namesrv-client';
import { seededRandom } from '../../lib/io/sim-disk';
import { NameServer } from '../../lib/namesrv/name-server';
import { encodeFrame } from '../../lib/remoting/frame-codec';
import { encodeRegisterBrokerBody } from '../../lib/remoting/register-broker-body';
import { RemotingClient } from '../../lib/remoting/remoting-client';
import { RemotingCommand } from '../../lib/remoting/remoting-command';
import { parseAddress } from '../../lib/remoting/remoting-channel';
import { RequestCode } from '../../lib/remoting/request-code';
import { MemoryLogger } from '../remoting/support';

const CONNECTIONS = 400;
const FRAMES_PER_CONNECTION = 25;
const PARALLEL = 16;

type Rand = () => number;
const int = (r: Rand, n: number) => Math.floor(r() * n);
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, xs.length)]!;
const bytes = (r: Rand, n: number) => Buffer.from(Array.from({ length: n }, () => int(r, 256)));

const CODES = [...Object.values(RequestCode), 0, 3, -1, 9999, 32767];
const KEYS = ['topic', 'brokerName', 'brokerAddr', 'clusterName', 'haServerAddr', 'brokerId', 'compressed', 'bodyCrc32', 'namespace', 'key', 'value',
  'acceptStandardJsonOnly', 'bname', 'n', '__proto__', 'constructor', '', 'x'];

/** A header value of any JSON type: what a confused or hostile client might send. */
function junkValue(r: Rand): unknown {
  switch (int(r, 10)) {
    case 0: return int(r, 2000) - 1000;
    case 1: return r() < 0.5;
    case 2: return null;
    case 3: return 1e300;
    case 4: return '9'.repeat(int(r, 30));
    case 5: return [1, 'a', null];
    case 6: return { nested: { deeper: int(r, 9) } };
    case 7: return String.fromCharCode(...Array.from({ length: int(r, 12) }, () => int(r, 0xd7ff)));
    case 8: return pick(r, ['T', 'TBW102', '%RETRY%G', 'bad topic', '127.0.0.1:1', 'DefaultCluster', 'broker-x', 'true', '0']);
    default: return '';
  }
}

function frame(type: number, header: Buffer, body: Buffer): Buffer {
  const pre = Buffer.alloc(8);
  pre.writeInt32BE(4 + header.length + body.length, 0);
  pre.writeInt32BE((type << 24) | header.length, 4);
  return Buffer.concat([pre, header, body]);
}

function junkBody(r: Rand): Buffer {
  switch (int(r, 6)) {
    case 0: return Buffer.alloc(0);
    case 1: return bytes(r, int(r, 300));
    case 2: return zlib.deflateSync(bytes(r, int(r, 200)));
    case 3: return Buffer.from(JSON.stringify({ topicConfigSerializeWrapper: { topicConfigTable: { T: { perm: junkValue(r), readQueueNums: junkValue(r) } }, dataVersion: junkValue(r) } }));
    case 4: return encodeRegisterBrokerBody({ dataVersion: { counter: int(r, 5), timestamp: 1 }, topicConfigTable: [], filterServerList: [] }, r() < 0.5);
    default: return Buffer.from('{"filterServerList":' + JSON.stringify(junkValue(r)) + '}');
  }
}

/** The fields each name-server request needs, with plausible values, so that junk gets past the first check. */
const REQUIRED: Record<number, Record<string, () => unknown>> = {
  [RequestCode.REGISTER_BROKER]: {
    brokerName: () => 'broker-x', brokerAddr: () => '127.0.0.1:1', clusterName: () => 'C', haServerAddr: () => '127.0.0.1:2', brokerId: () => 0,
    compressed: () => false, bodyCrc32: () => 0,
  },
  [RequestCode.UNREGISTER_BROKER]: { brokerName: () => 'broker-x', brokerAddr: () => '127.0.0.1:1', clusterName: () => 'C', brokerId: () => 0 },
  [RequestCode.GET_ROUTEINFO_BY_TOPIC]: { topic: () => 'T' },
  [RequestCode.PUT_KV_CONFIG]: { namespace: () => 'NS', key: () => 'k', value: () => 'v' },
  [RequestCode.GET_KV_CONFIG]: { namespace: () => 'NS', key: () => 'k' },
  [RequestCode.DELETE_KV_CONFIG]: { namespace: () => 'NS', key: () => 'k' },
};
const NAMESRV_CODES = Object.keys(REQUIRED).map(Number);

/** Well framed, header of the right top-level types, anything inside: the server answers or ignores it. */
function mangledRequest(r: Rand): Buffer {
  const ext: Record<string, unknown> = {};
  const code = r() < 0.6 ? pick(r, NAMESRV_CODES) : pick(r, CODES);
  // Mostly the right fields with a few of them (or extra ones) mangled; sometimes nothing but junk.
  if (r() < 0.8) for (const [k, v] of Object.entries(REQUIRED[code] ?? {})) ext[k] = v();
  for (let i = int(r, 4); i > 0; i--) ext[pick(r, KEYS)] = junkValue(r);
  const header = {
    code, flag: int(r, 4), opaque: int(r, 0x7fffffff), version: pick(r, [0, 36, 37, 121, 407, -1, 32767]),
    language: pick(r, ['JAVA', 'CPP', 'NODE', 3, 200]), ...(r() < 0.8 ? { extFields: ext } : {}), ...(r() < 0.2 ? { remark: junkValue(r) } : {}),
    ...(r() < 0.2 ? { unknownField: junkValue(r) } : {}),
  };
  return frame(0, Buffer.from(JSON.stringify(header)), junkBody(r));
}

/** Something that breaks the framing or the header: the server must close the connection, nothing more. */
function fatalFrame(r: Rand): Buffer {
  switch (int(r, 8)) {
    case 0: return bytes(r, 1 + int(r, 64));
    case 1: { const f = mangledRequest(r); return f.subarray(0, int(r, f.length)); }
    case 2: { const b = Buffer.alloc(8); b.writeInt32BE(16 * 1024 * 1024 + int(r, 1 << 20), 0); return b; }
    case 3: { const b = Buffer.alloc(4); b.writeInt32BE(-1 - int(r, 1000), 0); return b; }
    case 4: return frame(0, Buffer.from(JSON.stringify({ code: pick(r, ['abc', 1.5, [], {}, true, 1e12]), extFields: pick(r, [[1], 'x', 5, {}]) })), Buffer.alloc(0));
    case 5: return frame(0, Buffer.from(pick(r, ['{', '{"code":', 'nul', '[[[[', '{"a":1}}', '\u0000'])), bytes(r, int(r, 20)));
    case 6: return frame(1 + int(r, 255), bytes(r, 20 + int(r, 40)), Buffer.alloc(0));
    default: { const f = frame(0, Buffer.from('{"code":105}'), Buffer.alloc(0)); f.writeInt32BE(1000 + int(r, 1000), 4); return f; }
  }
}

/** Sends one batch on a fresh connection (the fatal frame last, so the rest all get read), reads what comes back, waits for the close. */
function sendBatch(addr: string, frames: Buffer[]): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(parseAddress(addr));
    s.on('data', () => {});
    s.on('error', () => {});
    s.on('close', () => resolve());
    s.once('connect', () => s.end(Buffer.concat(frames)));
  });
}

describe('namesrv - junk frames', () => {
  it(`namesrv - ${CONNECTIONS * FRAMES_PER_CONNECTION} random, truncated, oversized and type-mangled frames: the name server keeps serving a normal client`, async function () {
    this.timeout(60_000);
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    const logger = new MemoryLogger();
    const ns = new NameServer({ port: 0, logger });
    await ns.start();
    const normal = new NameServerClient({ remoting: new RemotingClient({ logger }) });
    let stop = false;
    let served = 0;
    const failures: unknown[] = [];
    try {
      const reg = {
        clusterName: 'C', brokerName: 'broker-normal', brokerId: 0, brokerAddr: '127.0.0.1:10911', haServerAddr: '127.0.0.1:10912',
        body: { dataVersion: { counter: 1, timestamp: 1 }, topicConfigTable: [{ topicName: 'Normal', readQueueNums: 4, writeQueueNums: 4, perm: 6, topicFilterType: 'SINGLE_TAG', topicSysFlag: 0, order: false }], filterServerList: [] },
      };
      await normal.registerBroker(ns.address(), reg);
      const traffic = (async () => {
        while (!stop) {
          try {
            const route = await normal.getRouteInfoByTopic(ns.address(), 'Normal');
            if (route?.brokerDatas[0]?.brokerAddrs['0'] !== '127.0.0.1:10911') throw new Error(`bad route ${JSON.stringify(route)}`);
            served++;
          } catch (e) {
            failures.push(e);
          }
          await new Promise((r) => setTimeout(r, 2));
        }
      })();

      const rand = seededRandom(20261202);
      const batches = Array.from({ length: CONNECTIONS }, () => [
        ...Array.from({ length: FRAMES_PER_CONNECTION - 1 }, () => mangledRequest(rand)),
        fatalFrame(rand),
      ]);
      let next = 0;
      await Promise.all(Array.from({ length: PARALLEL }, async () => {
        while (next < batches.length) await sendBatch(ns.address(), batches[next++]!);
      }));
      stop = true;
      await traffic;

      expect(failures).to.deep.equal([]);
      expect(served).to.be.greaterThan(10);
      expect(unhandled).to.deep.equal([]);
      // Junk is the sender's fault: no processor may fail in a way that counts as the server's own error.
      expect(logger.lines.filter((l) => l.startsWith('warn remoting: processor'))).to.deep.equal([]);
      // The junk connections are gone; only the normal client's remains.
      expect(ns['server'].channels()).to.have.length(1);
      expect(logger.lines.filter((l) => l.startsWith('warn remoting: closing')).length).to.be.greaterThan(CONNECTIONS / 4);
      const res = await normal.remoting.invokeSync(ns.address(), RemotingCommand.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: 'Normal' }), 1000);
      expect(res.code).to.equal(0);
      expect(encodeFrame(res).length).to.be.greaterThan(0);
    } finally {
      stop = true;
      process.off('unhandledRejection', onUnhandled);
      await normal.close();
      await ns.close();
    }
  });
});
