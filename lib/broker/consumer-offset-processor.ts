/**
 * Offsets (RocketMQ's ConsumerManageProcessor and AdminBrokerProcessor offset codes):
 * QUERY_CONSUMER_OFFSET (14), UPDATE_CONSUMER_OFFSET (15), GET_MAX_OFFSET (30),
 * GET_MIN_OFFSET (31), SEARCH_OFFSET_BY_TIMESTAMP (29).
 */
import * as os from 'node:os';
import { RemotingCommand } from '../remoting/remoting-command';
import { ResponseCode } from '../remoting/response-code';
import type { BrokerContext } from './broker-context';

/** Java's accessMessageInMemoryMaxRatio: a record further than this share of RAM from the log's end is "on disk". */
const IN_MEMORY_RATIO = 0.4;

export class ConsumerOffsetProcessor {
  constructor(private readonly ctx: BrokerContext) {}

  async query(req: RemotingCommand): Promise<RemotingCommand> {
    const group = req.requireString('consumerGroup');
    const topic = req.requireString('topic');
    const queueId = req.int('queueId');
    const offset = this.ctx.services.consumerOffset(group, topic, queueId);
    if (offset !== undefined) return ok({ offset });
    // A new group reads a queue from its start while message 0 is still in memory, as Java does;
    // otherwise "no offset" and the client applies its consumeFromWhere.
    if (this.ctx.store.getMinOffsetInQueue(topic, queueId) <= 0 && !(await this.firstMessageOnDisk(topic, queueId))) return ok({ offset: 0 });
    return RemotingCommand.response(ResponseCode.QUERY_NOT_FOUND, 'Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first');
  }

  update(req: RemotingCommand): RemotingCommand {
    const group = req.requireString('consumerGroup');
    const topic = req.requireString('topic');
    const queueId = req.int('queueId');
    const commitOffset = req.long('commitOffset');
    // ali-ons sends -1 for queues it has not consumed. Offsets of topics this broker does not
    // have (nobody could have pulled them here) are not kept: they would only fill the file.
    if (commitOffset >= 0 && this.ctx.services.topic(topic)) this.ctx.services.offsets.update(group, topic, queueId, commitOffset);
    return ok();
  }

  maxOffset(req: RemotingCommand): RemotingCommand {
    return ok({ offset: this.ctx.store.getMaxOffsetInQueue(req.requireString('topic'), req.int('queueId')) });
  }

  minOffset(req: RemotingCommand): RemotingCommand {
    return ok({ offset: this.ctx.store.getMinOffsetInQueue(req.requireString('topic'), req.int('queueId')) });
  }

  async searchByTimestamp(req: RemotingCommand): Promise<RemotingCommand> {
    return ok({ offset: await this.ctx.store.getOffsetByTime(req.requireString('topic'), req.int('queueId'), req.long('timestamp')) });
  }

  private async firstMessageOnDisk(topic: string, queueId: number): Promise<boolean> {
    const r = await this.ctx.store.getMessages(topic, queueId, 0, 1);
    const m = r.messages[0];
    if (!m) return false;
    return this.ctx.store.stats().appendOffset - m.physicalOffset > os.totalmem() * IN_MEMORY_RATIO;
  }
}

function ok(fields?: Record<string, number>): RemotingCommand {
  return RemotingCommand.response(ResponseCode.SUCCESS, undefined, fields);
}
