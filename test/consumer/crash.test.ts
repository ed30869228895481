import { expect } from 'chai';
import { spawn, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { MessageStore } from '../../lib/store/message-store';
import { EmbeddedBroker } from '../../lib/consumer/embedded-broker';
import { tmpDir } from '../support/tmp';
import { until } from './support';
import { Producer } from '../../lib/client/producer';

const CHILD = path.join(__dirname, 'crash-child.js');
const TOTAL = 2000;
const QUEUES = 4;

interface Child { proc: ChildProcess; lines: string[]; exited: Promise<void>; stderr: string[] }

function startChild(dir: string): Child {
  const proc = spawn(process.execPath, [CHILD, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  const c: Child = { proc, lines: [], stderr: [], exited: new Promise((r) => proc.once('exit', () => r())) };
  let rest = '';
  proc.stdout!.on('data', (b: Buffer) => {
    const parts = (rest + b.toString()).split('\n');
    rest = parts.pop()!;
    c.lines.push(...parts);
  });
  proc.stderr!.on('data', (b: Buffer) => c.stderr.push(b.toString()));
  return c;
}

function consumed(c: Child): { q: number; offset: number }[] {
  return c.lines.filter((l) => l !== 'ready').map((l) => {
    const [q, offset] = l.split(' ');
    return { q: Number(q), offset: Number(offset) };
  });
}

describe('consumer - crash', function () {
  this.timeout(60_000);
  let tmp: ReturnType<typeof tmpDir>;
  const children: Child[] = [];
  beforeEach(() => { tmp = tmpDir('keelmq-crash-'); });
  afterEach(async () => {
    for (const c of children.splice(0)) {
      if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
      await c.exited;
    }
    tmp.cleanup();
  });

  it('a consumer killed with SIGKILL mid-batch and restarted consumes everything at least once, skips nothing, re-delivers only what was not committed', async () => {
    const store = await MessageStore.open(tmp.dir, { commitLogSegmentSize: 1 << 20, maxBodySize: 64 * 1024 });
    const broker = await EmbeddedBroker.open(store);
    await broker.createTopic('Work', QUEUES);
    const p = new Producer(broker);
    const max = new Array<number>(QUEUES).fill(0);
    for (let i = 0; i < TOTAL; i++) {
      const r = await p.send({ topic: 'Work', body: `m${i}` });
      max[r.messageQueue.queueId] = r.queueOffset + 1;
    }
    await broker.close();
    await store.close();

    const first = startChild(tmp.dir);
    children.push(first);
    await until(() => first.lines.length > TOTAL / 3, `first child to consume a third (stderr: ${first.stderr.join('')})`, 30_000);
    first.proc.kill('SIGKILL');
    await first.exited;
    expect(first.proc.signalCode).to.equal('SIGKILL');
    const one = consumed(first);
    expect(one.length).to.be.lessThan(TOTAL);

    const saved = JSON.parse(fs.readFileSync(path.join(tmp.dir, 'config', 'consumerOffset.json'), 'utf8')).offsetTable['Work@crash'] as Record<string, number>;
    const second = startChild(tmp.dir);
    children.push(second);
    const all = () => new Set([...one, ...consumed(second)].map((m) => `${m.q}:${m.offset}`));
    await until(() => all().size === TOTAL, `everything consumed after the restart (stderr: ${second.stderr.join('')})`, 30_000);
    second.proc.kill('SIGKILL');
    await second.exited;
    const two = consumed(second);

    let duplicates = 0;
    for (let q = 0; q < QUEUES; q++) {
      const committed = saved[String(q)]!;
      const oneQ = new Set(one.filter((m) => m.q === q).map((m) => m.offset));
      const twoQ = two.filter((m) => m.q === q).map((m) => m.offset);
      // The committed offset never passed a message the first process had not finished...
      for (let off = 0; off < committed; off++) expect(oneQ.has(off), `queue ${q} offset ${off} below the committed ${committed}`).to.equal(true);
      // ...the restart resumes exactly there...
      expect(Math.min(...twoQ), `queue ${q} resumes at its committed offset`).to.equal(committed);
      // ...and reads the rest of the queue.
      expect(new Set(twoQ).size).to.equal(max[q]! - committed);
      // Duplicates are only messages at or above the committed offset that the first process had finished.
      const dupQ = twoQ.filter((off) => oneQ.has(off));
      for (const off of dupQ) expect(off).to.be.at.least(committed);
      duplicates += dupQ.length;
    }
    expect(duplicates).to.be.lessThan(one.length);
  });
});
