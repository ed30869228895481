/**
 * Where a consumer group with no committed offset in a queue starts (RocketMQ's
 * `RebalancePushImpl/RebalanceLitePullImpl.computePullFromWhere`): the queue's end, its first
 * message, or the first message stored at or after a time; a retry topic is always read whole.
 */
import { isRetryTopic } from '../common/message-const';
import type { ClientTransport, MessageQueue } from './transport';

export type ConsumeFromWhere = 'CONSUME_FROM_LAST_OFFSET' | 'CONSUME_FROM_FIRST_OFFSET' | 'CONSUME_FROM_TIMESTAMP';

/** How far back CONSUME_FROM_TIMESTAMP reaches without a timestamp (RocketMQ: half an hour). */
export const DEFAULT_CONSUME_TIMESTAMP_AGO_MS = 30 * 60_000;

/** The group's committed offset in `mq`, else where `where` starts it. */
export async function startOffset(
  t: ClientTransport, group: string, mq: MessageQueue, where: ConsumeFromWhere, timestamp: number | undefined,
): Promise<number> {
  return (await t.queryOffset(group, mq)) ?? offsetFromWhere(t, mq, where, timestamp);
}

/** Where `where` starts a group that has no committed offset in `mq`. */
export function offsetFromWhere(t: ClientTransport, mq: MessageQueue, where: ConsumeFromWhere, timestamp: number | undefined): Promise<number> {
  // A retry topic holds only this group's failures: all of it is wanted.
  if (isRetryTopic(mq.topic)) return t.minOffset(mq);
  switch (where) {
    case 'CONSUME_FROM_FIRST_OFFSET': return t.minOffset(mq);
    case 'CONSUME_FROM_TIMESTAMP': return t.searchOffset(mq, timestamp ?? t.clock.now() - DEFAULT_CONSUME_TIMESTAMP_AGO_MS);
    default: return t.maxOffset(mq);
  }
}
