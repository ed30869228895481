/**
 * Latency-based broker avoidance: RocketMQ 4.9.7's `MQFaultStrategy` and `LatencyFaultToleranceImpl`.
 * After each send the producer records the broker's latency; a slow or failing broker is "not
 * available" for a while and queue selection skips it while another broker is available.
 *
 * As in RocketMQ, an isolated broker (a send that threw) is charged a latency of 30 000 ms, which
 * the table turns into 600 s of unavailability, and with avoidance enabled the retry of a send
 * does not avoid the previous broker by name: it relies on that broker being marked unavailable.
 *
 * Deliberate difference: when every broker is unavailable, Java picks a broker and then rewrites
 * the broker name and queue id of an entry of the shared queue list in place (so later
 * round-robin sends see a corrupted list); here the chosen queue is a new object.
 */
import { systemClock, type Clock } from '../common/clock';
import type { MessageQueue } from './message-queue';
import { RoundRobinIndex } from './round-robin-index';
import type { TopicPublishInfo } from './topic-publish-info';

/** Latency thresholds (ms) and, index for index, how long a broker at or above each is avoided. */
export const DEFAULT_LATENCY_MAX: readonly number[] = [50, 100, 550, 1000, 2000, 3000, 15000];
export const DEFAULT_NOT_AVAILABLE_DURATION: readonly number[] = [0, 0, 30000, 60000, 120000, 180000, 600000];
/** The latency charged to a broker whose send threw (`updateFaultItem(..., isolation=true)`). */
export const ISOLATION_LATENCY = 30000;

interface FaultItem {
  name: string;
  currentLatency: number;
  /** Available again from this time on. */
  startTimestamp: number;
}

/** `LatencyFaultToleranceImpl`: the per-broker fault table. */
export class LatencyFaultTolerance {
  private readonly items = new Map<string, FaultItem>();
  private readonly whichItemWorst: RoundRobinIndex;

  constructor(private readonly clock: Clock = systemClock, random?: () => number) {
    this.whichItemWorst = new RoundRobinIndex(random);
  }

  updateFaultItem(name: string, currentLatency: number, notAvailableDuration: number): void {
    const startTimestamp = this.clock.now() + notAvailableDuration;
    const old = this.items.get(name);
    if (old) {
      old.currentLatency = currentLatency;
      old.startTimestamp = startTimestamp;
    } else {
      this.items.set(name, { name, currentLatency, startTimestamp });
    }
  }

  isAvailable(name: string): boolean {
    const item = this.items.get(name);
    return item === undefined || this.itemAvailable(item);
  }

  remove(name: string): void { this.items.delete(name); }

  /**
   * A broker to use when none is available: the items sorted best first (available, then lower
   * latency, then sooner available), and one of the better half taken round-robin.
   */
  pickOneAtLeast(): string | undefined {
    const list = [...this.items.values()];
    if (list.length === 0) return undefined;
    const avail = (i: FaultItem): boolean => this.itemAvailable(i);
    list.sort((a, b) => {
      if (avail(a) !== avail(b)) return avail(a) ? -1 : 1;
      return a.currentLatency - b.currentLatency || a.startTimestamp - b.startTimestamp;
    });
    const half = Math.floor(list.length / 2);
    if (half <= 0) return list[0]!.name;
    return list[this.whichItemWorst.incrementAndGet() % half]!.name;
  }

  private itemAvailable(item: FaultItem): boolean {
    return this.clock.now() - item.startTimestamp >= 0;
  }
}

export interface FaultStrategyOptions {
  /** RocketMQ's sendLatencyFaultEnable; default false, as in RocketMQ. */
  sendLatencyFaultEnable?: boolean;
  latencyMax?: readonly number[];
  notAvailableDuration?: readonly number[];
  clock?: Clock;
  random?: () => number;
}

/** `MQFaultStrategy`: queue selection for a send, with or without latency avoidance. */
export class MQFaultStrategy {
  readonly faultTolerance: LatencyFaultTolerance;
  sendLatencyFaultEnable: boolean;
  private readonly latencyMax: readonly number[];
  private readonly notAvailableDuration: readonly number[];

  constructor(options: FaultStrategyOptions = {}) {
    this.sendLatencyFaultEnable = options.sendLatencyFaultEnable ?? false;
    this.latencyMax = options.latencyMax ?? DEFAULT_LATENCY_MAX;
    this.notAvailableDuration = options.notAvailableDuration ?? DEFAULT_NOT_AVAILABLE_DURATION;
    this.faultTolerance = new LatencyFaultTolerance(options.clock, options.random);
  }

  /**
   * The queue for the next attempt of a send; `lastBrokerName` is the broker of the previous
   * attempt (undefined on the first). Undefined only when the topic has no queue.
   */
  selectOneMessageQueue(info: TopicPublishInfo, lastBrokerName?: string): MessageQueue | undefined {
    if (!this.sendLatencyFaultEnable) return info.selectOneMessageQueueAvoiding(lastBrokerName);
    const list = info.messageQueueList;
    if (list.length === 0) return undefined;
    let index = info.sendWhichQueue.incrementAndGet();
    for (let i = 0; i < list.length; i++) {
      // Java's Math.abs(int): abs(MIN_VALUE) stays negative and is then clamped to 0.
      const v = index++ | 0;
      const mq = list[v === -0x80000000 ? 0 : Math.abs(v) % list.length]!;
      if (this.faultTolerance.isAvailable(mq.brokerName)) return mq;
    }
    const notBestBroker = this.faultTolerance.pickOneAtLeast();
    if (notBestBroker !== undefined) {
      const writeQueueNums = info.writeQueueNumsOf(notBestBroker);
      if (writeQueueNums > 0) {
        // Java advances the counter for a queue it then overwrites; the same here, so the
        // round-robin positions after this call match.
        const mq = info.selectOneMessageQueue()!;
        return { topic: mq.topic, brokerName: notBestBroker, queueId: info.sendWhichQueue.incrementAndGet() % writeQueueNums };
      }
      this.faultTolerance.remove(notBestBroker);
    }
    return info.selectOneMessageQueue();
  }

  /**
   * Records a send's latency; `isolation` (the send threw) charges ISOLATION_LATENCY for the
   * duration while keeping the measured latency for ranking. A no-op with avoidance off.
   */
  updateFaultItem(brokerName: string, currentLatency: number, isolation: boolean): void {
    if (!this.sendLatencyFaultEnable) return;
    const duration = this.computeNotAvailableDuration(isolation ? ISOLATION_LATENCY : currentLatency);
    this.faultTolerance.updateFaultItem(brokerName, currentLatency, duration);
  }

  /** The duration of the highest threshold `latency` reaches; 0 below the first. */
  computeNotAvailableDuration(latency: number): number {
    for (let i = this.latencyMax.length - 1; i >= 0; i--) {
      if (latency >= this.latencyMax[i]!) return this.notAvailableDuration[i]!;
    }
    return 0;
  }
}
