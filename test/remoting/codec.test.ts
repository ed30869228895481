import { expect } from 'chai';
import fc from 'fast-check';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isKeelError } from '../../lib/common/errors';
import { decodeFrame, encodeFrame, FrameDecoder } from '../../lib/remoting/frame-codec';
import { RemotingCommand, SerializeType } from '../../lib/remoting/remoting-command';
import { decodeTopicRouteData, encodeTopicRouteData } from '../../lib/remoting/topic-route-data';
import { decodeRegisterBrokerBody, encodeRegisterBrokerBody, RegisterBrokerBody } from '../../lib/remoting/register-broker-body';
import { BODY, goldenFrames, HEARTBEAT_BODY, OFFSET_MSG_ID, ROUTE_BODY, SEND_PROPERTIES, storedRecord } from './golden-frames';
import { GOLDEN_DIR } from './make-golden-frames';

function frameOf(header: string, body?: Buffer, type = 0): Buffer {
  const h = Buffer.from(header, 'utf8');
  const b = body ?? Buffer.alloc(0);
  const pre = Buffer.alloc(8);
  pre.writeInt32BE(4 + h.length + b.length, 0);
  pre.writeInt32BE((type << 24) | h.length, 4);
  return Buffer.concat([pre, h, b]);
}

function expectInvalid(fn: () => unknown): void {
  let err: unknown;
  try { fn(); } catch (e) { err = e; }
  expect(isKeelError(err, 'REMOTING_FRAME_INVALID'), String(err)).to.equal(true);
}

describe('remoting - frame codec', () => {
  describe('golden frames (fixtures/remoting)', () => {
    const golden = goldenFrames();
    for (const name of Object.keys(golden)) {
      it(`${name}: the fixture decodes and re-encodes to the same bytes`, () => {
        const bytes = fs.readFileSync(path.join(GOLDEN_DIR, `${name}.bin`));
        expect(bytes.equals(golden[name]!), 'fixture file matches its recipe').to.equal(true);
        const cmd = decodeFrame(bytes);
        expect(cmd.version).to.equal(407);
        expect(cmd.language).to.equal('JAVA');
        expect(encodeFrame(cmd, cmd.serializeType).equals(bytes)).to.equal(true);
      });
    }

    it('SEND_MESSAGE_V2 request: short header names, properties with separators, body', () => {
      const cmd = decodeFrame(golden['send-message-v2.request']!);
      expect(cmd.code).to.equal(310);
      expect(cmd.isResponse).to.equal(false);
      expect(cmd.isOneway).to.equal(false);
      expect(cmd.opaque).to.equal(3);
      expect(cmd.requireString('b')).to.equal('TopicTest');
      expect(cmd.int('e')).to.equal(0);
      expect(cmd.long('g')).to.equal(1700000000000);
      expect(cmd.bool('k')).to.equal(false);
      expect(cmd.field('i')).to.equal(SEND_PROPERTIES);
      expect(cmd.body!.equals(BODY)).to.equal(true);
    });

    it('SEND_MESSAGE_V2 response carries the offset msgId as a string field', () => {
      const cmd = decodeFrame(golden['send-message-v2.response']!);
      expect(cmd.isResponse).to.equal(true);
      expect(cmd.code).to.equal(0);
      expect(cmd.field('msgId')).to.equal(OFFSET_MSG_ID);
      expect(cmd.long('queueOffset')).to.equal(0);
      expect(cmd.body).to.equal(undefined);
    });

    it('PULL_MESSAGE request and response: offsets as strings, stored record as body', () => {
      const req = decodeFrame(golden['pull-message.request']!);
      expect(req.code).to.equal(11);
      expect(req.int('sysFlag')).to.equal(2);
      expect(req.long('suspendTimeoutMillis')).to.equal(15000);
      expect(req.field('subscription')).to.equal(undefined);
      expect(req.field('bname')).to.equal('broker-a');
      const res = decodeFrame(golden['pull-message.response']!);
      expect(res.remark).to.equal('FOUND');
      expect(res.long('nextBeginOffset')).to.equal(1);
      expect(res.body!.equals(storedRecord())).to.equal(true);
      expect(res.body!.readInt32BE(0)).to.equal(res.body!.length);
    });

    it('HEART_BEAT request has no extFields at all, and its body is the HeartbeatData', () => {
      const req = decodeFrame(golden['heart-beat.request']!);
      expect(req.extFields).to.equal(undefined);
      expect(req.body!.toString('utf8')).to.equal(HEARTBEAT_BODY);
      const res = decodeFrame(golden['heart-beat.response']!);
      expect(res.extFields).to.equal(undefined);
      expect(res.remark).to.equal(undefined);
    });

    it('GET_ROUTEINFO_BY_TOPIC: JSON and ROCKETMQ headers decode alike; the route body re-encodes byte for byte', () => {
      const json = decodeFrame(golden['get-routeinfo-by-topic.request']!);
      const bin = decodeFrame(golden['get-routeinfo-by-topic.rocketmq.request']!);
      expect(bin.serializeType).to.equal(SerializeType.ROCKETMQ);
      for (const c of [json, bin]) {
        expect(c.code).to.equal(105);
        expect(c.version).to.equal(407);
        expect({ ...c.extFields }).to.deep.equal({ topic: 'TopicTest' });
      }
      const res = decodeFrame(golden['get-routeinfo-by-topic.response']!);
      const route = decodeTopicRouteData(res.body!);
      expect(route.brokerDatas[0]!.brokerAddrs['0']).to.equal('127.0.0.1:10911');
      expect(encodeTopicRouteData(route).toString('utf8')).to.equal(ROUTE_BODY);
    });
  });

  describe('frames captured from a real Java 4.9.7 client (fixtures/remoting/java-4.9.7-client)', () => {
    const dir = path.join(GOLDEN_DIR, 'java-4.9.7-client');
    const captured = (name: string) => decodeFrame(fs.readFileSync(path.join(dir, `${name}.bin`)));
    for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.bin')).sort()) {
      it(`${file}: decodes and re-encodes to the bytes the Java client sent`, () => {
        const bytes = fs.readFileSync(path.join(dir, file));
        const cmd = decodeFrame(bytes);
        expect([cmd.language, cmd.version, cmd.isResponse]).to.deep.equal(['JAVA', 407, false]);
        expect(cmd.isOneway).to.equal(file.includes('oneway'));
        expect(encodeFrame(cmd).equals(bytes)).to.equal(true);
      });
    }

    it('the hand-built golden requests have the captured field order (fastjson writes HashMap order, not sorted)', () => {
      const golden = goldenFrames();
      for (const name of ['send-message-v2.request', 'pull-message.request', 'get-routeinfo-by-topic.request', 'heart-beat.request']) {
        const built = decodeFrame(golden[name]!);
        const real = captured(name);
        expect(built.code).to.equal(real.code);
        expect(Object.keys(built.extFields ?? {}), name).to.deep.equal(Object.keys(real.extFields ?? {}));
      }
      expect(Object.keys(captured('pull-message.request').extFields!)).to.not.deep.equal(Object.keys(captured('pull-message.request').extFields!).sort());
      // Properties too: Java omits the trailing separator and writes its HashMap order.
      expect(captured('send-message-v2.request').field('i')!.split('\u0002').map((kv) => kv.split('\u0001')[0])).to.deep.equal(['UNIQ_KEY', 'WAIT', 'TAGS']);
    });
  });

  describe('header fields', () => {
    it('accepts numbers and booleans (ali-ons) as strings, keeping 64-bit numbers exact, and ignores unknown fields', () => {
      const cmd = decodeFrame(frameOf('{"code":11,"extFields":{"queueId":0,"unitMode":false,"commitOffset":9223372036854775807,"x":null,"n":"broker-a"},'
        + '"flag":0,"language":"JAVA","opaque":"7","version":121,"somethingNew":{"a":[1,2]}}'));
      expect(cmd.opaque).to.equal(7);
      expect(cmd.version).to.equal(121);
      expect({ ...cmd.extFields }).to.deep.equal({ queueId: '0', unitMode: 'false', commitOffset: '9223372036854775807', n: 'broker-a' });
      expect(cmd.int('queueId')).to.equal(0);
      expect(cmd.bool('unitMode')).to.equal(false);
    });

    it('replies with string fields, version 407, language JAVA and the response flag', () => {
      const res = RemotingCommand.response(0, undefined, { queueId: 3, queueOffset: 12345678901234, ok: true, none: undefined });
      const json = JSON.parse(encodeFrame(res).subarray(8).toString('utf8'));
      expect(json).to.deep.equal({
        code: 0, extFields: { queueId: '3', queueOffset: '12345678901234', ok: 'true' }, flag: 1, language: 'JAVA', opaque: 0,
        serializeTypeCurrentRPC: 'JSON', version: 407,
      });
    });

    it('field names that are Object.prototype names are ordinary fields: __proto__ is kept, nothing is inherited', () => {
      for (const type of [SerializeType.JSON, SerializeType.ROCKETMQ]) {
        const sent = RemotingCommand.request(10, { ['__proto__']: 'p', constructor: 'c', topic: 't' });
        const bytes = encodeFrame(sent, type);
        const cmd = decodeFrame(bytes);
        expect(Object.keys(cmd.extFields!)).to.have.members(['__proto__', 'constructor', 'topic']);
        expect(cmd.field('__proto__')).to.equal('p');
        expect(cmd.field('constructor')).to.equal('c');
        expect(cmd.field('toString')).to.equal(undefined);
        expect(cmd.field('hasOwnProperty')).to.equal(undefined);
        expect(encodeFrame(cmd, type).equals(bytes)).to.equal(true);
      }
    });

    it('int and long accept exactly an optional sign and 1..10 / 1..19 digits in range, as Integer.parseInt / Long.parseLong', () => {
      const text = fc.oneof(
        fc.stringMatching(/^[+-]?\d{0,21}$/),
        fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }).map(String),
        fc.string({ unit: fc.constantFrom('0', '1', '9', '+', '-', ' ', '.', 'e', 'x', '\u0660'), maxLength: 12 }),
      );
      fc.assert(fc.property(text, (s) => {
        const cmd = RemotingCommand.request(1, { v: s });
        const intOk = /^[+-]?\d{1,10}$/.test(s) && Number(s) >= -(2 ** 31) && Number(s) < 2 ** 31;
        if (intOk) expect(cmd.int('v')).to.equal(Number(s) + 0);
        else expect(() => cmd.int('v')).to.throw().with.property('code', 'REMOTING_REQUEST_INVALID');
        const longOk = /^[+-]?\d{1,19}$/.test(s) && BigInt(s) >= -(2n ** 63n) && BigInt(s) < 2n ** 63n;
        if (longOk) {
          const clamped = BigInt(s) > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : BigInt(s) < BigInt(Number.MIN_SAFE_INTEGER) ? Number.MIN_SAFE_INTEGER : Number(BigInt(s));
          expect(cmd.long('v')).to.equal(clamped);
        } else {
          expect(() => cmd.long('v')).to.throw().with.property('code', 'REMOTING_REQUEST_INVALID');
        }
      }), { seed: 7, numRuns: 1000 });
    });

    it('typed getters reject what Java cannot parse', () => {
      const cmd = RemotingCommand.request(1, { a: '1.0', b: 'x', big: '99999999999' });
      for (const f of ['a', 'b', 'big', 'missing']) {
        expect(() => cmd.int(f)).to.throw().with.property('code', 'REMOTING_REQUEST_INVALID');
      }
      expect(cmd.long('big')).to.equal(99999999999);
      expect(cmd.int('missing', 5)).to.equal(5);
    });
  });

  describe('round trips', () => {
    const fieldKey = fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !/^\d+$/.test(k));
    const command = fc.record({
      code: fc.integer({ min: -32768, max: 32767 }),
      flag: fc.integer({ min: 0, max: 3 }),
      opaque: fc.integer({ min: -0x80000000, max: 0x7fffffff }),
      version: fc.integer({ min: 0, max: 32767 }),
      remark: fc.option(fc.string({ minLength: 1, maxLength: 40 }), { nil: undefined }),
      fields: fc.option(fc.dictionary(fieldKey, fc.string({ maxLength: 30 }), { maxKeys: 8 }), { nil: undefined }),
      body: fc.option(fc.uint8Array({ minLength: 1, maxLength: 64 }), { nil: undefined }),
    });
    for (const type of [SerializeType.JSON, SerializeType.ROCKETMQ]) {
      it(`${type === 0 ? 'JSON' : 'ROCKETMQ'} header: encode then decode gives the command back`, () => {
        fc.assert(fc.property(command, (c) => {
          const cmd = RemotingCommand.request(c.code, c.fields, c.body ? Buffer.from(c.body) : undefined);
          cmd.flag = c.flag;
          cmd.opaque = c.opaque;
          cmd.version = c.version;
          if (c.remark !== undefined) cmd.remark = c.remark;
          const bytes = encodeFrame(cmd, type);
          const back = decodeFrame(bytes);
          expect(back.code).to.equal(cmd.code);
          expect(back.flag).to.equal(cmd.flag);
          expect(back.opaque).to.equal(cmd.opaque);
          expect(back.version).to.equal(cmd.version);
          expect(back.remark).to.equal(cmd.remark);
          // ROCKETMQ cannot tell an empty value or map from a missing one (Java reads length 0 as null).
          const expected = type === SerializeType.JSON ? cmd.extFields : Object.fromEntries(Object.entries(cmd.extFields ?? {}).filter(([, v]) => v !== ''));
          expect({ ...(back.extFields ?? {}) }).to.deep.equal({ ...(expected ?? {}) });
          expect(back.body ? [...back.body] : undefined).to.deep.equal(c.body ? [...c.body] : undefined);
          const lossless = type === SerializeType.JSON || !Object.values(cmd.extFields ?? {}).includes('');
          if (lossless) expect(encodeFrame(back, type).equals(bytes)).to.equal(true);
        }), { seed: 11, numRuns: 300 });
      });
    }

    it('RegisterBrokerBody: JSON and compressed forms decode to the same table', () => {
      const body: RegisterBrokerBody = {
        dataVersion: { counter: 5, timestamp: 1700000000123 },
        topicConfigTable: [
          { topicName: 'T', readQueueNums: 4, writeQueueNums: 4, perm: 6, topicFilterType: 'SINGLE_TAG', topicSysFlag: 0, order: false },
          { topicName: 'TBW102', readQueueNums: 8, writeQueueNums: 8, perm: 7, topicFilterType: 'SINGLE_TAG', topicSysFlag: 0, order: false },
        ],
        filterServerList: [],
      };
      expect(decodeRegisterBrokerBody(encodeRegisterBrokerBody(body, false), false)).to.deep.equal(body);
      expect(decodeRegisterBrokerBody(encodeRegisterBrokerBody(body, true), true)).to.deep.equal(body);
      expect(JSON.parse(encodeRegisterBrokerBody(body, false).toString()).topicConfigSerializeWrapper.topicConfigTable.T).to.deep.equal({
        order: false, perm: 6, readQueueNums: 4, topicFilterType: 'SINGLE_TAG', topicName: 'T', topicSysFlag: 0, writeQueueNums: 4,
      });
    });

    it('route bodies from older name servers, with unquoted map keys, parse', () => {
      const route = decodeTopicRouteData(Buffer.from('{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"},"brokerName":"b","cluster":"C"}],'
        + '"filterServerTable":{},"queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":4,"topicSynFlag":0,"writeQueueNums":4}]}'));
      expect(route.brokerDatas[0]!.brokerAddrs).to.deep.equal({ 0: '10.0.0.1:10911', 1: '10.0.0.2:10911' });
      expect(route.queueDatas[0]!.topicSysFlag).to.equal(0);
    });
  });

  describe('stream decoding', () => {
    const golden = goldenFrames();
    const all = Buffer.concat(Object.values(golden));

    it('cuts frames at any chunk boundary', () => {
      fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 40 }), (sizes) => {
        const d = new FrameDecoder();
        const got: RemotingCommand[] = [];
        let p = 0;
        let i = 0;
        while (p < all.length) {
          const n = sizes[i++ % sizes.length]!;
          got.push(...d.push(all.subarray(p, p + n)));
          p += n;
        }
        // Header and body whole: each command re-encodes to the frame that was cut.
        expect(got.map((c) => encodeFrame(c, c.serializeType).toString('hex'))).to.deep.equal(Object.values(golden).map((b) => b.toString('hex')));
      }), { seed: 7, numRuns: 100 });
    });

    it('rejects an oversized length at once, before its bytes arrive', () => {
      const d = new FrameDecoder();
      const pre = Buffer.alloc(4);
      pre.writeInt32BE(16 * 1024 * 1024 - 3, 0);
      expectInvalid(() => d.push(pre));
      const ok = Buffer.alloc(4);
      ok.writeInt32BE(16 * 1024 * 1024 - 4, 0);
      expect(new FrameDecoder().push(ok)).to.deep.equal([]);
    });

    it('rejects negative and too-small lengths, header lengths past the frame, unknown types, and bad JSON', () => {
      const neg = Buffer.alloc(8, 0xff);
      expectInvalid(() => new FrameDecoder().push(neg));
      const small = Buffer.from([0, 0, 0, 3, 0, 0, 0]);
      expectInvalid(() => new FrameDecoder().push(small));
      const longHeader = frameOf('{}');
      longHeader.writeInt32BE(100, 4);
      expectInvalid(() => new FrameDecoder().push(longHeader));
      expectInvalid(() => new FrameDecoder().push(frameOf('{}', undefined, 2)));
      for (const h of ['{"code":', '[]', '{"code":"abc"}', '{"code":1.5}', '{"code":99999999999}', '{"extFields":[1]}', '{"opaque":true}', 'nul', '{"a":1}x']) {
        expectInvalid(() => new FrameDecoder().push(frameOf(h)));
      }
      expectInvalid(() => new FrameDecoder().push(frameOf('['.repeat(100_000))));
    });

    it('rejects ROCKETMQ headers whose lengths overrun', () => {
      const good = golden['get-routeinfo-by-topic.rocketmq.request']!;
      for (const [at, v] of [[8 + 13, 1000], [8 + 17, 1000], [8 + 21, 0x7fff], [8 + 28, -5]] as const) {
        const bad = Buffer.from(good);
        if (at === 8 + 21) bad.writeInt16BE(v, at); else bad.writeInt32BE(v, at);
        expectInvalid(() => decodeFrame(bad));
      }
      expectInvalid(() => decodeFrame(frameOf('', undefined, 1)));
    });
  });
});
