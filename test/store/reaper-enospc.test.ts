import { expect } from 'chai';
import { rejectKeelCode } from '../support/reject-code';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import { MessageStore } from '../../lib/store/message-store';
import type { PutResult } from '../../lib/common/message';
import type { FlushMode, StoreOptions } from '../../lib/store/options';
import { audit } from '../../lib/store/audit';
import { VirtualClock } from '../../lib/common/clock';
import { KeelError } from '../../lib/common/errors';
import { SimDisk } from '../../lib/io/sim-disk';
import { nodeFileIO } from '../../lib/io/node-file-io';
import type { FileIO } from '../../lib/io/file-io';
import { tmpDir } from '../support/tmp';

const DIR = '/data/store';
const TINY: Partial<StoreOptions> = { commitLogSegmentSize: 4096, consumeQueueEntries: 16, maxBodySize: 1024, maxPropertiesLength: 512 };

function bodyOf(i: number): Buffer {
  const b = Buffer.alloc(200 + (i % 50));
  for (let k = 0; k < b.length; k++) b[k] = (i * 13 + k * 5) & 0xff;
  return b;
}

/** Puts `n` messages at once (one write gathers them); returns what each put came to. */
async function putMany(store: MessageStore, from: number, n: number): Promise<{ i: number; r?: PutResult; e?: unknown }[]> {
  const ps = [];
  for (let i = from; i < from + n; i++) ps.push(store.put({ topic: 'T', queueId: i % 2, body: bodyOf(i) }).then((r) => ({ i, r }), (e: unknown) => ({ i, e })));
  return Promise.all(ps);
}

/** Every acknowledged put is in the reopened store byte for byte, and nothing else is: queue offsets stay dense. */
async function expectExactly(store: MessageStore, acked: Map<number, PutResult>): Promise<void> {
  const byQueue = [[], []] as PutResult[][];
  for (const r of acked.values()) byQueue[r.queueId].push(r);
  for (const q of [0, 1]) {
    byQueue[q].sort((a, b) => a.queueOffset - b.queueOffset);
    expect(byQueue[q].map((r) => r.queueOffset)).to.deep.equal(byQueue[q].map((_, k) => k), 'acknowledged queue offsets are dense');
    const got = await store.getMessages('T', q, 0, 10_000);
    expect(store.getMaxOffsetInQueue('T', q)).to.equal(byQueue[q].length);
    expect(got.messages.map((m) => m.physicalOffset)).to.deep.equal(byQueue[q].map((r) => r.physicalOffset));
  }
  for (const [i, r] of acked) {
    const m = await store.getMessage(r.physicalOffset);
    expect(m, `message ${i}`).to.not.equal(null);
    expect(m!.body.equals(bodyOf(i))).to.equal(true);
  }
}

const expectCode = rejectKeelCode;

function record(outcomes: { i: number; r?: PutResult; e?: unknown }[], acked: Map<number, PutResult>): string[] {
  const codes: string[] = [];
  for (const o of outcomes) {
    if (o.r) acked.set(o.i, o.r);
    else {
      expect(o.e).to.be.instanceOf(KeelError);
      codes.push((o.e as KeelError).code);
    }
  }
  return codes;
}

describe('reaper - ENOSPC', () => {
  for (const mode of ['ASYNC', 'SYNC'] as FlushMode[]) {
    it(`reaper - ${mode}: a write cut short by ENOSPC fails its puts with WRITE_FAILED, keeps everything acknowledged, and reopens clean`, async () => {
      const clock = new VirtualClock(Date.UTC(2024, 0, 1));
      let disk = new SimDisk({ dirs: ['/data'], now: () => clock.now() });
      const opts = { io: disk, clock, flushMode: mode, ...TINY };
      let store = await MessageStore.open(DIR, opts);
      const acked = new Map<number, PutResult>();
      record(await putMany(store, 0, 30), acked);
      // The next write stores 700 bytes (records and a half), then the disk is full.
      disk.failWrite({ code: 'ENOSPC', partialBytes: 700 });
      const codes = record(await putMany(store, 30, 10), acked);
      expect(codes.length).to.be.greaterThan(0);
      expect(new Set(codes)).to.deep.equal(new Set(['WRITE_FAILED']));
      expect(store.stats().diskFull).to.equal(false);
      // The partial bytes are cut: the store goes on at the same offset.
      while (store.stats().writeError) await new Promise((r) => setImmediate(r));
      record(await putMany(store, 40, 10), acked);
      expect(acked.size).to.equal(40);
      await expectExactly(store, acked);
      // Then the process dies (ASYNC promises that much), or the power goes (SYNC promises that too).
      if (mode === 'SYNC') disk = disk.crash();
      else disk.killProcess();
      store = await MessageStore.open(DIR, { ...opts, io: disk });
      await expectExactly(store, acked);
      await store.close();
      expect((await audit(DIR, { io: disk })).damage).to.deep.equal([]);
    });
  }

  it('reaper - a disk that fills up: puts fail WRITE_FAILED, deleteExpired frees it, puts go again, nothing acknowledged lost', async () => {
    const clock = new VirtualClock(Date.UTC(2024, 0, 1));
    const disk = new SimDisk({ dirs: ['/data'], now: () => clock.now() });
    const opts = { io: disk, clock, ...TINY, deleteFileBatchMax: 3 };
    let store = await MessageStore.open(DIR, opts);
    const acked = new Map<number, PutResult>();
    disk.setCapacity(disk.usedBytes() + 12 * 4096);
    const codes: string[] = [];
    for (let i = 0; codes.length === 0; i += 5) codes.push(...record(await putMany(store, i, 5), acked));
    expect(new Set(codes)).to.deep.equal(new Set(['WRITE_FAILED']));
    while (store.stats().writeError) await new Promise((r) => setImmediate(r));
    expect(store.stats().state).to.equal('open');
    await store.flush();
    const r = await store.deleteExpired({ force: true });
    expect(r.deletedSegments).to.deep.equal([0, 4096, 8192]);
    const next = Math.max(...acked.keys()) + 100;
    record(await putMany(store, next, 4), acked);
    const min = store.stats().minOffset;
    for (const [i, p] of acked) if (p.physicalOffset < min) acked.delete(i);
    await store.close();
    expect((await audit(DIR, { io: disk })).damage).to.deep.equal([]);
    store = await MessageStore.open(DIR, opts);
    for (const [i, p] of acked) expect((await store.getMessage(p.physicalOffset))!.body.equals(bodyOf(i))).to.equal(true);
    await store.close();
  });

  describe('on a real 2 MiB tmpfs', function () {
    let mnt: { dir: string; cleanup(): void } | null = null;
    let mounted = false;

    before(function () {
      mnt = tmpDir('keelmq-tmpfs-');
      try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt.dir], { stdio: 'pipe' });
        mounted = true;
      } catch (e) {
        mnt.cleanup();
        mnt = null;
        // Needs root (or CAP_SYS_ADMIN) and a kernel that allows tmpfs mounts here.
        console.log(`      (skipped: cannot mount a tmpfs here: ${String((e as Error).message).split('\n')[0]})`);
        this.skip();
      }
    });

    after(() => {
      if (mounted && mnt) execFileSync('umount', [mnt.dir]);
      mnt?.cleanup();
    });

    it('reaper - real ENOSPC: puts fail WRITE_FAILED, the store stays consistent and reopens with every acknowledged put', async function () {
      this.timeout(60_000);
      const dir = `${mnt!.dir}/store`;
      const clock = new VirtualClock(Date.now());
      const io: FileIO = nodeFileIO;
      const opts = { io, clock, commitLogSegmentSize: 64 * 1024, consumeQueueEntries: 1024, maxBodySize: 8 * 1024, maxPropertiesLength: 1024 };
      let store = await MessageStore.open(dir, opts);
      const acked = new Map<number, PutResult>();
      const codes: string[] = [];
      for (let i = 0; codes.length === 0 && i < 100_000; i += 20) codes.push(...record(await putMany(store, i, 20), acked));
      expect(codes.length, 'the tmpfs never filled up').to.be.greaterThan(0);
      expect(new Set(codes)).to.deep.equal(new Set(['WRITE_FAILED']));
      expect(store.stats().state).to.equal('open');
      expect(acked.size).to.be.greaterThan(100);
      const st = fs.statfsSync(mnt!.dir);
      expect(st.bavail).to.be.lessThan(16);
      await store.close();
      // Reopen on the still full disk: recovery needs no space, and puts are refused up front.
      store = await MessageStore.open(dir, opts);
      await expectExactly(store, acked);
      expect(store.stats().diskFull).to.equal(true);
      await expectCode(store.put({ topic: 'T', body: 'x' }), 'DISK_FULL');
      // Freeing space on the real disk clears the flag at once, and puts go again.
      await store.flush();
      const r = await store.deleteExpired({ force: true });
      expect(r.deletedSegments.length).to.be.greaterThan(2);
      expect(store.stats().diskFull).to.equal(false);
      expect(fs.statfsSync(mnt!.dir).bavail).to.be.greaterThan(st.bavail);
      await store.put({ topic: 'T', body: 'after' });
      await store.close();
      expect((await audit(dir)).damage).to.deep.equal([]);
    });
  });
});
