import { expect } from 'chai';
import { seededRandom } from '../../lib/io/sim-disk';
import { encodeFrame } from '../../lib/remoting/frame-codec';
import { RemotingCommand } from '../../lib/remoting/remoting-command';
import { RequestCode } from '../../lib/remoting/request-code';
import { ResponseCode } from '../../lib/remoting/response-code';
import { encodeBatchBody } from '../../lib/broker/message-properties';
import { RawPeer, sleep } from '../remoting/support';
import { BrokerEnv, decodeRecords, heartbeatBody, pullWithSub, sendV2, startBroker } from './support';

const FRAMES = 10_000;
const SEED = 0x6b65656c;

const CODES = Object.values(RequestCode);
const FIELD_NAMES = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'l', 'm', 'topic', 'queueId', 'queueOffset', 'consumerGroup', 'group', 'offset',
  'maxMsgNums', 'sysFlag', 'commitOffset', 'suspendTimeoutMillis', 'subVersion', 'subscription', 'delayLevel', 'maxReconsumeTimes', 'timestamp', 'key',
  'maxNum', 'beginTimestamp', 'endTimestamp', 'clientID', 'readQueueNums', 'writeQueueNums', 'isForce', 'producerGroup', 'properties'];

describe('broker - junk frames', function () {
  this.timeout(120_000);
  let env: BrokerEnv;
  const rejections: unknown[] = [];
  const onRejection = (e: unknown) => rejections.push(e);
  before(async () => {
    process.on('unhandledRejection', onRejection);
    env = await startBroker();
  });
  after(async () => {
    process.off('unhandledRejection', onRejection);
    await env.stop();
  });

  it(`broker - ${FRAMES} random, truncated, oversized and type-mangled frames (seeded): the broker keeps serving a normal client`, async () => {
    const r = seededRandom(SEED);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const int = (n: number) => Math.floor(r() * n);
    const value = (): unknown => pick([
      () => String(int(10)), () => int(2000) - 1000, () => -1, () => '9223372036854775807', () => '99999999999999999999', () => 1.5, () => 'NaN',
      () => true, () => null, () => [], () => ({ x: 1 }), () => '', () => pick(['T', 'J', '%RETRY%G', '%DLQ%G', 'SCHEDULE_TOPIC_XXXX', 'TBW102', 'bad topic', 'x'.repeat(200)]),
      () => 'TAGS\u0001a\u0002DELAY\u00013', () => '\u0001\u0002\u0001', () => 'é'.repeat(int(50)),
    ])();
    const body = (): Buffer | undefined => pick([
      () => undefined, () => Buffer.alloc(int(64), int(256)), () => Buffer.from(Array.from({ length: int(200) }, () => int(256))),
      () => heartbeatBody(`c${int(5)}@1`, pick(['G', 'H']), [{ topic: pick(['T', 'J']), subString: pick(['*', 'a||b', '||', 'x y']), subVersion: int(3) }]),
      () => Buffer.from('{"consumerGroup":"G","clientId":1,"mqSet":[{"topic":"T","queueId":"x"}]}'),
      () => Buffer.from('{"clientID":"c","consumerDataSet":[{"groupName":5}]}'),
      () => encodeBatchBody([{ body: Buffer.from('b'), properties: { TAGS: 't' } }]).subarray(0, int(40)),
      () => Buffer.from('[[[[[[[[[[[[[[['),
    ])();
    /** A well-formed frame with a random code and random, often wrongly typed, fields. */
    const mangled = (): Buffer => {
      const code = r() < 0.9 ? pick(CODES) : int(1000);
      const fields: Record<string, unknown> = {};
      if (code === RequestCode.SEND_MESSAGE_V2 && r() < 0.5) Object.assign(fields, sendV2(pick(['T', 'J']), int(6) - 1));
      for (let i = int(8); i > 0; i--) fields[pick(FIELD_NAMES)] = value();
      // Half oneway: the broker must never answer those, and must not trip over them either.
      const flag = r() < 0.5 ? 2 : 0;
      const header = Buffer.from(JSON.stringify({ code, extFields: fields, flag, language: 'JAVA', opaque: int(1 << 30), version: pick([0, 121, 407]) }));
      const b = body() ?? Buffer.alloc(0);
      const frame = Buffer.alloc(8 + header.length + b.length);
      frame.writeInt32BE(4 + header.length + b.length, 0);
      frame.writeInt32BE(header.length, 4);
      header.copy(frame, 8);
      b.copy(frame, 8 + header.length);
      return frame;
    };
    /** Something that is not a frame: the connection closes after it. */
    const junk = (): Buffer => pick([
      () => Buffer.from(Array.from({ length: 1 + int(100) }, () => int(256))),
      () => { const f = mangled(); return f.subarray(0, 1 + int(f.length - 1)); },
      () => { const b = Buffer.alloc(8); b.writeInt32BE(16 * 1024 * 1024 + int(1000), 0); return b; },
      () => { const b = Buffer.alloc(12); b.writeInt32BE(8, 0); b.writeInt32BE((pick([2, 9, 255]) << 24) | 4, 4); return b; },
      () => { const h = Buffer.from('{"code":"x","extFields":[1]}'); const b = Buffer.alloc(8); b.writeInt32BE(4 + h.length, 0); b.writeInt32BE(h.length, 4); return Buffer.concat([b, h]); },
      () => { const b = Buffer.alloc(8); b.writeInt32BE(4, 0); b.writeInt32BE(100, 4); return b; },
      () => encodeFrame(RemotingCommand.request(RequestCode.HEART_BEAT, {}, Buffer.from('{'))).subarray(0, 10),
    ])();

    let sent = 0;
    let answered = 0;
    while (sent < FRAMES) {
      const peer = await RawPeer.connect(env.addr);
      const frames = 1 + int(60);
      for (let i = 0; i < frames && sent < FRAMES; i++, sent++) peer.write(mangled());
      if (r() < 0.7 && sent < FRAMES) { peer.write(junk()); sent++; }
      await sleep(r() < 0.1 ? 20 : 0);
      answered += peer.received.length;
      await peer.destroy();
    }
    expect(sent).to.equal(FRAMES);
    expect(answered).to.be.greaterThan(0);

    // The broker still serves a well-behaved client.
    const s = await env.call(RequestCode.SEND_MESSAGE_V2, sendV2('AfterJunk', 0), Buffer.from('still here'));
    expect(s.code).to.equal(ResponseCode.SUCCESS);
    const p = await env.call(RequestCode.PULL_MESSAGE, pullWithSub('G', 'AfterJunk', 0, 0));
    expect(decodeRecords(p.body).map((m) => m.body.toString())).to.deep.equal(['still here']);
    await sleep(50);
    expect(rejections).to.deep.equal([]);
    // Held pulls of the closed junk connections were all dropped.
    expect(env.broker['pull']!.heldCount).to.equal(0);
  });
});
