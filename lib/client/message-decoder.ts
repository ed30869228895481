/**
 * The stored records a broker sends in PULL / VIEW / QUERY bodies, as a client reads them
 * (`MessageDecoder.decodes`, reference §6.1). Client code may not import the store, and a client
 * must read what any RocketMQ 4.x broker sends (IPv6 hosts, compressed bodies), so this is the
 * client's own reader, not the store's.
 */
import { KeelError } from '../common/errors';
import { decompressBody } from './message-compression';

/** A message as a client receives it. */
export interface ReceivedMessage {
  topic: string;
  queueId: number;
  queueOffset: number;
  commitLogOffset: number;
  body: Buffer;
  flag: number;
  sysFlag: number;
  bornTimestamp: number;
  bornHost: string;
  storeTimestamp: number;
  storeHost: string;
  reconsumeTimes: number;
  properties: Record<string, string>;
  tags: string | undefined;
  keys: string[];
  /** The offset message id: store host + commit-log offset in hex. */
  msgId: string;
}

const FLAG_BORN_HOST_V6 = 0x10;
const FLAG_STORE_HOST_V6 = 0x20;
/** keelmq brokers keep their own bookkeeping among the stored properties; it is not the user's. */
const BROKER_INTERNAL_PROPERTIES = new Set(['__CRC32#', '__TAGSCODE#']);

/** Every record of a body; a body that does not parse is a REMOTING_REQUEST_INVALID error naming the position. */
export function decodeMessages(body: Buffer | undefined): ReceivedMessage[] {
  const out: ReceivedMessage[] = [];
  if (!body) return out;
  for (let pos = 0; pos < body.length;) {
    const size = body.length - pos >= 4 ? body.readInt32BE(pos) : 0;
    if (size <= 0 || pos + size > body.length) throw bad(pos, `record size ${size} does not fit the ${body.length - pos} bytes left`);
    out.push(decodeOne(body.subarray(pos, pos + size), pos));
    pos += size;
  }
  return out;
}

function decodeOne(r: Buffer, at: number): ReceivedMessage {
  try {
    let p = 12;
    const queueId = r.readInt32BE(p); p += 4;
    const flag = r.readInt32BE(p); p += 4;
    const queueOffset = Number(r.readBigInt64BE(p)); p += 8;
    const commitLogOffset = Number(r.readBigInt64BE(p)); p += 8;
    const sysFlag = r.readInt32BE(p); p += 4;
    const bornTimestamp = Number(r.readBigInt64BE(p)); p += 8;
    const bornLen = sysFlag & FLAG_BORN_HOST_V6 ? 16 : 4;
    const bornHost = host(r, p, bornLen); p += bornLen + 4;
    const storeTimestamp = Number(r.readBigInt64BE(p)); p += 8;
    const storeLen = sysFlag & FLAG_STORE_HOST_V6 ? 16 : 4;
    const storeHost = host(r, p, storeLen);
    const msgId = r.toString('hex', p, p + storeLen + 4).toUpperCase() + r.toString('hex', 28, 36).toUpperCase();
    p += storeLen + 4;
    const reconsumeTimes = r.readInt32BE(p); p += 4;
    p += 8; // prepared transaction offset
    const bodyLen = r.readInt32BE(p); p += 4;
    if (bodyLen < 0 || p + bodyLen > r.length) throw new RangeError(`body length ${bodyLen}`);
    const body = decompressBody(r.subarray(p, p + bodyLen), sysFlag); p += bodyLen;
    const topicLen = r.readUInt8(p); p += 1;
    const topic = r.toString('utf8', p, p + topicLen); p += topicLen;
    const propsLen = r.readInt16BE(p); p += 2;
    if (propsLen < 0 || p + propsLen > r.length) throw new RangeError(`properties length ${propsLen}`);
    const properties = parseProperties(r.toString('utf8', p, p + propsLen));
    const keys = properties['KEYS'];
    return {
      topic, queueId, queueOffset, commitLogOffset, body, flag, sysFlag, bornTimestamp, bornHost, storeTimestamp, storeHost, reconsumeTimes,
      properties, tags: properties['TAGS'], keys: keys ? keys.split(' ').filter((k) => k !== '') : [], msgId,
    };
  } catch (e) {
    if (e instanceof KeelError) throw e;
    throw bad(at, (e as Error).message);
  }
}

function host(r: Buffer, p: number, ipLen: number): string {
  const port = r.readInt32BE(p + ipLen);
  if (ipLen === 4) return `${r[p]}.${r[p + 1]}.${r[p + 2]}.${r[p + 3]}:${port}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(r.readUInt16BE(p + i).toString(16));
  return `[${groups.join(':')}]:${port}`;
}

/** `k\u0001v` entries joined by `\u0002`, with or without a trailing `\u0002`; empty names and values skipped, as Java does. */
export function parseProperties(s: string): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  for (const entry of s.split('\u0002')) {
    const at = entry.indexOf('\u0001');
    if (at <= 0 || at === entry.length - 1) continue;
    const name = entry.slice(0, at);
    if (!BROKER_INTERNAL_PROPERTIES.has(name)) out[name] = entry.slice(at + 1);
  }
  return out;
}

/** Properties as a producer sends them (SEND_MESSAGE_V2 field `i`). */
export function encodeProperties(props: Record<string, string>): string {
  return Object.entries(props).map(([k, v]) => `${k}\u0001${v}`).join('\u0002');
}

function bad(pos: number, what: string): KeelError {
  return new KeelError('REMOTING_REQUEST_INVALID', `a message in the reply does not parse at byte ${pos}: ${what}`);
}
