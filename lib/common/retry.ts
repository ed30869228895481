import type { Message, MessageExt } from './message';
import {
  dlqTopic, isRetryTopic, PROPERTY_ORIGIN_MESSAGE_ID, PROPERTY_ORIGIN_QUEUE_ID, PROPERTY_ORIGIN_QUEUE_OFFSET, PROPERTY_RETRY_TOPIC, retryTopic,
} from './message-const';

/** RocketMQ's defaults: 16 retries, the first after delay level 3 (10 s). */
export const DEFAULT_MAX_RECONSUME_TIMES = 16;
const FIRST_RETRY_LEVEL = 3;

export interface SendBackPlan {
  /** The copy to store, bound for `%RETRY%<group>` or `%DLQ%<group>`, queue 0. */
  message: Message & { queueId: number };
  /** Delay level to store it with; 0 for dead letters, which are stored at once. */
  delayLevel: number;
  deadLetter: boolean;
}

/**
 * What a failed message becomes (RocketMQ's consumerSendMsgBack): a copy in
 * the group's retry topic with reconsumeTimes + 1, delayed by `delayLevel`
 * (0: level 3 + reconsumeTimes, so 10 s, 30 s, 1 m ... 2 h), or, once it was
 * retried `maxReconsumeTimes` times or the handler asked for it with a negative
 * level, a copy in the group's dead-letter topic. The copy keeps body, tags,
 * keys, flag and properties, and records where it came from: RETRY_TOPIC,
 * ORIGIN_QUEUE_ID and ORIGIN_QUEUE_OFFSET (the position it was first consumed
 * from) and ORIGIN_MESSAGE_ID (its first id). `msg` is the message as stored,
 * so a retried message is planned from its retry-topic copy, which carries
 * them already.
 */
export function planSendBack(msg: MessageExt, group: string, delayLevel: number, maxReconsumeTimes: number, levels: number): SendBackPlan {
  const deadLetter = msg.reconsumeTimes >= maxReconsumeTimes || delayLevel < 0;
  const level = deadLetter ? 0 : Math.min(delayLevel > 0 ? delayLevel : FIRST_RETRY_LEVEL + msg.reconsumeTimes, levels);
  const first = msg.properties[PROPERTY_RETRY_TOPIC] === undefined;
  const properties = first
    ? {
      ...msg.properties,
      [PROPERTY_RETRY_TOPIC]: msg.topic,
      [PROPERTY_ORIGIN_QUEUE_ID]: String(msg.queueId),
      [PROPERTY_ORIGIN_QUEUE_OFFSET]: String(msg.queueOffset),
      [PROPERTY_ORIGIN_MESSAGE_ID]: msg.properties[PROPERTY_ORIGIN_MESSAGE_ID] ?? msg.msgId,
    }
    : msg.properties;
  return {
    message: {
      topic: deadLetter ? dlqTopic(group) : retryTopic(group),
      queueId: 0,
      body: msg.body,
      properties,
      flag: msg.flag,
      sysFlag: msg.sysFlag,
      bornTimestamp: msg.bornTimestamp,
      bornHost: msg.bornHost,
      reconsumeTimes: msg.reconsumeTimes + 1,
    },
    delayLevel: level,
    deadLetter,
  };
}

/**
 * A message read from a retry topic as a listener sees it: at the topic,
 * queue and queue offset it was first consumed from, so that the triple names
 * the original message. Its record fields (msgId, physicalOffset,
 * storeTimestamp, ...) stay those of the stored copy; the first id is in
 * ORIGIN_MESSAGE_ID. A copy written before ORIGIN_QUEUE_ID existed keeps
 * the retry queue's position, which is all that is known.
 */
export function asOriginal(m: MessageExt): MessageExt {
  const topic = isRetryTopic(m.topic) ? m.properties[PROPERTY_RETRY_TOPIC] : undefined;
  if (topic === undefined) return m;
  const queueId = Number(m.properties[PROPERTY_ORIGIN_QUEUE_ID]);
  const queueOffset = Number(m.properties[PROPERTY_ORIGIN_QUEUE_OFFSET]);
  return Number.isSafeInteger(queueId) && Number.isSafeInteger(queueOffset) ? { ...m, topic, queueId, queueOffset } : { ...m, topic };
}
