/**
 * CONSUMER_SEND_MSG_BACK (36) (RocketMQ's SendMessageProcessor.consumerSendMsgBack): the failed
 * message, found by its commit-log offset, goes through the shared retry rule (planSendBack via
 * EmbeddedBroker.sendBack): `%RETRY%<group>` with a delay level, or `%DLQ%<group>` past the maximum.
 */
import { retryTopic } from '../common/message-const';
import { DEFAULT_MAX_RECONSUME_TIMES } from '../common/retry';
import { RemotingCommand } from '../remoting/remoting-command';
import { ResponseCode } from '../remoting/response-code';
import type { BrokerContext } from './broker-context';
import { storeErrorCode } from './send-message-processor';

/** `MQVersion.Version.V3_4_9`: from this client version on the header's maxReconsumeTimes counts. */
const VERSION_HONOURS_MAX_RECONSUME = 121;

export class SendBackProcessor {
  constructor(private readonly ctx: BrokerContext) {}

  async process(req: RemotingCommand): Promise<RemotingCommand> {
    const offset = req.long('offset');
    const group = req.requireString('group');
    const delayLevel = req.int('delayLevel');
    const max = req.version >= VERSION_HONOURS_MAX_RECONSUME && req.field('maxReconsumeTimes') !== undefined
      ? req.int('maxReconsumeTimes') : DEFAULT_MAX_RECONSUME_TIMES;
    const msg = offset >= 0 ? await this.ctx.store.getMessage(offset) : null;
    if (!msg) return RemotingCommand.response(ResponseCode.SYSTEM_ERROR, `look message by offset failed, ${offset}`);
    try {
      // Checks the group's name before sendBack writes topics named after it.
      await this.ctx.services.createTopic(retryTopic(group), 1);
      await this.ctx.services.sendBack(group, msg, delayLevel, max);
    } catch (e) {
      const mapped = storeErrorCode(e);
      if (!mapped) throw e;
      return RemotingCommand.response(mapped.code, mapped.remark);
    }
    return RemotingCommand.response(ResponseCode.SUCCESS);
  }
}
