import { expect } from 'chai';
import { createUniqId, parseUniqId, UniqueIdGenerator } from '../../lib/client/unique-id';
import { ManualClock } from './support';

const IP = Buffer.from([10, 1, 2, 3]);

describe('unique id (lib/client/unique-id)', () => {
  it('uniq key - ip 4 · pid 2 · instance hash 4 · ms since the month began 4 · counter 2, upper-case hex', () => {
    const monthStart = new Date(2026, 11, 1).getTime();
    const clock = new ManualClock(monthStart + 123_456);
    const g = new UniqueIdGenerator({ ip: IP, pid: 0x12345, instanceHash: 0xdeadbeef, clock });
    const id = g.next();
    expect(id).to.equal('0A010203' + '2345' + 'DEADBEEF' + (123_456).toString(16).toUpperCase().padStart(8, '0') + '0000');
    clock.time += 1;
    expect(g.next().slice(20)).to.equal((123_457).toString(16).toUpperCase().padStart(8, '0') + '0001');
  });

  it('uniq key - the counter wraps at 16 bits; the time after day 24 (past 2^31 ms) keeps its 32 bits', () => {
    const monthStart = new Date(2026, 0, 1).getTime();
    const clock = new ManualClock(monthStart + 30 * 86_400_000);
    const g = new UniqueIdGenerator({ ip: IP, pid: 1, instanceHash: 1, clock });
    let id = '';
    for (let i = 0; i <= 0x10000; i++) id = g.next();
    expect(id.slice(28)).to.equal('0000');
    expect(parseInt(id.slice(20, 28), 16)).to.equal(30 * 86_400_000);
    expect(parseUniqId(id, clock.time + 1000).time).to.equal(clock.time);
  });

  it('uniq key - a new month starts the time again from 0', () => {
    const clock = new ManualClock(new Date(2026, 1, 28, 23, 59, 59, 999).getTime());
    const g = new UniqueIdGenerator({ ip: IP, pid: 1, instanceHash: 1, clock });
    expect(parseInt(g.next().slice(20, 28), 16)).to.equal(27 * 86_400_000 + 86_399_999);
    clock.time += 6;
    expect(parseInt(g.next().slice(20, 28), 16)).to.equal(5);
  });

  it('parse - ip, pid and the creation time come back; an id from late last month reads as last month', () => {
    const made = new Date(2026, 4, 31, 12, 0, 0).getTime();
    const g = new UniqueIdGenerator({ ip: Buffer.from([192, 168, 7, 200]), pid: 4242, instanceHash: 7, clock: new ManualClock(made) });
    const id = g.next();
    expect(parseUniqId(id, made + 5000)).to.deep.equal({ ip: '192.168.7.200', pid: 4242, time: made });
    // read on June 2nd: 30 days into "June" would be in the future, so it is May's
    expect(parseUniqId(id, new Date(2026, 5, 2).getTime()).time).to.equal(made);
    expect(() => parseUniqId('XYZ')).to.throw(/32/);
  });

  it('uniq key - IPv6 hosts make 56 hex digits that parse back', () => {
    const ip = Buffer.from('20010db8000000000000000000000001', 'hex');
    const now = new Date(2026, 3, 3).getTime();
    const id = new UniqueIdGenerator({ ip, pid: 9, instanceHash: 9, clock: new ManualClock(now) }).next();
    expect(id).to.have.length(56);
    expect(parseUniqId(id, now + 1)).to.deep.equal({ ip: '2001:0db8:0000:0000:0000:0000:0000:0001', pid: 9, time: now });
  });

  it('createUniqId - one process-wide counter, 32 hex digits with this process\'s pid', () => {
    const a = createUniqId();
    const b = createUniqId();
    expect(a).to.match(/^[0-9A-F]{32}$|^[0-9A-F]{56}$/);
    expect(parseInt(b.slice(-4), 16)).to.equal((parseInt(a.slice(-4), 16) + 1) & 0xffff);
    expect(parseUniqId(a).pid).to.equal(process.pid & 0xffff);
    // read a second later: an id read in the millisecond it was made would read as last month's, as in Java (`>=`)
    expect(Math.abs(parseUniqId(a, Date.now() + 1000).time - Date.now())).to.be.lessThan(60_000);
  });
});
