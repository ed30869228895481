import { expect } from 'chai';
import { LatencyFaultTolerance, MQFaultStrategy } from '../../lib/client/latency-fault-tolerance';
import { topicRouteToPublishInfo } from '../../lib/client/topic-publish-info';
import { fixedStart, ManualClock, routeOf } from './support';

describe('latency fault tolerance (lib/client/latency-fault-tolerance)', () => {
  it('fault strategy - latency thresholds map to unavailability exactly at RocketMQ\'s boundaries', () => {
    const s = new MQFaultStrategy({ sendLatencyFaultEnable: true });
    const table: [number, number][] = [
      [0, 0], [49, 0], [50, 0], [99, 0], [100, 0], [549, 0], [550, 30000], [999, 30000], [1000, 60000], [1999, 60000],
      [2000, 120000], [2999, 120000], [3000, 180000], [14999, 180000], [15000, 600000], [60000, 600000],
    ];
    for (const [latency, duration] of table) expect(s.computeNotAvailableDuration(latency), `latency ${latency}`).to.equal(duration);
  });

  it('fault strategy - a slow send makes its broker unavailable for the duration, to the millisecond', () => {
    const clock = new ManualClock();
    const s = new MQFaultStrategy({ sendLatencyFaultEnable: true, clock });
    s.updateFaultItem('a', 550, false);
    s.updateFaultItem('b', 549, false);
    expect(s.faultTolerance.isAvailable('a')).to.equal(false);
    expect(s.faultTolerance.isAvailable('b')).to.equal(true);
    expect(s.faultTolerance.isAvailable('never-seen')).to.equal(true);
    clock.time += 29999;
    expect(s.faultTolerance.isAvailable('a')).to.equal(false);
    clock.time += 1;
    expect(s.faultTolerance.isAvailable('a')).to.equal(true);
  });

  it('fault strategy - an isolated broker (its send threw) is charged 30 000 ms: 600 s unavailable, whatever it measured', () => {
    const clock = new ManualClock();
    const s = new MQFaultStrategy({ sendLatencyFaultEnable: true, clock });
    s.updateFaultItem('a', 3, true);
    clock.time += 599_999;
    expect(s.faultTolerance.isAvailable('a')).to.equal(false);
    clock.time += 1;
    expect(s.faultTolerance.isAvailable('a')).to.equal(true);
  });

  it('fault strategy - disabled (the default): no fault items, and a retry avoids the previous broker by name', () => {
    const s = new MQFaultStrategy({ clock: new ManualClock() });
    s.updateFaultItem('a', 60000, true);
    expect(s.faultTolerance.isAvailable('a')).to.equal(true);
    const info = topicRouteToPublishInfo('T', routeOf({ a: 4, b: 1 }), fixedStart(0));
    for (let i = 0; i < 20; i++) expect(s.selectOneMessageQueue(info, 'a')!.brokerName).to.equal('b');
    const firsts = new Set(Array.from({ length: 10 }, () => s.selectOneMessageQueue(info)!.brokerName));
    expect([...firsts].sort()).to.deep.equal(['a', 'b']);
  });

  it('fault strategy - enabled: sends skip an unavailable broker while another is available, and come back after', () => {
    const clock = new ManualClock();
    const s = new MQFaultStrategy({ sendLatencyFaultEnable: true, clock, random: fixedStart(0) });
    const info = topicRouteToPublishInfo('T', routeOf({ a: 2, b: 2, c: 2 }), fixedStart(0));
    s.updateFaultItem('b', 2000, false); // 120 s
    const seen = Array.from({ length: 30 }, () => s.selectOneMessageQueue(info)!.brokerName);
    expect(seen).to.not.include('b');
    expect(new Set(seen)).to.deep.equal(new Set(['a', 'c']));
    clock.time += 120_000;
    const after = Array.from({ length: 30 }, () => s.selectOneMessageQueue(info)!.brokerName);
    expect(after).to.include('b');
  });

  it('fault strategy - enabled: the retry does not avoid the previous broker by name, only by its fault item (as RocketMQ 4.9.7)', () => {
    const s = new MQFaultStrategy({ sendLatencyFaultEnable: true, clock: new ManualClock() });
    const info = topicRouteToPublishInfo('T', routeOf({ a: 1, b: 1 }), fixedStart(0));
    const picks = Array.from({ length: 4 }, () => s.selectOneMessageQueue(info, 'a')!.brokerName);
    expect(picks).to.include('a');
    s.updateFaultItem('a', 10, true);
    for (let i = 0; i < 6; i++) expect(s.selectOneMessageQueue(info, 'a')!.brokerName).to.equal('b');
  });

  it('fault strategy - every broker unavailable: one of the better half, as a new queue with a queue id of that broker; the list is untouched', () => {
    const clock = new ManualClock();
    const s = new MQFaultStrategy({ sendLatencyFaultEnable: true, clock, random: fixedStart(0) });
    const info = topicRouteToPublishInfo('T', routeOf({ a: 4, b: 4, c: 4, d: 2 }), fixedStart(0));
    const before = JSON.stringify(info.messageQueueList);
    s.updateFaultItem('a', 15000, false);
    s.updateFaultItem('b', 600, false);
    s.updateFaultItem('c', 20000, false);
    s.updateFaultItem('d', 700, false);
    const picks = Array.from({ length: 12 }, () => s.selectOneMessageQueue(info)!);
    // sorted by latency: b (600), d (700), a, c; half = 2 -> b and d alternate
    expect(new Set(picks.map((m) => m.brokerName))).to.deep.equal(new Set(['b', 'd']));
    for (const m of picks) expect(m.queueId).to.be.lessThan(m.brokerName === 'd' ? 2 : 4);
    expect(JSON.stringify(info.messageQueueList)).to.equal(before);
  });

  it('fault strategy - every broker unavailable and the picked one not in this topic\'s route: it leaves the table, round-robin is used', () => {
    const clock = new ManualClock();
    const s = new MQFaultStrategy({ sendLatencyFaultEnable: true, clock, random: fixedStart(0) });
    const info = topicRouteToPublishInfo('T', routeOf({ a: 2 }), fixedStart(0));
    s.updateFaultItem('other-topics-broker', 1, true);
    s.updateFaultItem('a', 5000, false);
    // sorted: other-topics-broker (latency 1) before a; two items, half = 1 -> other-topics-broker
    expect(s.selectOneMessageQueue(info)!.brokerName).to.equal('a');
    expect(s.faultTolerance.pickOneAtLeast(), 'removed; only a is left').to.equal('a');
  });

  it('fault table - pickOneAtLeast ranks available first, then lower latency, then sooner available', () => {
    const clock = new ManualClock();
    const t = new LatencyFaultTolerance(clock, fixedStart(0));
    expect(t.pickOneAtLeast()).to.equal(undefined);
    t.updateFaultItem('slow-but-available', 9000, 0);
    expect(t.pickOneAtLeast()).to.equal('slow-but-available');
    t.updateFaultItem('fast-unavailable', 1, 1000);
    // two items: half = 1 -> always the best one
    for (let i = 0; i < 3; i++) expect(t.pickOneAtLeast()).to.equal('slow-but-available');
    t.updateFaultItem('x', 5, 500);
    t.updateFaultItem('y', 5, 400);
    // order: slow-but-available, fast-unavailable(1), y(5, sooner), x(5) -> half = 2: first two alternate
    const picks = new Set(Array.from({ length: 4 }, () => t.pickOneAtLeast()));
    expect(picks).to.deep.equal(new Set(['slow-but-available', 'fast-unavailable']));
    t.remove('slow-but-available');
    t.remove('fast-unavailable');
    // y (sooner) ranks before x: with 2 items, half = 1 -> y
    expect(t.pickOneAtLeast()).to.equal('y');
  });
});
