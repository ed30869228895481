import { expect } from 'chai';
import { ConsumeQueue } from '../../lib/store/consume-queue';
import { SimDisk } from '../../lib/io/sim-disk';

describe('consume queue', () => {
  it('consume queue - a cut running while entries are written neither loses nor zeroes them (recovery races the dispatcher)', async () => {
    const io = new SimDisk({ dirs: ['/data'] });
    const cq = ConsumeQueue.create(io, '/data', 'T', 0, 16);
    for (let i = 0; i < 10; i++) cq.append(i, i * 100, 100, 0);
    await cq.commit();
    // Entries 10..20 are in memory; they cross into the second file.
    for (let i = 10; i < 21; i++) cq.append(i, i * 100, 100, 0);
    // Recovery cuts stale bytes past the written end while the dispatcher writes.
    await Promise.all([cq.truncateFrom(21), cq.commit()]);
    await cq.commit();
    const entries = await cq.read(0, 32);
    expect(entries.map((e) => e.physicalOffset)).to.deep.equal(Array.from({ length: 21 }, (_, i) => i * 100));
    await cq.flush();
    await cq.close();
    const again = await ConsumeQueue.load(io, '/data', 'T', 0, 16);
    await again.recoverPrefix(Number.MAX_SAFE_INTEGER, true);
    expect(again.maxOffset).to.equal(21);
    expect((await again.read(0, 32)).map((e) => e.physicalOffset)).to.deep.equal(Array.from({ length: 21 }, (_, i) => i * 100));
  });
});
