import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { audit, type AuditReport } from '../../lib/store/audit';
import { auditCommand } from '../../lib/cli/audit-command';
import { MessageStore } from '../../lib/store/message-store';
import type { SimDisk } from '../../lib/io/sim-disk';
import { VirtualClock } from '../../lib/common/clock';
import { KeelError } from '../../lib/common/errors';
import { tmpDir } from '../support/tmp';
import { DATA_DIR, makePlan, readAll, runPlan } from './harness';
import { FIXTURE_NAME, manifestOf, writeFixtureStore, fixtureOptions } from './make-fixture';

/** A closed store of a few dozen records on SimDisk, and where its records are. */
async function closedStore(): Promise<{ disk: SimDisk; records: { off: number; size: number; topic: string; queueId: number; qo: number }[] }> {
  const run = await runPlan(makePlan(11, 'SYNC', 12));
  const { msgs } = await readAll(run.store!);
  await run.store!.close();
  run.disk.killProcess();
  const records = msgs.map((m) => ({ off: m.physicalOffset, size: m.storeSize, topic: m.topic, queueId: m.queueId, qo: m.queueOffset })).sort((a, b) => a.off - b.off);
  return { disk: run.disk, records };
}

async function patch(disk: SimDisk, file: string, at: number, bytes: Buffer): Promise<void> {
  const h = await disk.open(path.posix.join(DATA_DIR, file));
  await h.write(bytes, 0, bytes.length, at);
  await h.close();
}

const seg = (off: number) => `commitlog/${String(off - (off % 4096)).padStart(20, '0')}`;
const cqFile = (topic: string, q: number, qo: number) => `consumequeue/${topic}/${q}/${String(qo * 20 - ((qo * 20) % 320)).padStart(20, '0')}`;

function kinds(r: AuditReport): string[] { return r.damage.map((d) => `${d.kind} ${d.file} ${d.offset}`); }

describe('audit', () => {
  it('audit - a closed store is clean and every record and entry is counted', async () => {
    const { disk, records } = await closedStore();
    const r = await audit(DATA_DIR, { io: disk });
    expect(r.damage).to.deep.equal([]);
    expect(r).to.include({ ok: true, records: records.length, entries: records.length, cleanShutdown: true });
    expect(r.logEnd).to.equal(records[records.length - 1]!.off + records[records.length - 1]!.size);
  });

  it('audit - a flipped byte in a record is reported at that record (and its entry as dangling), and the records after it are still walked', async () => {
    const { disk, records } = await closedStore();
    const victim = records[5]!;
    await patch(disk, seg(victim.off), (victim.off % 4096) + 95, Buffer.from([0x5a]));
    const r = await audit(DATA_DIR, { io: disk });
    expect(r.ok).to.equal(false);
    expect(kinds(r)).to.deep.equal([
      `bad-record ${seg(victim.off)} ${victim.off % 4096}`,
      `dangling-entry ${cqFile(victim.topic, victim.queueId, victim.qo)} ${(victim.qo * 20) % 320}`,
    ]);
    expect(r.records).to.equal(records.length - 1);
    expect(r.logEnd).to.equal(victim.off);
  });

  it('audit - garbage after the end of the log is damage', async () => {
    const { disk, records } = await closedStore();
    const last = records[records.length - 1]!;
    const end = last.off + last.size;
    await patch(disk, seg(end), (end % 4096) + 40, Buffer.from('junk'));
    const r = await audit(DATA_DIR, { io: disk });
    expect(kinds(r)).to.deep.equal([`garbage-after-end ${seg(end)} ${(end % 4096) + 40}`]);
  });

  it('audit - ConsumeQueue entries that disagree with records, gaps and dangling entries are reported', async () => {
    const { disk, records } = await closedStore();
    // A record in the middle of its queue, so that zeroing its entry leaves a hole.
    const a = records.find((x) => x.qo > 0 && records.some((y) => y.topic === x.topic && y.queueId === x.queueId && y.qo === x.qo + 1))!;
    // Wrong size in a's entry.
    await patch(disk, cqFile(a.topic, a.queueId, a.qo), ((a.qo * 20) % 320) + 8, Buffer.from([0, 0, 0, 7]));
    const r1 = await audit(DATA_DIR, { io: disk });
    expect(kinds(r1)).to.deep.equal([`entry-mismatch ${cqFile(a.topic, a.queueId, a.qo)} ${(a.qo * 20) % 320}`]);
    // An entry zeroed between others: a gap, and its record has no entry.
    await patch(disk, cqFile(a.topic, a.queueId, a.qo), (a.qo * 20) % 320, Buffer.alloc(20));
    const r2 = await audit(DATA_DIR, { io: disk });
    expect(r2.damage.map((d) => d.kind).sort()).to.deep.equal(['bad-entry', 'missing-entry']);
    // An entry past the queue's last record, pointing at a record of another queue.
    const q = records.filter((x) => x.topic === a.topic && x.queueId === a.queueId);
    const next = q[q.length - 1]!.qo + 1;
    const other = records.find((x) => x.topic !== a.topic || x.queueId !== a.queueId)!;
    const entry = Buffer.alloc(20);
    entry.writeUInt32BE(other.off, 4);
    entry.writeInt32BE(other.size, 8);
    await patch(disk, cqFile(a.topic, a.queueId, next), (next * 20) % 320, entry);
    const r3 = await audit(DATA_DIR, { io: disk });
    expect(r3.damage.map((d) => d.kind)).to.include('dangling-entry');
  });

  it('audit - a missing CommitLog segment in the middle is a layout damage', async () => {
    const { disk } = await closedStore();
    await disk.unlink(`${DATA_DIR}/commitlog/${String(4096).padStart(20, '0')}`);
    const r = await audit(DATA_DIR, { io: disk });
    expect(r.damage.map((d) => d.kind)).to.include('segment-layout');
  });

  it('audit - a nonexistent directory is NOT_FOUND', async () => {
    const { disk } = await closedStore();
    await audit('/nowhere', { io: disk }).then(() => expect.fail('resolved'), (e) => expect(e.code).to.equal('NOT_FOUND'));
  });

  it('audit - an empty directory or a folder that is not a store is NOT_FOUND, not a clean report of 0 records (regression)', async () => {
    const t = tmpDir();
    try {
      await audit(t.dir).then(() => expect.fail('resolved'), (e) => expect(e).to.be.instanceOf(KeelError).and.include({ code: 'NOT_FOUND' }));
      fs.writeFileSync(path.join(t.dir, 'notes.txt'), 'hello');
      fs.mkdirSync(path.join(t.dir, 'consumequeue'));
      await audit(t.dir).then(() => expect.fail('resolved'), (e) => expect(e.message).to.match(/is not a keelmq store/));
    } finally {
      t.cleanup();
    }
  });

  it('audit - a file where the store has a directory is a KeelError CORRUPT_STORE naming it (regression: raw ENOTDIR)', async () => {
    const t = tmpDir();
    try {
      const store = await MessageStore.open(t.dir, { commitLogSegmentSize: 4096, maxBodySize: 1024, maxPropertiesLength: 1024 });
      await store.put({ topic: 'T', queueId: 0, body: 'x' });
      await store.close();
      const rejects = async (rel: string) => {
        const e = await audit(t.dir).then(() => expect.fail(`resolved with ${rel} a file`), (x: unknown) => x);
        expect(e, rel).to.be.instanceOf(KeelError).and.include({ code: 'CORRUPT_STORE' });
        expect((e as Error).message, rel).to.include(rel);
      };
      const queue = path.join(t.dir, 'consumequeue', 'T', '0');
      fs.rmSync(queue, { recursive: true });
      fs.writeFileSync(queue, 'not a directory');
      await rejects(path.join('consumequeue', 'T', '0'));
      fs.rmSync(path.join(t.dir, 'consumequeue'), { recursive: true });
      fs.writeFileSync(path.join(t.dir, 'consumequeue'), 'not a directory');
      await rejects('consumequeue');
      fs.rmSync(path.join(t.dir, 'consumequeue'));
      fs.rmSync(path.join(t.dir, 'commitlog'), { recursive: true });
      fs.writeFileSync(path.join(t.dir, 'commitlog'), 'not a directory');
      await rejects('commitlog');
      const io = { out: [] as string[], err: [] as string[] };
      const code = await auditCommand([t.dir], { out: { write: (x: string) => io.out.push(x) }, err: { write: (x: string) => io.err.push(x) } });
      expect(code).to.equal(1);
      expect(io.err.join('')).to.match(/commitlog is a file where the store has a directory/);
    } finally {
      t.cleanup();
    }
  });

  it('audit - needs no lock: runs on real files while the store is open, read-only', async () => {
    const t = tmpDir();
    try {
      const store = await MessageStore.open(t.dir, { commitLogSegmentSize: 4096, maxBodySize: 1024, maxPropertiesLength: 1024, flushMode: 'SYNC' });
      for (let i = 0; i < 30; i++) await store.put({ topic: 'T', body: `m${i}`, tags: 'a' });
      const during = await audit(t.dir);
      expect(during.records).to.equal(30);
      await store.close();
      const after = await audit(t.dir);
      expect(after).to.include({ ok: true, records: 30, entries: 30 });
    } finally {
      t.cleanup();
    }
  });
});

describe('keelmq audit (CLI)', () => {
  function streams() {
    const out: string[] = [];
    const err: string[] = [];
    return { out, err, s: { out: { write: (x: string) => out.push(x) }, err: { write: (x: string) => err.push(x) } } };
  }

  it('cli - exit 0 and a summary on a clean store, 1 with a line per damage, --json, 2 on usage and I/O errors', async () => {
    const t = tmpDir();
    try {
      const store = await MessageStore.open(t.dir, { commitLogSegmentSize: 4096, maxBodySize: 1024, maxPropertiesLength: 1024 });
      for (let i = 0; i < 10; i++) await store.put({ topic: 'T', body: `m${i}` });
      await store.close();
      let io = streams();
      expect(await auditCommand([t.dir], io.s)).to.equal(0);
      expect(io.out.join('')).to.match(/^ok: 10 records in 2 CommitLog segments/);
      io = streams();
      expect(await auditCommand([t.dir, '--json'], io.s)).to.equal(0);
      expect(JSON.parse(io.out.join(''))).to.include({ ok: true, records: 10 });
      const fd = fs.openSync(path.join(t.dir, 'commitlog', '0'.repeat(20)), 'r+');
      fs.writeSync(fd, Buffer.from([0xff]), 0, 1, 100);
      fs.closeSync(fd);
      io = streams();
      expect(await auditCommand([t.dir], io.s)).to.equal(1);
      expect(io.out.join('')).to.match(/^DAMAGED: /).and.match(/commitlog\/0{20} @\d+ bad-record: /);
      io = streams();
      expect(await auditCommand([path.join(t.dir, 'nope')], io.s)).to.equal(2);
      expect(await auditCommand(['--bogus', t.dir], streams().s)).to.equal(2);
      expect(await auditCommand([], streams().s)).to.equal(2);
      io = streams();
      expect(await auditCommand(['--help'], io.s)).to.equal(0);
      expect(io.out.join('')).to.match(/usage: keelmq audit/);
    } finally {
      t.cleanup();
    }
  });

  it('cli - an empty folder, or one that is not a store, exits 2 saying so, with no "ok" line (regression: "ok: 0 records", exit 0)', async () => {
    const t = tmpDir();
    try {
      const check = async () => {
        const io = streams();
        expect(await auditCommand([t.dir], io.s)).to.equal(2);
        expect(io.out.join('')).to.equal('');
        expect(io.err.join('')).to.contain(`${t.dir} is not a keelmq store`);
      };
      await check();
      fs.writeFileSync(path.join(t.dir, 'notes.txt'), 'hello');
      fs.mkdirSync(path.join(t.dir, 'consumequeue'));
      await check();
    } finally {
      t.cleanup();
    }
  });
});

describe('golden fixture', () => {
  const fixtures = path.resolve(__dirname, '../../../fixtures');

  function files(dir: string): string[] {
    return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => fs.statSync(path.join(dir, f)).isFile()).sort();
  }

  it('fixture - the committed store reads back byte for byte: every field of every message', async () => {
    const t = tmpDir();
    try {
      fs.cpSync(path.join(fixtures, FIXTURE_NAME), t.dir, { recursive: true });
      expect((await audit(t.dir)).damage).to.deep.equal([]);
      const want = JSON.parse(fs.readFileSync(path.join(fixtures, `${FIXTURE_NAME}.json`), 'utf8')) as Record<string, unknown>[];
      const store = await MessageStore.open(t.dir, fixtureOptions(new VirtualClock(0)));
      try {
        const got = [];
        for (const topic of store.topics().sort()) for (const q of store.queueIds(topic)) got.push(...(await store.getMessages(topic, q, 0, 100)).messages.map(manifestOf));
        expect(got).to.deep.equal(want);
        for (const m of want) expect(manifestOf((await store.getMessage(m['physicalOffset'] as number))!)).to.deep.equal(m);
      } finally {
        await store.close();
      }
    } finally {
      t.cleanup();
    }
  });

  it('fixture - this version still writes exactly the committed files', async () => {
    const t = tmpDir();
    try {
      await writeFixtureStore(t.dir);
      const committed = path.join(fixtures, FIXTURE_NAME);
      expect(files(t.dir)).to.deep.equal(files(committed));
      for (const f of files(committed)) expect(fs.readFileSync(path.join(t.dir, f)).equals(fs.readFileSync(path.join(committed, f))), f).to.equal(true);
    } finally {
      t.cleanup();
    }
  });
});
