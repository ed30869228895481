import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { VirtualClock } from '../../lib/common/clock';
import type { MessageExt } from '../../lib/common/message';
import { parseDelayLevels, DEFAULT_DELAY_LEVELS } from '../../lib/consumer/schedule-service';
import { isKeelError } from '../../lib/common/errors';
import { tmpDir } from '../support/tmp';
import { openBroker, sleep, until, type Opened } from './support';
import { Producer } from '../../lib/client/producer';
import { PushConsumer } from '../../lib/client/push-consumer';

const DELAYS = parseDelayLevels(DEFAULT_DELAY_LEVELS);
const T0 = 1_700_000_000_000;

describe('consumer - delay levels', function () {
  this.timeout(60_000);
  let tmp: ReturnType<typeof tmpDir>;
  let o: Opened | null = null;
  beforeEach(() => { tmp = tmpDir('keelmq-delay-'); });
  afterEach(async () => { await o?.close(); o = null; tmp.cleanup(); });

  async function consumeAll(opened: Opened, clock: VirtualClock, got: Map<number, { at: number; m: MessageExt }[]>): Promise<void> {
    const c = new PushConsumer(opened.broker, {
      group: 'delayed', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
      listener: (msgs) => {
        for (const m of msgs) {
          const level = Number(m.properties.level);
          got.set(level, [...(got.get(level) ?? []), { at: clock.now(), m }]);
        }
        return 'CONSUME_SUCCESS';
      },
    }).subscribe('Later');
    await c.start();
  }

  async function sendOnePerLevel(opened: Opened): Promise<void> {
    const p = new Producer(opened.broker);
    for (let level = 1; level <= 18; level++) {
      await p.send({ topic: 'Later', body: `level ${level}`, tags: 'D', properties: { level: String(level) }, delayLevel: level });
    }
  }

  it('a message of each of the 18 levels arrives exactly its level delay after it was sent, not earlier', async () => {
    const clock = new VirtualClock(T0);
    o = await openBroker(tmp.dir, clock);
    const got = new Map<number, { at: number; m: MessageExt }[]>();
    await consumeAll(o, clock, got);
    await sendOnePerLevel(o);
    for (let level = 1; level <= 18; level++) {
      const due = T0 + DELAYS[level - 1]!;
      await clock.advance(due - 1 - clock.now());
      await sleep(15);
      expect(got.has(level), `level ${level} before its delay`).to.equal(false);
      await clock.advance(1);
      await until(() => got.has(level), `level ${level}`);
      const [{ at, m }] = got.get(level)!;
      expect(at).to.equal(due);
      expect(m.storeTimestamp - m.bornTimestamp).to.equal(DELAYS[level - 1]);
      expect(m.topic).to.equal('Later');
      expect(m.tags).to.equal('D');
      expect(m.properties.DELAY).to.equal(undefined);
    }
    await clock.advance(3_600_000);
    await sleep(20);
    expect([...got.values()].every((l) => l.length === 1)).to.equal(true);
  });

  it('delivery progress survives a restart: nothing delivered twice, nothing lost, the rest on time', async () => {
    const clock = new VirtualClock(T0);
    o = await openBroker(tmp.dir, clock);
    const got = new Map<number, { at: number; m: MessageExt }[]>();
    await consumeAll(o, clock, got);
    await sendOnePerLevel(o);
    const mid = T0 + 5.5 * 60_000; // levels 1..9 (up to 5 m) are due, 10..18 are not
    await clock.advance(mid - T0);
    await until(() => got.size === 9, 'levels 1..9');
    await o.close();
    o = null;
    const saved = JSON.parse(fs.readFileSync(path.join(tmp.dir, 'config', 'delayOffset.json'), 'utf8'));
    for (let level = 1; level <= 18; level++) expect(saved.offsetTable[String(level)], `level ${level}`).to.equal(level <= 9 ? 1 : 0);

    const clock2 = new VirtualClock(mid);
    o = await openBroker(tmp.dir, clock2);
    await consumeAll(o, clock2, got);
    for (let level = 10; level <= 18; level++) {
      const due = T0 + DELAYS[level - 1]!;
      await clock2.advance(due - 1 - clock2.now());
      await sleep(10);
      expect(got.has(level), `level ${level} before its delay`).to.equal(false);
      await clock2.advance(1);
      await until(() => got.has(level), `level ${level} after restart`);
      expect(got.get(level)![0]!.at).to.equal(due);
    }
    await sleep(20);
    for (let level = 1; level <= 18; level++) expect(got.get(level), `level ${level}`).to.have.length(1);
    expect(o.store.getMaxOffsetInQueue('Later', 0) + o.store.getMaxOffsetInQueue('Later', 1)
      + o.store.getMaxOffsetInQueue('Later', 2) + o.store.getMaxOffsetInQueue('Later', 3)).to.equal(18);
  });

  it('a level outside 1..18 is refused and stores nothing', async () => {
    const clock = new VirtualClock(T0);
    o = await openBroker(tmp.dir, clock);
    const p = new Producer(o.broker);
    for (const delayLevel of [19, -1, 1.5]) {
      const e = await p.send({ topic: 'Later', body: 'x', delayLevel }).then(() => null, (err: unknown) => err);
      expect(isKeelError(e, 'DELAY_LEVEL_INVALID'), String(e)).to.equal(true);
    }
    expect(o.store.stats().appendOffset).to.equal(0);
  });

  it('levels are configurable', async () => {
    const clock = new VirtualClock(T0);
    o = await openBroker(tmp.dir, clock, { delayLevels: '250ms 2s' });
    const got = new Map<number, { at: number; m: MessageExt }[]>();
    await consumeAll(o, clock, got);
    await new Producer(o.broker).send({ topic: 'Later', body: 'x', properties: { level: '2' }, delayLevel: 2 });
    await clock.advance(1999);
    await sleep(15);
    expect(got.size).to.equal(0);
    await clock.advance(1);
    await until(() => got.size === 1, 'level 2 of 2');
    const e = await new Producer(o.broker).send({ topic: 'Later', body: 'x', delayLevel: 3 }).then(() => null, (err: unknown) => err);
    expect(isKeelError(e, 'DELAY_LEVEL_INVALID')).to.equal(true);
  });
});
