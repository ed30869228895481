/** What every message carries from its producer: the store's, the client's and the wire's share it. */
export interface MessageContent {
  topic: string;
  body: Uint8Array | string;
  /** Stored as the TAGS property; its Java String.hashCode goes into the ConsumeQueue entry. No whitespace, `|` or `*`. */
  tags?: string;
  /** Business keys, stored as the KEYS property, space separated: one key, or several; a key has no space. */
  keys?: string | string[];
  /** User properties; names and values must not contain \u0001 or \u0002. */
  properties?: Record<string, string>;
  /** Opaque user int (RocketMQ's `flag`). */
  flag?: number;
}

/** What a producer hands to the store. */
export interface Message extends MessageContent {
  /** Queue within the topic; default 0. */
  queueId?: number;
  sysFlag?: number;
  bornTimestamp?: number;
  /** "ip:port" (IPv4); default the store host. */
  bornHost?: string;
  reconsumeTimes?: number;
  preparedTransactionOffset?: number;
  /**
   * Written into the ConsumeQueue entry's 8-byte tag slot instead of the tag's hash.
   * The delay-level schedule queues keep the deliver-at time there.
   */
  tagsCode?: number;
}

/** A message as stored and read back. */
export interface MessageExt {
  topic: string;
  queueId: number;
  queueOffset: number;
  physicalOffset: number;
  /** Bytes of the whole record in the CommitLog. */
  storeSize: number;
  body: Buffer;
  bodyCRC: number;
  flag: number;
  sysFlag: number;
  bornTimestamp: number;
  bornHost: string;
  storeTimestamp: number;
  storeHost: string;
  reconsumeTimes: number;
  preparedTransactionOffset: number;
  /** All properties except the store's own whole-record CRC. */
  properties: Record<string, string>;
  tags: string | undefined;
  keys: string[];
  /** store host + physical offset, 32 upper-case hex digits (RocketMQ's offset message id). */
  msgId: string;
}

/**
 * Outcome of a put that stored the message (RocketMQ's PutMessageStatus for the
 * stored cases). Anything that stores nothing rejects with a KeelError instead.
 */
export type PutStatus =
  | 'PUT_OK'
  /** Stored and written, but the fsync covering it did not complete within syncFlushTimeout. */
  | 'FLUSH_DISK_TIMEOUT'
  /** Stored, but no slave acknowledged it in time (SYNC replication). */
  | 'FLUSH_SLAVE_TIMEOUT'
  /** Stored, but no slave was close enough to wait for (SYNC replication). */
  | 'SLAVE_NOT_AVAILABLE';

export interface PutResult {
  status: PutStatus;
  msgId: string;
  topic: string;
  queueId: number;
  queueOffset: number;
  physicalOffset: number;
  storeSize: number;
  storeTimestamp: number;
}

export type GetStatus =
  | 'FOUND'
  /** offset == max offset: nothing new yet. */
  | 'NO_NEW_MSG'
  /** Messages were there but none passed the filter; nextBeginOffset skips them. */
  | 'NO_MATCHED_MSG'
  /** offset below min or above max; nextBeginOffset is the corrected offset. */
  | 'OFFSET_MOVED'
  /** No such topic/queue in the store. */
  | 'NO_MATCHED_LOGIC_QUEUE';

export interface GetMessagesResult {
  status: GetStatus;
  messages: MessageExt[];
  nextBeginOffset: number;
  minOffset: number;
  maxOffset: number;
  /** With getMessages' `records` option: the stored bytes of each message, in the same order. */
  records?: Buffer[];
}

/** A ConsumeQueue entry as read. */
export interface QueueEntry {
  queueOffset: number;
  physicalOffset: number;
  size: number;
  tagsCode: number;
}

/** What a read keeps: tested on the ConsumeQueue entry's tag code first (no CommitLog read), then on the message. */
export interface MessageFilter {
  matchTagsCode?(tagsCode: number): boolean;
  matchMessage?(msg: MessageExt): boolean;
}

/** What a producer gets back for a message it sent. */
export interface SendResult {
  status: PutStatus;
  /** Id of the stored record (for a delayed message: of its copy in the schedule topic). */
  msgId: string;
  topic: string;
  queueId: number;
  /** Offset in the queue (for a delayed message: in its schedule queue). */
  queueOffset: number;
  /** When the store wrote it; in-process only (RocketMQ's send reply does not carry it). */
  storeTimestamp?: number;
}

/** A queue of a topic on one broker (RocketMQ's MessageQueue): the unit of routing, pulls, offsets and locks. */
export interface MessageQueue {
  topic: string;
  brokerName: string;
  queueId: number;
}
