import type { MessageStore } from '../store/message-store';
import { KeelError } from '../common/errors';
import { PROPERTY_DLQ_MESSAGE_ID, retryTopic } from '../common/message-const';

interface Resent { msgId: string; queueOffset: number }

interface GroupLedger {
  /** Dead-letter id → the first copy resent from it. */
  resent: Map<string, Resent>;
  /** Next offset of the retry queue not yet read. */
  next: number;
}

/**
 * Which dead letters were resent, so that each is resent once. The record is
 * the retry topic itself: the copy resendDeadLetter stores there, and every
 * later retry of it, carries DLQ_MESSAGE_ID, so a crash can never leave a
 * dead letter resent but not marked, or marked but not resent. A group's
 * retry queue is read once per broker, then only what was appended since.
 * Resends run one at a time, so two calls for one dead letter cannot both pass
 * the check.
 */
export class ResendLedger {
  private readonly groups = new Map<string, GroupLedger>();
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly store: MessageStore) {}

  /**
   * Runs `resend` (which stores the copy in the group's retry topic, marked
   * with DLQ_MESSAGE_ID) unless the dead letter was resent before; then
   * rejects with DEAD_LETTER_RESENT naming that copy.
   */
  once<T extends Resent>(group: string, deadLetterId: string, resend: () => Promise<T>): Promise<T> {
    const run = this.tail.then(async () => {
      const ledger = await this.catchUp(group);
      const earlier = ledger.resent.get(deadLetterId);
      if (earlier) {
        throw new KeelError('DEAD_LETTER_RESENT', `dead letter ${deadLetterId} was resent already, as ${earlier.msgId} at offset ${earlier.queueOffset} of ${retryTopic(group)}`);
      }
      const r = await resend();
      ledger.resent.set(deadLetterId, { msgId: r.msgId, queueOffset: r.queueOffset });
      return r;
    });
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async catchUp(group: string): Promise<GroupLedger> {
    const topic = retryTopic(group);
    let ledger = this.groups.get(group);
    if (!ledger) {
      ledger = { resent: new Map(), next: this.store.getMinOffsetInQueue(topic, 0) };
      this.groups.set(group, ledger);
    }
    for (;;) {
      const r = await this.store.getMessages(topic, 0, ledger.next, 256);
      if (r.status !== 'FOUND' && r.status !== 'OFFSET_MOVED') return ledger;
      if (r.status === 'OFFSET_MOVED' && r.nextBeginOffset === ledger.next) return ledger;
      for (const m of r.messages) {
        const id = m.properties[PROPERTY_DLQ_MESSAGE_ID];
        if (id !== undefined && !ledger.resent.has(id)) ledger.resent.set(id, { msgId: m.msgId, queueOffset: m.queueOffset });
      }
      ledger.next = r.nextBeginOffset;
    }
  }
}
