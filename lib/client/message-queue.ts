/**
 * RocketMQ's MessageQueue ordering (`MessageQueue.compareTo`: topic, then broker name, then queue
 * id). Rebalancing sorts by it, so every consumer of a group must sort the same way: Java's
 * `String.compareTo` compares UTF-16 code units, as JavaScript's `<` does.
 */
import type { MessageQueue } from '../common/message';

export type { MessageQueue };

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function compareMessageQueues(a: MessageQueue, b: MessageQueue): number {
  return compareStrings(a.topic, b.topic) || compareStrings(a.brokerName, b.brokerName) || a.queueId - b.queueId;
}

/** A sorted copy, as `Collections.sort(mqAll)`. */
export function sortMessageQueues(mqs: Iterable<MessageQueue>): MessageQueue[] {
  return [...mqs].sort(compareMessageQueues);
}

/** A string key for maps and sets: broker names and topics cannot contain '@' or '#'. */
export function messageQueueKey(mq: MessageQueue): string {
  return `${mq.topic}@${mq.brokerName}#${mq.queueId}`;
}
