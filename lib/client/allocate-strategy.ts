/**
 * Which queues of a topic each consumer of a group takes: RocketMQ's `AllocateMessageQueueStrategy`
 * with `AllocateMessageQueueAveragely` (the default, "AVG") and `AllocateMessageQueueAveragelyByCircle`
 * ("AVG_BY_CIRCLE"), and the sorting `RebalanceImpl.rebalanceByTopic` does before calling one.
 * Every consumer computes its own share from the same two lists, so the lists must be sorted
 * exactly as Java sorts them or a Java and a keelmq consumer of one group would overlap or leave
 * queues unowned.
 */
import { KeelError } from '../common/errors';
import { sortMessageQueues, type MessageQueue } from './message-queue';

export interface AllocateMessageQueueStrategy {
  /** Java's getName(); reported in logs and consumer running info. */
  readonly name: string;
  /**
   * The queues `currentCID` takes. `mqAll` and `cidAll` arrive sorted (use `allocateQueues`);
   * a strategy must give each queue to exactly one consumer of `cidAll`.
   */
  allocate(consumerGroup: string, currentCID: string, mqAll: readonly MessageQueue[], cidAll: readonly string[]): MessageQueue[];
}

/**
 * `AbstractAllocateMessageQueueStrategy.check`: empty arguments are a misuse; a consumer not (yet)
 * in the broker's list takes nothing, as in Java.
 */
function check(currentCID: string, mqAll: readonly MessageQueue[], cidAll: readonly string[]): boolean {
  if (!currentCID) throw new KeelError('OPTION_INVALID', 'currentCID is empty');
  if (mqAll.length === 0) throw new KeelError('OPTION_INVALID', 'mqAll is empty');
  if (cidAll.length === 0) throw new KeelError('OPTION_INVALID', 'cidAll is empty');
  return cidAll.includes(currentCID);
}

/** Contiguous blocks; the first `mqAll.length % cidAll.length` consumers take one more (8 over 3: 3/3/2). */
export const allocateAveragely: AllocateMessageQueueStrategy = {
  name: 'AVG',
  allocate(_group, currentCID, mqAll, cidAll) {
    if (!check(currentCID, mqAll, cidAll)) return [];
    const index = cidAll.indexOf(currentCID);
    const n = mqAll.length;
    const c = cidAll.length;
    const mod = n % c;
    const averageSize = n <= c ? 1 : mod > 0 && index < mod ? Math.floor(n / c) + 1 : Math.floor(n / c);
    const startIndex = mod > 0 && index < mod ? index * averageSize : index * averageSize + mod;
    const range = Math.min(averageSize, n - startIndex);
    const result: MessageQueue[] = [];
    for (let i = 0; i < range; i++) result.push(mqAll[(startIndex + i) % n]!);
    return result;
  },
};

/** Dealt like cards: consumer i takes queues i, i + c, i + 2c, ... */
export const allocateAveragelyByCircle: AllocateMessageQueueStrategy = {
  name: 'AVG_BY_CIRCLE',
  allocate(_group, currentCID, mqAll, cidAll) {
    if (!check(currentCID, mqAll, cidAll)) return [];
    const index = cidAll.indexOf(currentCID);
    const result: MessageQueue[] = [];
    for (let i = index; i < mqAll.length; i += cidAll.length) result.push(mqAll[i]!);
    return result;
  },
};

/**
 * What a rebalance does for one topic in clustering mode: sort the queues
 * (`MessageQueue.compareTo`) and the consumer ids (`String.compareTo`), then ask the strategy.
 */
export function allocateQueues(
  strategy: AllocateMessageQueueStrategy,
  consumerGroup: string,
  currentCID: string,
  mqSet: Iterable<MessageQueue>,
  cidAll: Iterable<string>,
): MessageQueue[] {
  const cids = [...cidAll].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return strategy.allocate(consumerGroup, currentCID, sortMessageQueues(mqSet), cids);
}
