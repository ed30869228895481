import { expect } from 'chai';
import { RecentWrites } from '../../lib/ha/recent-writes';

describe('HA master: the copy of recent writes', () => {
  const write = (n: number, v: number) => Buffer.alloc(n, v);
  const none = () => false;

  it('ha - holds every write since the last gap up to its capacity, also after many gaps (segment ends)', () => {
    const KB = 1024;
    const r = new RecentWrites(1024 * KB);
    let at = 0;
    // Three "segments" of 1.5 MiB each, a gap (the rest of a segment after its end marker) between them.
    for (let seg = 0; seg < 3; seg++) {
      at = seg * 2048 * KB;
      for (let i = 0; i < 24; i++, at += 64 * KB) r.add(at, write(64 * KB, (seg * 24 + i) & 0xff), none);
    }
    // Regression: the byte count was not reset with the copy at a gap, so after the first gap
    // it held only the last write.
    const first = 2 * 2048 * KB + 8 * 64 * KB;
    expect(r.read(first, 10)).to.deep.equal(write(10, (2 * 24 + 8) & 0xff));
    expect(r.read(first - 64 * KB, 10)).to.equal(null);
    expect(r.read(at - 1, 10)).to.deep.equal(write(1, (3 * 24 - 1) & 0xff));
    expect(r.read(at, 10)).to.equal(null);
  });

  it('ha - keeps its own copy: the writer may reuse its buffer', () => {
    const r = new RecentWrites(1024);
    const b = write(100, 1);
    r.add(0, b, none);
    b.fill(9);
    expect(r.read(10, 1000)).to.deep.equal(write(90, 1));
  });

  it('ha - a view still queued for sending is never overwritten, across wraps and gaps', () => {
    const r = new RecentWrites(1000);
    r.add(0, write(600, 1), none);
    const v = r.read(100, 300)!;
    const sending = { lo: 100, hi: 400 };
    const queued = (lo: number, hi: number) => lo < sending.hi && hi > sending.lo;
    r.add(600, write(600, 2), queued); // wraps over [0, 200) of the ring
    r.add(5000, write(700, 3), queued); // a gap: restarts the ring
    expect(v).to.deep.equal(write(300, 1));
    expect(r.read(5000, 1000)).to.deep.equal(write(700, 3));
    expect(r.read(600, 10)).to.equal(null);
    // Reads stop at the ring's end; what is held is whole.
    r.add(5700, write(500, 4), none);
    const a = r.read(5200, 1000)!;
    const b = r.read(5200 + a.length, 1000)!;
    expect(Buffer.concat([a, b])).to.deep.equal(Buffer.concat([write(500, 3), write(500, 4)]));
  });
});
