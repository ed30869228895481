/**
 * LOCK_BATCH_MQ (41) / UNLOCK_BATCH_MQ (42) (RocketMQ's RebalanceLockManager): orderly consumers
 * pull a queue only while this broker says they hold it. A lock belongs to one clientId and
 * lapses 60 s after its last renewal (the client renews every 20 s and trusts a lock for 30 s).
 */
import type { Clock } from '../common/clock';
import { KeelError } from '../common/errors';
import { parseLenientJson } from '../remoting/lenient-json';
import { RemotingCommand } from '../remoting/remoting-command';
import { ResponseCode } from '../remoting/response-code';

export const LOCK_EXPIRY_MS = 60_000;

export interface MessageQueue {
  brokerName: string;
  queueId: number;
  topic: string;
}

interface LockEntry {
  clientId: string;
  lastUpdate: number;
}

interface LockBatchBody {
  consumerGroup: string;
  clientId: string;
  mqSet: MessageQueue[];
}

function bad(what: string): never {
  throw new KeelError('REMOTING_REQUEST_INVALID', `bad LockBatchRequestBody: ${what}`);
}

export function parseLockBatchBody(body: Buffer | undefined): LockBatchBody {
  if (!body || body.length === 0) bad('empty body');
  const o = parseLenientJson(body.toString('utf8'), { numbers: 'number' }) as Record<string, unknown> | null;
  if (typeof o !== 'object' || o === null) bad('not an object');
  if (typeof o.consumerGroup !== 'string' || typeof o.clientId !== 'string') bad('consumerGroup and clientId must be strings');
  const set = o.mqSet ?? [];
  if (!Array.isArray(set)) bad('mqSet is not an array');
  const mqSet = set.map((m: unknown) => {
    const q = m as Record<string, unknown> | null;
    if (typeof q !== 'object' || q === null || typeof q.topic !== 'string' || typeof q.brokerName !== 'string' || !Number.isInteger(Number(q.queueId))) {
      bad('an mqSet entry is not {brokerName, queueId, topic}');
    }
    return { brokerName: q.brokerName as string, queueId: Number(q.queueId), topic: q.topic as string };
  });
  return { consumerGroup: o.consumerGroup, clientId: o.clientId, mqSet };
}

export class RebalanceLockManager {
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

  lock(req: RemotingCommand): RemotingCommand {
    const b = parseLockBatchBody(req.body);
    const lockOKMQSet = this.tryLockBatch(b.consumerGroup, b.mqSet, b.clientId);
    return RemotingCommand.response(ResponseCode.SUCCESS, undefined, undefined, Buffer.from(JSON.stringify({ lockOKMQSet }), 'utf8'));
  }

  unlock(req: RemotingCommand): RemotingCommand {
    const b = parseLockBatchBody(req.body);
    this.unlockBatch(b.consumerGroup, b.mqSet, b.clientId);
    return RemotingCommand.response(ResponseCode.SUCCESS);
  }
}

function mqKey(mq: MessageQueue): string {
  return `${mq.topic}@${mq.brokerName}@${mq.queueId}`;
}
