/**
 * Who is connected (RocketMQ's ConsumerManager + ProducerManager): consumer groups with their
 * clients, channels and subscriptions as the last heartbeat gave them, and producer groups.
 * A change in a group's membership or subscriptions notifies every member
 * (NOTIFY_CONSUMER_IDS_CHANGED, oneway) so that it rebalances at once; a closed channel is such a change.
 */
import { KeelError } from '../common/errors';
import { parseLenientJson } from '../remoting/lenient-json';
import type { Logger } from '../remoting/logger';
import type { RemotingChannel } from '../remoting/remoting-channel';
import { RemotingCommand } from '../remoting/remoting-command';
import { RequestCode } from '../remoting/request-code';

export interface SubscriptionData {
  topic: string;
  subString: string;
  expressionType: string;
  subVersion: number;
  /** The JSON object as the client sent it, for GET_CONSUMER_CONNECTION_LIST. */
  raw: Record<string, unknown>;
}

export interface ConsumerData {
  groupName: string;
  consumeType: string;
  messageModel: string;
  consumeFromWhere: string;
  subscriptions: SubscriptionData[];
}

export interface HeartbeatData {
  clientID: string;
  consumers: ConsumerData[];
  producerGroups: string[];
}

export interface ClientChannel {
  clientId: string;
  channel: RemotingChannel;
  language: string;
  version: number;
}

export interface ConsumerGroupInfo {
  group: string;
  consumeType: string;
  messageModel: string;
  consumeFromWhere: string;
  /** clientId → connection; insertion order is the order GET_CONSUMER_LIST_BY_GROUP lists them in. */
  clients: Map<string, ClientChannel>;
  subscriptions: Map<string, SubscriptionData>;
}

function bad(what: string): never {
  throw new KeelError('REMOTING_REQUEST_INVALID', `bad HeartbeatData: ${what}`);
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(`${what} is not an object`);
  return v as Record<string, unknown>;
}

function list(v: unknown, what: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) bad(`${what} is not an array`);
  return v;
}

function text(v: unknown, what: string, dflt?: string): string {
  if ((v === undefined || v === null) && dflt !== undefined) return dflt;
  if (typeof v !== 'string') bad(`${what} is not a string`);
  return v;
}

export function parseHeartbeat(body: Buffer | undefined): HeartbeatData {
  if (!body || body.length === 0) bad('empty body');
  const o = obj(parseLenientJson(body.toString('utf8'), { numbers: 'number' }), 'body');
  const clientID = text(o.clientID, 'clientID');
  const consumers = list(o.consumerDataSet, 'consumerDataSet').map((c, i) => {
    const cd = obj(c, `consumerDataSet[${i}]`);
    return {
      groupName: text(cd.groupName, 'groupName'),
      consumeType: text(cd.consumeType, 'consumeType', 'CONSUME_PASSIVELY'),
      messageModel: text(cd.messageModel, 'messageModel', 'CLUSTERING'),
      consumeFromWhere: text(cd.consumeFromWhere, 'consumeFromWhere', 'CONSUME_FROM_LAST_OFFSET'),
      subscriptions: list(cd.subscriptionDataSet, 'subscriptionDataSet').map((s, j) => {
        const sd = obj(s, `subscriptionDataSet[${j}]`);
        const subVersion = sd.subVersion === undefined ? 0 : Number(sd.subVersion);
        if (!Number.isFinite(subVersion)) bad('subVersion is not a number');
        return {
          topic: text(sd.topic, 'topic'),
          subString: text(sd.subString, 'subString', '*'),
          expressionType: text(sd.expressionType, 'expressionType', 'TAG'),
          subVersion,
          raw: sd,
        };
      }),
    };
  });
  const producerGroups = list(o.producerDataSet, 'producerDataSet').map((p, i) => text(obj(p, `producerDataSet[${i}]`).groupName, 'groupName'));
  return { clientID, consumers, producerGroups };
}

export class ConsumerManager {
  private readonly groups = new Map<string, ConsumerGroupInfo>();
  /** producer group → clientId → channel. */
  private readonly producers = new Map<string, Map<string, RemotingChannel>>();

  constructor(private readonly logger: Logger) {}

  group(name: string): ConsumerGroupInfo | undefined { return this.groups.get(name); }

  allGroups(): ConsumerGroupInfo[] { return [...this.groups.values()]; }

  /** Registers what one heartbeat says; returns the consumer groups whose members or subscriptions changed. */
  heartbeat(hb: HeartbeatData, ch: RemotingChannel, language: string, version: number): string[] {
    const changed: string[] = [];
    for (const c of hb.consumers) {
      let g = this.groups.get(c.groupName);
      if (!g) {
        g = {
          group: c.groupName, consumeType: c.consumeType, messageModel: c.messageModel, consumeFromWhere: c.consumeFromWhere,
          clients: new Map(), subscriptions: new Map(),
        };
        this.groups.set(c.groupName, g);
      }
      g.consumeType = c.consumeType;
      g.messageModel = c.messageModel;
      g.consumeFromWhere = c.consumeFromWhere;
      const known = g.clients.get(hb.clientID);
      let groupChanged = !known || known.channel !== ch;
      g.clients.set(hb.clientID, { clientId: hb.clientID, channel: ch, language, version });
      // As Java's updateSubscription: new or newer subscriptions replace, topics no longer sent are dropped.
      const seen = new Set<string>();
      for (const s of c.subscriptions) {
        seen.add(s.topic);
        const old = g.subscriptions.get(s.topic);
        if (!old) {
          g.subscriptions.set(s.topic, s);
          groupChanged = true;
        } else if (s.subVersion > old.subVersion) {
          g.subscriptions.set(s.topic, s);
        }
      }
      for (const topic of [...g.subscriptions.keys()]) {
        if (!seen.has(topic)) {
          g.subscriptions.delete(topic);
          groupChanged = true;
        }
      }
      if (groupChanged) changed.push(c.groupName);
    }
    for (const p of hb.producerGroups) {
      let m = this.producers.get(p);
      if (!m) this.producers.set(p, (m = new Map()));
      m.set(hb.clientID, ch);
    }
    return changed;
  }

  /** UNREGISTER_CLIENT: true when the consumer group lost a member. */
  unregister(clientId: string, producerGroup: string | undefined, consumerGroup: string | undefined): boolean {
    if (producerGroup !== undefined) this.producers.get(producerGroup)?.delete(clientId);
    if (consumerGroup === undefined) return false;
    const g = this.groups.get(consumerGroup);
    if (!g || !g.clients.delete(clientId)) return false;
    if (g.clients.size === 0) this.groups.delete(consumerGroup);
    return true;
  }

  /** A closed channel leaves every group; returns the consumer groups it was in. */
  channelClosed(ch: RemotingChannel): string[] {
    const left: string[] = [];
    for (const g of [...this.groups.values()]) {
      for (const [id, c] of g.clients) {
        if (c.channel === ch) {
          g.clients.delete(id);
          if (!left.includes(g.group)) left.push(g.group);
        }
      }
      if (g.clients.size === 0) this.groups.delete(g.group);
    }
    for (const [name, m] of this.producers) {
      for (const [id, c] of m) if (c === ch) m.delete(id);
      if (m.size === 0) this.producers.delete(name);
    }
    return left;
  }

  /** Tells every member of `group` to rebalance now; members that cannot be reached are the next close's business. */
  notifyIdsChanged(group: string): void {
    const g = this.groups.get(group);
    if (!g) return;
    for (const c of g.clients.values()) {
      c.channel.oneway(RemotingCommand.request(RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, { consumerGroup: group }))
        .catch((e: Error) => this.logger.info(`broker: notifying ${c.clientId} of group ${group} failed: ${e.message}`));
    }
  }
}
