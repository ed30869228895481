import type { Message, MessageExt } from '../store/message';
import { dlqTopic, PROPERTY_ORIGIN_MESSAGE_ID, PROPERTY_RETRY_TOPIC, retryTopic } from './message-const';

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
 * keys, flag and properties, and records where it came from: RETRY_TOPIC (the
 * topic it was first consumed from) and ORIGIN_MESSAGE_ID (its first id).
 * `msg` is the message as stored, so a retried message is planned from its
 * retry-topic copy.
 */
export function planSendBack(msg: MessageExt, group: string, delayLevel: number, maxReconsumeTimes: number, levels: number): SendBackPlan {
  const deadLetter = msg.reconsumeTimes >= maxReconsumeTimes || delayLevel < 0;
  const level = deadLetter ? 0 : Math.min(delayLevel > 0 ? delayLevel : FIRST_RETRY_LEVEL + msg.reconsumeTimes, levels);
  const properties = {
    ...msg.properties,
    [PROPERTY_RETRY_TOPIC]: msg.properties[PROPERTY_RETRY_TOPIC] ?? msg.topic,
    [PROPERTY_ORIGIN_MESSAGE_ID]: msg.properties[PROPERTY_ORIGIN_MESSAGE_ID] ?? msg.msgId,
  };
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
