import { expect } from 'chai';
import { perQueueThreshold, pullFlowControl } from '../../lib/client/pull-flow-control';

const MiB = 1024 * 1024;
const idle = { cachedMessageCount: 0, cachedMessageBytes: 0, maxSpan: 0, orderly: false };

describe('pull flow control (lib/client/pull-flow-control)', () => {
  it('flow control - more than 1000 cached messages hold the pull for 50 ms; 1000 do not', () => {
    expect(pullFlowControl({ ...idle, cachedMessageCount: 1000 })).to.equal(undefined);
    expect(pullFlowControl({ ...idle, cachedMessageCount: 1001 })).to.deep.equal({ delayMs: 50, reason: 'cached-count' });
  });

  it('flow control - size counts whole MiB: 100 MiB + 1 byte pulls, 101 MiB holds', () => {
    expect(pullFlowControl({ ...idle, cachedMessageBytes: 100 * MiB + 1 })).to.equal(undefined);
    expect(pullFlowControl({ ...idle, cachedMessageBytes: 101 * MiB - 1 })).to.equal(undefined);
    expect(pullFlowControl({ ...idle, cachedMessageBytes: 101 * MiB })).to.deep.equal({ delayMs: 50, reason: 'cached-size' });
  });

  it('flow control - span over 2000 holds concurrent consumers only; orderly ones wait 3 s for the lock instead', () => {
    expect(pullFlowControl({ ...idle, maxSpan: 2000 })).to.equal(undefined);
    expect(pullFlowControl({ ...idle, maxSpan: 2001 })).to.deep.equal({ delayMs: 50, reason: 'span' });
    expect(pullFlowControl({ ...idle, maxSpan: 5000, orderly: true, locked: true })).to.equal(undefined);
    expect(pullFlowControl({ ...idle, orderly: true, locked: false })).to.deep.equal({ delayMs: 3000, reason: 'not-locked' });
    expect(pullFlowControl({ ...idle, cachedMessageCount: 2000, orderly: true, locked: false })!.reason, 'count is checked first').to.equal('cached-count');
  });

  it('per-topic thresholds - split over the queues held, at least 1; -1 keeps the per-queue value', () => {
    expect(perQueueThreshold(-1, 8, 1000)).to.equal(1000);
    expect(perQueueThreshold(1000, 3, 1000)).to.equal(333);
    expect(perQueueThreshold(2, 8, 1000)).to.equal(1);
    expect(perQueueThreshold(1000, 0, 77)).to.equal(77);
  });
});
