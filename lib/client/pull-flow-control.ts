/**
 * When a push consumer holds off pulling a queue: the checks at the top of RocketMQ 4.9.7's
 * `DefaultMQPushConsumerImpl.pullMessage`, in their order, and the per-queue thresholds
 * `RebalancePushImpl.messageQueueChanged` derives from per-topic ones.
 *
 * - more than pullThresholdForQueue (1000) messages cached → again in 50 ms;
 * - more than pullThresholdSizeForQueue (100) MiB cached, counted in whole MiB (so from 101 MiB
 *   on) → again in 50 ms;
 * - concurrent: offsets of the cached messages spanning more than consumeConcurrentlyMaxSpan
 *   (2000) → again in 50 ms;
 * - orderly: the queue not locked in the broker → again in pullTimeDelayMillsWhenException (3 s).
 */
export const PULL_DELAY_WHEN_FLOW_CONTROL_MS = 50;
export const PULL_DELAY_WHEN_EXCEPTION_MS = 3000;

export interface PullFlowControlOptions {
  pullThresholdForQueue: number;
  /** MiB. */
  pullThresholdSizeForQueue: number;
  consumeConcurrentlyMaxSpan: number;
  pullTimeDelayMillsWhenException: number;
}

export const DEFAULT_PULL_FLOW_CONTROL: Readonly<PullFlowControlOptions> = Object.freeze({
  pullThresholdForQueue: 1000,
  pullThresholdSizeForQueue: 100,
  consumeConcurrentlyMaxSpan: 2000,
  pullTimeDelayMillsWhenException: PULL_DELAY_WHEN_EXCEPTION_MS,
});

export interface QueueCacheState {
  cachedMessageCount: number;
  cachedMessageBytes: number;
  /** Last cached offset minus first (ProcessQueue.getMaxSpan); 0 when nothing is cached. */
  maxSpan: number;
  orderly: boolean;
  /** Orderly only: the broker lock is held. */
  locked?: boolean;
}

export type FlowControlReason = 'cached-count' | 'cached-size' | 'span' | 'not-locked';

/** Undefined: pull now. Otherwise how long to wait before trying this queue again, and why. */
export function pullFlowControl(
  s: QueueCacheState,
  o: PullFlowControlOptions = DEFAULT_PULL_FLOW_CONTROL,
): { delayMs: number; reason: FlowControlReason } | undefined {
  if (s.cachedMessageCount > o.pullThresholdForQueue) return { delayMs: PULL_DELAY_WHEN_FLOW_CONTROL_MS, reason: 'cached-count' };
  if (Math.floor(s.cachedMessageBytes / (1024 * 1024)) > o.pullThresholdSizeForQueue) return { delayMs: PULL_DELAY_WHEN_FLOW_CONTROL_MS, reason: 'cached-size' };
  if (!s.orderly) {
    if (s.maxSpan > o.consumeConcurrentlyMaxSpan) return { delayMs: PULL_DELAY_WHEN_FLOW_CONTROL_MS, reason: 'span' };
  } else if (!s.locked) {
    return { delayMs: o.pullTimeDelayMillsWhenException, reason: 'not-locked' };
  }
  return undefined;
}

/**
 * pullThresholdForTopic / pullThresholdSizeForTopic (-1 = unset) split over the queues this
 * consumer holds after a rebalance, at least 1 each; unset or no queue keeps `current`.
 */
export function perQueueThreshold(forTopic: number, queueCount: number, current: number): number {
  if (forTopic === -1 || queueCount === 0) return current;
  return Math.max(1, Math.floor(forTopic / queueCount));
}
