/**
 * PULL_MESSAGE (11) with long polling (RocketMQ's PullMessageProcessor + PullRequestHoldService).
 *
 * Results follow DefaultMessageStore.getMessage exactly (reference §7): a consumer commits the
 * nextBeginOffset of a 19/20 as its progress, so a wrong one skips or replays messages. A pull
 * with the suspend bit that finds nothing is held until its queue grows (store.onArrival) or its
 * suspendTimeoutMillis passes; a hold ends with its channel.
 */
import * as os from 'node:os';
import type { TimerHandle } from '../common/clock';
import { parseSubscription, type Subscription } from '../common/tag-filter';
import { isKeelError } from '../common/errors';
import type { RemotingChannel } from '../remoting/remoting-channel';
import { RemotingCommand } from '../remoting/remoting-command';
import { ResponseCode } from '../remoting/response-code';
import type { BrokerContext } from './broker-context';

/** MixAll.MASTER_ID, and RocketMQ's default whichBrokerWhenConsumeSlowly. */
const MASTER_ID = 0;
const SLAVE_ID = 1;
/** accessMessageInMemoryMaxRatio: messages further than this share of RAM from the log's end are read from disk. */
const IN_MEMORY_RATIO = 0.4;

const FLAG_COMMIT_OFFSET = 1;
const FLAG_SUSPEND = 2;
const FLAG_SUBSCRIPTION = 4;

/** RocketMQ's maxTransferCountOnMessageInMemory / maxTransferBytesOnMessageInMemory. */
const MAX_MESSAGES = 32;
const MAX_BYTES = 256 * 1024;
/** ConsumeQueue entries scanned per pull when a tag filter may skip most of them. */
const FILTERED_SCAN = 256;

interface PullRequest {
  group: string;
  topic: string;
  queueId: number;
  offset: number;
  maxMsgNums: number;
  subscription: Subscription;
}

interface Hold {
  pull: PullRequest;
  channel: RemotingChannel;
  timer: TimerHandle;
  resolve(r: RemotingCommand | null): void;
  busy: boolean;
  again: boolean;
  expired: boolean;
  done: boolean;
}

export class PullMessageProcessor {
  private readonly byQueue = new Map<string, Set<Hold>>();
  private readonly byChannel = new Map<RemotingChannel, Set<Hold>>();
  private readonly unsubscribe: () => void;

  constructor(private readonly ctx: BrokerContext) {
    this.unsubscribe = ctx.store.onArrival((topic, queueId, maxOffset) => {
      const holds = this.byQueue.get(queueKey(topic, queueId));
      if (!holds) return;
      for (const h of holds) if (maxOffset > h.pull.offset) void this.recheck(h);
    });
  }

  async process(req: RemotingCommand, channel: RemotingChannel): Promise<RemotingCommand | null> {
    const group = req.requireString('consumerGroup');
    const topic = req.requireString('topic');
    const queueId = req.int('queueId');
    const offset = req.long('queueOffset');
    const maxMsgNums = req.int('maxMsgNums');
    const sysFlag = req.int('sysFlag');
    const commitOffset = req.long('commitOffset', -1);
    const suspendTimeoutMillis = req.long('suspendTimeoutMillis', 0);
    const subVersion = req.long('subVersion', 0);

    const t = this.ctx.services.topic(topic);
    if (!t) return reply(ResponseCode.TOPIC_NOT_EXIST, `topic[${topic}] not exist, apply first please!`);
    if (queueId < 0 || queueId >= t.queues) {
      return reply(ResponseCode.SYSTEM_ERROR, `queueId[${queueId}] is illegal, topic:[${topic}] topicConfig.readQueueNums:[${t.queues}] consumer:[${channel.remoteAddress}]`);
    }
    let expression: string;
    if (sysFlag & FLAG_SUBSCRIPTION) {
      const type = req.field('expressionType') ?? 'TAG';
      if (type !== 'TAG') return reply(ResponseCode.SUBSCRIPTION_PARSE_FAILED, `The broker does not support consumer to filter message by ${type}`);
      expression = req.field('subscription') ?? '*';
    } else {
      // Java push consumers do not post their subscription: the heartbeat's is used (reference §7).
      const g = this.ctx.consumers.group(group);
      if (!g) return reply(ResponseCode.SUBSCRIPTION_NOT_EXIST, `the consumer's group info not exist`);
      const sd = g.subscriptions.get(topic);
      if (!sd) return reply(ResponseCode.SUBSCRIPTION_NOT_EXIST, `the consumer's subscription not exist`);
      if (sd.subVersion < subVersion) return reply(ResponseCode.SUBSCRIPTION_NOT_LATEST, `the consumer's subscription not latest`);
      if (sd.expressionType !== 'TAG') return reply(ResponseCode.SUBSCRIPTION_PARSE_FAILED, `The broker does not support consumer to filter message by ${sd.expressionType}`);
      expression = sd.subString;
    }
    let subscription: Subscription;
    try {
      subscription = parseSubscription(expression);
    } catch (e) {
      if (!isKeelError(e, 'SUBSCRIPTION_INVALID')) throw e;
      return reply(ResponseCode.SUBSCRIPTION_PARSE_FAILED, 'parse the consumer\'s subscription failed');
    }
    // Ignore negatives: ali-ons sends -1 for a queue it has not consumed.
    // A slave does not take a pull's commit (RocketMQ): offsets reach it through UPDATE_CONSUMER_OFFSET.
    if ((sysFlag & FLAG_COMMIT_OFFSET) && commitOffset >= 0 && this.ctx.replication.role !== 'SLAVE') this.ctx.services.offsets.update(group, topic, queueId, commitOffset);

    const pull: PullRequest = { group, topic, queueId, offset, maxMsgNums, subscription };
    const res = await this.execute(pull);
    if (res.code !== ResponseCode.PULL_NOT_FOUND || !(sysFlag & FLAG_SUSPEND) || suspendTimeoutMillis <= 0 || channel.closed) return res;
    return this.hold(pull, channel, Math.min(suspendTimeoutMillis, this.ctx.config.maxPullHoldMs));
  }

  /** One pull against the store; never SUCCESS with an empty body (Java clients NPE on it). */
  async execute(p: PullRequest): Promise<RemotingCommand> {
    const store = this.ctx.store;
    const refused = this.ctx.replication.readRefusal();
    if (refused) return reply(ResponseCode.SYSTEM_ERROR, refused);
    const wanted = Math.max(1, Math.min(p.maxMsgNums, MAX_MESSAGES));
    const filter = p.subscription.filter;
    const r = await store.getMessages(p.topic, p.queueId, p.offset, filter ? Math.max(wanted, FILTERED_SCAN) : wanted, filter, { records: true });
    let suggest = MASTER_ID;
    const fields = (code: number, nextBeginOffset: number, body?: Buffer) => RemotingCommand.response(code, undefined, {
      suggestWhichBrokerId: suggest, nextBeginOffset, minOffset: r.minOffset, maxOffset: r.maxOffset,
    }, body);
    switch (r.status) {
      case 'NO_MATCHED_LOGIC_QUEUE':
        return fields(p.offset === 0 ? ResponseCode.PULL_NOT_FOUND : ResponseCode.PULL_OFFSET_MOVED, 0);
      case 'OFFSET_MOVED':
        return fields(ResponseCode.PULL_OFFSET_MOVED, r.nextBeginOffset);
      case 'NO_NEW_MSG':
        return fields(ResponseCode.PULL_NOT_FOUND, r.nextBeginOffset);
      case 'NO_MATCHED_MSG':
        return fields(ResponseCode.PULL_RETRY_IMMEDIATELY, r.nextBeginOffset);
      case 'FOUND': {
        const records = r.records!;
        let n = 0;
        let bytes = 0;
        while (n < records.length && n < wanted && (n === 0 || bytes + records[n]!.length <= MAX_BYTES)) bytes += records[n++]!.length;
        // Cut short: the next pull starts at the first message not sent.
        const next = n < records.length ? r.messages[n]!.queueOffset : r.nextBeginOffset;
        // RocketMQ: with slaveReadEnable, a consumer this far behind (its messages no longer in memory) is sent to
        // a slave (whichBrokerWhenConsumeSlowly, 1); otherwise, and on a slave without it, to the master.
        const last = r.messages[n - 1]!;
        if (this.ctx.config.slaveReadEnable && store.stats().appendOffset - (last.physicalOffset + last.storeSize) > os.totalmem() * IN_MEMORY_RATIO) suggest = SLAVE_ID;
        return fields(ResponseCode.SUCCESS, next, Buffer.concat(records.slice(0, n), bytes));
      }
    }
  }

  private hold(pull: PullRequest, channel: RemotingChannel, timeoutMs: number): Promise<RemotingCommand | null> {
    return new Promise((resolve) => {
      const h: Hold = {
        pull, channel, resolve, busy: false, again: false, expired: false, done: false,
        timer: this.ctx.clock.setTimeout(() => { h.expired = true; void this.recheck(h); }, timeoutMs),
      };
      const k = queueKey(pull.topic, pull.queueId);
      let q = this.byQueue.get(k);
      if (!q) this.byQueue.set(k, (q = new Set()));
      q.add(h);
      let c = this.byChannel.get(channel);
      if (!c) this.byChannel.set(channel, (c = new Set()));
      c.add(h);
      // Something may have arrived while the first attempt read the store.
      if (this.ctx.store.getMaxOffsetInQueue(pull.topic, pull.queueId) > pull.offset) void this.recheck(h);
    });
  }

  /**
   * Re-runs the pull; answers if it found messages (or, once expired, whatever it found), else
   * keeps holding. One run per hold at a time: an arrival or the timeout during a run asks it
   * to go round once more.
   */
  private async recheck(h: Hold): Promise<void> {
    if (h.done) return;
    if (h.busy) { h.again = true; return; }
    h.busy = true;
    let res: RemotingCommand;
    for (;;) {
      h.again = false;
      try {
        res = await this.execute(h.pull);
      } catch (e) {
        this.ctx.logger.warn(`broker: held pull of ${h.pull.topic}:${h.pull.queueId} failed: ${(e as Error).message}`);
        res = RemotingCommand.response(ResponseCode.SYSTEM_ERROR, (e as Error).message);
        break;
      }
      if (h.done) return;
      if (res.code === ResponseCode.SUCCESS || h.expired) break;
      if (!h.again) { h.busy = false; return; }
    }
    this.release(h, res);
  }

  private release(h: Hold, res: RemotingCommand | null): void {
    if (h.done) return;
    h.done = true;
    h.timer.cancel();
    const k = queueKey(h.pull.topic, h.pull.queueId);
    const q = this.byQueue.get(k);
    q?.delete(h);
    if (q?.size === 0) this.byQueue.delete(k);
    const c = this.byChannel.get(h.channel);
    c?.delete(h);
    if (c?.size === 0) this.byChannel.delete(h.channel);
    h.resolve(res);
  }

  /** Holds of a closed connection are dropped: nobody is left to answer. */
  channelClosed(ch: RemotingChannel): void {
    for (const h of [...(this.byChannel.get(ch) ?? [])]) this.release(h, null);
  }

  /** Number of pulls being held, for runtime info and tests. */
  get heldCount(): number {
    let n = 0;
    for (const s of this.byQueue.values()) n += s.size;
    return n;
  }

  close(): void {
    this.unsubscribe();
    for (const s of [...this.byQueue.values()]) for (const h of [...s]) this.release(h, null);
  }
}

function reply(code: number, remark: string): RemotingCommand {
  return RemotingCommand.response(code, remark);
}

function queueKey(topic: string, queueId: number): string {
  return `${topic}@${queueId}`;
}
