import { expect } from 'chai';
import { ByteQueue } from '../../lib/ha/ha-protocol';

describe('HA wire: the receive queue', () => {
  it('ha - bytes pushed in pieces come out whole and in order, whatever the piece boundaries', () => {
    const all = Buffer.from(Array.from({ length: 300 }, (_, i) => i & 0xff));
    const q = new ByteQueue();
    for (let at = 0; at < all.length; at += 7) q.push(all.subarray(at, Math.min(all.length, at + 7)));
    expect(q.peek(12)).to.deep.equal(all.subarray(0, 12));
    expect(q.take(12)).to.deep.equal(all.subarray(0, 12));
    const parts = q.takeParts(100);
    expect(Buffer.concat(parts)).to.deep.equal(all.subarray(12, 112));
    expect(q.length).to.equal(188);
    q.takeParts(3);
    expect(q.take(185)).to.deep.equal(all.subarray(115));
    expect(q.length).to.equal(0);
  });
});
