/**
 * Which client holds which queue of a group (RocketMQ's RebalanceLockManager table): orderly
 * consumers pull a queue only while the broker says they hold it. A lock belongs to one clientId
 * and lapses LOCK_EXPIRY_MS after its last renewal (the client renews every 20 s and trusts a lock
 * for 30 s). The networked broker answers LOCK_BATCH_MQ / UNLOCK_BATCH_MQ with it, the in-process
 * transport calls it directly.
 */
import type { Clock } from '../common/clock';
import type { MessageQueue } from '../common/message';

export const LOCK_EXPIRY_MS = 60_000;


interface LockEntry {
  clientId: string;
  lastUpdate: number;
}

export class QueueLockTable {
  /** group → "topic@brokerName@queueId" → holder. */
  private readonly table = new Map<string, Map<string, LockEntry>>();

  constructor(private readonly clock: Clock) {}

  /** Locks what is free, lapsed or already `clientId`'s; returns the queues it now holds. */
  tryLockBatch(group: string, mqs: MessageQueue[], clientId: string): MessageQueue[] {
    const now = this.clock.now();
    let g = this.table.get(group);
    if (!g) this.table.set(group, (g = new Map()));
    const locked: MessageQueue[] = [];
    for (const mq of mqs) {
      const k = mqKey(mq);
      const e = g.get(k);
      if (!e || e.clientId === clientId || now - e.lastUpdate > LOCK_EXPIRY_MS) {
        g.set(k, { clientId, lastUpdate: now });
        locked.push(mq);
      }
    }
    return locked;
  }

  unlockBatch(group: string, mqs: MessageQueue[], clientId: string): void {
    const g = this.table.get(group);
    if (!g) return;
    for (const mq of mqs) {
      const k = mqKey(mq);
      if (g.get(k)?.clientId === clientId) g.delete(k);
    }
    if (g.size === 0) this.table.delete(group);
  }

}

function mqKey(mq: MessageQueue): string {
  return `${mq.topic}@${mq.brokerName}@${mq.queueId}`;
}
