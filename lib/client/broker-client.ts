/**
 * The broker calls of a RocketMQ client and of mqadmin (`MQClientAPIImpl`), one request each,
 * over one RemotingClient: send (one, batch), pull, send-back, consumer offsets and queue offsets,
 * heartbeat and consumer list, queue locks, and the admin codes keelmq's CLI uses (create topic,
 * topic stats, consume stats, reset offset by time). Headers are those a 4.9.7 Java client sends
 * (reference §3, §5).
 */
import { KeelError } from '../common/errors';
import type { MessageQueue } from '../common/message';
import { tagsHashCode } from '../common/tag-hash';
import { expectSuccess, RemotingClient } from '../remoting/remoting-client';
import { RemotingCommand } from '../remoting/remoting-command';
import { RequestCode } from '../remoting/request-code';
import { ResponseCode } from '../remoting/response-code';
import { decodeMessages, encodeProperties, type ReceivedMessage } from './message-decoder';
import type { ConsumerQueueProgress, TopicQueueStats } from './transport';
import { sendStatusOfResponseCode, type SendStatus } from './send-retry-policy';

export type { SendStatus } from './send-retry-policy';

export interface OutgoingMessage {
  topic: string;
  body: Buffer;
  tags?: string;
  /** Space separated in the KEYS property. */
  keys?: string[];
  properties?: Record<string, string>;
  flag?: number;
  /** MessageSysFlag bits of the body (0x301: zlib-compressed, as a 4.9.7 producer sends it). */
  sysFlag?: number;
}

/** A consumer group as HEART_BEAT announces it (reference §3.6). */
export interface HeartbeatConsumer {
  groupName: string;
  consumeType: 'CONSUME_PASSIVELY' | 'CONSUME_ACTIVELY';
  consumeFromWhere?: string;
  /** Default CLUSTERING. */
  messageModel?: 'CLUSTERING' | 'BROADCASTING';
  /** topic → tag expression. */
  subscriptions: { topic: string; expression: string; tags: readonly string[]; subVersion: number }[];
}

export interface SendResult {
  status: SendStatus;
  /** The offset message id. */
  msgId: string;
  queueId: number;
  queueOffset: number;
}

/** Builds a send's result from its reply: status, offset msgId, queue id, queue offset. */
export type SendReplyMaker<T> = (status: SendStatus, msgId: string, queueId: number, queueOffset: number) => T;

const sendResult: SendReplyMaker<SendResult> = (status, msgId, queueId, queueOffset) => ({ status, msgId, queueId, queueOffset });

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


/** PullSysFlag bits (reference §3.2). */
const PULL_SUSPEND = 2;
const PULL_SUBSCRIPTION = 4;
const PULL_STATUS: Record<number, PullStatus> = {
  [ResponseCode.SUCCESS]: 'FOUND',
  [ResponseCode.PULL_NOT_FOUND]: 'NO_NEW_MSG',
  [ResponseCode.PULL_RETRY_IMMEDIATELY]: 'NO_MATCHED_MSG',
  [ResponseCode.PULL_OFFSET_MOVED]: 'OFFSET_ILLEGAL',
};

export class BrokerClient {
  constructor(readonly remoting: RemotingClient, private readonly timeoutMs = 3000) {}

  /**
   * SEND_MESSAGE_V2 to one queue. A non-OK status that still stored the message is returned, not
   * thrown (as Java); `timeoutMs` (default the client's) bounds this one request.
   */
  send(addr: string, producerGroup: string, queueId: number, m: OutgoingMessage, timeoutMs = this.timeoutMs): Promise<SendResult> {
    return this.sendAs(addr, producerGroup, queueId, m, sendResult, timeoutMs);
  }

  /**
   * send, with the reply's fields handed to `make` for the caller's own result: one object and
   * one promise per send rather than one per layer. Not async: an async function per layer, each
   * held while the reply is awaited, was a large part of a send's cost (garbage collection with
   * thousands of sends in flight).
   */
  sendAs<T>(addr: string, producerGroup: string, queueId: number, m: OutgoingMessage, make: SendReplyMaker<T>, timeoutMs = this.timeoutMs): Promise<T> {
    let req: RemotingCommand;
    try {
      req = sendRequest(producerGroup, queueId, m);
    } catch (e) {
      return Promise.reject(e);
    }
    const topic = m.topic;
    return this.remoting.invokeSync(addr, req, timeoutMs).then((res) => {
      const status = sendStatusOfResponseCode(res.code);
      if (status === undefined) expectSuccess(res, `send to ${topic}`);
      return make(status!, res.requireString('msgId'), res.int('queueId'), res.long('queueOffset'));
    });
  }

  /** SEND_MESSAGE_V2 marked oneway: resolves once written; the broker does not answer. */
  async sendOneway(addr: string, producerGroup: string, queueId: number, m: OutgoingMessage, timeoutMs = this.timeoutMs): Promise<void> {
    await this.remoting.invokeOneway(addr, sendRequest(producerGroup, queueId, m), timeoutMs);
  }

  /**
   * SEND_BATCH_MESSAGE: every item its own message in one queue of `topic` (reference §6.5); the
   * reply's msgId is the items' offset ids joined by commas and queueOffset the first item's.
   */
  async sendBatch(addr: string, producerGroup: string, topic: string, queueId: number, ms: OutgoingMessage[], timeoutMs = this.timeoutMs): Promise<SendResult[]> {
    const items = ms.map((m) => {
      const props = Buffer.from(sendProperties(m), 'utf8');
      const item = Buffer.alloc(20 + m.body.length + 2 + props.length);
      item.writeInt32BE(item.length, 0);
      item.writeInt32BE(m.flag ?? 0, 12);
      item.writeInt32BE(m.body.length, 16);
      m.body.copy(item, 20);
      item.writeInt16BE(props.length, 20 + m.body.length);
      props.copy(item, 22 + m.body.length);
      return item;
    });
    const req = RemotingCommand.request(RequestCode.SEND_BATCH_MESSAGE, {
      a: producerGroup, b: topic, c: 'TBW102', d: 4, e: queueId, f: 0, g: Date.now(), h: 0, i: encodeProperties({ WAIT: 'true' }), j: 0, k: false, m: true,
    }, Buffer.concat(items));
    const res = await this.remoting.invokeSync(addr, req, timeoutMs);
    const status = sendStatusOfResponseCode(res.code);
    if (status === undefined) expectSuccess(res, `batch send to ${topic}`);
    const ids = res.requireString('msgId').split(',');
    const first = res.long('queueOffset');
    return ids.map((msgId, i) => ({ status: status!, msgId, queueId: res.int('queueId'), queueOffset: first + i }));
  }

  /** CONSUMER_SEND_MSG_BACK: the broker finds the message by its commit-log offset and retries or dead-letters it. */
  async sendBack(addr: string, group: string, msg: { physicalOffset: number; topic: string; msgId: string; properties: Record<string, string> }, delayLevel: number, maxReconsumeTimes: number): Promise<void> {
    expectSuccess(await this.call(addr, RequestCode.CONSUMER_SEND_MSG_BACK, {
      offset: msg.physicalOffset, group, delayLevel, originMsgId: msg.properties['UNIQ_KEY'] ?? msg.msgId, originTopic: msg.topic, unitMode: false, maxReconsumeTimes,
    }), 'CONSUMER_SEND_MSG_BACK');
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

  /** The next offset to be written. */
  async maxOffset(addr: string, topic: string, queueId: number): Promise<number> {
    return expectSuccess(await this.call(addr, RequestCode.GET_MAX_OFFSET, { topic, queueId }), 'GET_MAX_OFFSET').long('offset');
  }

  async searchOffset(addr: string, topic: string, queueId: number, timestamp: number): Promise<number> {
    return expectSuccess(await this.call(addr, RequestCode.SEARCH_OFFSET_BY_TIMESTAMP, { topic, queueId, timestamp }), 'SEARCH_OFFSET_BY_TIMESTAMP').long('offset');
  }

  /** HEART_BEAT with HeartbeatData (reference §3.6); the broker creates `%RETRY%<group>` for each consumer group. */
  async heartbeat(addr: string, clientId: string, consumers: HeartbeatConsumer[], producerGroups: string[] = []): Promise<void> {
    const body = {
      clientID: clientId,
      consumerDataSet: consumers.map((c) => ({
        groupName: c.groupName, consumeType: c.consumeType, messageModel: c.messageModel ?? 'CLUSTERING', consumeFromWhere: c.consumeFromWhere ?? 'CONSUME_FROM_LAST_OFFSET', unitMode: false,
        subscriptionDataSet: c.subscriptions.map((s) => ({
          classFilterMode: false, topic: s.topic, subString: s.expression, tagsSet: s.tags, codeSet: s.tags.map(tagsHashCode), subVersion: s.subVersion, expressionType: 'TAG',
        })),
      })),
      producerDataSet: producerGroups.map((groupName) => ({ groupName })),
    };
    const req = RemotingCommand.request(RequestCode.HEART_BEAT, {}, Buffer.from(JSON.stringify(body), 'utf8'));
    expectSuccess(await this.remoting.invokeSync(addr, req, this.timeoutMs), 'HEART_BEAT');
  }

  async unregisterClient(addr: string, clientId: string, consumerGroup: string): Promise<void> {
    expectSuccess(await this.call(addr, RequestCode.UNREGISTER_CLIENT, { clientID: clientId, consumerGroup }), 'UNREGISTER_CLIENT');
  }

  /** UNREGISTER_CLIENT of a producer group (a producer's shutdown). */
  async unregisterProducer(addr: string, clientId: string, producerGroup: string): Promise<void> {
    expectSuccess(await this.call(addr, RequestCode.UNREGISTER_CLIENT, { clientID: clientId, producerGroup }), 'UNREGISTER_CLIENT');
  }

  /** GET_CONSUMER_LIST_BY_GROUP: the client ids byte for byte; none when the broker knows no consumer of the group. */
  async consumerIds(addr: string, group: string): Promise<string[]> {
    const res = await this.call(addr, RequestCode.GET_CONSUMER_LIST_BY_GROUP, { consumerGroup: group });
    if (res.code === ResponseCode.SYSTEM_ERROR) return [];
    const list = (JSON.parse((expectSuccess(res, 'GET_CONSUMER_LIST_BY_GROUP').body ?? Buffer.from('{}')).toString('utf8')) as { consumerIdList?: unknown }).consumerIdList;
    return Array.isArray(list) ? list.map(String) : [];
  }

  /** LOCK_BATCH_MQ: the queues the broker now holds for `clientId`. */
  async lockBatch(addr: string, group: string, clientId: string, mqs: MessageQueue[]): Promise<MessageQueue[]> {
    const req = RemotingCommand.request(RequestCode.LOCK_BATCH_MQ, {}, lockBody(group, clientId, mqs));
    const body = expectSuccess(await this.remoting.invokeSync(addr, req, this.timeoutMs), 'LOCK_BATCH_MQ').body;
    const set = (JSON.parse((body ?? Buffer.from('{}')).toString('utf8')) as { lockOKMQSet?: unknown }).lockOKMQSet;
    return Array.isArray(set) ? set.map((q: MessageQueue) => ({ brokerName: String(q.brokerName), topic: String(q.topic), queueId: Number(q.queueId) })) : [];
  }

  async unlockBatch(addr: string, group: string, clientId: string, mqs: MessageQueue[]): Promise<void> {
    const req = RemotingCommand.request(RequestCode.UNLOCK_BATCH_MQ, {}, lockBody(group, clientId, mqs));
    expectSuccess(await this.remoting.invokeSync(addr, req, this.timeoutMs), 'UNLOCK_BATCH_MQ');
  }

  /** UPDATE_AND_CREATE_TOPIC as mqadmin updateTopic sends it: read and write queues alike, perm RW. */
  async createTopic(addr: string, topic: string, queues: number): Promise<void> {
    expectSuccess(await this.call(addr, RequestCode.UPDATE_AND_CREATE_TOPIC, {
      topic, defaultTopic: 'TBW102', readQueueNums: queues, writeQueueNums: queues, perm: 6, topicFilterType: 'SINGLE_TAG', topicSysFlag: 0, order: false,
    }), `create topic ${topic}`);
  }

  /** GET_TOPIC_STATS_INFO; undefined when the broker does not have the topic. */
  async topicStats(addr: string, topic: string): Promise<TopicQueueStats[] | undefined> {
    const res = await this.call(addr, RequestCode.GET_TOPIC_STATS_INFO, { topic });
    if (res.code === ResponseCode.TOPIC_NOT_EXIST) return undefined;
    return mqTable(expectSuccess(res, 'GET_TOPIC_STATS_INFO'), (mq, v) => ({ ...mq, minOffset: num(v, 'minOffset'), maxOffset: num(v, 'maxOffset'), lastUpdateTimestamp: num(v, 'lastUpdateTimestamp') }));
  }

  /** GET_CONSUME_STATS of a group, in one topic or all it consumes on this broker. */
  async consumeStats(addr: string, group: string, topic?: string): Promise<ConsumerQueueProgress[]> {
    const res = await this.call(addr, RequestCode.GET_CONSUME_STATS, { consumerGroup: group, topic });
    return mqTable(expectSuccess(res, 'GET_CONSUME_STATS'), (mq, v) => ({ ...mq, brokerOffset: num(v, 'brokerOffset'), consumerOffset: num(v, 'consumerOffset'), lastTimestamp: num(v, 'lastTimestamp') }));
  }

  /** INVOKE_BROKER_TO_RESET_OFFSET with isForce: the group's offset in every queue of `topic` on this broker moves to `timestamp`. */
  async resetOffsetByTime(addr: string, group: string, topic: string, timestamp: number): Promise<(MessageQueue & { offset: number })[]> {
    const res = await this.call(addr, RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, { topic, group, timestamp, isForce: true });
    return offsetTableOf(expectSuccess(res, 'INVOKE_BROKER_TO_RESET_OFFSET'));
  }

  /** VIEW_MESSAGE_BY_ID: the record at a commit-log offset; undefined when the broker has none there. */
  async viewMessage(addr: string, physicalOffset: number): Promise<ReceivedMessage | undefined> {
    const res = await this.call(addr, RequestCode.VIEW_MESSAGE_BY_ID, { offset: physicalOffset });
    if (res.code === ResponseCode.SYSTEM_ERROR) return undefined;
    return decodeMessages(expectSuccess(res, 'VIEW_MESSAGE_BY_ID').body)[0];
  }

  /** QUERY_MESSAGE by KEYS, or by UNIQ_KEY with `uniqKey`; none on QUERY_NOT_FOUND. */
  async queryMessage(addr: string, topic: string, key: string, o: { max: number; begin: number; end: number; uniqKey: boolean }): Promise<ReceivedMessage[]> {
    const res = await this.call(addr, RequestCode.QUERY_MESSAGE, {
      topic, key, maxNum: o.max, beginTimestamp: o.begin, endTimestamp: o.end, _UNIQUE_KEY_QUERY: o.uniqKey,
    });
    if (res.code === ResponseCode.QUERY_NOT_FOUND) return [];
    return decodeMessages(expectSuccess(res, 'QUERY_MESSAGE').body);
  }

  /** GET_BROKER_RUNTIME_INFO: the broker's key/value table. */
  async runtimeInfo(addr: string): Promise<Record<string, string>> {
    const body = expectSuccess(await this.call(addr, RequestCode.GET_BROKER_RUNTIME_INFO, {}), 'GET_BROKER_RUNTIME_INFO').body;
    const table = (JSON.parse((body ?? Buffer.from('{}')).toString('utf8')) as { table?: Record<string, unknown> }).table ?? {};
    return Object.fromEntries(Object.entries(table).map(([k, v]) => [k, String(v)]));
  }

  /** DELETE_TOPIC_IN_BROKER. */
  async deleteTopic(addr: string, topic: string): Promise<void> {
    expectSuccess(await this.call(addr, RequestCode.DELETE_TOPIC_IN_BROKER, { topic }), `delete topic ${topic}`);
  }

  private call(addr: string, code: number, fields: Record<string, string | number | boolean | undefined>): Promise<RemotingCommand> {
    return this.remoting.invokeSync(addr, RemotingCommand.request(code, fields), this.timeoutMs);
  }
}

function sendRequest(producerGroup: string, queueId: number, m: OutgoingMessage): RemotingCommand {
  return RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, {
    a: producerGroup, b: m.topic, c: 'TBW102', d: 4, e: queueId, f: m.sysFlag ?? 0, g: Date.now(), h: m.flag ?? 0, i: sendProperties(m), j: 0, k: false,
  }, m.body);
}

/**
 * The properties a producer sends, encoded (field `i`): the user's, then WAIT (store before
 * answering), TAGS and KEYS; one of those three among the user's keeps its place and takes the
 * producer's value. Written straight into the string: no object per send.
 */
function sendProperties(m: OutgoingMessage): string {
  const tags = m.tags ? m.tags : undefined;
  const keys = m.keys && m.keys.length > 0 ? m.keys.join(' ') : undefined;
  let out = '';
  let wait = false;
  let tagsDone = tags === undefined;
  let keysDone = keys === undefined;
  const props = m.properties;
  if (props) {
    for (const k of Object.keys(props)) {
      let v = props[k]!;
      if (k === 'WAIT') { v = 'true'; wait = true; }
      else if (k === 'TAGS' && !tagsDone) { v = tags!; tagsDone = true; }
      else if (k === 'KEYS' && !keysDone) { v = keys!; keysDone = true; }
      out += out === '' ? `${k}\u0001${v}` : `\u0002${k}\u0001${v}`;
    }
  }
  if (!wait) out += out === '' ? 'WAIT\u0001true' : '\u0002WAIT\u0001true';
  if (!tagsDone) out += `\u0002TAGS\u0001${tags!}`;
  if (!keysDone) out += `\u0002KEYS\u0001${keys!}`;
  return out;
}

/** A ResetOffsetBody (`{"offsetTable":{{MQ}:offset}}`), in a reply or in RESET_CONSUMER_CLIENT_OFFSET. */
export function offsetTableOf(cmd: RemotingCommand): (MessageQueue & { offset: number })[] {
  return mqTable(cmd, (mq, v) => ({ ...mq, offset: Number(v) }));
}

function lockBody(consumerGroup: string, clientId: string, mqSet: MessageQueue[]): Buffer {
  return Buffer.from(JSON.stringify({ consumerGroup, clientId, mqSet: mqSet.map((q) => ({ brokerName: q.brokerName, queueId: q.queueId, topic: q.topic })) }), 'utf8');
}

/**
 * `{"offsetTable":{{"brokerName":…,"queueId":…,"topic":…}:value,…}}`: fastjson writes maps keyed by
 * MessageQueue with object keys, which is not JSON. Keys and values are flat (values are numbers or
 * objects of numbers), so each entry is matched on its own.
 */
export function mqTable<T extends MessageQueue>(res: RemotingCommand, make: (mq: MessageQueue, value: unknown) => T): T[] {
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
