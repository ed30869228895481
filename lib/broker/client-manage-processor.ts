/**
 * HEART_BEAT (34), UNREGISTER_CLIENT (35) and GET_CONSUMER_LIST_BY_GROUP (38)
 * (RocketMQ's ClientManageProcessor and ConsumerManageProcessor.getConsumerListByGroup).
 */
import { retryTopic } from '../common/message-const';
import { isKeelError } from '../common/errors';
import type { RemotingChannel } from '../remoting/remoting-channel';
import { RemotingCommand } from '../remoting/remoting-command';
import { ResponseCode } from '../remoting/response-code';
import type { BrokerContext } from './broker-context';
import { parseHeartbeat } from './consumer-manager';

export class ClientManageProcessor {
  constructor(private readonly ctx: BrokerContext) {}

  async heartbeat(req: RemotingCommand, channel: RemotingChannel): Promise<RemotingCommand> {
    const hb = parseHeartbeat(req.body);
    // Every consumer heartbeat makes sure the group's retry topic exists (1 queue), as Java does;
    // createTopic checks the name, so a group no topic can be named after is refused here.
    for (const c of hb.consumers) {
      try {
        await this.ctx.services.createTopic(retryTopic(c.groupName), 1);
      } catch (e) {
        if (!isKeelError(e, 'TOPIC_INVALID')) throw e;
        return RemotingCommand.response(ResponseCode.SYSTEM_ERROR, `consumer group ${JSON.stringify(c.groupName)} is not a valid group name`);
      }
    }
    const changed = this.ctx.consumers.heartbeat(hb, channel, req.language, req.version);
    for (const g of changed) this.ctx.consumers.notifyIdsChanged(g);
    return RemotingCommand.response(ResponseCode.SUCCESS);
  }

  unregister(req: RemotingCommand): RemotingCommand {
    const clientId = req.requireString('clientID');
    const group = req.field('consumerGroup');
    if (this.ctx.consumers.unregister(clientId, req.field('producerGroup'), group) && group !== undefined) {
      this.ctx.consumers.notifyIdsChanged(group);
    }
    return RemotingCommand.response(ResponseCode.SUCCESS);
  }

  consumerList(req: RemotingCommand): RemotingCommand {
    const group = req.requireString('consumerGroup');
    const g = this.ctx.consumers.group(group);
    if (!g || g.clients.size === 0) return RemotingCommand.response(ResponseCode.SYSTEM_ERROR, `no consumer for this group, ${group}`);
    // The ids go back exactly as the clients sent them: a client that cannot find its own id takes no queues.
    const body = Buffer.from(JSON.stringify({ consumerIdList: [...g.clients.keys()] }), 'utf8');
    return RemotingCommand.response(ResponseCode.SUCCESS, undefined, undefined, body);
  }
}
