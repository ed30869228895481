import { expect } from 'chai';
import * as zlib from 'node:zlib';
import { isKeelError, type KeelErrorCode } from '../../lib/common/errors';
import { msgIdOf, parseMsgId } from '../../lib/common/message-id';
import { tagsHashCode } from '../../lib/common/tag-hash';
import { crc32 } from '../../lib/store/crc32';
import type { Message } from '../../lib/common/message';
import {
  BLANK_MAGIC, CRC_PROPERTY, END_MARKER_SIZE, MAGIC_V1, RECORD_FIXED_OVERHEAD, STORE_TIMESTAMP_POS, TAGS_CODE_PROPERTY,
  checkRecord, decodeProperties, decodeRecord, encodeProperties, encodeRecord, formatHost, parseHost,
  prepareMessage, readRecordInfo, writeEndMarker,
  type RecordLimits,
} from '../../lib/store/message-codec';

const LIMITS: RecordLimits = { maxBodySize: 4 * 1024 * 1024, maxTopicLength: 127, maxPropertiesLength: 32767, maxQueuesPerTopic: 8 };
const BORN = { ip: 0x0a000001, port: 4321 };
const STORE = parseHost('192.168.1.20:10911');
const NOW = 1_700_000_000_123;
const KEYS_MS = '1700000000456';

function expectCode(fn: () => unknown, code: KeelErrorCode): void {
  try {
    fn();
  } catch (e) {
    if (isKeelError(e, code)) return;
    throw new Error(`expected KeelError ${code}, got ${String(e)}`, { cause: e });
  }
  throw new Error(`expected KeelError ${code}, nothing thrown`);
}

/** The ReputMessageServiceTest message: topic FooBar, 32-byte body, KEYS and TAGS. */
function vectorMessage(): Message {
  return { topic: 'FooBar', queueId: 3, body: Buffer.alloc(32, 0x5a), tags: 'TAG1', keys: KEYS_MS, flag: 7, bornTimestamp: NOW - 5 };
}

function encodeAt(msg: Message, wholeCrc: boolean, physicalOffset = 1580, lead = 13): { buf: Buffer; pos: number; size: number } {
  const p = prepareMessage(msg, LIMITS, wholeCrc, BORN, NOW);
  const buf = Buffer.alloc(lead + p.size + 11, 0xee);
  encodeRecord(p, buf, lead, 42, physicalOffset, NOW, STORE.ip, STORE.port, wholeCrc);
  return { buf, pos: lead, size: p.size };
}

describe('crc32', () => {
  const data = Buffer.alloc(20_000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 23;

  it('is the IEEE CRC-32 of the check string', () => {
    const b = Buffer.from('123456789');
    expect(crc32(b, 0, b.length)).to.equal(0xcbf43926);
    expect(crc32(b, 0, 0)).to.equal(0);
  });

  it('agrees with zlib for whole buffers and ranges on both sides of every threshold', () => {
    for (const n of [1, 7, 15, 16, 17, 31, 100, 383, 384, 385, 767, 768, 769, 1024, 5000, 19_000]) {
      const whole = Buffer.from(data.subarray(0, n));
      expect(crc32(whole, 0, n), `whole ${n}`).to.equal(zlib.crc32(whole));
      for (const start of [1, 3, 8]) {
        expect(crc32(data, start, start + n), `range ${n}@${start}`).to.equal(zlib.crc32(data.subarray(start, start + n)));
      }
    }
  });

  it('continues from a seed', () => {
    for (const [s, m, e] of [[0, 10, 300], [5, 400, 1500], [0, 1000, 1200]] as const) {
      expect(crc32(data, m, e, crc32(data, s, m))).to.equal(crc32(data, s, e));
    }
  });

  it('works on a view into a larger ArrayBuffer', () => {
    const view = new Uint8Array(data.buffer, data.byteOffset + 17, 500);
    expect(crc32(view, 3, 200)).to.equal(zlib.crc32(data.subarray(20, 217)));
  });
});

describe('message codec', () => {
  describe('check vector', () => {
    it('is 158 bytes without the whole-record CRC and 178 with it', () => {
      expect(prepareMessage(vectorMessage(), LIMITS, false, BORN, NOW).size).to.equal(158);
      expect(prepareMessage(vectorMessage(), LIMITS, true, BORN, NOW).size).to.equal(178);
      expect(RECORD_FIXED_OVERHEAD).to.equal(91);
    });

    it('lays out the header as RocketMQ v1', () => {
      const { buf, pos } = encodeAt(vectorMessage(), true);
      expect(buf.readUInt32BE(pos)).to.equal(178);
      expect(buf.readUInt32BE(pos + 4)).to.equal(MAGIC_V1);
      expect(buf.readUInt32BE(pos + 8)).to.equal(zlib.crc32(Buffer.alloc(32, 0x5a)) & 0x7fffffff);
      expect(buf.readInt32BE(pos + 12)).to.equal(3);
      expect(buf.readBigUInt64BE(pos + 20)).to.equal(42n);
      expect(buf.readBigUInt64BE(pos + 28)).to.equal(1580n);
      expect(buf.readBigUInt64BE(pos + STORE_TIMESTAMP_POS)).to.equal(BigInt(NOW));
      expect(buf.readUInt32BE(pos + 84)).to.equal(32);
      expect(buf[pos + 88 + 32]).to.equal(6);
      expect(buf.toString('latin1', pos + 89 + 32, pos + 95 + 32)).to.equal('FooBar');
      expect(buf.readUInt16BE(pos + 95 + 32)).to.equal(29 + 20);
      expect(buf[pos - 1]).to.equal(0xee);
      expect(buf[pos + 178]).to.equal(0xee);
    });

    it('ends with __CRC32# and the record CRC as 10 decimal digits, most significant first', () => {
      const { buf, pos, size } = encodeAt(vectorMessage(), true);
      const end = pos + size;
      expect(buf.toString('latin1', end - 20, end - 11)).to.equal(`${CRC_PROPERTY}\u0001`);
      expect(buf[end - 1]).to.equal(2);
      const expected = zlib.crc32(buf.subarray(pos, end - 20)).toString().padStart(10, '0');
      expect(buf.toString('latin1', end - 11, end - 1)).to.equal(expected);
    });

    it('decodes every field', () => {
      for (const wholeCrc of [false, true]) {
        const { buf, pos, size } = encodeAt(vectorMessage(), wholeCrc);
        const m = decodeRecord(buf, pos);
        expect(m).to.deep.equal({
          topic: 'FooBar',
          queueId: 3,
          queueOffset: 42,
          physicalOffset: 1580,
          storeSize: size,
          body: Buffer.alloc(32, 0x5a),
          bodyCRC: zlib.crc32(Buffer.alloc(32, 0x5a)) & 0x7fffffff,
          flag: 7,
          sysFlag: 0,
          bornTimestamp: NOW - 5,
          bornHost: '10.0.0.1:4321',
          storeTimestamp: NOW,
          storeHost: '192.168.1.20:10911',
          reconsumeTimes: 0,
          preparedTransactionOffset: 0,
          properties: { TAGS: 'TAG1', KEYS: KEYS_MS },
          tags: 'TAG1',
          keys: [KEYS_MS],
          msgId: msgIdOf(STORE.ip, STORE.port, 1580),
        });
        expect(m.body.buffer).to.equal(buf.buffer);
      }
    });

    it('reads the dispatch fields without a full decode', () => {
      const { buf, pos } = encodeAt(vectorMessage(), true);
      expect(readRecordInfo(buf, pos)).to.deep.equal({
        size: 178, queueId: 3, queueOffset: 42, physicalOffset: 1580, storeTimestamp: NOW, topic: 'FooBar', tagsCode: tagsHashCode('TAG1'),
      });
    });
  });

  describe('round trip', () => {
    it('keeps 8-byte fields beyond 32 bits, hosts, properties and flags', () => {
      const msg: Message = {
        topic: '%RETRY%group_1', queueId: 7, body: 'héllo wörld ✓', keys: ['k1', 'k2'], properties: { a: 'b', 'ключ': 'значение 🚀', empty: '' },
        flag: -5, sysFlag: 0x0c, bornTimestamp: 2 ** 52 + 3, bornHost: '255.254.0.1:65535', reconsumeTimes: 16, preparedTransactionOffset: 2 ** 40 + 9,
      };
      const p = prepareMessage(msg, LIMITS, true, BORN, NOW);
      const buf = Buffer.alloc(p.size);
      encodeRecord(p, buf, 0, 2 ** 33 + 1, 2 ** 45 + 17, 2 ** 42, 0xffffffff, 65535, true);
      expect(checkRecord(buf, 0, buf.length, 2 ** 45 + 17, true)).to.deep.equal({ kind: 'record', size: p.size });
      const m = decodeRecord(buf, 0);
      expect(m.body.toString('utf8')).to.equal('héllo wörld ✓');
      expect(m.queueOffset).to.equal(2 ** 33 + 1);
      expect(m.physicalOffset).to.equal(2 ** 45 + 17);
      expect(m.storeTimestamp).to.equal(2 ** 42);
      expect(m.bornTimestamp).to.equal(2 ** 52 + 3);
      expect(m.preparedTransactionOffset).to.equal(2 ** 40 + 9);
      expect(m.bornHost).to.equal('255.254.0.1:65535');
      expect(m.storeHost).to.equal('255.255.255.255:65535');
      expect([m.flag, m.sysFlag, m.reconsumeTimes]).to.deep.equal([-5, 0x0c, 16]);
      expect(m.properties).to.deep.equal({ KEYS: 'k1 k2', a: 'b', 'ключ': 'значение 🚀', empty: '' });
      expect(m.keys).to.deep.equal(['k1', 'k2']);
      expect(m.tags).to.equal(undefined);
      expect(parseMsgId(m.msgId)).to.deep.equal({ ip: 0xffffffff, port: 65535, physicalOffset: 2 ** 45 + 17 });
      expect(readRecordInfo(buf, 0).tagsCode).to.equal(0);
    });

    it('uses TAGS/KEYS from properties unless tags/keys are given, so a decoded message can be stored again', () => {
      const { buf } = encodeAt(vectorMessage(), true, 0, 0);
      const m = decodeRecord(buf, 0);
      const again = prepareMessage({ topic: m.topic, body: m.body, properties: m.properties }, LIMITS, true, BORN, NOW);
      expect(again.size).to.equal(178);
      expect(again.tagsCode).to.equal(tagsHashCode('TAG1'));
      const over = prepareMessage({ topic: 'T', body: '', tags: 'X', properties: { TAGS: 'Y', KEYS: 'z' } }, LIMITS, false, BORN, NOW);
      expect(decodeProperties(over.props, 0, over.props.length)).to.deep.equal({ TAGS: 'X', KEYS: 'z' });
    });

    it('persists an explicit tagsCode for rebuilt ConsumeQueues, outside the decoded properties', () => {
      const deliverAt = NOW + 10_000;
      const { buf, pos } = encodeAt({ topic: 'SCHEDULE_TOPIC_XXXX', body: 'x', tags: 'TagA', tagsCode: deliverAt }, true);
      expect(readRecordInfo(buf, pos).tagsCode).to.equal(deliverAt);
      const m = decodeRecord(buf, pos);
      expect(m.properties).to.deep.equal({ TAGS: 'TagA' });
      expect(prepareMessage({ topic: 'T', body: '', tagsCode: -7 }, LIMITS, false, BORN, NOW).tagsCode).to.equal(-7);
    });

    it('takes the hash of non-ASCII tags over UTF-16 like Java', () => {
      const { buf, pos } = encodeAt({ topic: 'T', body: 'x', tags: 'Tägé✓' }, false);
      expect(readRecordInfo(buf, pos).tagsCode).to.equal(tagsHashCode('Tägé✓'));
    });

    it('fills defaults: queue 0, born host and time, no properties', () => {
      const p = prepareMessage({ topic: 'T', body: new Uint8Array([1, 2, 3]) }, LIMITS, false, BORN, NOW);
      expect([p.queueId, p.bornTimestamp, p.bornHostIp, p.bornHostPort, p.tagsCode, p.props.length, p.size]).to.deep.equal([0, NOW, BORN.ip, BORN.port, 0, 0, 91 + 3 + 1]);
    });

    it('writes IPv4 hosts only, so it clears the IPv6 host flags', () => {
      expect(prepareMessage({ topic: 'T', body: '', sysFlag: 0x31 }, LIMITS, false, BORN, NOW).sysFlag).to.equal(0x01);
    });

    it('checks large bodies (native CRC path) too', () => {
      const body = Buffer.alloc(100_000);
      for (let i = 0; i < body.length; i++) body[i] = i * 31;
      const { buf, pos, size } = encodeAt({ topic: 'Big', body }, true, 0);
      expect(checkRecord(buf, pos, size, 0, true)).to.deep.equal({ kind: 'record', size });
      buf[pos + 50_000] ^= 1;
      expect(checkRecord(buf, pos, size, 0, true)).to.deep.equal({ kind: 'invalid', reason: 'body crc mismatch' });
    });
  });

  describe('checkRecord', () => {
    const regions = (size: number): Record<string, [number, number]> => ({
      header: [0, 88], body: [88, 120], topic: [120, 127], properties: [127, size],
    });

    it('catches any flipped bit anywhere when the whole-record CRC is on', () => {
      const { buf, pos, size } = encodeAt(vectorMessage(), true);
      for (let i = 0; i < size; i++) {
        for (let bit = 0; bit < 8; bit++) {
          buf[pos + i] ^= 1 << bit;
          const r = checkRecord(buf, pos, size, 1580, true);
          expect(r.kind, `byte ${i} bit ${bit}`).to.not.equal('record');
          buf[pos + i] ^= 1 << bit;
        }
      }
      expect(checkRecord(buf, pos, size, 1580, true).kind).to.equal('record');
    });

    it('names the region that failed', () => {
      const { buf, pos, size } = encodeAt(vectorMessage(), true);
      const r = regions(size);
      const reasonAt = (i: number, mask = 0x10): string => {
        buf[pos + i] ^= mask;
        const c = checkRecord(buf, pos, size, 1580, true);
        buf[pos + i] ^= mask;
        return c.kind === 'invalid' ? c.reason : c.kind;
      };
      expect(reasonAt(r['header']![0] + 16)).to.equal('record crc mismatch');
      expect(reasonAt(r['header']![0] + 56)).to.equal('record crc mismatch');
      expect(reasonAt(r['body']![0] + 5)).to.equal('body crc mismatch');
      expect(reasonAt(r['topic']![0] + 2)).to.equal('record crc mismatch');
      expect(reasonAt(r['properties']![0] + 3)).to.equal('record crc mismatch');
      expect(reasonAt(size - 5, 0x01)).to.equal('record crc mismatch');
      expect(reasonAt(size - 5)).to.equal('record crc property is malformed');
      expect(reasonAt(4)).to.match(/^bad magic/);
      expect(reasonAt(31)).to.match(/^physical offset/);
    });

    it('catches a flipped body byte without the whole-record CRC', () => {
      const { buf, pos, size } = encodeAt(vectorMessage(), false);
      expect(checkRecord(buf, pos, size, 1580, false)).to.deep.equal({ kind: 'record', size: 158 });
      for (let i = 88; i < 120; i++) {
        buf[pos + i] ^= 0x80;
        expect(checkRecord(buf, pos, size, 1580, false)).to.deep.equal({ kind: 'invalid', reason: 'body crc mismatch' });
        buf[pos + i] ^= 0x80;
      }
    });

    it('requires the whole-record CRC only when asked', () => {
      const { buf, pos, size } = encodeAt(vectorMessage(), false);
      expect(checkRecord(buf, pos, size, 1580, true)).to.deep.equal({ kind: 'invalid', reason: 'record crc property missing' });
    });

    it('rejects a wrong physical offset, bad sizes and inconsistent lengths', () => {
      const { buf, pos, size } = encodeAt(vectorMessage(), true);
      expect(checkRecord(buf, pos, size, 1581, true).kind).to.equal('invalid');
      const tooSmall = Buffer.from(buf);
      tooSmall.writeInt32BE(90, pos);
      expect(checkRecord(tooSmall, pos, size, 1580, false)).to.deep.include({ kind: 'invalid' });
      const badLength = Buffer.from(buf);
      badLength.writeInt32BE(33, pos + 84);
      expect((checkRecord(badLength, pos, size, 1580, false) as { reason: string }).reason).to.match(/do not add up/);
      const negative = Buffer.from(buf);
      negative.writeInt32BE(-1, pos + 84);
      expect((checkRecord(negative, pos, size, 1580, false) as { reason: string }).reason).to.match(/body length/);
      const zero = Buffer.alloc(64);
      expect((checkRecord(zero, 0, 64, 0, false) as { reason: string }).reason).to.equal('bad magic 0x00000000');
    });

    it('reports short when the header claims more than is available', () => {
      const { buf, pos, size } = encodeAt(vectorMessage(), true);
      expect(checkRecord(buf, pos, size - 1, 1580, true)).to.deep.equal({ kind: 'short', size: 178 });
      expect(checkRecord(buf, pos, 7, 1580, true)).to.deep.equal({ kind: 'short', size: END_MARKER_SIZE });
      expect(checkRecord(buf, buf.length - 20, 1000, 1580, true).kind).to.not.equal('record');
    });

    it('recognises the end marker', () => {
      const buf = Buffer.alloc(64, 0x33);
      writeEndMarker(buf, 8, 56);
      expect(buf.readUInt32BE(8)).to.equal(56);
      expect(buf.readUInt32BE(12)).to.equal(BLANK_MAGIC);
      expect(checkRecord(buf, 8, 56, 12345, true)).to.deep.equal({ kind: 'blank', size: 56 });
      expect(checkRecord(buf, 8, 8, 12345, true)).to.deep.equal({ kind: 'blank', size: 56 });
      buf.writeUInt32BE(7, 8);
      expect(checkRecord(buf, 8, 56, 0, true).kind).to.equal('invalid');
      expect(() => writeEndMarker(buf, 0, 7)).to.throw(RangeError);
    });
  });

  describe('validation', () => {
    it('rejects oversized bodies', () => {
      const limits = { ...LIMITS, maxBodySize: 10 };
      expect(prepareMessage({ topic: 'T', body: Buffer.alloc(10) }, limits, true, BORN, NOW).size).to.equal(91 + 10 + 1 + 20);
      expectCode(() => prepareMessage({ topic: 'T', body: Buffer.alloc(11) }, limits, true, BORN, NOW), 'BODY_TOO_LARGE');
      expectCode(() => prepareMessage({ topic: 'T', body: 'ééééééé' }, limits, true, BORN, NOW), 'BODY_TOO_LARGE');
    });

    it('rejects empty, too long and ill-formed topics', () => {
      expectCode(() => prepareMessage({ topic: '', body: '' }, LIMITS, true, BORN, NOW), 'TOPIC_INVALID');
      expectCode(() => prepareMessage({ topic: 'a'.repeat(128), body: '' }, LIMITS, true, BORN, NOW), 'TOPIC_INVALID');
      expect(prepareMessage({ topic: 'a'.repeat(127), body: '' }, LIMITS, true, BORN, NOW).topicBytes.length).to.equal(127);
      expectCode(() => prepareMessage({ topic: 'a'.repeat(11), body: '' }, { ...LIMITS, maxTopicLength: 10 }, true, BORN, NOW), 'TOPIC_INVALID');
      for (const t of ['a/b', '..', 'a b', 'tópico', 'a\u0000', 'x.y']) {
        expectCode(() => prepareMessage({ topic: t, body: '' }, LIMITS, true, BORN, NOW), 'TOPIC_INVALID');
      }
    });

    it('rejects properties over the limit, counting the 20-byte CRC property', () => {
      const limits = { ...LIMITS, maxPropertiesLength: 100 };
      const fits = (wholeCrc: boolean) => ({ topic: 'T', body: '', properties: { p: 'v'.repeat(100 - 3 - (wholeCrc ? 20 : 0)) } });
      expect(prepareMessage(fits(true), limits, true, BORN, NOW).size).to.equal(91 + 1 + 100);
      expect(prepareMessage(fits(false), limits, false, BORN, NOW).size).to.equal(91 + 1 + 100);
      expectCode(() => prepareMessage(fits(false), limits, true, BORN, NOW), 'PROPERTIES_TOO_LONG');
      const huge = { topic: 'T', body: '', properties: { p: 'v'.repeat(40_000) } };
      expectCode(() => prepareMessage(huge, LIMITS, false, BORN, NOW), 'PROPERTIES_TOO_LONG');
    });

    it('rejects separators in property names and values, and reserved names', () => {
      const bad: Message[] = [
        { topic: 'T', body: '', properties: { 'a\u0001': 'v' } },
        { topic: 'T', body: '', properties: { a: 'v\u0002' } },
        { topic: 'T', body: '', properties: { a: 'é\u0001' } },
        { topic: 'T', body: '', tags: 'x\u0002y' },
        { topic: 'T', body: '', keys: ['ok', 'k\u0001'] },
        { topic: 'T', body: '', properties: { [CRC_PROPERTY]: '0000000000' } },
        { topic: 'T', body: '', properties: { [TAGS_CODE_PROPERTY]: '1' } },
      ];
      for (const m of bad) expectCode(() => prepareMessage(m, LIMITS, true, BORN, NOW), 'PROPERTY_INVALID');
      expectCode(() => encodeProperties({ 'x\u0002': '' }), 'PROPERTY_INVALID');
    });

    it('rejects queue ids out of range', () => {
      for (const q of [-1, 8, 1.5]) expectCode(() => prepareMessage({ topic: 'T', body: '', queueId: q }, LIMITS, true, BORN, NOW), 'QUEUE_INVALID');
      expect(prepareMessage({ topic: 'T', body: '', queueId: 7 }, LIMITS, true, BORN, NOW).queueId).to.equal(7);
    });

    it('throws TypeError for arguments of the wrong type', () => {
      const wrong = [
        { topic: 'T', body: 5 },
        { topic: 5, body: '' },
        { topic: 'T', body: '', queueId: '1' },
        { topic: 'T', body: '', properties: { a: 1 } },
        { topic: 'T', body: '', properties: 'a=b' },
        { topic: 'T', body: '', flag: 2 ** 31 },
        { topic: 'T', body: '', bornTimestamp: -1 },
        { topic: 'T', body: '', bornHost: 'localhost:1' },
        { topic: 'T', body: '', tagsCode: 0.5 },
      ];
      for (const m of wrong) expect(() => prepareMessage(m as unknown as Message, LIMITS, true, BORN, NOW), JSON.stringify(m)).to.throw(TypeError);
      expect(() => prepareMessage(null as unknown as Message, LIMITS, true, BORN, NOW)).to.throw(TypeError);
    });

    it('refuses to encode where the record does not fit, or with a different wholeCrc than prepared', () => {
      const p = prepareMessage(vectorMessage(), LIMITS, true, BORN, NOW);
      expect(() => encodeRecord(p, Buffer.alloc(177), 0, 0, 0, 0, 0, 0, true)).to.throw(RangeError);
      expect(() => encodeRecord(p, Buffer.alloc(200), 0, 0, 0, 0, 0, 0, false)).to.throw(RangeError);
    });
  });

  describe('helpers', () => {
    it('hashes tags like Java String.hashCode', () => {
      expect(tagsHashCode('TagA')).to.equal(2598919);
      expect(tagsHashCode('TagB')).to.equal(2598920);
      expect(tagsHashCode('')).to.equal(0);
      expect(tagsHashCode('hello')).to.equal(99162322);
      expect(tagsHashCode('hello world, this overflows')).to.equal(hashJavaReference('hello world, this overflows'));
    });

    it('round-trips properties', () => {
      const props = { TAGS: 'a', KEYS: 'k1 k2', 'ünï': 'cødé 🚀', empty: '', 'with=equals': 'x=y', ['__proto__']: 'p' };
      const obj = JSON.parse(JSON.stringify(props)) as Record<string, string>;
      const enc = encodeProperties(obj);
      const dec = decodeProperties(enc, 0, enc.length);
      expect(Object.entries(dec)).to.deep.equal(Object.entries(obj));
      expect(Object.getPrototypeOf(dec)).to.equal(Object.prototype);
      expect(encodeProperties({}).length).to.equal(0);
      expect(decodeProperties(Buffer.from('a\u0001b\u0002c\u0001d'), 0, 10)).to.deep.equal({ a: 'b', c: 'd' });
    });

    it('parses and formats hosts', () => {
      expect(parseHost('127.0.0.1:10911')).to.deep.equal({ ip: 0x7f000001, port: 10911 });
      expect(parseHost('255.255.255.255:0')).to.deep.equal({ ip: 0xffffffff, port: 0 });
      expect(formatHost(0xc0a80114, 80)).to.equal('192.168.1.20:80');
      for (const h of ['256.0.0.1:1', '1.2.3.4:65536', '1.2.3:4', '1.2.3.4', '::1:80', ' 1.2.3.4:5']) {
        expect(() => parseHost(h), h).to.throw(TypeError);
      }
    });

    it('round-trips message ids', () => {
      const id = msgIdOf(0xc0a80114, 10911, 2 ** 40 + 255);
      expect(id).to.equal('C0A8011400002A9F00000100000000FF');
      expect(parseMsgId(id)).to.deep.equal({ ip: 0xc0a80114, port: 10911, physicalOffset: 2 ** 40 + 255 });
      expect(parseMsgId(id.toLowerCase()).physicalOffset).to.equal(2 ** 40 + 255);
      for (const bad of ['', 'xyz', id.slice(1), `${id}0`, 'C0A80114000100000000000000000000', 'C0A801140000000000200000000000FF']) {
        expectCode(() => parseMsgId(bad), 'OFFSET_INVALID');
      }
    });
  });
});

function hashJavaReference(s: string): number {
  let h = 0n;
  for (const c of s) h = (h * 31n + BigInt(c.charCodeAt(0))) & 0xffffffffn;
  return Number(BigInt.asIntN(32, h));
}
