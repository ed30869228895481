import type { FileIO } from '../io/file-io';
import { ConsumeQueue } from './consume-queue';

/** One (topic, queue): its index and the next queue offset the CommitLog will hand out. */
export interface QueueSlot {
  readonly cq: ConsumeQueue;
  /** Next queue offset to assign; runs ahead of cq.maxOffset by the puts not yet durable. */
  next: number;
  /** Listed by the Dispatcher for the next ConsumeQueue commit / arrival announcement (flags spare a set lookup per message). */
  toCommit: boolean;
  toAnnounce: boolean;
}

function slotOf(cq: ConsumeQueue, next: number): QueueSlot {
  return { cq, next, toCommit: false, toAnnounce: false };
}

/** Every queue of the store, by topic and queue id (RocketMQ's topicQueueTable + consumeQueueTable). */
export class QueueTable {
  private readonly topics = new Map<string, QueueSlot[]>();
  private count = 0;

  constructor(private readonly io: FileIO, private readonly root: string, private readonly entriesPerFile: number) {}

  get(topic: string, queueId: number): QueueSlot | undefined {
    return this.topics.get(topic)?.[queueId];
  }

  /** The slot, created (with an empty queue, no files yet) when new. */
  obtain(topic: string, queueId: number): QueueSlot {
    let slots = this.topics.get(topic);
    if (!slots) this.topics.set(topic, (slots = []));
    let slot = slots[queueId];
    if (!slot) {
      slot = slotOf(ConsumeQueue.create(this.io, this.root, topic, queueId, this.entriesPerFile), 0);
      slots[queueId] = slot;
      this.count++;
    }
    return slot;
  }

  add(cq: ConsumeQueue): QueueSlot {
    let slots = this.topics.get(cq.topic);
    if (!slots) this.topics.set(cq.topic, (slots = []));
    const slot = slotOf(cq, cq.maxOffset);
    if (!slots[cq.queueId]) this.count++;
    slots[cq.queueId] = slot;
    return slot;
  }

  get size(): number { return this.count; }

  *all(): IterableIterator<QueueSlot> {
    for (const slots of this.topics.values()) for (const s of slots) if (s) yield s;
  }

  topicNames(): string[] { return [...this.topics.keys()]; }

  queueIds(topic: string): number[] {
    const slots = this.topics.get(topic);
    return slots ? slots.flatMap((s, i) => (s ? [i] : [])) : [];
  }
}
