/**
 * SEND_MESSAGE (10), SEND_MESSAGE_V2 (310) and SEND_BATCH_MESSAGE (320) (RocketMQ's
 * SendMessageProcessor): each message is stored with its properties, flag, sysFlag, born time and
 * born host (the connection's peer); DELAY goes through the schedule service; a send to a
 * `%RETRY%` topic past its maxReconsumeTimes becomes a dead letter (handleRetryAndDLQ).
 * The reply's msgId is the offset id, so the store's storeHost is the broker's advertised address.
 */
import { DEFAULT_MAX_RECONSUME_TIMES } from '../common/retry';
import { dlqTopic, isRetryTopic, PROPERTY_DELAY, RETRY_PREFIX, SCHEDULE_TOPIC } from '../common/message-const';
import type { TopicConfig } from '../consumer/topic-config';
import { isKeelError, KeelError } from '../common/errors';
import { hasTopicChars, MAX_TOPIC_LENGTH } from '../common/names';
import type { RemotingChannel } from '../remoting/remoting-channel';
import { emptyExtFields, RemotingCommand } from '../remoting/remoting-command';
import { RequestCode } from '../remoting/request-code';
import { ResponseCode } from '../remoting/response-code';
import type { Message, PutResult, PutStatus } from '../common/message';
import type { BrokerContext } from './broker-context';
import { type BatchItem, decodeBatchBody, parseMessageProperties } from './message-properties';

/** Where each field of the send header is: SEND_MESSAGE's names, or SEND_MESSAGE_V2's one letters (`SendMessageRequestHeaderV2`, also batch). */
interface HeaderKeys {
  producerGroup: string; topic: string; queueId: string; sysFlag: string; bornTimestamp: string; flag: string;
  properties: string; reconsumeTimes: string; maxReconsumeTimes: string;
}
const V1_KEYS: HeaderKeys = {
  producerGroup: 'producerGroup', topic: 'topic', queueId: 'queueId', sysFlag: 'sysFlag', bornTimestamp: 'bornTimestamp', flag: 'flag',
  properties: 'properties', reconsumeTimes: 'reconsumeTimes', maxReconsumeTimes: 'maxReconsumeTimes',
};
const V2_KEYS: HeaderKeys = {
  producerGroup: 'a', topic: 'b', queueId: 'e', sysFlag: 'f', bornTimestamp: 'g', flag: 'h', properties: 'i', reconsumeTimes: 'j', maxReconsumeTimes: 'l',
};

/** `MQVersion.Version.V3_4_9`: from this client version on the header's maxReconsumeTimes counts. */
const VERSION_HONOURS_MAX_RECONSUME = 121;
/** Topics a producer may not send to (`TopicValidator.NOT_ALLOWED_SEND_TOPIC_SET`, plus keelmq's schedule DLQ). */
const NOT_ALLOWED_SEND = new Set([SCHEDULE_TOPIC, dlqTopic(SCHEDULE_TOPIC), 'RMQ_SYS_TRANS_HALF_TOPIC', 'RMQ_SYS_TRANS_OP_HALF_TOPIC', 'RMQ_SYS_TRACE_TOPIC']);

const STATUS_CODE: Record<PutStatus, number> = {
  PUT_OK: ResponseCode.SUCCESS,
  FLUSH_DISK_TIMEOUT: ResponseCode.FLUSH_DISK_TIMEOUT,
  FLUSH_SLAVE_TIMEOUT: ResponseCode.FLUSH_SLAVE_TIMEOUT,
  SLAVE_NOT_AVAILABLE: ResponseCode.SLAVE_NOT_AVAILABLE,
};

/** A store refusal as the response code a RocketMQ client understands (`PutMessageStatus` → ResponseCode). */
export function storeErrorCode(e: unknown): { code: number; remark: string } | undefined {
  if (!(e instanceof KeelError)) return undefined;
  switch (e.code) {
    case 'BODY_TOO_LARGE': case 'PROPERTIES_TOO_LONG': case 'PROPERTY_INVALID': case 'TOPIC_INVALID': case 'QUEUE_INVALID':
    case 'DELAY_LEVEL_INVALID': case 'BATCH_TOO_LARGE':
      return { code: ResponseCode.MESSAGE_ILLEGAL, remark: e.message };
    case 'DISK_FULL': case 'STORE_READ_ONLY': case 'STORE_CLOSED': case 'WRITE_FAILED': case 'FLUSH_FAILED': case 'CLIENT_STATE': case 'NOT_MASTER':
      return { code: ResponseCode.SERVICE_NOT_AVAILABLE, remark: `service not available now: ${e.message}` };
    case 'TOPIC_NOT_FOUND':
      return { code: ResponseCode.TOPIC_NOT_EXIST, remark: e.message };
    default:
      return undefined;
  }
}

interface SendHeader {
  producerGroup: string;
  topic: string;
  queueId: number;
  sysFlag: number;
  bornTimestamp: number;
  flag: number;
  properties: string | undefined;
  reconsumeTimes: number;
  maxReconsumeTimes: number | undefined;
}

/** The header's fields, read where the request's code puts them. */
function readHeader(req: RemotingCommand): SendHeader {
  if (req.code === RequestCode.SEND_MESSAGE) return readFields(req, V1_KEYS);
  try {
    return readFields(req, V2_KEYS);
  } catch (e) {
    // A bad V2 field is named as SEND_MESSAGE names it ("<topic>", not "<b>"): read again under those names to say which.
    const long: Record<string, string | undefined> = {};
    for (const [name, letter] of Object.entries(V2_KEYS)) long[name] = req.field(letter);
    readFields(RemotingCommand.request(req.code, long), V1_KEYS);
    throw e;
  }
}

function readFields(req: RemotingCommand, k: HeaderKeys): SendHeader {
  const max = req.field(k.maxReconsumeTimes);
  return {
    producerGroup: req.requireString(k.producerGroup),
    topic: req.requireString(k.topic),
    queueId: req.int(k.queueId),
    sysFlag: req.int(k.sysFlag),
    bornTimestamp: req.long(k.bornTimestamp),
    flag: req.int(k.flag),
    properties: req.field(k.properties),
    reconsumeTimes: req.int(k.reconsumeTimes, 0),
    maxReconsumeTimes: max === undefined ? undefined : req.int(k.maxReconsumeTimes),
  };
}

export class SendMessageProcessor {
  constructor(private readonly ctx: BrokerContext) {}

  /** The last peer address seen and what it gives as a born host: most sends come from one connection. */
  private bornHostAddress?: string;
  private bornHost: string | undefined;

  /** A reply, at once when the request is refused, else once the store has answered. */
  process(req: RemotingCommand, channel: RemotingChannel): RemotingCommand | Promise<RemotingCommand> {
    try {
      return this.send(req, channel);
    } catch (e) {
      return storeErrorReply(e);
    }
  }

  private send(req: RemotingCommand, channel: RemotingChannel): RemotingCommand | Promise<RemotingCommand> {
    const h = readHeader(req);
    const batch = req.code === RequestCode.SEND_BATCH_MESSAGE;
    const refused = this.checkTopic(h.topic);
    if (refused) return refused;
    if (batch && isRetryTopic(h.topic)) return RemotingCommand.response(ResponseCode.MESSAGE_ILLEGAL, `batch request does not support retry group ${h.topic}`);
    const known = this.ctx.services.topic(h.topic);
    if (known) return this.put(req, channel, h, batch, known);
    return this.topicFor(h.topic).then((topicConfig) => topicConfig
      ? this.put(req, channel, h, batch, topicConfig)
      : RemotingCommand.response(ResponseCode.TOPIC_NOT_EXIST, `topic[${h.topic}] not exist, apply first please!`)).catch(storeErrorReply);
  }

  /**
   * Every promise it returns answers store refusals itself (storeErrorReply). Not an async
   * function: on the common path one promise per send (the store's, with its reply attached)
   * instead of three, at tens of thousands of sends a second.
   */
  private put(req: RemotingCommand, channel: RemotingChannel, h: SendHeader, batch: boolean, topicConfig: TopicConfig): RemotingCommand | Promise<RemotingCommand> {
    const topic = h.topic;
    let queueId = h.queueId;
    if (queueId < 0) queueId = Math.floor(Math.random() * topicConfig.queues);
    if (queueId >= topicConfig.queues) {
      return RemotingCommand.response(ResponseCode.SYSTEM_ERROR, `request queueId[${queueId}] is illegal, topic: ${topic} queues: ${topicConfig.queues} Producer: ${channel.remoteAddress}`);
    }
    // The broker's view of the properties: WAIT dropped, CLUSTER added (`SendMessageProcessor`).
    const batchProps = parseMessageProperties(h.properties, 'WAIT');
    batchProps['CLUSTER'] = this.ctx.config.clusterName;
    let delayLevel = 0;
    if (!batch) {
      const d = Number(batchProps[PROPERTY_DELAY] ?? 0);
      delayLevel = Number.isInteger(d) && d > 0 ? Math.min(d, this.ctx.services.schedule.levels.length) : 0;
    }
    if (isRetryTopic(topic)) {
      const max = req.version >= VERSION_HONOURS_MAX_RECONSUME && h.maxReconsumeTimes !== undefined ? h.maxReconsumeTimes : DEFAULT_MAX_RECONSUME_TIMES;
      if (h.reconsumeTimes >= max) {
        const dlq = dlqTopic(topic.slice(RETRY_PREFIX.length));
        delete batchProps[PROPERTY_DELAY];
        return this.ctx.services.topicConfig.ensure(dlq, 1)
          .then(() => this.store(req, channel, h, batch, dlq, 0, 0, batchProps)).catch(storeErrorReply);
      }
    }
    return this.store(req, channel, h, batch, topic, queueId, delayLevel, batchProps);
  }

  private store(req: RemotingCommand, channel: RemotingChannel, h: SendHeader, batch: boolean, topic: string, queueId: number,
    delayLevel: number, batchProps: Record<string, string>): RemotingCommand | Promise<RemotingCommand> {
    const bornHost = this.bornHostOf(channel);
    if (!batch) {
      const msg: Message & { queueId: number } = {
        topic, queueId, body: req.body ?? Buffer.alloc(0), flag: h.flag, properties: batchProps,
        sysFlag: h.sysFlag, bornTimestamp: h.bornTimestamp, reconsumeTimes: h.reconsumeTimes, bornHost,
      };
      return this.ctx.services.putMessage(msg, delayLevel).then((r) => sendReply(r.status, r.msgId, queueId, r.queueOffset), storeErrorReply);
    }
    let items: BatchItem[];
    try {
      items = decodeBatchBody(req.body ?? Buffer.alloc(0));
    } catch (e) {
      return RemotingCommand.response(ResponseCode.MESSAGE_ILLEGAL, (e as Error).message);
    }
    for (const it of items) {
      if (it.properties[PROPERTY_DELAY] !== undefined && it.properties[PROPERTY_DELAY] !== '0') {
        return RemotingCommand.response(ResponseCode.MESSAGE_ILLEGAL, 'batch messages cannot be delayed');
      }
    }
    return this.ctx.store.putBatch(items.map((it) => ({
      topic, queueId, body: it.body, flag: it.flag, properties: { ...it.properties, ...batchProps },
      sysFlag: h.sysFlag, bornTimestamp: h.bornTimestamp, reconsumeTimes: h.reconsumeTimes, bornHost,
    }))).then((rs: PutResult[]) => {
      const worst = rs.find((r) => r.status !== 'PUT_OK')?.status ?? 'PUT_OK';
      return sendReply(worst, rs.map((r) => r.msgId).join(','), queueId, rs[0]!.queueOffset);
    }, storeErrorReply);
  }

  /** The producer's address as the store keeps it (IPv4 "ip:port"); undefined, an address it cannot keep, leaves the store's default. */
  private bornHostOf(channel: RemotingChannel): string | undefined {
    const addr = channel.remoteAddress;
    if (addr !== this.bornHostAddress) {
      this.bornHostAddress = addr;
      this.bornHost = /^\d{1,3}(\.\d{1,3}){3}:\d{1,5}$/.test(addr) ? addr : undefined;
    }
    return this.bornHost;
  }

  /** `TopicValidator.validateTopic` and the not-allowed set; undefined when the topic may be sent to. */
  private checkTopic(topic: string): RemotingCommand | undefined {
    if (topic.trim() === '') return RemotingCommand.response(ResponseCode.SYSTEM_ERROR, 'The specified topic is blank.');
    if (!hasTopicChars(topic)) return RemotingCommand.response(ResponseCode.SYSTEM_ERROR, 'The specified topic contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$');
    if (topic.length > MAX_TOPIC_LENGTH) return RemotingCommand.response(ResponseCode.SYSTEM_ERROR, `The specified topic is longer than topic max length ${MAX_TOPIC_LENGTH}.`);
    if (NOT_ALLOWED_SEND.has(topic)) return RemotingCommand.response(ResponseCode.NO_PERMISSION, `Sending message to topic[${topic}] is forbidden.`);
    return undefined;
  }

  /** The config of a topic the services do not know: created as the embedded broker creates topics (retry topics with 1 queue), or undefined when that is off. */
  private async topicFor(topic: string): Promise<TopicConfig | undefined> {
    if (isRetryTopic(topic)) return this.ctx.services.topicConfig.ensure(topic, 1);
    try {
      return await this.ctx.services.resolveTopic(topic);
    } catch (e) {
      if (isKeelError(e, 'TOPIC_NOT_FOUND')) return undefined;
      throw e;
    }
  }
}

/** A store refusal as its reply; anything else is rethrown (the channel answers SYSTEM_ERROR). */
function storeErrorReply(e: unknown): RemotingCommand {
  const mapped = storeErrorCode(e);
  if (!mapped) throw e;
  return RemotingCommand.response(mapped.code, mapped.remark);
}

function sendReply(status: PutStatus, msgId: string, queueId: number, queueOffset: number): RemotingCommand {
  // Java's response header: msgId, queueId, queueOffset always; extFields must never be null (clients NPE).
  // Filled in place, always in this order (one hidden class), not copied from a literal: one reply per message.
  const q = `${queueId}`;
  const o = `${queueOffset}`;
  const fields = emptyExtFields();
  fields['msgId'] = msgId;
  fields['queueId'] = q;
  fields['queueOffset'] = o;
  fields['MSG_REGION'] = 'DefaultRegion';
  fields['TRACE_ON'] = 'true';
  const reply = RemotingCommand.response(STATUS_CODE[status]);
  reply.extFields = fields;
  // The same fields as JSON, from a template: ids are hex digits (and commas), the rest numbers and constants; nothing to escape.
  reply.extFieldsJson = `{"msgId":"${msgId}","queueId":"${q}","queueOffset":"${o}","MSG_REGION":"DefaultRegion","TRACE_ON":"true"}`;
  return reply;
}
