/**
 * RocketMQ's ThreadLocalIndex: the round-robin counter behind queue selection. Java keeps one per
 * thread, starting at a random value so that producers started together do not all hit queue 0
 * first; keelmq has one per owner (a producer's TopicPublishInfo, a fault table) with the same
 * random start. The value is a Java int: it wraps at 2^31 and is masked to stay non-negative.
 */
export class RoundRobinIndex {
  private index: number | undefined;

  /** `random` returns [0, 1) like Math.random; injected so tests can fix the start. */
  constructor(private readonly random: () => number = Math.random) {}

  incrementAndGet(): number {
    if (this.index === undefined) this.index = Math.floor(this.random() * 0x80000000);
    this.index = (this.index + 1) | 0;
    return this.index & 0x7fffffff;
  }
}
