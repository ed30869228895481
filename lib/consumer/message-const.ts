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

/** Holds delayed messages: queue `level - 1` for each delay level. */
export const SCHEDULE_TOPIC = 'SCHEDULE_TOPIC_XXXX';
export const RETRY_PREFIX = '%RETRY%';
export const DLQ_PREFIX = '%DLQ%';

export function retryTopic(group: string): string { return RETRY_PREFIX + group; }
export function dlqTopic(group: string): string { return DLQ_PREFIX + group; }
export function isRetryTopic(topic: string): boolean { return topic.startsWith(RETRY_PREFIX); }
