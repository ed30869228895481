import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { VirtualClock } from '../../lib/common/clock';
import { CORRUPT_STORE_ATTEMPTS, type ReadErrorEvent, PushConsumer } from '../../lib/client/push-consumer';
import { isKeelError } from '../../lib/common/errors';
import { tmpDir } from '../support/tmp';
import { openBroker, until, type Opened } from './support';
import { Producer } from '../../lib/client/producer';

const T0 = 1_700_000_000_000;
const PULL_RETRY_MS = 3000;

/** Flips one byte of the body of the record holding `body`, in the CommitLog file itself. */
function damageBody(dir: string, body: string): void {
  const seg = path.join(dir, 'commitlog', fs.readdirSync(path.join(dir, 'commitlog')).sort()[0]!);
  const buf = fs.readFileSync(seg);
  const at = buf.indexOf(body);
  expect(at, `${body} in ${seg}`).to.be.greaterThan(0);
  expect(buf.indexOf(body, at + 1), 'the body is unique').to.equal(-1);
  const fd = fs.openSync(seg, 'r+');
  fs.writeSync(fd, Buffer.from([buf[at]! ^ 0x20]), 0, 1, at);
  fs.closeSync(fd);
}

describe('consumer - a damaged record', function () {
  this.timeout(30_000);
  let tmp: ReturnType<typeof tmpDir>;
  let o: Opened | null = null;
  beforeEach(() => { tmp = tmpDir('keelmq-damaged-'); });
  afterEach(async () => { await o?.close(); o = null; tmp.cleanup(); });

  it('damaged - a record that fails CORRUPT_STORE is reported on every read, skipped after a bounded number of reads, and the queue goes on', async () => {
    const clock = new VirtualClock(T0);
    o = await openBroker(tmp.dir, clock);
    await o.broker.createTopic('Dmg', 1);
    const p = new Producer(o.broker);
    for (let i = 0; i < 10; i++) await p.send({ topic: 'Dmg', body: `body-${i}-of-ten` });
    await o.close();
    damageBody(tmp.dir, 'body-5-of-ten');

    o = await openBroker(tmp.dir, clock);
    const { store, broker } = o;
    const damaged = await store.getMessages('Dmg', 0, 5, 1).then(() => null, (e: unknown) => e);
    expect(isKeelError(damaged, 'CORRUPT_STORE'), `offset 5 is damaged on disk: ${String(damaged)}`).to.equal(true);

    const got: string[] = [];
    const events: ReadErrorEvent[] = [];
    const c = new PushConsumer(broker, {
      group: 'g', consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
      listener: (msgs) => { got.push(...msgs.map((m) => m.body.toString())); return 'CONSUME_SUCCESS'; },
      onReadError: (e) => { events.push(e); throw new Error('a failing handler does not stop the queue'); },
    }).subscribe('Dmg');
    await c.start();
    // Everything before the damaged record is consumed although it shares a read with it.
    await until(() => got.length === 5 && events.length === 1, 'the records before the damaged one, and the first report');
    for (let attempt = 2; attempt <= CORRUPT_STORE_ATTEMPTS; attempt++) {
      await clock.advance(PULL_RETRY_MS);
      await until(() => events.length === attempt, `read ${attempt} of the damaged record`);
    }
    await until(() => got.length === 9, 'the records after the damaged one');
    expect(got).to.deep.equal([0, 1, 2, 3, 4, 6, 7, 8, 9].map((i) => `body-${i}-of-ten`));
    expect(events.map((e) => [e.topic, e.queueId, e.queueOffset, e.attempt, e.skipped, isKeelError(e.error, 'CORRUPT_STORE')])).to.deep.equal(
      Array.from({ length: CORRUPT_STORE_ATTEMPTS }, (_, i) => ['Dmg', 0, 5, i + 1, i + 1 === CORRUPT_STORE_ATTEMPTS, true]),
    );
    const stats = c.stats();
    expect(stats.readErrors).to.equal(CORRUPT_STORE_ATTEMPTS);
    expect(stats.skipped.map((s) => [s.topic, s.queueId, s.queueOffset, s.at])).to.deep.equal([['Dmg', 0, 5, T0 + (CORRUPT_STORE_ATTEMPTS - 1) * PULL_RETRY_MS]]);
    expect(stats.skipped[0]!.reason).to.match(/damaged/);
    await until(() => broker.consumerOffset('g', 'Dmg', 0) === 10, 'the offset passing the skipped record');
  });
});
