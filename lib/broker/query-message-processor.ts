/**
 * VIEW_MESSAGE_BY_ID (33) and QUERY_MESSAGE (12) (RocketMQ's QueryMessageProcessor): records as
 * stored, found by commit-log offset or by key (through the shared EmbeddedBroker.queryMessageByKey).
 */
import { isKeelError } from '../common/errors';
import { RemotingCommand } from '../remoting/remoting-command';
import { ResponseCode } from '../remoting/response-code';
import type { MessageExt } from '../common/message';
import type { BrokerContext } from './broker-context';

export class QueryMessageProcessor {
  constructor(private readonly ctx: BrokerContext) {}

  async viewById(req: RemotingCommand): Promise<RemotingCommand> {
    const offset = req.long('offset');
    const r = offset >= 0 ? await this.ctx.store.getRecord(offset) : null;
    if (!r) return RemotingCommand.response(ResponseCode.SYSTEM_ERROR, `can not find message by the offset, ${offset}`);
    return RemotingCommand.response(ResponseCode.SUCCESS, undefined, undefined, Buffer.from(r.record));
  }

  async queryByKey(req: RemotingCommand): Promise<RemotingCommand> {
    const topic = req.requireString('topic');
    const key = req.requireString('key');
    const maxNum = req.int('maxNum');
    const begin = req.long('beginTimestamp');
    const end = req.long('endTimestamp');
    let found: MessageExt[];
    try {
      found = await this.ctx.services.queryMessageByKey(topic, key, {
        begin, end, max: Math.max(1, Math.min(maxNum, 64)), uniqKey: req.bool('_UNIQUE_KEY_QUERY'),
      });
    } catch (e) {
      // A key no message can have finds nothing, as an index lookup would.
      if (!isKeelError(e, 'PROPERTY_INVALID')) throw e;
      found = [];
    }
    const records: Buffer[] = [];
    for (const m of found) {
      const r = await this.ctx.store.getRecord(m.physicalOffset);
      if (r) records.push(Buffer.from(r.record));
    }
    if (records.length === 0) return RemotingCommand.response(ResponseCode.QUERY_NOT_FOUND, 'can not find message, maybe time range not correct');
    const last = found[found.length - 1]!;
    return RemotingCommand.response(ResponseCode.SUCCESS, undefined, {
      indexLastUpdateTimestamp: last.storeTimestamp, indexLastUpdatePhyoffset: last.physicalOffset,
    }, Buffer.concat(records));
  }
}
