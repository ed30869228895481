import { expect } from 'chai';
import type { TopicRouteData } from '../../lib/remoting/topic-route-data';
import { topicRouteToPublishInfo, topicRouteToSubscribeInfo } from '../../lib/client/topic-publish-info';
import { fixedStart, routeOf } from './support';

const names = (mqs: readonly { brokerName: string; queueId: number }[]): string[] => mqs.map((m) => `${m.brokerName}:${m.queueId}`);

describe('topic publish info (lib/client/topic-publish-info)', () => {
  const route: TopicRouteData = {
    queueDatas: [
      { brokerName: 'broker-c', readQueueNums: 2, writeQueueNums: 2, perm: 6, topicSysFlag: 0 },
      { brokerName: 'broker-a', readQueueNums: 3, writeQueueNums: 2, perm: 6, topicSysFlag: 0 },
      { brokerName: 'broker-r', readQueueNums: 2, writeQueueNums: 2, perm: 4, topicSysFlag: 0 }, // read-only
      { brokerName: 'broker-s', readQueueNums: 1, writeQueueNums: 1, perm: 6, topicSysFlag: 0 }, // slave only
      { brokerName: 'broker-w', readQueueNums: 1, writeQueueNums: 1, perm: 2, topicSysFlag: 0 }, // write-only
      { brokerName: 'broker-x', readQueueNums: 1, writeQueueNums: 1, perm: 6, topicSysFlag: 0 }, // no broker data
    ],
    brokerDatas: [
      { cluster: 'C', brokerName: 'broker-a', brokerAddrs: { 0: 'a:1', 1: 'a2:1' } },
      { cluster: 'C', brokerName: 'broker-c', brokerAddrs: { 0: 'c:1' } },
      { cluster: 'C', brokerName: 'broker-r', brokerAddrs: { 0: 'r:1' } },
      { cluster: 'C', brokerName: 'broker-s', brokerAddrs: { 1: 's:1' } },
      { cluster: 'C', brokerName: 'broker-w', brokerAddrs: { 0: 'w:1' } },
    ],
    filterServerTable: {},
  };

  it('publish info - writable queues of brokers with a master, brokers sorted by name, writeQueueNums each', () => {
    const info = topicRouteToPublishInfo('T', route);
    expect(names(info.messageQueueList)).to.deep.equal(['broker-a:0', 'broker-a:1', 'broker-c:0', 'broker-c:1', 'broker-w:0']);
    expect(info.orderTopic).to.equal(false);
    expect(info.messageQueueList.every((m) => m.topic === 'T')).to.equal(true);
    expect(info.writeQueueNumsOf('broker-c')).to.equal(2);
    expect(info.writeQueueNumsOf('nope')).to.equal(-1);
    expect(route.queueDatas[0]!.brokerName, 'the route is not sorted in place').to.equal('broker-c');
  });

  it('publish info - orderTopicConf decides the queues, in its own order, and marks an order topic', () => {
    const info = topicRouteToPublishInfo('T', { ...route, orderTopicConf: 'broker-c:2;broker-a:1' });
    expect(names(info.messageQueueList)).to.deep.equal(['broker-c:0', 'broker-c:1', 'broker-a:0']);
    expect(info.orderTopic).to.equal(true);
    expect(() => topicRouteToPublishInfo('T', { ...route, orderTopicConf: 'broker-c' })).to.throw(/orderTopicConf/);
  });

  it('subscribe info - readQueueNums of every readable queue data, a slave-only broker included, sorted', () => {
    expect(names(topicRouteToSubscribeInfo('T', route))).to.deep.equal([
      'broker-a:0', 'broker-a:1', 'broker-a:2', 'broker-c:0', 'broker-c:1', 'broker-r:0', 'broker-r:1', 'broker-s:0', 'broker-x:0',
    ]);
  });

  it('publish info - round-robin from the counter, and a retry skips the previous broker', () => {
    const info = topicRouteToPublishInfo('T', routeOf({ a: 2, b: 2 }), fixedStart(10));
    // start 10: positions 11, 12, 13 ... modulo 4
    expect(names([info.selectOneMessageQueue()!, info.selectOneMessageQueue()!, info.selectOneMessageQueue()!])).to.deep.equal(['b:1', 'a:0', 'a:1']);
    // next position 14 % 4 = 2 is b:0, not a: taken at once
    expect(names([info.selectOneMessageQueueAvoiding('a')!])).to.deep.equal(['b:0']);
    // next positions 15 (b:1) is b -> skipped, 16 (a:0) taken
    expect(names([info.selectOneMessageQueueAvoiding('b')!])).to.deep.equal(['a:0']);
    const single = topicRouteToPublishInfo('T', routeOf({ a: 2 }), fixedStart(0));
    expect(single.selectOneMessageQueueAvoiding('a')!.brokerName, 'only one broker: it is used anyway').to.equal('a');
    expect(topicRouteToPublishInfo('T', routeOf({})).selectOneMessageQueue()).to.equal(undefined);
  });

  it('publish info - the counter wraps as a Java int and stays non-negative', () => {
    const info = topicRouteToPublishInfo('T', routeOf({ a: 3 }), fixedStart(0x7ffffffe));
    const ids = [0, 1, 2].map(() => info.selectOneMessageQueue()!.queueId);
    // 0x7fffffff % 3 = 1, then the int wraps to -2^31, masked to 0 -> 0, then 1
    expect(ids).to.deep.equal([0x7fffffff % 3, 0, 1]);
  });
});
