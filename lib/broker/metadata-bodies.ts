/**
 * The bodies of GET_ALL_TOPIC_CONFIG (21), GET_ALL_CONSUMER_OFFSET (43) and GET_ALL_DELAY_OFFSET
 * (45), which a master answers and its slave's SlaveSynchronize reads, as RocketMQ 4.9.7 writes
 * them with fastjson: TopicConfigSerializeWrapper `{"dataVersion":{..},"topicConfigTable":{..}}`,
 * ConsumerOffsetManager `{"offsetTable":{"topic@group":{0:12}}}` and ScheduleMessageService
 * `{"offsetTable":{1:5}}`, integer map keys unquoted (fastjson's default). Read leniently: quoted
 * keys are accepted too.
 */
import { KeelError } from '../common/errors';
import type { TopicConfig as StoredTopicConfig } from '../consumer/topic-config';
import { parseLenientJson } from '../remoting/lenient-json';
import { type DataVersion, topicConfigJson } from '../remoting/register-broker-body';
import { wireTopicConfig } from './name-server-registrar';

export function encodeTopicConfigs(topics: readonly StoredTopicConfig[], dataVersion: DataVersion, autoCreateTopics: boolean): Buffer {
  const topicConfigTable: Record<string, object> = Object.create(null);
  for (const t of topics) topicConfigTable[t.name] = topicConfigJson(wireTopicConfig(t, autoCreateTopics));
  return Buffer.from(JSON.stringify({ dataVersion: { counter: dataVersion.counter, timestamp: dataVersion.timestamp }, topicConfigTable }), 'utf8');
}

export function decodeTopicConfigs(body: Buffer | undefined): { dataVersion: DataVersion; topics: StoredTopicConfig[] } {
  const o = object(parse(body, 'TopicConfigSerializeWrapper'), 'TopicConfigSerializeWrapper');
  const dv = object(o.dataVersion ?? {}, 'dataVersion');
  const topics: StoredTopicConfig[] = [];
  for (const [name, v] of Object.entries(object(o.topicConfigTable ?? {}, 'topicConfigTable'))) {
    const t = object(v, `topicConfigTable.${name}`);
    const queues = Math.max(count(t.readQueueNums), count(t.writeQueueNums));
    if (queues > 0) topics.push({ name, queues });
  }
  return { dataVersion: { counter: count(dv.counter), timestamp: count(dv.timestamp) }, topics };
}

export function encodeConsumerOffsets(table: ReadonlyMap<string, ReadonlyMap<number, number>>): Buffer {
  const groups = [...table].map(([k, queues]) => `${JSON.stringify(k)}:${intKeyed(queues)}`);
  return Buffer.from(`{"offsetTable":{${groups.join(',')}}}`, 'utf8');
}

export function decodeConsumerOffsets(body: Buffer | undefined): Map<string, Map<number, number>> {
  const o = object(parse(body, 'ConsumerOffsetSerializeWrapper'), 'ConsumerOffsetSerializeWrapper');
  const out = new Map<string, Map<number, number>>();
  for (const [k, v] of Object.entries(object(o.offsetTable ?? {}, 'offsetTable'))) {
    if (!k.includes('@')) bad(`offsetTable key ${JSON.stringify(k)} is not topic@group`);
    out.set(k, intMap(v, `offsetTable.${k}`));
  }
  return out;
}

/** Level 1 first. */
export function encodeDelayOffsets(progress: readonly number[]): Buffer {
  return Buffer.from(`{"offsetTable":${intKeyed(new Map(progress.map((off, i) => [i + 1, off])))}}`, 'utf8');
}

export function decodeDelayOffsets(body: Buffer | undefined): Map<number, number> {
  const o = object(parse(body, 'DelayOffsetSerializeWrapper'), 'DelayOffsetSerializeWrapper');
  return intMap(o.offsetTable ?? {}, 'offsetTable');
}

function intKeyed(m: ReadonlyMap<number, number>): string {
  return `{${[...m].sort((a, b) => a[0] - b[0]).map(([k, v]) => `${k}:${v}`).join(',')}}`;
}

function intMap(v: unknown, what: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const [k, off] of Object.entries(object(v, what))) {
    const q = Number(k);
    if (!Number.isSafeInteger(q) || q < 0) bad(`${what} key ${JSON.stringify(k)} is not a queue or level`);
    out.set(q, count(off));
  }
  return out;
}

function parse(body: Buffer | undefined, what: string): unknown {
  if (!body || body.length === 0) bad(`${what}: no body`);
  return parseLenientJson(body.toString('utf8'), { numbers: 'number' });
}

function object(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(`${what} is not an object`);
  return v as Record<string, unknown>;
}

function count(v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) bad(`${JSON.stringify(v)} is not a non-negative integer`);
  return v as number;
}

function bad(what: string): never {
  throw new KeelError('REMOTING_REQUEST_INVALID', `bad metadata body from the master: ${what}`);
}
