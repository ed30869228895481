import type { SendResult } from '../common/message';
import { tagsHashCode } from '../common/tag-hash';
import { KeelError } from '../common/errors';
import { checkOptions, fn, type OptionRules } from '../common/options-check';
import { checkKey, checkUserTopic, SYSTEM_PROPERTIES } from '../common/message-const';
import { isSelectableTag } from '../common/tag-filter';
import { transportOf, type EmbeddedBroker } from './in-process-transport';
import type { ClientTransport, MessageQueue } from './transport';

export type { SendResult } from '../common/message';

/** What an application sends. */
export interface ProducerMessage {
  topic: string;
  body: Uint8Array | string;
  /** One tag; consumers filter on it (`'TagA || TagB'`). No whitespace, `|` or `*`. */
  tags?: string;
  /** Business keys, findable with queryMessageByKey: one key, or several. A key has no space (the separator). */
  keys?: string | string[];
  /** User properties; the broker's own names (TAGS, KEYS, DELAY, REAL_TOPIC, ...: SYSTEM_PROPERTIES) are refused. */
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


const PRODUCER_OPTION_RULES: OptionRules<ProducerOptions> = { selector: fn };

/**
 * Picks a queue of the topic's route and sends the message through the
 * transport: in-process into an EmbeddedBroker's store, or to a broker over
 * the network. Queue choice, in order: `msg.queueId`, the options' selector,
 * the hash of `msg.shardingKey` (RocketMQ's SelectMessageQueueByHash), round
 * robin from a random start; a number n picks the route's n-th writable queue.
 */
export class Producer {
  private counter = Math.floor(Math.random() * 1024);
  private readonly selector: QueueSelector | undefined;
  private readonly transport: ClientTransport;

  constructor(target: EmbeddedBroker | ClientTransport, options?: Partial<ProducerOptions>) {
    this.selector = checkOptions('producer', options, PRODUCER_OPTION_RULES).selector;
    this.transport = transportOf(target);
  }

  async send(msg: ProducerMessage): Promise<SendResult> {
    if (typeof msg !== 'object' || msg === null) throw new TypeError('message must be an object');
    checkUserTopic(msg.topic);
    checkRoundTrip(msg);
    const route = await this.transport.route(msg.topic);
    const mq = this.selectQueue(route.writeQueues, msg);
    return this.transport.send(mq, {
      topic: msg.topic, body: msg.body, tags: msg.tags, keys: msg.keys, properties: msg.properties, flag: msg.flag, delayLevel: msg.delayLevel ?? 0,
    });
  }

  private selectQueue(queues: readonly MessageQueue[], msg: ProducerMessage): MessageQueue {
    const n = queues.length;
    let q: number;
    if (msg.queueId !== undefined) q = msg.queueId;
    else if (this.selector) q = this.selector(n, msg);
    else if (msg.shardingKey !== undefined) q = Math.abs(tagsHashCode(String(msg.shardingKey)) % n);
    else q = this.counter++ % n;
    if (!Number.isInteger(q) || q < 0 || q >= n) throw new KeelError('QUEUE_INVALID', `queue ${q} is outside 0..${n - 1} of topic ${msg.topic}`);
    return queues[q]!;
  }
}

/** Refuses, with PROPERTY_INVALID, what would not read back as sent: see checkKey, isSelectableTag, SYSTEM_PROPERTIES. */
function checkRoundTrip(msg: ProducerMessage): void {
  if (typeof msg.tags === 'string' && !isSelectableTag(msg.tags)) {
    throw new KeelError('PROPERTY_INVALID', `tag ${JSON.stringify(msg.tags)} must be non-empty without whitespace, "|" or "*": no subscription could select it`);
  }
  for (const key of Array.isArray(msg.keys) ? msg.keys : msg.keys === undefined ? [] : [msg.keys]) checkKey(key);
  if (typeof msg.properties === 'object' && msg.properties !== null) {
    for (const name of Object.keys(msg.properties)) {
      if (SYSTEM_PROPERTIES.has(name)) {
        const hint = name === 'TAGS' || name === 'KEYS' ? `: use msg.${name.toLowerCase()}` : '';
        throw new KeelError('PROPERTY_INVALID', `property ${name} is reserved by the broker${hint}`);
      }
    }
  }
}
