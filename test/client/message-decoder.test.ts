import { expect } from 'chai';
import * as zlib from 'node:zlib';
import { isKeelError } from '../../lib/common/errors';
import { decodeMessages } from '../../lib/client/message-decoder';
import { decodeRecord, encodeRecord, prepareMessage } from '../../lib/store/message-codec';

const LIMITS = { maxBodySize: 1 << 20, maxTopicLength: 127, maxPropertiesLength: 32767, maxQueuesPerTopic: 1024 };
const NOW = 1_700_000_000_000;

function stored(body: Buffer, sysFlag = 0, physicalOffset = 4096): Buffer {
  const p = prepareMessage({ topic: 'T', queueId: 2, body, tags: 'A', keys: ['k1', 'k2'], properties: { u: 'v' }, sysFlag }, LIMITS, true, { ip: 0x0a000001, port: 55 }, NOW);
  const buf = Buffer.alloc(p.size);
  encodeRecord(p, buf, 0, 9, physicalOffset, NOW + 1, 0x7f000001, 10911, true);
  return buf;
}

/** The same record with both hosts widened to IPv6 (::ffff:a.b.c.d), as a Java broker on IPv6 stores it. */
function toV6(v4: Buffer): Buffer {
  const mapped = (at: number) => Buffer.concat([Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]), v4.subarray(at, at + 8)]);
  const out = Buffer.concat([v4.subarray(0, 48), mapped(48), v4.subarray(56, 64), mapped(64), v4.subarray(72)]);
  out.writeInt32BE(out.length, 0);
  out.writeInt32BE(v4.readInt32BE(36) | 0x30, 36);
  return out;
}

describe('client message decoder (shares the store\'s record reader)', () => {
  it('client - a pull body of stored records decodes exactly as the store decodes them', () => {
    const a = stored(Buffer.from('one'));
    const b = stored(Buffer.from('two'), 0, 8192);
    const got = decodeMessages(Buffer.concat([a, b]));
    expect(got).to.deep.equal([decodeRecord(a, 0), decodeRecord(b, 0)]);
    expect(got[0]!.properties).to.deep.equal({ TAGS: 'A', KEYS: 'k1 k2', u: 'v' });
  });

  it('client - IPv6 hosts shift the fields after them; host text and msgId follow the wider layout', () => {
    const v6 = toV6(stored(Buffer.from('hello')));
    const [m] = decodeMessages(v6);
    expect(m!.body.toString()).to.equal('hello');
    expect(m!.bornHost).to.equal('[0:0:0:0:0:ffff:a00:1]:55');
    expect(m!.storeHost).to.equal('[0:0:0:0:0:ffff:7f00:1]:10911');
    expect(m!.storeTimestamp).to.equal(NOW + 1);
    expect(m!.queueOffset).to.equal(9);
    expect(m!.tags).to.equal('A');
    expect(m!.msgId).to.equal('00000000000000000000FFFF7F00000100002A9F0000000000001000');
  });

  it('client - a zlib body (sysFlag compressed) is inflated; the store itself keeps it as stored', () => {
    const raw = Buffer.alloc(5000, 'x');
    const rec = stored(zlib.deflateSync(raw), 0x1);
    expect(decodeMessages(rec)[0]!.body.equals(raw)).to.equal(true);
    expect(decodeRecord(rec, 0).body.equals(zlib.deflateSync(raw))).to.equal(true);
  });

  it('client - a truncated or mangled body is REMOTING_REQUEST_INVALID, never a wrong message', () => {
    const rec = stored(Buffer.from('abc'));
    for (const bad of [rec.subarray(0, rec.length - 1), Buffer.concat([rec, Buffer.from([0, 0, 0])])]) {
      expect(() => decodeMessages(bad)).to.throw().that.satisfies((e: unknown) => isKeelError(e, 'REMOTING_REQUEST_INVALID'));
    }
    const longBody = Buffer.from(rec);
    longBody.writeInt32BE(1000, 84);
    expect(() => decodeMessages(longBody)).to.throw().that.satisfies((e: unknown) => isKeelError(e, 'REMOTING_REQUEST_INVALID'));
  });
});
