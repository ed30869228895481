/**
 * The name rules, one copy for the store, the services, the brokers and the
 * name server, so a name one of them accepts is never refused by another.
 * Callers keep their own error codes and wording (RocketMQ's, where a client
 * reads them).
 */

/** RocketMQ's topic alphabet (TopicValidator); it also keeps topics safe as ConsumeQueue directory names. */
const TOPIC_CHARS = /^[%|a-zA-Z0-9_-]+$/;

/** RocketMQ's TOPIC_MAX_LENGTH; the v1 record's signed topic-length byte holds no more. */
export const MAX_TOPIC_LENGTH = 127;

/** Non-empty and only topic characters; the length is the caller's to check (its limit may be lower). */
export function hasTopicChars(name: string): boolean {
  return TOPIC_CHARS.test(name);
}

/** A topic any part of keelmq (and RocketMQ) accepts: 1..127 topic characters. */
export function isTopicName(name: unknown): name is string {
  return typeof name === 'string' && name.length <= MAX_TOPIC_LENGTH && TOPIC_CHARS.test(name);
}

/** "%RETRY%" and "%DLQ%" plus the group must still be a topic: no '%', and room for the longer prefix. */
const GROUP_NAME = /^[a-zA-Z0-9_|-]{1,120}$/;

/** A consumer group whose retry and dead-letter topics are valid topics. */
export function isGroupName(name: unknown): name is string {
  return typeof name === 'string' && GROUP_NAME.test(name);
}

const BROKER_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/** A broker or cluster name: 1..64 of [a-zA-Z0-9_-]. */
export function isBrokerName(name: unknown): name is string {
  return typeof name === 'string' && BROKER_NAME.test(name);
}
