/**
 * The REGISTER_BROKER body (`RegisterBrokerBody`, `TopicConfigSerializeWrapper`), plain JSON or,
 * with header `compressed=true`, deflate of:
 *   i32 len + DataVersion JSON · i32 n · n × (i32 len + "name read write perm filterType") · i32 len + filter-server JSON
 * The compressed form has no topicSysFlag/order: they read back as 0/false, as in Java.
 */
import * as zlib from 'node:zlib';
import { KeelError } from '../common/errors';
import { parseLenientJson } from './lenient-json';

export interface TopicConfig {
  topicName: string;
  readQueueNums: number;
  writeQueueNums: number;
  perm: number;
  topicFilterType: string;
  topicSysFlag: number;
  order: boolean;
}

export interface DataVersion {
  counter: number;
  timestamp: number;
}

export interface RegisterBrokerBody {
  dataVersion: DataVersion;
  topicConfigTable: TopicConfig[];
  filterServerList: string[];
}

/** A compressed body inflating past this is junk (or a bomb), not a broker's topic table. */
const MAX_INFLATED_BYTES = 64 * 1024 * 1024;

function bad(what: string): never {
  throw new KeelError('REMOTING_REQUEST_INVALID', `bad RegisterBrokerBody: ${what}`);
}

/** `UtilAll.crc32`: CRC-32 masked to a non-negative Java int; the header's `bodyCrc32`. */
export function bodyCrc32(body: Buffer | undefined): number {
  return body && body.length > 0 ? zlib.crc32(body) & 0x7fffffff : 0;
}

/** A TopicConfig as fastjson writes it (fields sorted). */
export function topicConfigJson(t: TopicConfig): object {
  return {
    order: t.order, perm: t.perm, readQueueNums: t.readQueueNums, topicFilterType: t.topicFilterType,
    topicName: t.topicName, topicSysFlag: t.topicSysFlag, writeQueueNums: t.writeQueueNums,
  };
}

export function encodeRegisterBrokerBody(b: RegisterBrokerBody, compressed: boolean): Buffer {
  const dataVersion = { counter: b.dataVersion.counter, timestamp: b.dataVersion.timestamp };
  if (!compressed) {
    const topicConfigTable: Record<string, object> = Object.create(null);
    for (const t of b.topicConfigTable) topicConfigTable[t.topicName] = topicConfigJson(t);
    return Buffer.from(JSON.stringify({
      filterServerList: b.filterServerList,
      topicConfigSerializeWrapper: { dataVersion, topicConfigTable },
    }), 'utf8');
  }
  const parts: Buffer[] = [];
  const put = (s: string) => {
    const bytes = Buffer.from(s, 'utf8');
    const len = Buffer.allocUnsafe(4);
    len.writeInt32BE(bytes.length, 0);
    parts.push(len, bytes);
  };
  put(JSON.stringify(dataVersion));
  const n = Buffer.allocUnsafe(4);
  n.writeInt32BE(b.topicConfigTable.length, 0);
  parts.push(n);
  for (const t of b.topicConfigTable) put(`${t.topicName} ${t.readQueueNums} ${t.writeQueueNums} ${t.perm} ${t.topicFilterType}`);
  put(JSON.stringify(b.filterServerList));
  return zlib.deflateSync(Buffer.concat(parts), { level: zlib.constants.Z_BEST_COMPRESSION });
}

export function decodeRegisterBrokerBody(body: Buffer, compressed: boolean): RegisterBrokerBody {
  return compressed ? decodeCompressed(body) : decodeJson(body);
}

/** Brokers older than 3.0.11 (version < 37) send the TopicConfigSerializeWrapper alone. */
export function decodeTopicConfigWrapper(body: Buffer): RegisterBrokerBody {
  return { ...wrapper(parseJson(body)), filterServerList: [] };
}

function parseJson(body: Buffer): Record<string, unknown> {
  return obj(parseLenientJson(body.toString('utf8'), { numbers: 'number' }), 'body');
}

function decodeJson(body: Buffer): RegisterBrokerBody {
  const o = parseJson(body);
  const filterServerList = o.filterServerList === undefined || o.filterServerList === null ? [] : strings(o.filterServerList);
  return { ...wrapper(obj(o.topicConfigSerializeWrapper ?? {}, 'topicConfigSerializeWrapper')), filterServerList };
}

function wrapper(w: Record<string, unknown>): Omit<RegisterBrokerBody, 'filterServerList'> {
  const topicConfigTable: TopicConfig[] = [];
  for (const [name, v] of Object.entries(obj(w.topicConfigTable ?? {}, 'topicConfigTable'))) {
    const t = obj(v, `topic config ${name}`);
    topicConfigTable.push({
      topicName: typeof t.topicName === 'string' ? t.topicName : name,
      readQueueNums: int(t.readQueueNums, 'readQueueNums', 16),
      writeQueueNums: int(t.writeQueueNums, 'writeQueueNums', 16),
      perm: int(t.perm, 'perm', 6),
      topicFilterType: typeof t.topicFilterType === 'string' ? t.topicFilterType : 'SINGLE_TAG',
      topicSysFlag: int(t.topicSysFlag, 'topicSysFlag', 0),
      order: t.order === true,
    });
  }
  return { dataVersion: dataVersion(w.dataVersion ?? {}), topicConfigTable };
}

function dataVersion(v: unknown): DataVersion {
  const d = obj(v, 'dataVersion');
  return { counter: int(d.counter, 'counter', 0), timestamp: int(d.timestamp, 'timestamp', 0) };
}

function decodeCompressed(body: Buffer): RegisterBrokerBody {
  let raw: Buffer;
  try {
    raw = zlib.inflateSync(body, { maxOutputLength: MAX_INFLATED_BYTES });
  } catch (e) {
    return bad(`cannot inflate: ${(e as Error).message}`);
  }
  let p = 0;
  const next = (): string => {
    if (p + 4 > raw.length) bad('truncated');
    const len = raw.readInt32BE(p);
    p += 4;
    if (len < 0 || p + len > raw.length) bad('truncated');
    const s = raw.toString('utf8', p, p + len);
    p += len;
    return s;
  };
  const dv = dataVersion(parseLenientJson(next(), { numbers: 'number' }));
  if (p + 4 > raw.length) bad('truncated');
  const n = raw.readInt32BE(p);
  p += 4;
  if (n < 0) bad('negative topic count');
  const topicConfigTable: TopicConfig[] = [];
  for (let i = 0; i < n; i++) {
    const f = next().split(' ');
    const nums = f.slice(1, 4).map(Number);
    // Java's TopicConfig.decode takes exactly five fields.
    if (f.length !== 5 || !nums.every((x) => Number.isInteger(x))) bad('a topic entry is not "name read write perm filterType"');
    topicConfigTable.push({
      topicName: f[0]!, readQueueNums: nums[0]!, writeQueueNums: nums[1]!, perm: nums[2]!, topicFilterType: f[4]!, topicSysFlag: 0, order: false,
    });
  }
  const filterJson = next();
  let filterServerList: string[];
  // Java logs and goes on with an empty list when this part does not parse.
  try {
    filterServerList = strings(parseLenientJson(filterJson, { numbers: 'number' }));
  } catch {
    filterServerList = [];
  }
  return { dataVersion: dv, topicConfigTable, filterServerList };
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(`${what} is not an object`);
  return v as Record<string, unknown>;
}

function int(v: unknown, what: string, fallback: number): number {
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) bad(`${what} is not an integer`);
  return v;
}

function strings(v: unknown): string[] {
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) bad('filterServerList is not a list of strings');
  return v as string[];
}
