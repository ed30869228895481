/**
 * The broker calls of a RocketMQ client and of mqadmin (`MQClientAPIImpl`), one request each,
 * over one RemotingClient: send, pull, consumer offsets, and the admin codes keelmq's CLI uses
 * (create topic, topic stats, consume stats, reset offset by time). Headers are those a 4.9.7
 * Java client sends (reference §3, §5).
 */
import { KeelError } from '../common/errors';
import { expectSuccess, RemotingClient } from '../remoting/remoting-client';
import { RemotingCommand } from '../remoting/remoting-command';
import { RequestCode } from '../remoting/request-code';
import { ResponseCode } from '../remoting/response-code';
import { decodeMessages, encodeProperties, type ReceivedMessage } from './message-decoder';

export interface OutgoingMessage {
  topic: string;
  body: Buffer;
  tags?: string;
  /** Space separated in the KEYS property. */
  keys?: string[];
  properties?: Record<string, string>;
}

export type SendStatus = 'SEND_OK' | 'FLUSH_DISK_TIMEOUT' | 'FLUSH_SLAVE_TIMEOUT' | 'SLAVE_NOT_AVAILABLE';

export interface SendResult {
  status: SendStatus;
  /** The offset message id. */
  msgId: string;
  queueId: number;
  queueOffset: number;
}

export type PullStatus = 'FOUND' | 'NO_NEW_MSG' | 'NO_MATCHED_MSG' | 'OFFSET_ILLEGAL';

export interface PullResult {
  status: PullStatus;
  nextBeginOffset: number;
  minOffset: number;
  maxOffset: number;
  messages: ReceivedMessage[];
}

export interface PullRequest {
  group: string;
  topic: string;
  queueId: number;
  offset: number;
  maxMessages: number;
  /** Tag expression ("*", "A || B"), posted with the pull. */
  subscription: string;
  /** Hold the pull on the broker until a message arrives or this long passes; 0: answer at once. */
  suspendMs: number;
}

/** RocketMQ's MessageQueue: the key of the admin tables. */
export interface MessageQueue { brokerName: string; topic: string; queueId: number }

/** One queue's offsets as GET_TOPIC_STATS_INFO reports them. */
export interface QueueStats extends MessageQueue { minOffset: number; maxOffset: number; lastUpdateTimestamp: number }

/** One queue's consumer progress as GET_CONSUME_STATS reports it. */
export interface QueueProgress extends MessageQueue { brokerOffset: number; consumerOffset: number; lastTimestamp: number }

/** PullSysFlag bits (reference §3.2). */
const PULL_SUSPEND = 2;
const PULL_SUBSCRIPTION = 4;
const SEND_STATUS: Record<number, SendStatus> = {
  [ResponseCode.SUCCESS]: 'SEND_OK',
  [ResponseCode.FLUSH_DISK_TIMEOUT]: 'FLUSH_DISK_TIMEOUT',
  [ResponseCode.FLUSH_SLAVE_TIMEOUT]: 'FLUSH_SLAVE_TIMEOUT',
  [ResponseCode.SLAVE_NOT_AVAILABLE]: 'SLAVE_NOT_AVAILABLE',
};
const PULL_STATUS: Record<number, PullStatus> = {
  [ResponseCode.SUCCESS]: 'FOUND',
  [ResponseCode.PULL_NOT_FOUND]: 'NO_NEW_MSG',
  [ResponseCode.PULL_RETRY_IMMEDIATELY]: 'NO_MATCHED_MSG',
  [ResponseCode.PULL_OFFSET_MOVED]: 'OFFSET_ILLEGAL',
};

export class BrokerClient {
  constructor(readonly remoting: RemotingClient, private readonly timeoutMs = 3000) {}

  /** SEND_MESSAGE_V2 to one queue. A non-OK status that still stored the message is returned, not thrown (as Java). */
  async send(addr: string, producerGroup: string, queueId: number, m: OutgoingMessage): Promise<SendResult> {
    const props: Record<string, string> = { ...m.properties, WAIT: 'true' };
    if (m.tags) props['TAGS'] = m.tags;
    if (m.keys && m.keys.length > 0) props['KEYS'] = m.keys.join(' ');
    const req = RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, {
      a: producerGroup, b: m.topic, c: 'TBW102', d: 4, e: queueId, f: 0, g: Date.now(), h: 0, i: encodeProperties(props), j: 0, k: false,
    }, m.body);
    const res = await this.remoting.invokeSync(addr, req, this.timeoutMs);
    const status = SEND_STATUS[res.code];
    if (status === undefined) expectSuccess(res, `send to ${m.topic}`);
    return { status: status!, msgId: res.requireString('msgId'), queueId: res.int('queueId'), queueOffset: res.long('queueOffset') };
  }

  /** PULL_MESSAGE with the subscription posted, as a lite pull consumer sends it; the client timeout leaves room for the hold. */
  async pull(addr: string, p: PullRequest): Promise<PullResult> {
    const req = RemotingCommand.request(RequestCode.PULL_MESSAGE, {
      consumerGroup: p.group, topic: p.topic, queueId: p.queueId, queueOffset: p.offset, maxMsgNums: p.maxMessages,
      sysFlag: PULL_SUBSCRIPTION | (p.suspendMs > 0 ? PULL_SUSPEND : 0), commitOffset: 0, suspendTimeoutMillis: p.suspendMs,
      subscription: p.subscription, subVersion: 0, expressionType: 'TAG',
    });
    const res = await this.remoting.invokeSync(addr, req, this.timeoutMs + p.suspendMs);
    const status = PULL_STATUS[res.code];
    if (status === undefined) expectSuccess(res, `pull from ${p.topic}:${p.queueId}`);
    return {
      status: status!,
      nextBeginOffset: res.long('nextBeginOffset'),
      minOffset: res.long('minOffset'),
      maxOffset: res.long('maxOffset'),
      messages: status === 'FOUND' ? decodeMessages(res.body) : [],
    };
  }

  /** The group's committed offset, or undefined when it has none (QUERY_NOT_FOUND). */
  async queryConsumerOffset(addr: string, group: string, topic: string, queueId: number): Promise<number | undefined> {
    const res = await this.call(addr, RequestCode.QUERY_CONSUMER_OFFSET, { consumerGroup: group, topic, queueId });
    if (res.code === ResponseCode.QUERY_NOT_FOUND) return undefined;
    return expectSuccess(res, 'QUERY_CONSUMER_OFFSET').long('offset');
  }

  /** UPDATE_CONSUMER_OFFSET, sent sync (Java sends it oneway) so that the CLI knows it arrived. */
  async updateConsumerOffset(addr: string, group: string, topic: string, queueId: number, offset: number): Promise<void> {
    expectSuccess(await this.call(addr, RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: group, topic, queueId, commitOffset: offset }), 'UPDATE_CONSUMER_OFFSET');
  }

  async minOffset(addr: string, topic: string, queueId: number): Promise<number> {
    return expectSuccess(await this.call(addr, RequestCode.GET_MIN_OFFSET, { topic, queueId }), 'GET_MIN_OFFSET').long('offset');
  }

  /** UPDATE_AND_CREATE_TOPIC as mqadmin updateTopic sends it: read and write queues alike, perm RW. */
  async createTopic(addr: string, topic: string, queues: number): Promise<void> {
    expectSuccess(await this.call(addr, RequestCode.UPDATE_AND_CREATE_TOPIC, {
      topic, defaultTopic: 'TBW102', readQueueNums: queues, writeQueueNums: queues, perm: 6, topicFilterType: 'SINGLE_TAG', topicSysFlag: 0, order: false,
    }), `create topic ${topic}`);
  }

  /** GET_TOPIC_STATS_INFO; undefined when the broker does not have the topic. */
  async topicStats(addr: string, topic: string): Promise<QueueStats[] | undefined> {
    const res = await this.call(addr, RequestCode.GET_TOPIC_STATS_INFO, { topic });
    if (res.code === ResponseCode.TOPIC_NOT_EXIST) return undefined;
    return mqTable(expectSuccess(res, 'GET_TOPIC_STATS_INFO'), (mq, v) => ({ ...mq, minOffset: num(v, 'minOffset'), maxOffset: num(v, 'maxOffset'), lastUpdateTimestamp: num(v, 'lastUpdateTimestamp') }));
  }

  /** GET_CONSUME_STATS of a group, in one topic or all it consumes on this broker. */
  async consumeStats(addr: string, group: string, topic?: string): Promise<QueueProgress[]> {
    const res = await this.call(addr, RequestCode.GET_CONSUME_STATS, { consumerGroup: group, topic });
    return mqTable(expectSuccess(res, 'GET_CONSUME_STATS'), (mq, v) => ({ ...mq, brokerOffset: num(v, 'brokerOffset'), consumerOffset: num(v, 'consumerOffset'), lastTimestamp: num(v, 'lastTimestamp') }));
  }

  /** INVOKE_BROKER_TO_RESET_OFFSET with isForce: the group's offset in every queue of `topic` on this broker moves to `timestamp`. */
  async resetOffsetByTime(addr: string, group: string, topic: string, timestamp: number): Promise<(MessageQueue & { offset: number })[]> {
    const res = await this.call(addr, RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, { topic, group, timestamp, isForce: true });
    return mqTable(expectSuccess(res, 'INVOKE_BROKER_TO_RESET_OFFSET'), (mq, v) => ({ ...mq, offset: Number(v) }));
  }

  private call(addr: string, code: number, fields: Record<string, string | number | boolean | undefined>): Promise<RemotingCommand> {
    return this.remoting.invokeSync(addr, RemotingCommand.request(code, fields), this.timeoutMs);
  }
}

/**
 * `{"offsetTable":{{"brokerName":…,"queueId":…,"topic":…}:value,…}}`: fastjson writes maps keyed by
 * MessageQueue with object keys, which is not JSON. Keys and values are flat (values are numbers or
 * objects of numbers), so each entry is matched on its own.
 */
function mqTable<T extends MessageQueue>(res: RemotingCommand, make: (mq: MessageQueue, value: unknown) => T): T[] {
  const text = (res.body ?? Buffer.alloc(0)).toString('utf8');
  const start = text.indexOf('"offsetTable"');
  if (start < 0) throw new KeelError('REMOTING_REQUEST_INVALID', `bad reply body: no offsetTable in ${JSON.stringify(text.slice(0, 200))}`);
  const out: T[] = [];
  const entry = /(\{[^{}]*\})\s*:\s*(\{[^{}]*\}|-?\d+(?:\.\d+)?)/g;
  entry.lastIndex = start;
  for (let m = entry.exec(text); m !== null; m = entry.exec(text)) {
    let key: unknown, value: unknown;
    try {
      key = JSON.parse(m[1]!);
      value = JSON.parse(m[2]!);
    } catch (e) {
      throw new KeelError('REMOTING_REQUEST_INVALID', `bad reply body near ${JSON.stringify(m[0])}: ${(e as Error).message}`);
    }
    const k = key as { brokerName?: unknown; topic?: unknown; queueId?: unknown };
    if (typeof k.brokerName !== 'string' || typeof k.topic !== 'string' || typeof k.queueId !== 'number') {
      throw new KeelError('REMOTING_REQUEST_INVALID', `bad reply body: ${m[1]!} is not a message queue`);
    }
    out.push(make({ brokerName: k.brokerName, topic: k.topic, queueId: k.queueId }, value));
  }
  return out.sort(compareMq);
}

function compareMq(a: MessageQueue, b: MessageQueue): number {
  return a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.brokerName < b.brokerName ? -1 : a.brokerName > b.brokerName ? 1 : a.queueId - b.queueId;
}

function num(v: unknown, name: string): number {
  const n = (v as Record<string, unknown> | null)?.[name];
  if (typeof n !== 'number') throw new KeelError('REMOTING_REQUEST_INVALID', `bad reply body: ${name} is ${JSON.stringify(n)}`);
  return n;
}
