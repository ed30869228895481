import type { GetMessagesResult, MessageExt } from '../common/message';
import { isKeelError, KeelError } from '../common/errors';
import { checkOptions, integer, string, timerMs, type OptionRules } from '../common/options-check';
import { DEFAULT_MAX_RECONSUME_TIMES } from '../common/retry';
import { parseSubscription } from '../common/tag-filter';
import { transportOf, type EmbeddedBroker } from './in-process-transport';
import type { ClientTransport, MessageQueue } from './transport';

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
  private readonly transport: ClientTransport;
  /** The updates of updateConsumeOffset, in call order. */
  private commits: Promise<void> = Promise.resolve();

  constructor(target: EmbeddedBroker | ClientTransport, options: PullConsumerOptions) {
    if (typeof options?.group !== 'string' || options.group.length === 0) throw new KeelError('OPTION_INVALID', 'a pull consumer needs a group');
    this.group = options.group;
    this.maxReconsumeTimes = checkOptions('pull consumer', options, PULL_CONSUMER_OPTION_RULES).maxReconsumeTimes ?? DEFAULT_MAX_RECONSUME_TIMES;
    this.transport = transportOf(target);
  }

  /** The queue ids of a topic (empty when it does not exist). */
  async queues(topic: string): Promise<number[]> {
    try {
      return (await this.transport.route(topic)).readQueues.map((q) => q.queueId);
    } catch (e) {
      if (isKeelError(e, 'TOPIC_NOT_FOUND')) return [];
      throw e;
    }
  }

  /** Reads up to `max` matching messages from `offset`; continue from `nextBeginOffset`. */
  pull(topic: string, queueId: number, offset: number, options: PullOptions = {}): Promise<GetMessagesResult> {
    return this.pullHeld(topic, queueId, offset, options, 0);
  }

  private async pullHeld(topic: string, queueId: number, offset: number, options: PullOptions, suspendMs: number): Promise<GetMessagesResult> {
    const subscription = parseSubscription(options.expression);
    // The wait counts from the call, not from when the route was found.
    const deadline = this.transport.clock.now() + suspendMs;
    const mq = await this.queue(topic, queueId);
    const left = Math.max(0, deadline - this.transport.clock.now());
    return this.transport.pull({ group: this.group, mq, offset, maxMessages: options.max ?? 32, subscription, suspendMs: left });
  }

  /** The readable queues of `topic` with their brokers (Java's fetchSubscribeMessageQueues); TOPIC_NOT_FOUND without a route. */
  async fetchSubscribeMessageQueues(topic: string): Promise<MessageQueue[]> {
    return (await this.transport.route(topic)).readQueues;
  }

  /** The first offset still in the queue, the next one to be written, and the first stored at or after `timestamp` (for a start point). */
  async minOffset(topic: string, queueId: number): Promise<number> { return this.transport.minOffset(await this.queue(topic, queueId)); }
  async maxOffset(topic: string, queueId: number): Promise<number> { return this.transport.maxOffset(await this.queue(topic, queueId)); }
  async searchOffset(topic: string, queueId: number, timestamp: number): Promise<number> { return this.transport.searchOffset(await this.queue(topic, queueId), timestamp); }

  /** The route's queue `queueId` of `topic` (on the first broker that has one). */
  private async queue(topic: string, queueId: number): Promise<MessageQueue> {
    const mq = (await this.transport.route(topic)).readQueues.find((q) => q.queueId === queueId);
    if (!mq) throw new KeelError('QUEUE_INVALID', `topic ${topic} has no queue ${queueId}`);
    return mq;
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
    return this.pullHeld(topic, queueId, offset, options, options.timeoutMs ?? 20_000);
  }

  /** The group's stored offset in a queue, or undefined when it has none. */
  async fetchConsumeOffset(topic: string, queueId: number): Promise<number | undefined> {
    // Reads this consumer's own updates.
    await this.commits.catch(() => undefined);
    return this.transport.queryOffset(this.group, await this.queue(topic, queueId));
  }

  /**
   * Stores the group's offset: `offset` is the next message the group has not finished.
   * Recorded in call order once the queue's route is known; persistConsumerOffset waits for it.
   */
  updateConsumeOffset(topic: string, queueId: number, offset: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0) throw new KeelError('OFFSET_INVALID', `offset must be a non-negative integer, got ${offset}`);
    const commit = async () => this.transport.commitOffset(this.group, await this.queue(topic, queueId), offset);
    this.commits = this.commits.then(commit, commit);
    // Reported by persistConsumerOffset, not as an unhandled rejection.
    this.commits.catch(() => undefined);
  }

  /** Writes the offsets now instead of at the next interval; rejects when the last update could not be recorded. */
  async persistConsumerOffset(): Promise<void> {
    await this.commits;
    await this.transport.flushOffsets(this.group);
  }

  /**
   * Sends a message the application failed to process back for a retry
   * (delayLevel 0: by its retry count) or to the DLQ once retried too often.
   * The retry arrives in `%RETRY%<group>`, which a pull consumer reads itself.
   */
  async sendMessageBack(msg: MessageExt, delayLevel = 0): Promise<void> {
    const mq = await this.queue(msg.topic, msg.queueId);
    await this.transport.sendBack({ brokerName: mq.brokerName, group: this.group, msg, delayLevel, maxReconsumeTimes: this.maxReconsumeTimes });
  }
}
