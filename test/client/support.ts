import type { Clock } from '../../lib/common/clock';
import type { TopicRouteData } from '../../lib/remoting/topic-route-data';

/** A clock tests move by hand; timers are not needed by the building blocks. */
export class ManualClock implements Clock {
  constructor(public time = 1_700_000_000_000) {}
  now(): number { return this.time; }
  setTimeout(): never { throw new Error('ManualClock has no timers'); }
}

/** A random() whose first value makes RoundRobinIndex start at `start` (its first incrementAndGet gives start + 1). */
export function fixedStart(start: number): () => number {
  return () => start / 0x80000000;
}

/** A route with `writeQueueNums` writable and readable queues on each named master. */
export function routeOf(brokers: Record<string, number>): TopicRouteData {
  return {
    queueDatas: Object.entries(brokers).map(([brokerName, n]) => ({ brokerName, readQueueNums: n, writeQueueNums: n, perm: 6, topicSysFlag: 0 })),
    brokerDatas: Object.keys(brokers).map((brokerName, i) => ({ cluster: 'C', brokerName, brokerAddrs: { 0: `127.0.0.1:${10911 + i}` } })),
    filterServerTable: {},
  };
}
