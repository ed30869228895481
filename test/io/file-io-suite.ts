import { expect } from 'chai';
import * as path from 'path';
import type { FileIO } from '../../lib/io/file-io';
import { rejectCode } from '../support/reject-code';

/** A FileIO with an existing, empty directory to work in. */
export interface FileIoFixture {
  io: FileIO;
  root: string;
  cleanup(): Promise<void>;
}

/**
 * Behaviour that must hold on every disk, the real one and the simulated one:
 * the store is only correct on SimDisk's verdict if SimDisk behaves like the real thing.
 */
export function fileIoSuite(name: string, factory: () => Promise<FileIoFixture>): void {
  describe(`file-io ${name} - conformance`, () => {
    let fx: FileIoFixture;
    let io: FileIO;
    let at: (...names: string[]) => string;

    beforeEach(async () => {
      fx = await factory();
      io = fx.io;
      at = (...names) => path.join(fx.root, ...names);
    });
    afterEach(() => fx.cleanup());

    it('writes and reads back at positions', async () => {
      const h = await io.open(at('f'), { create: true });
      await h.write(Buffer.from('hello world'), 0, 11, 0);
      await h.write(Buffer.from('XXabcXX'), 2, 3, 6);
      const buf = Buffer.alloc(11);
      expect(await h.read(buf, 0, 11, 0)).to.equal(11);
      expect(buf.toString()).to.equal('hello abcld');
      await h.close();
    });

    it('reads holes as zeros and returns a short count at end of file', async () => {
      const h = await io.open(at('f'), { create: true });
      await h.write(Buffer.from('end'), 0, 3, 10000);
      expect(await h.size()).to.equal(10003);
      const buf = Buffer.alloc(20, 0xff);
      expect(await h.read(buf, 0, 20, 9990)).to.equal(13);
      expect([...buf.subarray(0, 10)]).to.deep.equal(new Array(10).fill(0));
      expect(buf.subarray(10, 13).toString()).to.equal('end');
      expect(await h.read(buf, 0, 5, 20000)).to.equal(0);
      await h.close();
    });

    it('truncates sparse files up and zeroes what a shrink cut', async () => {
      const h = await io.open(at('f'), { create: true });
      await h.truncate(64 * 1024 * 1024);
      expect(await h.size()).to.equal(64 * 1024 * 1024);
      await h.write(Buffer.from('abcdef'), 0, 6, 5000);
      await h.truncate(5003);
      await h.truncate(6000);
      const buf = Buffer.alloc(6);
      expect(await h.read(buf, 0, 6, 5000)).to.equal(6);
      expect([...buf]).to.deep.equal([0x61, 0x62, 0x63, 0, 0, 0]);
      await h.close();
    });

    it('keeps content across close and reopen without create', async () => {
      const h = await io.open(at('f'), { create: true });
      await h.write(Buffer.from('kept'), 0, 4, 0);
      await h.datasync();
      await h.close();
      const again = await io.open(at('f'));
      const buf = Buffer.alloc(4);
      await again.read(buf, 0, 4, 0);
      expect(buf.toString()).to.equal('kept');
      expect((await io.stat(at('f')))!.size).to.equal(4);
      await again.close();
    });

    it('fails to open a missing file without create, or inside a missing directory', async () => {
      await rejectCode(io.open(at('missing')), 'ENOENT');
      await rejectCode(io.open(at('no', 'such'), { create: true }), 'ENOENT');
    });

    it('stats files and directories, null for nothing', async () => {
      await io.mkdirp(at('d'));
      const h = await io.open(at('d', 'f'), { create: true });
      await h.write(Buffer.from('12345'), 0, 5, 0);
      await h.close();
      const f = (await io.stat(at('d', 'f')))!;
      expect(f.size).to.equal(5);
      expect(f.isDirectory).to.equal(false);
      expect(f.mtimeMs).to.be.a('number');
      expect((await io.stat(at('d')))!.isDirectory).to.equal(true);
      expect(await io.stat(at('nothing'))).to.equal(null);
    });

    it('makes nested directories idempotently and lists names sorted', async () => {
      await io.mkdirp(at('a', 'b', 'c'));
      await io.mkdirp(at('a', 'b', 'c'));
      await io.mkdirp(at('a', 'b', 'a'));
      for (const n of ['z', '0', 'm']) await (await io.open(at('a', 'b', n), { create: true })).close();
      expect(await io.readdir(at('a', 'b'))).to.deep.equal(['0', 'a', 'c', 'm', 'z']);
      await rejectCode(io.readdir(at('none')), 'ENOENT');
    });

    it('refuses file operations on directories and directory operations on files', async () => {
      await io.mkdirp(at('d'));
      await (await io.open(at('f'), { create: true })).close();
      await rejectCode(io.open(at('d')), 'EISDIR');
      await rejectCode(io.unlink(at('d')), 'EISDIR');
      await rejectCode(io.rmdir(at('f')), 'ENOTDIR');
      await rejectCode(io.readdir(at('f')), 'ENOTDIR');
      await rejectCode(io.mkdirp(at('f')), 'EEXIST');
    });

    it('unlinks files, and fails on missing ones', async () => {
      await (await io.open(at('f'), { create: true })).close();
      await io.unlink(at('f'));
      expect(await io.stat(at('f'))).to.equal(null);
      await rejectCode(io.unlink(at('f')), 'ENOENT');
    });

    it('removes empty directories only', async () => {
      await io.mkdirp(at('d', 'e'));
      await rejectCode(io.rmdir(at('d')), 'ENOTEMPTY');
      await io.rmdir(at('d', 'e'));
      await io.rmdir(at('d'));
      expect(await io.stat(at('d'))).to.equal(null);
      await rejectCode(io.rmdir(at('d')), 'ENOENT');
    });

    it('renames, replacing an existing file', async () => {
      const a = await io.open(at('a'), { create: true });
      await a.write(Buffer.from('new'), 0, 3, 0);
      await a.close();
      const b = await io.open(at('b'), { create: true });
      await b.write(Buffer.from('old!'), 0, 4, 0);
      await b.close();
      await io.rename(at('a'), at('b'));
      expect(await io.readdir(fx.root)).to.deep.equal(['b']);
      expect((await io.stat(at('b')))!.size).to.equal(3);
      await rejectCode(io.rename(at('a'), at('c')), 'ENOENT');
    });

    it('keeps an open handle working after its file is renamed', async () => {
      const h = await io.open(at('a'), { create: true });
      await io.rename(at('a'), at('b'));
      await h.write(Buffer.from('x'), 0, 1, 0);
      await h.close();
      expect((await io.stat(at('b')))!.size).to.equal(1);
    });

    it('syncs files and directories', async () => {
      const h = await io.open(at('f'), { create: true });
      await h.write(Buffer.from('x'), 0, 1, 0);
      await h.datasync();
      await io.syncDir(fx.root);
      await h.close();
    });

    it('locks exclusively until released, creating the lock file', async () => {
      const l = await io.lock(at('sub', 'lock'));
      expect((await io.stat(at('sub', 'lock')))!.isDirectory).to.equal(false);
      await rejectCode(io.lock(at('sub', 'lock')), 'EAGAIN');
      await l.release();
      const again = await io.lock(at('sub', 'lock'));
      await again.release();
    });

    it('reports free and total space', async () => {
      const s = await io.statfs(fx.root);
      expect(s.totalBytes).to.be.greaterThan(0);
      expect(s.freeBytes).to.be.at.least(0).and.at.most(s.totalBytes);
    });
  });
}
