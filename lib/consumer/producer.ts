import type { PutStatus } from '../store/message';
import { tagsHashCode } from '../store/message-codec';
import { KeelError } from '../errors';
import { checkOptions, fn, type OptionRules } from '../options-check';
import type { EmbeddedBroker } from './embedded-broker';

/** What an application sends. */
export interface ProducerMessage {
  topic: string;
  body: Uint8Array | string;
  /** One tag; consumers filter on it (`'TagA || TagB'`). */
  tags?: string;
  /** Business keys, findable with queryMessageByKey. */
  keys?: string | string[];
  properties?: Record<string, string>;
  flag?: number;
  /** Deliver after the delay of this level (1..18 with the default levels); 0 or absent: at once. */
  delayLevel?: number;
  /** A fixed queue; overrides the selector and the sharding key. */
  queueId?: number;
  /** Messages with the same sharding key go to the same queue (and so stay in order). */
  shardingKey?: string;
}

/** Picks a queue in 0..queues-1 for a message. */
export type QueueSelector = (queues: number, msg: ProducerMessage) => number;

export interface ProducerOptions {
  /** Used instead of round robin for messages without queueId or shardingKey. */
  selector?: QueueSelector;
}

export interface SendResult {
  status: PutStatus;
  /** Id of the stored record (for a delayed message: of its copy in the schedule topic). */
  msgId: string;
  topic: string;
  queueId: number;
  /** Offset in the queue (for a delayed message: in its schedule queue). */
  queueOffset: number;
  storeTimestamp: number;
}

const PRODUCER_OPTION_RULES: OptionRules<ProducerOptions> = { selector: fn };

/**
 * The embedded producer: picks a queue and stores the message in the
 * broker's store. Queue choice, in order: `msg.queueId`, the options'
 * selector, the hash of `msg.shardingKey` (RocketMQ's SelectMessageQueueByHash),
 * round robin from a random start.
 */
export class Producer {
  private counter = Math.floor(Math.random() * 1024);
  private readonly selector: QueueSelector | undefined;

  constructor(private readonly broker: EmbeddedBroker, options?: Partial<ProducerOptions>) {
    this.selector = checkOptions('producer', options, PRODUCER_OPTION_RULES).selector;
  }

  async send(msg: ProducerMessage): Promise<SendResult> {
    if (typeof msg !== 'object' || msg === null) throw new TypeError('message must be an object');
    const topic = await this.broker.resolveTopic(msg.topic);
    const queueId = this.selectQueue(topic.queues, msg);
    const delayLevel = msg.delayLevel ?? 0;
    if (delayLevel !== 0) this.broker.schedule.delayOf(delayLevel);
    const r = await this.broker.putMessage({
      topic: msg.topic, queueId, body: msg.body, tags: msg.tags, keys: msg.keys, properties: msg.properties, flag: msg.flag,
    }, delayLevel);
    return { status: r.status, msgId: r.msgId, topic: msg.topic, queueId, queueOffset: r.queueOffset, storeTimestamp: r.storeTimestamp };
  }

  private selectQueue(queues: number, msg: ProducerMessage): number {
    let q: number;
    if (msg.queueId !== undefined) q = msg.queueId;
    else if (this.selector) q = this.selector(queues, msg);
    else if (msg.shardingKey !== undefined) q = Math.abs(tagsHashCode(String(msg.shardingKey)) % queues);
    else q = this.counter++ % queues;
    if (!Number.isInteger(q) || q < 0 || q >= queues) throw new KeelError('QUEUE_INVALID', `queue ${q} is outside 0..${queues - 1} of topic ${msg.topic}`);
    return q;
  }
}
