import { expect } from 'chai';
import { ProcessQueue } from '../../lib/client/process-queue';

describe('client - process queue', () => {
  it('process queue - the committed offset is the lowest offset still in flight, whatever order messages finish in', () => {
    // A fixed pseudo-random walk: pulls of a few offsets (with gaps, as a tag filter leaves), finishes in and out of order.
    let seed = 7;
    const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
    for (let trial = 0; trial < 200; trial++) {
      const pq = new ProcessQueue({ topic: 't', brokerName: 'b', queueId: 0 }, 0);
      const inFlight: number[] = [];
      let next = 0;
      for (let step = 0; step < 100; step++) {
        if (inFlight.length === 0 || rnd(3) === 0) {
          const offsets = Array.from({ length: 1 + rnd(5) }, (_, i) => next + i);
          next += offsets.length + rnd(2);
          pq.add(offsets, next);
          inFlight.push(...offsets);
        } else {
          pq.finish(inFlight.splice(rnd(Math.min(3, inFlight.length)), 1 + rnd(2)));
        }
        expect(pq.committed, `trial ${trial} step ${step}`).to.equal(inFlight.length ? Math.min(...inFlight) : next);
      }
    }
  });
});
