/**
 * The stored record (RocketMQ message format v1, big-endian) as it is read: the store decodes
 * its CommitLog with it, and a client the PULL / VIEW / QUERY bodies a broker sends (they are the
 * stored records as they are, reference §6.1). One reader for both, so that what a consumer sees
 * does not depend on the transport. keelmq's store writes IPv4 hosts only; records of a Java
 * broker may carry IPv6 hosts (sysFlag bits 4 and 5), which shift the fields after them.
 * See DESIGN.md "Record format" for the layout and the whole-record CRC.
 */
import type { MessageExt } from './message';
import { msgIdOf } from './message-id';

export const MAGIC_V1 = 0xdaa320a7;
export const BLANK_MAGIC = 0xcbd43194;
export const RECORD_FIXED_OVERHEAD = 91;
export const END_MARKER_SIZE = 8;
/** Name of the whole-record CRC property: `__CRC32#` 0x01, 10 decimal digits (most significant first), 0x02. */
export const CRC_PROPERTY = '__CRC32#';
/**
 * Name of the property that persists an explicit `Message.tagsCode` (the deliver-at
 * time of delay-level messages), so that a ConsumeQueue rebuilt from the log gets
 * the same entry as the original dispatch. Store-internal like CRC_PROPERTY.
 */
export const TAGS_CODE_PROPERTY = '__TAGSCODE#';
export const STORE_TIMESTAMP_POS = 56;

export const CRC_PROPERTY_SIZE = 20;
export const MAX_TOPIC_BYTES = 127;
export const BORN_HOST_V6 = 1 << 4;
export const STORE_HOST_V6 = 1 << 5;
/** sysFlag bits that announce 20-byte IPv6 host fields, which the store's records never have. */
export const IPV6_HOST_FLAGS = BORN_HOST_V6 | STORE_HOST_V6;
export const TWO_32 = 4294967296;

export const POS_MAGIC = 4;
export const POS_BODY_CRC = 8;
export const POS_QUEUE_ID = 12;
export const POS_FLAG = 16;
export const POS_QUEUE_OFFSET = 20;
export const POS_PHYSICAL_OFFSET = 28;
export const POS_SYS_FLAG = 36;
export const POS_BORN_TIMESTAMP = 40;
export const POS_BORN_HOST = 48;
export const POS_STORE_HOST = 64;
export const POS_RECONSUME_TIMES = 72;
export const POS_PREPARED_TX_OFFSET = 76;
export const POS_BODY_LENGTH = 84;
export const POS_BODY = 88;

/** IPv6 host fields are 12 bytes longer than IPv4 ones. */
const V6_EXTRA = 12;

export function r32(b: Buffer, p: number): number {
  return (b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!;
}

export function u32(b: Buffer, p: number): number {
  return r32(b, p) >>> 0;
}

export function r64(b: Buffer, p: number): number {
  return u32(b, p) * TWO_32 + u32(b, p + 4);
}

export const CRC_HEAD = Buffer.from(CRC_PROPERTY + '\u0001', 'latin1');

/** Whether props end with a well-formed CRC property (its value is not checked here). */
export function hasCrcProperty(b: Buffer, ps: number, pe: number): boolean {
  const q = pe - CRC_PROPERTY_SIZE;
  if (q < ps || b[pe - 1] !== 2 || (q > ps && b[q - 1] !== 2)) return false;
  for (let i = 0; i < 9; i++) if (b[q + i] !== CRC_HEAD[i]) return false;
  return true;
}

/** `name 0x01 value 0x02 ...`; a missing final 0x02 is tolerated. */
export function parseProperties(s: string, skipStoreInternal: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  const n = s.length;
  while (i < n) {
    let j = s.indexOf('\u0001', i);
    if (j < 0) j = n;
    let k = s.indexOf('\u0002', j + 1);
    if (k < 0) k = n;
    const name = s.slice(i, j);
    i = k + 1;
    if (skipStoreInternal && name === TAGS_CODE_PROPERTY) continue;
    const value = j < n ? s.slice(j + 1, k) : '';
    // A plain assignment to "__proto__" would replace the prototype instead.
    if (name === '__proto__') Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
    else out[name] = value;
  }
  return out;
}

/** The topic of the last record decoded: a read of a queue decodes the same topic again and again. */
let lastTopic = '';
const lastTopicBytes = Buffer.alloc(MAX_TOPIC_BYTES);
let lastTopicLength = 0;

function topicAt(buf: Buffer, start: number, length: number): string {
  if (length === lastTopicLength) {
    let i = 0;
    while (i < length && buf[start + i] === lastTopicBytes[i]) i++;
    if (i === length) return lastTopic;
  }
  lastTopic = buf.toString('utf8', start, start + length);
  buf.copy(lastTopicBytes, 0, start, start + length);
  lastTopicLength = length;
  return lastTopic;
}

/**
 * Where the variable part of the record at `pos` lies, or a reason it does not fit in
 * buf[pos, pos + size): for records from outside (a broker's reply), which the store's
 * checkRecord has not seen.
 */
export function recordShapeError(buf: Buffer, pos: number, size: number): string | undefined {
  if (size < RECORD_FIXED_OVERHEAD) return `record size ${size} is below the minimum ${RECORD_FIXED_OVERHEAD}`;
  if (pos + size > buf.length) return `record size ${size} does not fit the ${buf.length - pos} bytes left`;
  const sysFlag = r32(buf, pos + POS_SYS_FLAG);
  const shift = (sysFlag & BORN_HOST_V6 ? V6_EXTRA : 0) + (sysFlag & STORE_HOST_V6 ? V6_EXTRA : 0);
  const bodyLength = r32(buf, pos + POS_BODY_LENGTH + shift);
  if (bodyLength < 0 || bodyLength > size - RECORD_FIXED_OVERHEAD - shift) return `body length ${bodyLength} does not fit record size ${size}`;
  const bodyEnd = pos + POS_BODY + shift + bodyLength;
  const topicLength = buf[bodyEnd]!;
  const ps = bodyEnd + 1 + topicLength + 2;
  if (ps > pos + size) return `topic length ${topicLength} does not fit record size ${size}`;
  const propsLength = (buf[ps - 2]! << 8) | buf[ps - 1]!;
  if (ps + propsLength > pos + size) return `properties length ${propsLength} does not fit record size ${size}`;
  return undefined;
}

/**
 * Decodes a record whose lengths are known to fit (the store's checkRecord, or
 * recordShapeError); `body` is a view into buf, as stored (a compressed body stays compressed).
 * The store's own properties (the whole-record CRC, an explicit tags code) are not the user's
 * and are left out.
 */
export function decodeRecord(buf: Buffer, pos: number): MessageExt {
  const size = r32(buf, pos);
  const sysFlag = r32(buf, pos + POS_SYS_FLAG);
  const bornV6 = (sysFlag & BORN_HOST_V6) !== 0;
  const storeV6 = (sysFlag & STORE_HOST_V6) !== 0;
  const bornShift = bornV6 ? V6_EXTRA : 0;
  const shift = bornShift + (storeV6 ? V6_EXTRA : 0);
  const bodyLength = r32(buf, pos + POS_BODY_LENGTH + shift);
  const bodyEnd = pos + POS_BODY + shift + bodyLength;
  const topicLength = buf[bodyEnd]!;
  const ps = bodyEnd + 1 + topicLength + 2;
  let pe = ps + ((buf[ps - 2]! << 8) | buf[ps - 1]!);
  if (hasCrcProperty(buf, ps, pe)) pe -= CRC_PROPERTY_SIZE;
  const properties = parseProperties(buf.toString('utf8', ps, pe), true);
  const keys = properties['KEYS'];
  const physicalOffset = r64(buf, pos + POS_PHYSICAL_OFFSET);
  const storeHostAt = pos + POS_STORE_HOST + bornShift;
  let storeHost: string, msgId: string;
  if (storeV6) {
    storeHost = v6Host(buf, storeHostAt);
    msgId = buf.toString('hex', storeHostAt, storeHostAt + 20).toUpperCase() + buf.toString('hex', pos + POS_PHYSICAL_OFFSET, pos + POS_PHYSICAL_OFFSET + 8).toUpperCase();
  } else {
    const storeIp = u32(buf, storeHostAt);
    const storePort = u32(buf, storeHostAt + 4);
    storeHost = storeHosts.of(storeIp, storePort).text;
    msgId = msgIdOf(storeIp, storePort, physicalOffset);
  }
  return {
    topic: topicAt(buf, bodyEnd + 1, topicLength),
    queueId: r32(buf, pos + POS_QUEUE_ID),
    queueOffset: r64(buf, pos + POS_QUEUE_OFFSET),
    physicalOffset,
    storeSize: size,
    body: buf.subarray(pos + POS_BODY + shift, bodyEnd),
    bodyCRC: u32(buf, pos + POS_BODY_CRC),
    flag: r32(buf, pos + POS_FLAG),
    sysFlag,
    bornTimestamp: r64(buf, pos + POS_BORN_TIMESTAMP),
    bornHost: bornV6 ? v6Host(buf, pos + POS_BORN_HOST) : bornHosts.of(u32(buf, pos + POS_BORN_HOST), u32(buf, pos + POS_BORN_HOST + 4)).text,
    storeTimestamp: r64(buf, pos + STORE_TIMESTAMP_POS + bornShift),
    storeHost,
    reconsumeTimes: r32(buf, pos + POS_RECONSUME_TIMES + shift),
    preparedTransactionOffset: r64(buf, pos + POS_PREPARED_TX_OFFSET + shift),
    properties,
    tags: properties['TAGS'],
    keys: keys === undefined ? [] : keys.split(' ').filter((k) => k.length > 0),
    msgId,
  };
}

function v6Host(b: Buffer, p: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[p + i]! << 8) | b[p + i + 1]!).toString(16));
  return `[${groups.join(':')}]:${u32(b, p + 16)}`;
}

export function formatHost(ip: number, port: number): string {
  return `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}:${port}`;
}

/**
 * The host of the last record decoded, as text: consecutive records nearly
 * always share their hosts, and a read of many messages would otherwise
 * format the same strings per message.
 */
class HostStrings {
  private ip = -1;
  private port = -1;
  text = '';

  of(ip: number, port: number): this {
    if (ip !== this.ip || port !== this.port) {
      this.ip = ip;
      this.port = port;
      this.text = formatHost(ip, port);
    }
    return this;
  }
}

const bornHosts = new HostStrings();
const storeHosts = new HostStrings();
