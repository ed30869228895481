/**
 * LOCK_BATCH_MQ (41) / UNLOCK_BATCH_MQ (42) (RocketMQ's RebalanceLockManager): the request bodies
 * and replies, over the lock table the in-process transport uses too (lib/consumer/queue-lock-table.ts).
 */
import { KeelError } from '../common/errors';
import { parseLenientJson } from '../remoting/lenient-json';
import { RemotingCommand } from '../remoting/remoting-command';
import { ResponseCode } from '../remoting/response-code';
import type { MessageQueue } from '../common/message';
import { QueueLockTable } from '../consumer/queue-lock-table';

export { LOCK_EXPIRY_MS } from '../consumer/queue-lock-table';

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

/** The lock table, answering the LOCK_BATCH_MQ / UNLOCK_BATCH_MQ requests. */
export class RebalanceLockManager extends QueueLockTable {
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
