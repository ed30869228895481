/**
 * The CommitLog record (RocketMQ message format v1, IPv4 hosts, big-endian).
 * See DESIGN.md "Record format" for the layout and the whole-record CRC.
 */
import { KeelError } from '../common/errors';
import { hasTopicChars } from '../common/names';
import { tagsHashCode } from '../common/tag-hash';
import { crc32, crc32Combine } from './crc32';
import type { Message } from '../common/message';
import {
  BLANK_MAGIC, CRC_HEAD, CRC_PROPERTY, CRC_PROPERTY_SIZE, END_MARKER_SIZE, hasCrcProperty, IPV6_HOST_FLAGS, MAGIC_V1, MAX_TOPIC_BYTES, parseProperties, POS_BODY, POS_BODY_CRC, POS_BODY_LENGTH,
  POS_BORN_HOST, POS_BORN_TIMESTAMP, POS_FLAG, POS_MAGIC, POS_PHYSICAL_OFFSET, POS_PREPARED_TX_OFFSET, POS_QUEUE_ID, POS_QUEUE_OFFSET, POS_RECONSUME_TIMES, POS_STORE_HOST,
  POS_SYS_FLAG, r32, r64, RECORD_FIXED_OVERHEAD, STORE_TIMESTAMP_POS, TAGS_CODE_PROPERTY, TWO_32, u32,
} from '../common/record-codec';

export {
  MAGIC_V1, BLANK_MAGIC, RECORD_FIXED_OVERHEAD, END_MARKER_SIZE, CRC_PROPERTY, TAGS_CODE_PROPERTY, STORE_TIMESTAMP_POS, decodeRecord, formatHost,
} from '../common/record-codec';

const MAX_PROPERTIES_BYTES = 32767;

export interface RecordLimits { maxBodySize: number; maxTopicLength: number; maxPropertiesLength: number; maxQueuesPerTopic: number }

/**
 * A validated, pre-encoded message: everything that does not depend on where it lands.
 * `body` is referenced, not copied: encode it before handing control back to the producer.
 */
export interface PreparedMessage {
  topic: string;
  topicBytes: Buffer;
  queueId: number;
  body: Uint8Array;
  /** Properties without the whole-record CRC property. */
  props: Buffer;
  /** Total record bytes, including the 20-byte CRC property when prepared with wholeCrc. */
  size: number;
  flag: number;
  sysFlag: number;
  bornTimestamp: number;
  bornHostIp: number;
  bornHostPort: number;
  reconsumeTimes: number;
  preparedTransactionOffset: number;
  /** Java String.hashCode(tags), or msg.tagsCode, or 0. */
  tagsCode: number;
}

export type RecordCheck =
  | { kind: 'record'; size: number }
  | { kind: 'blank'; size: number }
  | { kind: 'invalid'; reason: string }
  /** More bytes are needed to decide: `size` is what the header claims (or 8 when even the header is cut). */
  | { kind: 'short'; size: number };

// ---------------------------------------------------------------- encoding

const EMPTY = Buffer.alloc(0);
const TOPIC_CACHE_MAX = 4096;
const topicCache = new Map<string, Buffer>();

/** One-entry cache: a producer's born host is nearly always the same string. */
let lastBornHost = '';
let lastBornIp = 0;
let lastBornPort = 0;

function topicBytesOf(topic: unknown, maxLength: number): Buffer {
  if (typeof topic !== 'string') throw new TypeError(`topic must be a string, got ${typeof topic}`);
  let bytes = topicCache.get(topic);
  if (bytes === undefined) {
    if (!hasTopicChars(topic)) {
      throw new KeelError('TOPIC_INVALID', topic.length === 0 ? 'topic is empty' : `topic ${JSON.stringify(topic)} has characters outside [%|a-zA-Z0-9_-]`);
    }
    if (topicCache.size >= TOPIC_CACHE_MAX) topicCache.clear();
    bytes = Buffer.from(topic, 'latin1');
    topicCache.set(topic, bytes);
  }
  // Checked on every call: the cache is shared by stores with different limits.
  if (bytes.length > maxLength || bytes.length > MAX_TOPIC_BYTES) {
    throw new KeelError('TOPIC_INVALID', `topic is ${bytes.length} bytes, more than the limit ${Math.min(maxLength, MAX_TOPIC_BYTES)}`);
  }
  return bytes;
}

function int32Of(v: unknown, name: string): number {
  if (v === undefined) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) {
    throw new TypeError(`${name} must be a 32-bit integer, got ${String(v)}`);
  }
  return v;
}

function uint53Of(v: unknown, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new TypeError(`${name} must be a non-negative safe integer, got ${String(v)}`);
  }
  return v;
}

/**
 * Properties are UTF-8 encoded by hand into a shared slab (as Node's own Buffer
 * pool does): Buffer.from(string) costs ~180 ns for a typical 40-byte string,
 * and the separator check comes free with the copy loop.
 */
const SLAB_SIZE = 64 * 1024;
let slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
let slabPos = 0;

function reserve(maxBytes: number): void {
  if (slabPos + maxBytes > slab.length) {
    slab = Buffer.allocUnsafeSlow(Math.max(SLAB_SIZE, maxBytes));
    slabPos = 0;
  }
}

/** Room `s` may need in UTF-8: never more than 3 bytes per UTF-16 unit. */
function propertyBound(name: string, value: unknown): number {
  if (typeof value !== 'string') throw new TypeError(`property ${name} must be a string, got ${typeof value}`);
  return 3 * (name.length + value.length) + 2;
}

function separatorError(name: string): KeelError {
  return new KeelError('PROPERTY_INVALID', `property ${JSON.stringify(name)} contains a \\u0001 or \\u0002 separator`);
}

/** Writes s at slab[p] (room reserved) and returns the end; `name` is for the error. */
function writeText(s: string, p: number, name: string): number {
  const b = slab;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) {
      if (s.indexOf('\u0001', i) >= 0 || s.indexOf('\u0002', i) >= 0) throw separatorError(name);
      return p + b.write(s.slice(i), p, 'utf8');
    }
    if (c <= 2 && c !== 0) throw separatorError(name);
    b[p++] = c;
  }
  return p;
}

function writeProperty(name: string, value: string, p: number): number {
  p = writeText(name, p, name);
  slab[p++] = 1;
  p = writeText(value, p, name);
  slab[p++] = 2;
  return p;
}

function takeSlab(end: number): Buffer {
  if (end === slabPos) return EMPTY;
  // Faster than subarray; the slab is never a pool slice, so its byteOffset is 0.
  const out = Buffer.from(slab.buffer, slabPos, end - slabPos);
  slabPos = end;
  return out;
}

function propertiesObject(v: unknown): Record<string, unknown> | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TypeError('properties must be an object of strings');
  return v as Record<string, unknown>;
}

/** `name 0x01 value 0x02` for every property, UTF-8. */
export function encodeProperties(props: Record<string, string>): Buffer {
  const obj = propertiesObject(props) ?? {};
  const names = Object.keys(obj);
  let bound = 0;
  for (const name of names) bound += propertyBound(name, obj[name]);
  reserve(bound);
  let p = slabPos;
  for (const name of names) p = writeProperty(name, obj[name] as string, p);
  return takeSlab(p);
}

/**
 * Validates and pre-encodes a message. Throws KeelError BODY_TOO_LARGE,
 * TOPIC_INVALID, PROPERTIES_TOO_LONG, PROPERTY_INVALID, QUEUE_INVALID, and
 * TypeError for arguments of the wrong type. `msg.tags`/`msg.keys` take
 * precedence over TAGS/KEYS in `msg.properties`.
 */
export function prepareMessage(msg: Message, limits: RecordLimits, wholeCrc: boolean, defaultBornHost: { ip: number; port: number }, now: number): PreparedMessage {
  if (typeof msg !== 'object' || msg === null) throw new TypeError('message must be an object');
  const topic = msg.topic;
  const topicBytes = topicBytesOf(topic, limits.maxTopicLength);

  const qid = msg.queueId;
  let queueId = 0;
  if (qid !== undefined) {
    if (typeof qid !== 'number') throw new TypeError(`queueId must be a number, got ${typeof qid}`);
    if (!Number.isInteger(qid) || qid < 0 || qid >= limits.maxQueuesPerTopic) {
      throw new KeelError('QUEUE_INVALID', `queueId ${qid} is outside 0..${limits.maxQueuesPerTopic - 1}`);
    }
    queueId = qid;
  }

  const rawBody = msg.body;
  let body: Uint8Array;
  if (typeof rawBody === 'string') body = Buffer.from(rawBody, 'utf8');
  else if (rawBody instanceof Uint8Array) body = rawBody;
  else throw new TypeError('body must be a Uint8Array or a string');
  if (body.length > limits.maxBodySize) {
    throw new KeelError('BODY_TOO_LARGE', `body is ${body.length} bytes, more than the limit ${limits.maxBodySize}`);
  }

  const userProps = propertiesObject(msg.properties);
  const names = userProps === undefined ? undefined : Object.keys(userProps);
  let tags: unknown = msg.tags;
  if (tags === undefined && userProps !== undefined) tags = userProps['TAGS'];
  let keys: unknown = msg.keys;
  if (Array.isArray(keys)) {
    for (const k of keys) if (typeof k !== 'string') throw new TypeError('keys must be strings');
    keys = keys.length === 0 ? undefined : keys.join(' ');
  } else if (keys === undefined && userProps !== undefined) {
    keys = userProps['KEYS'];
  }
  let tagsCode = msg.tagsCode;
  let bound = 0;
  if (tags !== undefined) bound += propertyBound('TAGS', tags);
  if (keys !== undefined) bound += propertyBound('KEYS', keys);
  if (names !== undefined) {
    for (const name of names) {
      if (name === 'TAGS' || name === 'KEYS') continue;
      if (name === CRC_PROPERTY || name === TAGS_CODE_PROPERTY) throw new KeelError('PROPERTY_INVALID', `property name ${name} is reserved by the store`);
      bound += propertyBound(name, userProps![name]);
    }
  }
  if (tagsCode !== undefined) {
    if (typeof tagsCode !== 'number' || !Number.isSafeInteger(tagsCode)) throw new TypeError(`tagsCode must be a safe integer, got ${String(tagsCode)}`);
    bound += TAGS_CODE_PROPERTY.length + 2 + 17;
  } else {
    tagsCode = tags === undefined ? 0 : tagsHashCode(tags as string);
  }
  const crcBytes = wholeCrc ? CRC_PROPERTY_SIZE : 0;
  const maxProps = Math.min(limits.maxPropertiesLength, MAX_PROPERTIES_BYTES);
  // Every UTF-16 unit takes at least one byte: reject huge properties before reserving room for them.
  if (bound / 3 + crcBytes > maxProps) throw new KeelError('PROPERTIES_TOO_LONG', `properties are longer than the limit ${maxProps}`);
  reserve(bound);
  let p = slabPos;
  if (tags !== undefined) p = writeProperty('TAGS', tags as string, p);
  if (keys !== undefined) p = writeProperty('KEYS', keys as string, p);
  if (names !== undefined) {
    for (const name of names) if (name !== 'TAGS' && name !== 'KEYS') p = writeProperty(name, userProps![name] as string, p);
  }
  if (msg.tagsCode !== undefined) p = writeProperty(TAGS_CODE_PROPERTY, String(tagsCode), p);
  const props = takeSlab(p);
  const propsLength = props.length + crcBytes;
  if (propsLength > maxProps) {
    throw new KeelError('PROPERTIES_TOO_LONG', `properties are ${propsLength} bytes${wholeCrc ? ' (with the 20-byte record CRC)' : ''}, more than the limit ${maxProps}`);
  }

  let bornHostIp = defaultBornHost.ip;
  let bornHostPort = defaultBornHost.port;
  const bh = msg.bornHost;
  if (bh !== undefined) {
    if (bh !== lastBornHost) {
      if (typeof bh !== 'string') throw new TypeError(`bornHost must be a string, got ${typeof bh}`);
      const h = parseHost(bh);
      lastBornHost = bh;
      lastBornIp = h.ip;
      lastBornPort = h.port;
    }
    bornHostIp = lastBornIp;
    bornHostPort = lastBornPort;
  }

  return {
    topic,
    topicBytes,
    queueId,
    body,
    props,
    size: RECORD_FIXED_OVERHEAD + body.length + topicBytes.length + propsLength,
    flag: int32Of(msg.flag, 'flag'),
    // The host fields written are always IPv4, whatever the producer claimed.
    sysFlag: int32Of(msg.sysFlag, 'sysFlag') & ~IPV6_HOST_FLAGS,
    bornTimestamp: uint53Of(msg.bornTimestamp, 'bornTimestamp', now),
    bornHostIp,
    bornHostPort,
    reconsumeTimes: int32Of(msg.reconsumeTimes, 'reconsumeTimes'),
    preparedTransactionOffset: uint53Of(msg.preparedTransactionOffset, 'preparedTransactionOffset', 0),
    tagsCode,
  };
}

/**
 * Writes the record at buf[pos, pos + p.size) and stamps what depends on where it
 * lands, CRCs included. `wholeCrc` must be what the message was prepared with.
 */
export function encodeRecord(p: PreparedMessage, buf: Buffer, pos: number, queueOffset: number, physicalOffset: number, storeTimestamp: number, storeHostIp: number, storeHostPort: number, wholeCrc: boolean): void {
  layoutRecord(p, buf, pos, queueOffset, physicalOffset, storeTimestamp, storeHostIp, storeHostPort, wholeCrc);
  stampRecord(buf, pos, p.size, wholeCrc);
}

/**
 * encodeRecord without the CRCs: the body CRC field is 0 and the CRC property's
 * digits are left as they are, for stampRecords to fill later (the CommitLog
 * stamps a whole write at once, possibly on another thread). Allocates nothing.
 */
export function layoutRecord(p: PreparedMessage, buf: Buffer, pos: number, queueOffset: number, physicalOffset: number, storeTimestamp: number, storeHostIp: number, storeHostPort: number, wholeCrc: boolean): void {
  const size = p.size;
  const body = p.body;
  const topic = p.topicBytes;
  const props = p.props;
  const bodyLength = body.length;
  const topicLength = topic.length;
  const propsLength = props.length + (wholeCrc ? CRC_PROPERTY_SIZE : 0);
  if (RECORD_FIXED_OVERHEAD + bodyLength + topicLength + propsLength !== size) {
    throw new RangeError(`record size ${size} does not match its parts: prepared with a different wholeCrc setting?`);
  }
  if (!(pos >= 0 && pos + size <= buf.length)) throw new RangeError(`record of ${size} bytes at ${pos} does not fit a buffer of ${buf.length}`);
  const v = viewFor(buf);
  v.setUint32(pos, size);
  v.setUint32(pos + POS_MAGIC, MAGIC_V1);
  v.setUint32(pos + POS_BODY_CRC, 0);
  v.setUint32(pos + POS_QUEUE_ID, p.queueId);
  v.setUint32(pos + POS_FLAG, p.flag);
  v.setUint32(pos + POS_QUEUE_OFFSET, Math.floor(queueOffset / TWO_32));
  v.setUint32(pos + POS_QUEUE_OFFSET + 4, queueOffset >>> 0);
  v.setUint32(pos + POS_PHYSICAL_OFFSET, Math.floor(physicalOffset / TWO_32));
  v.setUint32(pos + POS_PHYSICAL_OFFSET + 4, physicalOffset >>> 0);
  v.setUint32(pos + POS_SYS_FLAG, p.sysFlag);
  v.setUint32(pos + POS_BORN_TIMESTAMP, Math.floor(p.bornTimestamp / TWO_32));
  v.setUint32(pos + POS_BORN_TIMESTAMP + 4, p.bornTimestamp >>> 0);
  v.setUint32(pos + POS_BORN_HOST, p.bornHostIp);
  v.setUint32(pos + POS_BORN_HOST + 4, p.bornHostPort);
  v.setUint32(pos + STORE_TIMESTAMP_POS, Math.floor(storeTimestamp / TWO_32));
  v.setUint32(pos + STORE_TIMESTAMP_POS + 4, storeTimestamp >>> 0);
  v.setUint32(pos + POS_STORE_HOST, storeHostIp);
  v.setUint32(pos + POS_STORE_HOST + 4, storeHostPort);
  v.setUint32(pos + POS_RECONSUME_TIMES, p.reconsumeTimes);
  v.setUint32(pos + POS_PREPARED_TX_OFFSET, Math.floor(p.preparedTransactionOffset / TWO_32));
  v.setUint32(pos + POS_PREPARED_TX_OFFSET + 4, p.preparedTransactionOffset >>> 0);
  v.setUint32(pos + POS_BODY_LENGTH, bodyLength);
  buf.set(body, pos + POS_BODY);
  let q = pos + POS_BODY + bodyLength;
  buf[q++] = topicLength;
  for (let i = 0; i < topicLength; i++) buf[q++] = topic[i]!;
  buf[q++] = propsLength >>> 8;
  buf[q++] = propsLength;
  buf.set(props, q);
  if (wholeCrc) {
    q += props.length;
    for (let i = 0; i < 9; i++) buf[q + i] = CRC_HEAD[i]!;
    buf[q + 19] = 2;
  }
}

/**
 * DataView stores are single byte-swapped writes in optimized code, twice as fast
 * as byte stores; the view is kept for the buffer last written, which is the
 * CommitLog's current write buffer nearly every time.
 */
let viewOf: Buffer | undefined;
let view: DataView = new DataView(new ArrayBuffer(0));

function viewFor(buf: Buffer): DataView {
  if (buf !== viewOf) {
    viewOf = buf;
    view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  return view;
}

/**
 * Fills the body CRC and, with `wholeCrc`, the CRC property's digits of the
 * laid-out record at buf[pos, pos + size).
 */
export function stampRecord(buf: Buffer, pos: number, size: number, wholeCrc: boolean): void {
  const v = viewFor(buf);
  const bodyLength = v.getUint32(pos + POS_BODY_LENGTH);
  const bodyStart = pos + POS_BODY;
  const bodyEnd = bodyStart + bodyLength;
  const bodyCrc = crc32(buf, bodyStart, bodyEnd);
  v.setUint32(pos + POS_BODY_CRC, bodyCrc & 0x7fffffff);
  if (!wholeCrc) return;
  const q = pos + size - CRC_PROPERTY_SIZE;
  const c = wholeRecordCrc(buf, pos, bodyLength, bodyCrc, q);
  // Two int32 halves of five digits each: integer division by a constant is a multiply.
  let hi = Math.floor(c / 100000);
  let lo = c - hi * 100000;
  for (let i = q + 18; i >= q + 14; i--) {
    const d = (lo / 10) | 0;
    buf[i] = 48 + lo - d * 10;
    lo = d;
  }
  for (let i = q + 13; i >= q + 9; i--) {
    const d = (hi / 10) | 0;
    buf[i] = 48 + hi - d * 10;
    hi = d;
  }
}

/**
 * The whole-record CRC of the record at `pos` (everything before its CRC property
 * at `crcAt`): the header, the body's CRC shifted in, then topic and properties,
 * so that the body is not read twice.
 */
function wholeRecordCrc(buf: Buffer, pos: number, bodyLength: number, bodyCrc: number, crcAt: number): number {
  const bodyStart = pos + POS_BODY;
  return crc32(buf, bodyStart + bodyLength, crcAt, crc32Combine(crc32(buf, pos, bodyStart), bodyCrc, bodyLength));
}

/** stampRecord for every record laid out in buf[from, to), up to an end marker if one comes first. */
export function stampRecords(buf: Buffer, from: number, to: number, wholeCrc: boolean): void {
  const v = viewFor(buf);
  for (let pos = from; pos < to;) {
    const size = v.getUint32(pos);
    if (v.getUint32(pos + POS_MAGIC) !== MAGIC_V1) return;
    stampRecord(buf, pos, size, wholeCrc);
    pos += size;
  }
}

/** The 8-byte marker that fills the rest of a segment: size = remaining, magic = BLANK. */
export function writeEndMarker(buf: Buffer, pos: number, remaining: number): void {
  if (remaining < END_MARKER_SIZE) throw new RangeError(`an end marker needs ${END_MARKER_SIZE} bytes, only ${remaining} remain`);
  buf.writeUInt32BE(remaining, pos);
  buf.writeUInt32BE(BLANK_MAGIC, pos + POS_MAGIC);
}

// ---------------------------------------------------------------- decoding

/** The CRC value of a CRC property at the end of props, or -1 when its digits are malformed. */
function crcPropertyValue(b: Buffer, pe: number): number {
  let v = 0;
  for (let i = pe - 11; i < pe - 1; i++) {
    const d = b[i]! - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

const invalid = (reason: string): RecordCheck => ({ kind: 'invalid', reason });

/**
 * Structure and CRC check of what is at buf[pos, pos + available), which should be
 * a record or end marker at physical offset `expectedOffset`. A `blank` size is not
 * checked against the segment's rest, and a `short` size not against the segment's
 * end: both are the caller's to do.
 */
export function checkRecord(buf: Buffer, pos: number, available: number, expectedOffset: number, requireWholeCrc: boolean, verifyCrc = true): RecordCheck {
  if (available > buf.length - pos) available = buf.length - pos;
  if (available < END_MARKER_SIZE) return { kind: 'short', size: END_MARKER_SIZE };
  const size = r32(buf, pos);
  const magic = u32(buf, pos + POS_MAGIC);
  if (magic === BLANK_MAGIC) {
    return size >= END_MARKER_SIZE ? { kind: 'blank', size } : invalid(`end marker size ${size} is below ${END_MARKER_SIZE}`);
  }
  if (magic !== MAGIC_V1) return invalid(`bad magic 0x${magic.toString(16).padStart(8, '0')}`);
  if (size < RECORD_FIXED_OVERHEAD) return invalid(`record size ${size} is below the minimum ${RECORD_FIXED_OVERHEAD}`);
  if (size > available) return { kind: 'short', size };
  const physicalOffset = r64(buf, pos + POS_PHYSICAL_OFFSET);
  if (physicalOffset !== expectedOffset) return invalid(`physical offset field ${physicalOffset} is not the record's offset ${expectedOffset}`);
  if ((r32(buf, pos + POS_SYS_FLAG) & IPV6_HOST_FLAGS) !== 0) return invalid('sysFlag announces IPv6 hosts, which v1 records here never have');
  const bodyLength = r32(buf, pos + POS_BODY_LENGTH);
  if (bodyLength < 0 || bodyLength > size - RECORD_FIXED_OVERHEAD) return invalid(`body length ${bodyLength} does not fit record size ${size}`);
  const bodyEnd = pos + POS_BODY + bodyLength;
  const topicLength = buf[bodyEnd]!;
  if (topicLength === 0 || topicLength > MAX_TOPIC_BYTES) return invalid(`topic length ${topicLength} is outside 1..${MAX_TOPIC_BYTES}`);
  const ps = bodyEnd + 1 + topicLength + 2;
  const propsLength = (buf[ps - 2]! << 8) | buf[ps - 1]!;
  if (RECORD_FIXED_OVERHEAD + bodyLength + topicLength + propsLength !== size) {
    return invalid(`lengths (body ${bodyLength}, topic ${topicLength}, properties ${propsLength}) do not add up to record size ${size}`);
  }
  // Without CRCs: the structure alone, for log already verified when it became durable.
  if (!verifyCrc) return { kind: 'record', size };
  const bodyCrc = crc32(buf, pos + POS_BODY, bodyEnd);
  if ((bodyCrc & 0x7fffffff) !== u32(buf, pos + POS_BODY_CRC)) return invalid('body crc mismatch');
  const pe = ps + propsLength;
  if (hasCrcProperty(buf, ps, pe)) {
    const stored = crcPropertyValue(buf, pe);
    if (stored < 0) return invalid('record crc property is malformed');
    if (wholeRecordCrc(buf, pos, bodyLength, bodyCrc, pe - CRC_PROPERTY_SIZE) !== stored) return invalid('record crc mismatch');
  } else if (requireWholeCrc) {
    return invalid('record crc property missing');
  }
  return { kind: 'record', size };
}

/** Decodes `name 0x01 value 0x02 ...`; a missing final 0x02 is tolerated. */
export function decodeProperties(buf: Buffer, start: number, end: number): Record<string, string> {
  return parseProperties(buf.toString('utf8', start, end), false);
}

const TAGS_NAME = Buffer.from('TAGS', 'latin1');
const TAGS_CODE_NAME = Buffer.from(TAGS_CODE_PROPERTY, 'latin1');

function nameIs(b: Buffer, start: number, end: number, name: Buffer): boolean {
  if (end - start !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (b[start + i] !== name[i]) return false;
  return true;
}

/** Java String.hashCode of the UTF-8 bytes b[start, end). */
function hashCodeOfBytes(b: Buffer, start: number, end: number): number {
  let h = 0;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (c >= 0x80) return tagsHashCode(b.toString('utf8', start, end));
    h = (Math.imul(h, 31) + c) | 0;
  }
  return h;
}

/** The fields dispatch and recovery need, without decoding the body or building a properties object. */
export function readRecordInfo(buf: Buffer, pos: number): { size: number; queueId: number; queueOffset: number; physicalOffset: number; storeTimestamp: number; topic: string; tagsCode: number } {
  const bodyEnd = pos + POS_BODY + r32(buf, pos + POS_BODY_LENGTH);
  const topicLength = buf[bodyEnd]!;
  const ps = bodyEnd + 1 + topicLength + 2;
  const pe = ps + ((buf[ps - 2]! << 8) | buf[ps - 1]!);
  let tagsCode = 0;
  for (let i = ps; i < pe;) {
    let j = i;
    while (j < pe && buf[j] !== 1) j++;
    let k = j + 1;
    while (k < pe && buf[k] !== 2) k++;
    if (nameIs(buf, i, j, TAGS_CODE_NAME)) {
      tagsCode = Number(buf.toString('latin1', j + 1, k));
      break;
    }
    if (nameIs(buf, i, j, TAGS_NAME)) tagsCode = hashCodeOfBytes(buf, j + 1, Math.min(k, pe));
    i = k + 1;
  }
  return {
    size: r32(buf, pos),
    queueId: r32(buf, pos + POS_QUEUE_ID),
    queueOffset: r64(buf, pos + POS_QUEUE_OFFSET),
    physicalOffset: r64(buf, pos + POS_PHYSICAL_OFFSET),
    storeTimestamp: r64(buf, pos + STORE_TIMESTAMP_POS),
    topic: buf.toString('utf8', bodyEnd + 1, bodyEnd + 1 + topicLength),
    tagsCode,
  };
}

// ---------------------------------------------------------------- helpers

const HOST = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3}):(\d{1,5})$/;

/** "a.b.c.d:port" → unsigned IPv4 and port; TypeError on anything else. */
export function parseHost(s: string): { ip: number; port: number } {
  const m = typeof s === 'string' ? HOST.exec(s) : null;
  if (m !== null) {
    const a = +m[1]!, b = +m[2]!, c = +m[3]!, d = +m[4]!, port = +m[5]!;
    if (a <= 255 && b <= 255 && c <= 255 && d <= 255 && port <= 65535) {
      return { ip: ((a << 24) | (b << 16) | (c << 8) | d) >>> 0, port };
    }
  }
  throw new TypeError(`host must be "a.b.c.d:port" (IPv4), got ${JSON.stringify(s)}`);
}


