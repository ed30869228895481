import { KeelError } from './errors';

/**
 * Property names and system topics of the consumer layer, spelled as
 * RocketMQ spells them so that records stay readable by RocketMQ tools.
 */

/** Delay level (1-based) a message was sent with; cleared when it is delivered to its real topic. */
export const PROPERTY_DELAY = 'DELAY';
/** Topic and queue a scheduled (delayed or retried) message goes to when it falls due. */
export const PROPERTY_REAL_TOPIC = 'REAL_TOPIC';
export const PROPERTY_REAL_QID = 'REAL_QID';
/** Topic a retried or dead-lettered message was first consumed from. */
export const PROPERTY_RETRY_TOPIC = 'RETRY_TOPIC';
/** Id of the message as first stored, kept over every retry hop. */
export const PROPERTY_ORIGIN_MESSAGE_ID = 'ORIGIN_MESSAGE_ID';
/**
 * Queue and queue offset of the message as first stored, kept over every retry
 * hop (keelmq's own: RocketMQ keeps only the topic), so that a retried message
 * is presented at the position it was first consumed from.
 */
export const PROPERTY_ORIGIN_QUEUE_ID = 'ORIGIN_QUEUE_ID';
export const PROPERTY_ORIGIN_QUEUE_OFFSET = 'ORIGIN_QUEUE_OFFSET';
/** On a copy resent from a dead-letter topic: the dead letter's id, so that it is resent once. */
export const PROPERTY_DLQ_MESSAGE_ID = 'DLQ_MESSAGE_ID';
/** On an undeliverable schedule entry moved to SCHEDULE_DLQ_TOPIC: why it could not be delivered. */
export const PROPERTY_DLQ_REASON = 'DLQ_REASON';
/** The producer's message id (RocketMQ's MessageClientIDSetter): what a send resolves with as msgId. */
export const PROPERTY_UNIQ_KEY = 'UNIQ_KEY';

/**
 * Properties the broker sets itself; a producer may not set them (RocketMQ's
 * MessageConst.STRING_HASH_SET), because a user value would be overwritten
 * (TAGS, KEYS) or misread as routing or retry state.
 */
export const SYSTEM_PROPERTIES: ReadonlySet<string> = new Set([
  'TAGS', 'KEYS', PROPERTY_DELAY, PROPERTY_REAL_TOPIC, PROPERTY_REAL_QID, PROPERTY_RETRY_TOPIC,
  PROPERTY_ORIGIN_MESSAGE_ID, PROPERTY_ORIGIN_QUEUE_ID, PROPERTY_ORIGIN_QUEUE_OFFSET, PROPERTY_DLQ_MESSAGE_ID, PROPERTY_DLQ_REASON, PROPERTY_UNIQ_KEY,
]);

/** Holds delayed messages: queue `level - 1` for each delay level. */
export const SCHEDULE_TOPIC = 'SCHEDULE_TOPIC_XXXX';
export const RETRY_PREFIX = '%RETRY%';
export const DLQ_PREFIX = '%DLQ%';

export function retryTopic(group: string): string { return RETRY_PREFIX + group; }
export function dlqTopic(group: string): string { return DLQ_PREFIX + group; }
export function isRetryTopic(topic: string): boolean { return topic.startsWith(RETRY_PREFIX); }

/** Where schedule entries that cannot be delivered are moved, with PROPERTY_DLQ_REASON: `broker.deadLetters(SCHEDULE_TOPIC)` reads it. */
export const SCHEDULE_DLQ_TOPIC = dlqTopic(SCHEDULE_TOPIC);

/** Refuses the topics the broker writes itself (the schedule, retry and dead-letter topics) with TOPIC_RESERVED. */
export function checkUserTopic(topic: string): void {
  if (typeof topic === 'string' && (topic === SCHEDULE_TOPIC || topic.startsWith(RETRY_PREFIX) || topic.startsWith(DLQ_PREFIX))) {
    throw new KeelError('TOPIC_RESERVED', `topic ${topic} is internal: retries, dead letters and delays are written through sendBack, resendDeadLetter and delayLevel`);
  }
}

/**
 * A key as the store keeps it: KEYS holds the keys separated by a space
 * (RocketMQ's KEY_SEPARATOR), so a key with a space, or an empty one, would
 * come back split or dropped. PROPERTY_INVALID for those.
 */
export function checkKey(key: string): void {
  if (typeof key === 'string' && (key === '' || key.includes(' '))) {
    throw new KeelError('PROPERTY_INVALID', `key ${JSON.stringify(key)} must be non-empty without spaces: keys are stored separated by a space`);
  }
}
