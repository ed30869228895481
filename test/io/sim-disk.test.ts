import { expect } from 'chai';
import type { FileIO } from '../../lib/io/file-io';
import { SimDisk, seededRandom, type OpKind } from '../../lib/io/sim-disk';
import { rejectCode } from '../support/reject-code';

async function writeFile(io: FileIO, p: string, data: string | Buffer, position = 0): Promise<void> {
  const h = await io.open(p, { create: true });
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  await h.write(buf, 0, buf.length, position);
  await h.close();
}

async function syncedFile(io: FileIO, p: string, data: string | Buffer, dir: string): Promise<void> {
  const h = await io.open(p, { create: true });
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  await h.write(buf, 0, buf.length, 0);
  await h.datasync();
  await h.close();
  await io.syncDir(dir);
}

/** The whole file, or null when it does not exist. */
async function readFile(io: FileIO, p: string): Promise<Buffer | null> {
  const st = await io.stat(p);
  if (!st) return null;
  const h = await io.open(p);
  const buf = Buffer.alloc(st.size);
  await h.read(buf, 0, st.size, 0);
  await h.close();
  return buf;
}

async function text(io: FileIO, p: string): Promise<string | null> {
  return (await readFile(io, p))?.toString() ?? null;
}

describe('sim-disk - reads and writes', () => {
  it('stores a 1 GiB sparse segment in the pages written only', async () => {
    const disk = new SimDisk({ dirs: ['/d'] });
    const h = await disk.open('/d/seg', { create: true });
    await h.truncate(2 ** 30);
    await h.write(Buffer.from('tail'), 0, 4, 2 ** 30 - 4);
    expect(await h.size()).to.equal(2 ** 30);
    expect(disk.usedBytes()).to.equal(4096);
    const buf = Buffer.alloc(8, 0xff);
    expect(await h.read(buf, 0, 8, 2 ** 30 - 8)).to.equal(8);
    expect([...buf]).to.deep.equal([0, 0, 0, 0, 0x74, 0x61, 0x69, 0x6c]);
  });

  it('copies written bytes, so a caller reusing its buffer changes nothing', async () => {
    const disk = new SimDisk({ dirs: ['/d'] });
    const h = await disk.open('/d/f', { create: true });
    const buf = Buffer.from('abcd');
    await h.write(buf, 0, 4, 0);
    buf.fill(0);
    expect(await text(disk, '/d/f')).to.equal('abcd');
  });

  it('resolves relative paths against its own root', async () => {
    const disk = new SimDisk();
    await disk.mkdirp('data/x');
    await writeFile(disk, 'data/x/../f', 'v');
    expect(await text(disk, '/data/f')).to.equal('v');
  });

  it('never completes an operation synchronously', async () => {
    const disk = new SimDisk();
    const h = await disk.open('/f', { create: true });
    let done = false;
    const p = h.write(Buffer.from('x'), 0, 1, 0).then(() => { done = true; });
    for (let i = 0; i < 10; i++) await Promise.resolve();
    expect(done).to.equal(false);
    expect(disk.usedBytes()).to.equal(0);
    await p;
    expect(disk.usedBytes()).to.equal(4096);
  });

  it('does readSync and writeSync before returning, counted, faulted and crashed as read and write', async () => {
    const disk = new SimDisk({ dirs: ['/d'] });
    const h = await disk.open('/d/f', { create: true });
    const ops = disk.opCount;
    h.writeSync!(Buffer.from('abc'), 0, 3, 0);
    expect(disk.opCount).to.equal(ops + 1);
    await h.datasync();
    await disk.syncDir('/d');
    h.writeSync!(Buffer.from('def'), 0, 3, 3);
    disk.failWrite({ partialBytes: 1 });
    expect(() => h.writeSync!(Buffer.from('ghi'), 0, 3, 6)).to.throw().with.property('code', 'ENOSPC');
    const buf = Buffer.alloc(8);
    expect(h.readSync!(buf, 0, 8, 0)).to.equal(7);
    expect(buf.subarray(0, 7).toString()).to.equal('abcdefg');
    // Bytes written synchronously are unsynced like any others: a power cut keeps what datasync covered.
    expect(await text(disk.crash(), '/d/f')).to.equal('abc');
  });

  it('offers no readSync or writeSync with a pause hook, nor through a spread copy of a handle', async () => {
    const paused = await new SimDisk({ pause: async () => undefined }).open('/f', { create: true });
    expect(paused.readSync).to.equal(undefined);
    expect(paused.writeSync).to.equal(undefined);
    const plain = await new SimDisk().open('/f', { create: true });
    expect(typeof plain.writeSync).to.equal('function');
    // A wrapper that intercepts read or write by spreading the handle must not inherit a way around it.
    const wrapped = { ...plain };
    expect(wrapped.readSync).to.equal(undefined);
    expect(wrapped.writeSync).to.equal(undefined);
  });

  it('awaits the pause hook before each operation', async () => {
    const kinds: OpKind[] = [];
    const disk = new SimDisk({ pause: async (k) => { kinds.push(k); } });
    const h = await disk.open('/f', { create: true });
    await h.write(Buffer.from('x'), 0, 1, 0);
    await h.datasync();
    expect(kinds).to.deep.equal(['open', 'write', 'datasync']);
  });

  it('stamps mtimes from the injected clock on write and truncate', async () => {
    let t = 1000;
    const disk = new SimDisk({ now: () => t, dirs: ['/d'] });
    const h = await disk.open('/d/f', { create: true });
    t = 2000;
    await h.write(Buffer.from('x'), 0, 1, 0);
    expect((await disk.stat('/d/f'))!.mtimeMs).to.equal(2000);
    t = 3000;
    await h.truncate(0);
    expect((await disk.stat('/d/f'))!.mtimeMs).to.equal(3000);
  });
});

describe('sim-disk - durability', () => {
  it('keeps what datasync covered, content and size', async () => {
    const disk = new SimDisk({ dirs: ['/d'] });
    const h = await disk.open('/d/f', { create: true });
    await disk.syncDir('/d');
    await h.truncate(8192);
    await h.write(Buffer.from('synced'), 0, 6, 100);
    await h.datasync();
    await h.write(Buffer.from('SYNCED'), 0, 6, 100);
    await h.write(Buffer.from('later'), 0, 5, 20000);
    const after = disk.crash();
    const buf = (await readFile(after, '/d/f'))!;
    expect(buf.length).to.equal(8192);
    expect(buf.subarray(100, 106).toString()).to.equal('synced');
  });

  it('drops every unsynced write and truncate by default, keeps them all with keepUnsynced all', async () => {
    const disk = new SimDisk({ dirs: ['/d'] });
    await syncedFile(disk, '/d/f', 'durable', '/d');
    const h = await disk.open('/d/f');
    await h.write(Buffer.from('D'), 0, 1, 0);
    await h.truncate(3);
    expect(await text(disk.crash(), '/d/f')).to.equal('durable');
    expect(await text(disk.crash({ keepUnsynced: 'all' }), '/d/f')).to.equal('Dur');
  });

  it('forgets a synced file whose directory entry was never synced', async () => {
    const disk = new SimDisk({ dirs: ['/d'] });
    const h = await disk.open('/d/f', { create: true });
    await h.write(Buffer.from('x'), 0, 1, 0);
    await h.datasync();
    const after = disk.crash({ keepUnsynced: 'all' });
    expect(await after.readdir('/d')).to.deep.equal([]);
  });

  it('keeps a file whose name was synced but not its data, empty', async () => {
    const disk = new SimDisk({ dirs: ['/d'] });
    await writeFile(disk, '/d/f', 'lost');
    await disk.syncDir('/d');
    expect(await text(disk.crash(), '/d/f')).to.equal('');
  });

  it('loses a whole directory whose own entry was never synced', async () => {
    const disk = new SimDisk({ dirs: ['/root'] });
    await disk.mkdirp('/root/cq/0');
    await syncedFile(disk, '/root/cq/0/seg', 'data', '/root/cq/0');
    await disk.syncDir('/root/cq');
    expect(await disk.crash().readdir('/root')).to.deep.equal([]);
  });

  it('keeps a directory tree once every parent was synced', async () => {
    const disk = new SimDisk({ dirs: ['/root'] });
    await disk.mkdirp('/root/cq/0');
    await syncedFile(disk, '/root/cq/0/seg', 'data', '/root/cq/0');
    await disk.syncDir('/root/cq');
    await disk.syncDir('/root');
    expect(await text(disk.crash(), '/root/cq/0/seg')).to.equal('data');
  });

  it('makes a rename durable only with a sync of its directory', async () => {
    const setup = async (): Promise<SimDisk> => {
      const disk = new SimDisk({ dirs: ['/d'] });
      await syncedFile(disk, '/d/config.json', 'old', '/d');
      await syncedFile(disk, '/d/config.json.tmp', 'new', '/d');
      await disk.rename('/d/config.json.tmp', '/d/config.json');
      return disk;
    };
    const unsynced = (await setup()).crash();
    expect(await unsynced.readdir('/d')).to.deep.equal(['config.json', 'config.json.tmp']);
    expect(await text(unsynced, '/d/config.json')).to.equal('old');

    const disk = await setup();
    await disk.syncDir('/d');
    const synced = disk.crash();
    expect(await synced.readdir('/d')).to.deep.equal(['config.json']);
    expect(await text(synced, '/d/config.json')).to.equal('new');
  });

  it('makes a rename across directories durable per directory', async () => {
    const disk = new SimDisk({ dirs: ['/a', '/b'] });
    await syncedFile(disk, '/a/f', 'x', '/a');
    await disk.rename('/a/f', '/b/f');
    await disk.syncDir('/b');
    // Only the new name was synced: after the crash both names reach the one file.
    const after = disk.crash();
    expect(await text(after, '/a/f')).to.equal('x');
    expect(await text(after, '/b/f')).to.equal('x');
    const h = await after.open('/a/f');
    await h.write(Buffer.from('y'), 0, 1, 0);
    expect(await text(after, '/b/f')).to.equal('y');
  });

  it('revives an unlinked file unless the unlink was synced', async () => {
    const setup = async (): Promise<SimDisk> => {
      const disk = new SimDisk({ dirs: ['/d'] });
      await syncedFile(disk, '/d/seg', 'old segment', '/d');
      await disk.unlink('/d/seg');
      return disk;
    };
    expect(await text((await setup()).crash(), '/d/seg')).to.equal('old segment');
    const disk = await setup();
    await disk.syncDir('/d');
    expect(await disk.crash().readdir('/d')).to.deep.equal([]);
  });
});

describe('sim-disk - crash outcomes', () => {
  // Four writes to separate 512-byte sectors of a synced file, none synced.
  async function fourWrites(): Promise<SimDisk> {
    const disk = new SimDisk({ dirs: ['/d'] });
    await syncedFile(disk, '/d/f', Buffer.alloc(2048, 0x2e), '/d');
    const h = await disk.open('/d/f');
    for (let i = 0; i < 4; i++) await h.write(Buffer.alloc(512, 0x41 + i), 0, 512, i * 512);
    return disk;
  }

  it('keeps a random subset of unsynced writes, later ones possibly without earlier ones', async () => {
    const disk = await fourWrites();
    const seen = new Set<string>();
    for (let seed = 0; seed < 200; seed++) {
      const buf = (await readFile(disk.crash({ keepUnsynced: 'random', random: seededRandom(seed) }), '/d/f'))!;
      let state = '';
      for (let i = 0; i < 4; i++) {
        const sector = buf.subarray(i * 512, (i + 1) * 512);
        const kept = sector.every((b) => b === 0x41 + i);
        expect(kept || sector.every((b) => b === 0x2e), `sector ${i} is either old or new`).to.equal(true);
        state += kept ? '1' : '0';
      }
      seen.add(state);
    }
    expect(seen.size).to.equal(16);
  });

  it('gives the same state for the same seed', async () => {
    const disk = await fourWrites();
    const a = await readFile(disk.crash({ keepUnsynced: 'random', random: seededRandom(7) }), '/d/f');
    const b = await readFile(disk.crash({ keepUnsynced: 'random', random: seededRandom(7) }), '/d/f');
    expect(a!.equals(b!)).to.equal(true);
  });

  it('applies kept writes in order, so an overwrite wins over the write before it', async () => {
    const disk = new SimDisk({ dirs: ['/d'] });
    await syncedFile(disk, '/d/f', 'a', '/d');
    const h = await disk.open('/d/f');
    await h.write(Buffer.from('b'), 0, 1, 0);
    await h.write(Buffer.from('c'), 0, 1, 0);
    expect(await text(disk.crash({ keepUnsynced: 'all' }), '/d/f')).to.equal('c');
  });

  it('tears the last kept write at an absolute 512-byte boundary', async () => {
    const disk = new SimDisk({ dirs: ['/d'] });
    await syncedFile(disk, '/d/f', '', '/d');
    const h = await disk.open('/d/f');
    await h.write(Buffer.alloc(100, 0x31), 0, 100, 0);
    await h.write(Buffer.alloc(2000, 0x32), 0, 2000, 100);
    const cuts = new Set<number>();
    for (let seed = 0; seed < 100; seed++) {
      const buf = (await readFile(disk.crash({ keepUnsynced: 'all', tear: true, random: seededRandom(seed) }), '/d/f'))!;
      expect(buf.subarray(0, 100).every((b) => b === 0x31)).to.equal(true);
      expect(buf.subarray(100).every((b) => b === 0x32)).to.equal(true);
      cuts.add(buf.length);
    }
    expect([...cuts].sort((a, b) => a - b)).to.deep.equal([512, 1024, 1536, 2048]);
  });

  it('never tears a write inside one sector', async () => {
    const disk = new SimDisk({ dirs: ['/d'] });
    await syncedFile(disk, '/d/f', '', '/d');
    const h = await disk.open('/d/f');
    await h.write(Buffer.alloc(300, 0x31), 0, 300, 600);
    const buf = await readFile(disk.crash({ keepUnsynced: 'all', tear: true, random: seededRandom(1) }), '/d/f');
    expect(buf!.length).to.equal(900);
  });

  it('asks for a random source when the outcome is random', () => {
    const disk = new SimDisk();
    expect(() => disk.crash({ keepUnsynced: 'random' })).to.throw(TypeError);
    expect(() => disk.crash({ tear: true })).to.throw(TypeError);
  });

  it('freezes the disk that lost power, which can still be crashed again', async () => {
    const disk = new SimDisk({ dirs: ['/d'] });
    await syncedFile(disk, '/d/f', 'x', '/d');
    const h = await disk.open('/d/f');
    disk.crash();
    expect(disk.frozen).to.equal(true);
    await rejectCode(h.write(Buffer.from('y'), 0, 1, 0), 'ECRASHED');
    await rejectCode(disk.stat('/d/f'), 'ECRASHED');
    expect(await text(disk.crash(), '/d/f')).to.equal('x');
  });

  it('starts the disk after a crash with no locks and a fresh operation count', async () => {
    const disk = new SimDisk({ dirs: ['/d'] });
    await disk.lock('/d/lock');
    await disk.syncDir('/d');
    const after = disk.crash();
    expect(after.opCount).to.equal(0);
    await (await after.lock('/d/lock')).release();
  });
});

describe('sim-disk - process kill', () => {
  it('keeps unsynced data, drops locks, and disables the dead process\'s handles', async () => {
    const disk = new SimDisk({ dirs: ['/d'] });
    const lock = await disk.lock('/d/lock');
    const h = await disk.open('/d/f', { create: true });
    await h.write(Buffer.from('written'), 0, 7, 0);
    disk.killProcess();
    await rejectCode(h.write(Buffer.from('zombie'), 0, 6, 0), 'EBADF');
    const next = await disk.lock('/d/lock');
    // The dead process's late release must not free the lock the new one holds.
    await lock.release();
    await rejectCode(disk.lock('/d/lock'), 'EAGAIN');
    await next.release();
    expect(await text(disk, '/d/f')).to.equal('written');
  });
});

describe('sim-disk - fault injection', () => {
  it('fails the chosen fsync with EIO and leaves its writes unsynced', async () => {
    const disk = new SimDisk({ dirs: ['/d'] });
    await syncedFile(disk, '/d/f', 'aaaa', '/d');
    const h = await disk.open('/d/f');
    disk.failSync({ nth: 2 });
    await h.write(Buffer.from('b'), 0, 1, 0);
    await h.datasync();
    await h.write(Buffer.from('c'), 0, 1, 1);
    await rejectCode(h.datasync(), 'EIO');
    expect(await text(disk.crash(), '/d/f')).to.equal('baaa');
  });

  it('fails the fsync a predicate picks, directories included', async () => {
    const disk = new SimDisk({ dirs: ['/d'] });
    disk.failSync({ match: (op) => op.kind === 'syncDir' && op.path === '/d' });
    await writeFile(disk, '/d/f', 'x');
    await rejectCode(disk.syncDir('/d'), 'EIO');
    expect(await disk.crash().readdir('/d')).to.deep.equal([]);
  });

  it('fails a write with ENOSPC after storing a prefix of it', async () => {
    const disk = new SimDisk({ dirs: ['/d'] });
    const h = await disk.open('/d/f', { create: true });
    disk.failWrite({ partialBytes: 3 });
    const err = await rejectCode(h.write(Buffer.from('abcdef'), 0, 6, 0), 'ENOSPC');
    expect(err.message).to.match(/ENOSPC/);
    expect(await text(disk, '/d/f')).to.equal('abc');
    await h.write(Buffer.from('XYZ'), 0, 3, 3);
    expect(await text(disk, '/d/f')).to.equal('abcXYZ');
  });

  it('enforces a capacity in 4 KiB pages, storing what fits', async () => {
    const disk = new SimDisk({ dirs: ['/d'], capacity: 3 * 4096 });
    const h = await disk.open('/d/f', { create: true });
    await h.truncate(1 << 20);
    await rejectCode(h.write(Buffer.alloc(5 * 4096, 1), 0, 5 * 4096, 100), 'ENOSPC');
    const buf = Buffer.alloc(5 * 4096);
    await h.read(buf, 0, buf.length, 100);
    expect(buf.indexOf(0)).to.equal(3 * 4096 - 100);
    expect(await disk.statfs('/d')).to.deep.equal({ totalBytes: 3 * 4096, freeBytes: 0 });
    await h.truncate(4096);
    expect((await disk.statfs('/')).freeBytes).to.equal(2 * 4096);
    await disk.unlink('/d/f');
    expect((await disk.statfs('/')).freeBytes).to.equal(3 * 4096);
  });

  it('reports the space a test sets', async () => {
    const disk = new SimDisk();
    disk.setSpace({ totalBytes: 100, freeBytes: 10 });
    expect(await disk.statfs('/')).to.deep.equal({ totalBytes: 100, freeBytes: 10 });
    disk.setSpace(() => ({ totalBytes: 100, freeBytes: 90 }));
    expect((await disk.statfs('/')).freeBytes).to.equal(90);
    await rejectCode(disk.statfs('/missing'), 'ENOENT');
  });

  it('fails operation n once, and then goes on', async () => {
    const disk = new SimDisk({ dirs: ['/d'] });
    const h = await disk.open('/d/f', { create: true });
    disk.failAt(disk.opCount + 2);
    await h.write(Buffer.from('a'), 0, 1, 0);
    await rejectCode(h.write(Buffer.from('b'), 0, 1, 1), 'EIO');
    await h.write(Buffer.from('c'), 0, 1, 2);
    expect(await text(disk, '/d/f')).to.equal('a\0c');
  });

  it('fails operation n and every one after it when persistent', async () => {
    const disk = new SimDisk({ dirs: ['/d'] });
    await writeFile(disk, '/d/f', 'a');
    disk.failAt(disk.opCount + 1, { once: false, code: 'EROFS' });
    await rejectCode(disk.stat('/d/f'), 'EROFS');
    await rejectCode(disk.readdir('/d'), 'EROFS');
    disk.clearFaults();
    expect(await disk.readdir('/d')).to.deep.equal(['f']);
  });

  it('counts every call of FileIO, FileHandle and FileLock, faulted ones included', async () => {
    const disk = new SimDisk();
    const lock = await disk.lock('/lock');
    const h = await disk.open('/f', { create: true });
    await h.size();
    disk.failAt(4);
    await rejectCode(h.close(), 'EIO');
    await lock.release();
    expect(disk.opCount).to.equal(5);
  });
});

describe('sim-disk - crash point', () => {
  it('runs operation n, then rejects everything with ECRASHED without changing state', async () => {
    const disk = new SimDisk({ dirs: ['/d'] });
    const h = await disk.open('/d/f', { create: true });
    disk.crashAt(disk.opCount + 2);
    await h.write(Buffer.from('a'), 0, 1, 0);
    await h.datasync();
    expect(disk.frozen).to.equal(true);
    await rejectCode(h.write(Buffer.from('b'), 0, 1, 1), 'ECRASHED');
    await rejectCode(disk.syncDir('/d'), 'ECRASHED');
    expect(disk.opCount).to.equal(3);
    const after = disk.crash({ keepUnsynced: 'all' });
    // The name was never synced, so even the synced data is gone.
    expect(await after.readdir('/d')).to.deep.equal([]);
  });

  it('finds every state of write-temp-fsync-rename-fsync to be the old or the new file', async () => {
    // The config-file protocol of the store, run to each crash point in turn.
    const update = async (disk: SimDisk): Promise<void> => {
      await syncedFile(disk, '/d/topics.json.tmp', 'new contents', '/d');
      await disk.rename('/d/topics.json.tmp', '/d/topics.json');
      await disk.syncDir('/d');
    };
    const fresh = async (): Promise<SimDisk> => {
      const disk = new SimDisk({ dirs: ['/d'] });
      await syncedFile(disk, '/d/topics.json', 'old', '/d');
      return disk;
    };
    const probe = await fresh();
    const base = probe.opCount;
    await update(probe);
    const total = probe.opCount - base;
    const outcomes = new Set<string>();
    for (let n = 1; n <= total; n++) {
      const disk = await fresh();
      disk.crashAt(base + n);
      await update(disk).catch((e: { code?: string }) => { if (e.code !== 'ECRASHED') throw e; });
      for (let seed = 0; seed < 5; seed++) {
        const after = disk.crash({ keepUnsynced: 'random', tear: true, random: seededRandom(seed) });
        const got = await text(after, '/d/topics.json');
        expect(got).to.be.oneOf(['old', 'new contents']);
        outcomes.add(got!);
      }
    }
    expect([...outcomes].sort()).to.deep.equal(['new contents', 'old']);
  });
});
