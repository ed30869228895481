/**
 * The queues a producer sends to and a consumer reads from, built from a topic's route as
 * RocketMQ's `MQClientInstance.topicRouteData2TopicPublishInfo` / `topicRouteData2TopicSubscribeInfo`
 * do, and the round-robin choice among them (`TopicPublishInfo.selectOneMessageQueue`).
 *
 * Deliberate differences: the subscribe set comes back sorted (Java returns a HashSet that
 * rebalancing sorts anyway), and a malformed `orderTopicConf` is a KeelError where Java throws
 * NumberFormatException out of the route update.
 */
import { KeelError } from '../common/errors';
import { MASTER_ID, PERM_READ, PERM_WRITE, type TopicRouteData } from '../remoting/topic-route-data';
import { sortMessageQueues, type MessageQueue } from './message-queue';
import { RoundRobinIndex } from './round-robin-index';

export class TopicPublishInfo {
  /** The round-robin position; one per producer and topic (Java: per thread). */
  readonly sendWhichQueue: RoundRobinIndex;

  constructor(
    readonly topic: string,
    readonly route: TopicRouteData,
    /** Sending order: the brokers sorted by name, queues 0..writeQueueNums-1 of each. */
    readonly messageQueueList: readonly MessageQueue[],
    /** True when the queues came from `orderTopicConf` (order-message topics). */
    readonly orderTopic: boolean,
    random?: () => number,
  ) {
    this.sendWhichQueue = new RoundRobinIndex(random);
  }

  ok(): boolean { return this.messageQueueList.length > 0; }

  /** The next queue round-robin; undefined when there is none. */
  selectOneMessageQueue(): MessageQueue | undefined {
    if (this.messageQueueList.length === 0) return undefined;
    return this.messageQueueList[this.sendWhichQueue.incrementAndGet() % this.messageQueueList.length];
  }

  /**
   * A queue on another broker than `lastBrokerName` (a retry), trying each position once; if every
   * queue is on that broker, the next one anyway. Every try advances the shared counter, as in Java.
   */
  selectOneMessageQueueAvoiding(lastBrokerName: string | undefined): MessageQueue | undefined {
    if (lastBrokerName === undefined) return this.selectOneMessageQueue();
    const n = this.messageQueueList.length;
    for (let i = 0; i < n; i++) {
      const mq = this.messageQueueList[this.sendWhichQueue.incrementAndGet() % n]!;
      if (mq.brokerName !== lastBrokerName) return mq;
    }
    return this.selectOneMessageQueue();
  }

  /** `getQueueIdByBroker`: the broker's writeQueueNums in the route, -1 when it has no queue data. */
  writeQueueNumsOf(brokerName: string): number {
    return this.route.queueDatas.find((q) => q.brokerName === brokerName)?.writeQueueNums ?? -1;
  }
}

export function topicRouteToPublishInfo(topic: string, route: TopicRouteData, random?: () => number): TopicPublishInfo {
  const mqs: MessageQueue[] = [];
  if (route.orderTopicConf) {
    // "brokerA:4;brokerB:4", in the order given: order topics hash keys over this exact list.
    for (const item of route.orderTopicConf.split(';')) {
      const [brokerName, nums] = item.split(':');
      if (!brokerName || nums === undefined || !/^[+-]?\d+$/.test(nums)) {
        throw new KeelError('REMOTING_REQUEST_INVALID', `bad orderTopicConf ${JSON.stringify(route.orderTopicConf)} for topic ${topic}`);
      }
      for (let i = 0; i < Number(nums); i++) mqs.push({ topic, brokerName, queueId: i });
    }
    return new TopicPublishInfo(topic, route, mqs, true, random);
  }
  const byName = [...route.queueDatas].sort((a, b) => (a.brokerName < b.brokerName ? -1 : a.brokerName > b.brokerName ? 1 : 0));
  for (const qd of byName) {
    if ((qd.perm & PERM_WRITE) !== PERM_WRITE) continue;
    // Only a broker with a live master takes writes; a slave-only broker is skipped.
    const bd = route.brokerDatas.find((b) => b.brokerName === qd.brokerName);
    if (!bd || bd.brokerAddrs[String(MASTER_ID)] === undefined) continue;
    for (let i = 0; i < qd.writeQueueNums; i++) mqs.push({ topic, brokerName: qd.brokerName, queueId: i });
  }
  return new TopicPublishInfo(topic, route, mqs, false, random);
}

/** The readable queues (readQueueNums of every readable queue data, slaves' brokers included), sorted. */
export function topicRouteToSubscribeInfo(topic: string, route: TopicRouteData): MessageQueue[] {
  const mqs: MessageQueue[] = [];
  for (const qd of route.queueDatas) {
    if ((qd.perm & PERM_READ) !== PERM_READ) continue;
    for (let i = 0; i < qd.readQueueNums; i++) mqs.push({ topic, brokerName: qd.brokerName, queueId: i });
  }
  return sortMessageQueues(mqs);
}
