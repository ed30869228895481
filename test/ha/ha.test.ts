import { expect } from 'chai';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { MessageStore } from '../../lib/store/message-store';
import { audit } from '../../lib/store/audit';
import { HAMaster, type HAMasterOptions } from '../../lib/ha/ha-master';
import { HASlave } from '../../lib/ha/ha-slave';
import { encodeFrameHeader } from '../../lib/ha/ha-protocol';
import { silentLogger } from '../../lib/remoting/logger';
import { SMALL, readQueue } from '../support/store-env';
import { tmpDir } from '../support/tmp';

const SEG = 64 * 1024;

function body(i: number): Buffer {
  const b = Buffer.alloc(20 + ((i * 37) % 700));
  for (let k = 0; k < b.length; k++) b[k] = (i * 13 + k) & 0xff;
  return b;
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function logBytes(dir: string): Buffer {
  const files = fs.readdirSync(path.join(dir, 'commitlog')).sort();
  return Buffer.concat(files.map((f) => fs.readFileSync(path.join(dir, 'commitlog', f))));
}

describe('HA master/slave over TCP (in process)', function () {
  this.timeout(30_000);
  let t: { dir: string; cleanup(): void };
  const closers: (() => Promise<void>)[] = [];
  const store = async (name: string, extra = {}) => {
    const s = await MessageStore.open(path.join(t.dir, name), { ...SMALL, commitLogSegmentSize: SEG, ...extra });
    closers.push(() => s.close());
    return s;
  };
  const master = async (s: MessageStore, o: Partial<HAMasterOptions> = {}) => {
    const m = await HAMaster.start(s, { port: 0, logger: silentLogger, ...o });
    closers.push(() => m.close());
    return m;
  };
  const slave = (s: MessageStore, m: HAMaster | string, o = {}) => {
    const sl = HASlave.start(s, { masterAddress: typeof m === 'string' ? m : m.address(), logger: silentLogger, reconnectMinMs: 20, reconnectMaxMs: 200, ...o });
    closers.push(() => sl.close());
    return sl;
  };
  beforeEach(() => { t = tmpDir(); });
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
    t.cleanup();
  });

  it('ha - an empty slave (first-segment) catches up a master of 10+ segments: byte-identical log, same queues, both audit clean', async () => {
    const ms = await store('m');
    const ps = [];
    for (let i = 0; i < 2000; i++) ps.push(ms.put({ topic: `T${i % 3}`, queueId: i % 2, body: body(i), tags: `t${i % 4}` }));
    await Promise.all(ps);
    expect(ms.stats().appendOffset).to.be.greaterThan(10 * SEG);
    const m = await master(ms, { emptySlaveFrom: 'first-segment' });
    const ss = await store('s');
    const sl = slave(ss, m);
    await until('catch-up', () => ss.stats().appendOffset === ms.stats().appendOffset && sl.stats().caughtUp);
    for (const topic of ms.topics()) {
      for (const q of ms.queueIds(topic)) {
        expect((await readQueue(ss, topic, q)).map((x) => x.msgId)).to.deep.equal((await readQueue(ms, topic, q)).map((x) => x.msgId));
      }
    }
    await until('ack', () => m.stats().slaves[0]?.lagBytes === 0);
    for (const c of closers.splice(0).reverse()) await c();
    expect(logBytes(path.join(t.dir, 's')).equals(logBytes(path.join(t.dir, 'm')))).to.equal(true);
    for (const d of ['m', 's']) expect((await audit(path.join(t.dir, d))).ok).to.equal(true);
  });

  it('ha - a master alone keeps no copy of its writes; a slave joining later gets what came before (from the CommitLog) and after (from memory), byte-identical', async () => {
    const ms = await store('m');
    const m = await master(ms, { emptySlaveFrom: 'first-segment' });
    for (let i = 0; i < 300; i++) await ms.put({ topic: 'T', queueId: i % 2, body: body(i) });
    // Regression: every write was copied for slaves that were not there (3.7 % of a lone broker's CPU).
    expect(m.recent(ms.stats().appendOffset - 1, 1)).to.equal(null);
    const ss = await store('s');
    const sl = slave(ss, m);
    await until('catch-up', () => ss.stats().appendOffset === ms.stats().appendOffset && sl.stats().caughtUp);
    const ps = [];
    for (let i = 300; i < 600; i++) ps.push(ms.put({ topic: 'T', queueId: i % 2, body: body(i) }));
    await Promise.all(ps);
    const end = ms.stats().appendOffset;
    expect(m.recent(end - 1, 1)).to.not.equal(null);
    await until('catch-up after', () => ss.stats().appendOffset === end);
    await until('ack', () => m.stats().slaves[0]?.lagBytes === 0);
    for (const c of closers.splice(0).reverse()) await c();
    expect(logBytes(path.join(t.dir, 's')).equals(logBytes(path.join(t.dir, 'm')))).to.equal(true);
  });

  it('ha - by default an empty slave starts at the master\'s last segment, as RocketMQ', async () => {
    const ms = await store('m');
    for (let i = 0; i < 600; i++) await ms.put({ topic: 'T', body: body(i) });
    const m = await master(ms);
    const ss = await store('s');
    slave(ss, m);
    const end = ms.stats().appendOffset;
    await until('catch-up', () => ss.stats().appendOffset === end);
    expect(ss.stats().minOffset).to.equal(end - (end % SEG));
  });

  it('ha - SYNC_MASTER: SLAVE_NOT_AVAILABLE with no slave, PUT_OK once a slave holds it, FLUSH_SLAVE_TIMEOUT or SLAVE_NOT_AVAILABLE (never PUT_OK) when it stops, PUT_OK again when it returns', async () => {
    const ms = await store('m', { flushMode: 'SYNC' });
    const m = await master(ms, { role: 'SYNC_MASTER', syncTimeoutMs: 300, emptySlaveFrom: 'first-segment' });
    expect((await ms.put({ topic: 'T', body: 'a' })).status).to.equal('SLAVE_NOT_AVAILABLE');
    const ss = await store('s');
    let sl = slave(ss, m);
    await until('link', () => m.stats().slaves.length === 1 && m.stats().slaves[0].ackOffset >= 0);
    for (let i = 0; i < 50; i++) {
      const r = await ms.put({ topic: 'T', body: body(i) });
      expect(r.status).to.equal('PUT_OK');
      expect(ss.stats().appendOffset).to.be.at.least(r.physicalOffset + r.storeSize);
    }
    await sl.close();
    const statuses = new Set<string>();
    for (let i = 0; i < 5; i++) statuses.add((await ms.put({ topic: 'T', body: body(i) })).status);
    expect([...statuses].every((s) => s === 'FLUSH_SLAVE_TIMEOUT' || s === 'SLAVE_NOT_AVAILABLE')).to.equal(true);
    sl = slave(ss, m);
    await until('back', () => m.stats().slaves.length === 1 && m.stats().slaves[0].ackOffset >= 0);
    const r = await ms.put({ topic: 'T', body: 'again' });
    expect(r.status).to.equal('PUT_OK');
    expect(ss.stats().appendOffset).to.equal(ms.stats().appendOffset);
    const st = m.stats();
    expect(st.slaves[0].lagBytes).to.equal(0);
    expect(ms.stats().replication).to.deep.include({ role: 'SYNC_MASTER', committedOffset: ms.stats().writtenOffset });
    expect((ms.stats().replication as typeof st).slaves).to.have.length(1);
  });

  it('ha - a slave whose log diverged (an old master with records the new one never had) refuses and follows again only after truncation', async () => {
    const ms = await store('m');
    for (let i = 0; i < 100; i++) await ms.put({ topic: 'T', body: body(i) });
    const m = await master(ms, { emptySlaveFrom: 'first-segment' });
    const ss = await store('s');
    const sl = slave(ss, m);
    await until('catch-up', () => ss.stats().appendOffset === ms.stats().appendOffset);
    await sl.close();
    // Both logs grow apart: the same offsets, different records.
    for (let i = 0; i < 20; i++) await ms.put({ topic: 'T', body: `master ${i}` });
    for (let i = 0; i < 5; i++) await ss.put({ topic: 'T', body: `old master ${i}` });
    const sl2 = slave(ss, m);
    await until('divergence', () => sl2.diverged !== null);
    const before = ss.stats().appendOffset;
    await new Promise((r) => setTimeout(r, 100));
    expect(ss.stats().appendOffset).to.equal(before);
    await sl2.truncateDiverged();
    await until('catch-up', () => ss.stats().appendOffset === ms.stats().appendOffset && sl2.stats().caughtUp);
    expect((await readQueue(ss, 'T', 0)).map((x) => x.body.toString('hex'))).to.deep.equal((await readQueue(ms, 'T', 0)).map((x) => x.body.toString('hex')));
  });

  it('ha - garbage on the HA port is dropped and the master keeps serving its slave', async () => {
    const ms = await store('m');
    const m = await master(ms, { emptySlaveFrom: 'first-segment' });
    const ss = await store('s');
    slave(ss, m);
    const port = Number(m.address().split(':')[1]);
    for (let k = 0; k < 20; k++) {
      const c = net.connect({ host: '127.0.0.1', port });
      c.on('error', () => undefined);
      await new Promise((r) => c.once('connect', r));
      c.write(Buffer.from(Array.from({ length: 64 + k * 13 }, (_, i) => (i * 97 + k * 31) & 0xff)));
      await new Promise((r) => setTimeout(r, 5));
      c.destroy();
    }
    for (let i = 0; i < 200; i++) await ms.put({ topic: 'T', body: body(i) });
    await until('catch-up', () => ss.stats().appendOffset === ms.stats().appendOffset);
  });

  it('ha - a master sending a frame at a wrong offset gets its link dropped; the slave keeps only the whole records before it', async () => {
    const src = await store('src');
    for (let i = 0; i < 50; i++) await src.put({ topic: 'T', body: body(i) });
    const good = (await src.readCommitLog(0, 4000))!;
    const server = net.createServer((sock) => {
      sock.once('data', () => {
        // A correct first frame with half a record, then one at a wrong offset, then damaged bytes.
        sock.write(Buffer.concat([encodeFrameHeader(0, 300), good.subarray(0, 300)]));
        sock.write(Buffer.concat([encodeFrameHeader(1000, 10), Buffer.alloc(10, 7)]));
      });
      sock.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    closers.push(() => new Promise((r) => server.close(() => r())));
    const ss = await store('s');
    const sl = slave(ss, `127.0.0.1:${(server.address() as net.AddressInfo).port}`);
    await until('reconnects', () => sl.stats().connects >= 3);
    await sl.close();
    expect(ss.stats().appendOffset).to.equal(good.readInt32BE(0));
    await ss.close();
    expect((await audit(path.join(t.dir, 's'))).ok).to.equal(true);
  });

  it('ha - a link cut mid-frame, again and again, still leaves the slave byte-identical and whole', async () => {
    const ms = await store('m');
    const ps = [];
    for (let i = 0; i < 1500; i++) ps.push(ms.put({ topic: `T${i % 2}`, body: body(i) }));
    await Promise.all(ps);
    const m = await master(ms, { emptySlaveFrom: 'first-segment' });
    // A proxy that cuts every connection after an odd number of bytes from the master.
    let cut = 5000;
    const proxy = net.createServer((client) => {
      const up = net.connect({ host: '127.0.0.1', port: Number(m.address().split(':')[1]) });
      let passed = 0;
      const limit = (cut = (cut * 7 + 3331) % 90_000 + 777);
      up.on('data', (b) => {
        if (passed + b.length > limit) { client.write(b.subarray(0, limit - passed)); client.destroy(); up.destroy(); return; }
        passed += b.length;
        client.write(b);
      });
      client.on('data', (b) => up.write(b));
      client.on('error', () => up.destroy());
      up.on('error', () => client.destroy());
      client.on('close', () => up.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
    closers.push(() => new Promise((r) => proxy.close(() => r())));
    const ss = await store('s');
    const sl = slave(ss, `127.0.0.1:${(proxy.address() as net.AddressInfo).port}`, { reconnectMinMs: 5, reconnectMaxMs: 20 });
    await until('catch-up', () => ss.stats().appendOffset === ms.stats().appendOffset, 20_000);
    expect(sl.stats().connects).to.be.greaterThan(3);
    for (const c of closers.splice(0).reverse()) await c();
    expect(logBytes(path.join(t.dir, 's')).equals(logBytes(path.join(t.dir, 'm')))).to.equal(true);
    expect((await audit(path.join(t.dir, 's'))).ok).to.equal(true);
  });

  it('ha - an idle link is closed on both sides after idleTimeoutMs; the slave reconnects', async () => {
    // A master that accepts and never sends: the slave gives up on it and connects again.
    let accepted = 0;
    const socks: net.Socket[] = [];
    const mute = net.createServer((sock) => { accepted++; socks.push(sock); sock.on('error', () => undefined); });
    await new Promise<void>((r) => mute.listen(0, '127.0.0.1', () => r()));
    closers.push(() => new Promise((r) => { mute.close(() => r()); for (const x of socks) x.destroy(); }));
    const ss = await store('s');
    slave(ss, `127.0.0.1:${(mute.address() as net.AddressInfo).port}`, { idleTimeoutMs: 150, reportIntervalMs: 50 });
    await until('reconnect after idle close', () => accepted >= 2, 5000);
    // A peer that connects to a master and says nothing is dropped.
    const ms = await store('m');
    const m = await master(ms, { idleTimeoutMs: 150, heartbeatIntervalMs: 50 });
    const c = net.connect({ host: '127.0.0.1', port: Number(m.address().split(':')[1]) });
    c.on('error', () => undefined);
    const closed = new Promise((r) => c.once('close', r));
    await closed;
  });
});
