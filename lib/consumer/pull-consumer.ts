import type { GetMessagesResult, MessageExt, PutResult } from '../common/message';
import { KeelError } from '../common/errors';
import { checkOptions, integer, string, timerMs, type OptionRules } from '../common/options-check';
import type { EmbeddedBroker } from './embedded-broker';
import { DEFAULT_MAX_RECONSUME_TIMES } from './retry';
import { parseSubscription } from './tag-filter';

export interface PullConsumerOptions {
  group: string;
  /** Retries before sendMessageBack puts a message in the dead-letter topic (default 16). */
  maxReconsumeTimes?: number;
}

export interface PullOptions {
  /** Most messages returned (default 32). */
  max?: number;
  /** Tag expression (default `*`). */
  expression?: string;
}

type BlockingPullOptions = PullOptions & { timeoutMs?: number };

const BLOCKING_PULL_OPTION_RULES: OptionRules<BlockingPullOptions> = { max: integer(1), expression: string, timeoutMs: timerMs(0) };

const PULL_CONSUMER_OPTION_RULES: OptionRules<PullConsumerOptions> = { group: string, maxReconsumeTimes: integer(0) };

/**
 * A consumer under the application's control (RocketMQ's
 * DefaultMQPullConsumer): it reads any queue from any offset, and stores the
 * group's offsets only when told to. Offsets are shared with push consumers of
 * the same group and survive restarts the same way.
 */
export class PullConsumer {
  readonly group: string;
  private readonly maxReconsumeTimes: number;

  constructor(private readonly broker: EmbeddedBroker, options: PullConsumerOptions) {
    if (typeof options?.group !== 'string' || options.group.length === 0) throw new KeelError('OPTION_INVALID', 'a pull consumer needs a group');
    this.group = options.group;
    this.maxReconsumeTimes = checkOptions('pull consumer', options, PULL_CONSUMER_OPTION_RULES).maxReconsumeTimes ?? DEFAULT_MAX_RECONSUME_TIMES;
  }

  /** The queue ids of a topic (empty when it does not exist). */
  queues(topic: string): number[] {
    const t = this.broker.topic(topic);
    return t ? Array.from({ length: t.queues }, (_, i) => i) : [];
  }

  /** Reads up to `max` matching messages from `offset`; continue from `nextBeginOffset`. */
  pull(topic: string, queueId: number, offset: number, options: PullOptions = {}): Promise<GetMessagesResult> {
    return this.broker.store.getMessages(topic, queueId, offset, options.max ?? 32, parseSubscription(options.expression).filter);
  }

  /**
   * Like pull, but when nothing is there yet waits (long polling) until a
   * message arrives in the queue or `timeoutMs` of the clock passed. The wait
   * keeps the process alive; closing the broker (or the store) ends it at once
   * with CLIENT_STATE.
   */
  async pullBlockIfNotFound(topic: string, queueId: number, offset: number, options: BlockingPullOptions = {}): Promise<GetMessagesResult> {
    // A wait handed to a timer: beyond 2^31 - 1 ms Node would fire it after 1 ms, again and again.
    checkOptions('pull', options, BLOCKING_PULL_OPTION_RULES);
    const store = this.broker.store;
    const deadline = store.clock.now() + (options.timeoutMs ?? 20_000);
    for (;;) {
      const r = await this.pull(topic, queueId, offset, options);
      if (r.status !== 'NO_NEW_MSG' && r.status !== 'NO_MATCHED_LOGIC_QUEUE') return r;
      const left = deadline - store.clock.now();
      if (left <= 0) return r;
      // Checked synchronously before waiting, so an arrival since the read is not missed.
      if (store.getMaxOffsetInQueue(topic, queueId) > offset) continue;
      await this.broker.waitForArrival(topic, queueId, left);
    }
  }

  /** The group's stored offset in a queue, or undefined when it has none. */
  fetchConsumeOffset(topic: string, queueId: number): number | undefined {
    return this.broker.offsets.read(this.group, topic, queueId);
  }

  /** Stores the group's offset: `offset` is the next message the group has not finished. */
  updateConsumeOffset(topic: string, queueId: number, offset: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0) throw new KeelError('OFFSET_INVALID', `offset must be a non-negative integer, got ${offset}`);
    this.broker.offsets.update(this.group, topic, queueId, offset);
  }

  /** Writes the offsets now instead of at the next interval. */
  persistConsumerOffset(): Promise<void> { return this.broker.offsets.persist(); }

  /**
   * Sends a message the application failed to process back for a retry
   * (delayLevel 0: by its retry count) or to the DLQ once retried too often.
   * The retry arrives in `%RETRY%<group>`, which a pull consumer reads itself.
   */
  sendMessageBack(msg: MessageExt, delayLevel = 0): Promise<PutResult> {
    return this.broker.sendBack(this.group, msg, delayLevel, this.maxReconsumeTimes);
  }
}
