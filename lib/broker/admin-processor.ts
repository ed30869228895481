/**
 * The admin codes mqadmin and keelmq's CLI use (RocketMQ's AdminBrokerProcessor):
 * UPDATE_AND_CREATE_TOPIC (17), DELETE_TOPIC_IN_BROKER (215), GET_TOPIC_STATS_INFO (202),
 * GET_CONSUME_STATS (208), INVOKE_BROKER_TO_RESET_OFFSET (222, with RESET_CONSUMER_CLIENT_OFFSET
 * (220) to the group's online clients), GET_BROKER_RUNTIME_INFO (28), QUERY_TOPIC_CONSUME_BY_WHO (300),
 * GET_CONSUMER_CONNECTION_LIST (203); and what a slave's SlaveSynchronize reads: GET_ALL_TOPIC_CONFIG (21),
 * GET_ALL_CONSUMER_OFFSET (43), GET_ALL_DELAY_OFFSET (45).
 *
 * Bodies keyed by MessageQueue are written as fastjson writes them, with object keys
 * (`{{"brokerName":"b","queueId":0,"topic":"T"}:v}`): that is what mqadmin parses.
 */
import { isTopicName } from '../common/names';
import { isKeelError } from '../common/errors';
import type { ReplicationInfo } from './broker-replication';
import { SYSTEM_TOPICS } from '../consumer/embedded-broker';
import { RemotingCommand } from '../remoting/remoting-command';
import { RequestCode } from '../remoting/request-code';
import { ResponseCode } from '../remoting/response-code';
import type { BrokerContext } from './broker-context';
import { encodeConsumerOffsets, encodeDelayOffsets, encodeTopicConfigs } from './metadata-bodies';

export interface MessageQueueKey {
  brokerName: string;
  queueId: number;
  topic: string;
}

/** A map keyed by MessageQueue, as fastjson writes it (object keys, fields sorted); values are JSON text. */
export function mqMapJson(entries: [MessageQueueKey, string][]): string {
  return `{${entries.map(([mq, v]) => `${JSON.stringify({ brokerName: mq.brokerName, queueId: mq.queueId, topic: mq.topic })}:${v}`).join(',')}}`;
}

export class AdminProcessor {
  private readonly startedAt: number;

  constructor(
    private readonly ctx: BrokerContext,
    private readonly heldPulls: () => number,
    private readonly promoteBroker: (role: 'SYNC_MASTER' | 'ASYNC_MASTER', force: boolean) => Promise<{ offset: number; caughtUp: boolean }>,
  ) {
    this.startedAt = ctx.clock.now();
  }

  async updateAndCreateTopic(req: RemotingCommand): Promise<RemotingCommand> {
    const topic = req.requireString('topic');
    const queues = Math.max(req.int('readQueueNums', 0), req.int('writeQueueNums', 0));
    if (!isTopicName(topic)) return error(`The specified topic ${JSON.stringify(topic)} contains illegal characters or is too long`);
    if (topic === this.ctx.config.clusterName) return error(`The specified topic is conflict with cluster name ${topic}`);
    if (SYSTEM_TOPICS.has(topic)) return error(`The topic[${topic}] is conflict with system topic.`);
    if (queues < 1) return error('readQueueNums and writeQueueNums must be positive');
    // The change listener re-registers with the name servers at once.
    await this.ctx.services.createTopic(topic, queues);
    return ok();
  }

  async deleteTopic(req: RemotingCommand): Promise<RemotingCommand> {
    const topic = req.requireString('topic');
    if (SYSTEM_TOPICS.has(topic)) return error(`The topic[${topic}] is conflict with system topic.`);
    await this.ctx.services.deleteTopic(topic);
    return ok();
  }

  async topicStats(req: RemotingCommand): Promise<RemotingCommand> {
    const topic = req.requireString('topic');
    if (!this.ctx.services.topic(topic)) return RemotingCommand.response(ResponseCode.TOPIC_NOT_EXIST, `topic[${topic}] not exist`);
    const entries: [MessageQueueKey, string][] = (await this.ctx.services.topicStats(topic)).map((q) => [
      this.mq(topic, q.queueId), JSON.stringify({ lastUpdateTimestamp: q.lastUpdateTimestamp, maxOffset: q.maxOffset, minOffset: q.minOffset }),
    ]);
    return ok(`{"offsetTable":${mqMapJson(entries)}}`);
  }

  async consumeStats(req: RemotingCommand): Promise<RemotingCommand> {
    const group = req.requireString('consumerGroup');
    const only = req.field('topic');
    const online = this.ctx.consumers.group(group);
    const topics = only ? [only] : [...new Set([
      ...this.ctx.services.groupTopics(group),
      ...(online ? [...online.subscriptions.keys()] : []),
    ])].sort();
    const entries: [MessageQueueKey, string][] = [];
    for (const topic of topics) {
      // An online group that no longer subscribes to a topic is not shown for it (Java).
      if (online && online.subscriptions.size > 0 && !online.subscriptions.has(topic)) continue;
      for (const q of await this.ctx.services.consumeProgress(group, topic)) {
        entries.push([this.mq(topic, q.queueId), JSON.stringify({ brokerOffset: q.brokerOffset, consumerOffset: q.consumerOffset, lastTimestamp: q.lastTimestamp })]);
      }
    }
    return ok(`{"consumeTps":0.0,"offsetTable":${mqMapJson(entries)}}`);
  }

  /**
   * Moves the group's offsets in `topic` to `timestamp` (-1: the end) through the shared
   * resetOffsetByTime; without isForce a queue only moves back, as in Java. Online clients
   * get RESET_CONSUMER_CLIENT_OFFSET; the offsets are stored here as well, so an offline group
   * resumes from them too.
   */
  async resetOffset(req: RemotingCommand): Promise<RemotingCommand> {
    const topic = req.requireString('topic');
    const group = req.requireString('group');
    const timestamp = req.long('timestamp');
    const isForce = req.bool('isForce', true);
    const t = this.ctx.services.topic(topic);
    if (!t) return error(`[reset offset] topic ${topic} does not exist`);
    const before = new Map<number, number | undefined>();
    for (let q = 0; q < t.queues; q++) before.set(q, this.ctx.services.consumerOffset(group, topic, q));
    const offsets = await this.ctx.services.resetOffsetByTime(group, topic, timestamp);
    for (const [q, off] of offsets) {
      const old = before.get(q);
      if (!isForce && old !== undefined && off >= old) {
        offsets.set(q, old);
        this.ctx.services.offsets.update(group, topic, q, old);
      }
    }
    await this.ctx.services.offsets.persist();
    const body = Buffer.from(`{"offsetTable":${mqMapJson([...offsets].map(([q, off]) => [this.mq(topic, q), String(off)]))}}`, 'utf8');
    const g = this.ctx.consumers.group(group);
    for (const c of g?.clients.values() ?? []) {
      const notice = RemotingCommand.request(RequestCode.RESET_CONSUMER_CLIENT_OFFSET, { topic, group, timestamp, isForce }, body);
      c.channel.oneway(notice).catch((e: Error) => this.ctx.logger.info(`broker: reset notice to ${c.clientId} failed: ${e.message}`));
    }
    return RemotingCommand.response(ResponseCode.SUCCESS, undefined, undefined, body);
  }

  runtimeInfo(): RemotingCommand {
    const s = this.ctx.store.stats();
    const table: Record<string, string> = {
      brokerVersionDesc: 'V4_9_7',
      brokerVersion: '407',
      bootTimestamp: String(this.startedAt),
      runtime: `${Math.floor((this.ctx.clock.now() - this.startedAt) / 1000)}s`,
      commitLogMinOffset: String(s.minOffset),
      commitLogMaxOffset: String(s.appendOffset),
      flushMode: s.flushMode,
      storeState: s.state,
      diskFull: String(s.diskFull),
      pullThreadPoolQueueSize: String(this.heldPulls()),
      brokerActive: 'true',
      ...replicationTable(this.ctx.replication.info()),
    };
    const sorted: Record<string, string> = {};
    for (const k of Object.keys(table).sort()) sorted[k] = table[k]!;
    return ok(JSON.stringify({ table: sorted }));
  }

  allTopicConfig(): RemotingCommand {
    const t = this.ctx.services.topicConfig;
    return body(encodeTopicConfigs(t.list(), t.dataVersion, this.ctx.config.autoCreateTopics));
  }

  allConsumerOffset(): RemotingCommand {
    return body(encodeConsumerOffsets(this.ctx.services.offsets.all()));
  }

  allDelayOffset(): RemotingCommand {
    return body(encodeDelayOffsets(this.ctx.services.schedule.progress()));
  }

  /** PROMOTE_TO_MASTER (keelmq's): fields `role` (ASYNC_MASTER default, or SYNC_MASTER) and `force`. */
  async promote(req: RemotingCommand): Promise<RemotingCommand> {
    const role = req.field('role') ?? 'ASYNC_MASTER';
    if (role !== 'SYNC_MASTER' && role !== 'ASYNC_MASTER') return error(`role must be SYNC_MASTER or ASYNC_MASTER, got ${role}`);
    try {
      const r = await this.promoteBroker(role, req.bool('force', false));
      return ok(JSON.stringify(r));
    } catch (e) {
      if (isKeelError(e)) return error(`${e.code}: ${e.message}`);
      throw e;
    }
  }

  /** TRUNCATE_SLAVE (keelmq's): a diverged slave cuts its log (at `offset`, default where its divergence says) and follows again. */
  async truncateSlave(req: RemotingCommand): Promise<RemotingCommand> {
    const offset = req.field('offset');
    try {
      const end = await this.ctx.replication.truncate(offset === undefined ? undefined : req.long('offset'));
      return ok(JSON.stringify({ offset: end }));
    } catch (e) {
      if (isKeelError(e)) return error(`${e.code}: ${e.message}`);
      throw e;
    }
  }

  consumeByWho(req: RemotingCommand): RemotingCommand {
    const topic = req.requireString('topic');
    const groups = new Set<string>();
    for (const g of this.ctx.consumers.allGroups()) if (g.subscriptions.has(topic)) groups.add(g.group);
    for (const s of this.ctx.services.offsets.subscriptions()) if (s.topic === topic) groups.add(s.group);
    return ok(JSON.stringify({ groupList: [...groups].sort() }));
  }

  consumerConnections(req: RemotingCommand): RemotingCommand {
    const group = req.requireString('consumerGroup');
    const g = this.ctx.consumers.group(group);
    if (!g || g.clients.size === 0) return RemotingCommand.response(ResponseCode.CONSUMER_NOT_ONLINE, `the consumer group[${group}] not online`);
    const subscriptionTable: Record<string, unknown> = {};
    for (const [topic, sd] of g.subscriptions) subscriptionTable[topic] = sd.raw;
    return ok(JSON.stringify({
      connectionSet: [...g.clients.values()].map((c) => ({ clientAddr: c.channel.remoteAddress, clientId: c.clientId, language: c.language, version: c.version })),
      consumeFromWhere: g.consumeFromWhere,
      consumeType: g.consumeType,
      messageModel: g.messageModel,
      subscriptionTable,
    }));
  }

  private mq(topic: string, queueId: number): MessageQueueKey {
    return { brokerName: this.ctx.config.brokerName, queueId, topic };
  }
}

/** Runtime-info keys of the replication role: RocketMQ's brokerRole and slave fall-behind, and keelmq's lag figures. */
function replicationTable(r: ReplicationInfo): Record<string, string> {
  const t: Record<string, string> = { brokerRole: r.role, brokerId: String(r.brokerId) };
  if (r.master) {
    const slaves = r.master.slaves;
    t.haServerAddr = r.master.address;
    t.haConnectionCount = String(slaves.length);
    t.haSlaveAckOffset = String(r.master.slaveAckOffset);
    t.haSlaveFallBehindBytes = String(slaves.length ? Math.min(...slaves.map((x) => x.lagBytes)) : -1);
    t.haSlaveFallBehindMs = String(slaves.length ? Math.min(...slaves.map((x) => x.lagMs)) : -1);
    t.haBytesPerSec = String(slaves.reduce((n, x) => n + x.bytesPerSec, 0));
    t.haSlaves = JSON.stringify(slaves);
    t.haSlaveTimeouts = String(r.master.slaveTimeouts);
    t.haSlaveNotAvailable = String(r.master.slaveNotAvailable);
  }
  if (r.slave) {
    t.haMasterAddress = r.slave.masterAddress;
    t.haConnected = String(r.slave.connected);
    t.haSlaveOffset = String(r.slave.offset);
    t.haMasterOffset = String(r.slave.masterOffset);
    t.haCaughtUp = String(r.slave.caughtUp);
    t.haDiverged = r.slave.diverged ? JSON.stringify(r.slave.diverged) : 'false';
    t.haBytesPerSec = String(r.slave.bytesPerSec);
  }
  return t;
}

function ok(json?: string): RemotingCommand {
  return RemotingCommand.response(ResponseCode.SUCCESS, undefined, undefined, json === undefined ? undefined : Buffer.from(json, 'utf8'));
}

function body(b: Buffer): RemotingCommand {
  return RemotingCommand.response(ResponseCode.SUCCESS, undefined, undefined, b);
}

function error(remark: string): RemotingCommand {
  return RemotingCommand.response(ResponseCode.SYSTEM_ERROR, remark);
}
