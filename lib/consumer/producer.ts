import type { PutStatus } from '../common/message';
import { tagsHashCode } from '../common/tag-hash';
import { KeelError } from '../common/errors';
import { checkOptions, fn, type OptionRules } from '../common/options-check';
import type { EmbeddedBroker } from './embedded-broker';
import { checkUserTopic, SYSTEM_PROPERTIES } from './message-const';
import { isSelectableTag } from './tag-filter';

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
    checkUserTopic(msg.topic);
    checkRoundTrip(msg);
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

/**
 * A key as the store keeps it: KEYS holds the keys separated by a space
 * (RocketMQ's KEY_SEPARATOR), so a key with a space, or an empty one, would
 * come back split or dropped. PROPERTY_INVALID for those.
 */
export function checkKey(key: string): void {
  if (typeof key === 'string' && (key === '' || key.includes(' '))) {
    throw new KeelError('PROPERTY_INVALID', `key ${JSON.stringify(key)} must be non-empty without spaces: keys are stored separated by a space`);
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
