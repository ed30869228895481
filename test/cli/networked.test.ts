import { expect } from 'chai';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import * as zlib from 'zlib';
import { Producer } from '../../lib/client/producer';
import { RemotingTransport } from '../../lib/client/remoting-transport';
import { parseSubscription } from '../../lib/common/tag-filter';
import { silentLogger } from '../../lib/remoting/logger';
import { RemotingClient } from '../../lib/remoting/remoting-client';
import { RemotingCommand } from '../../lib/remoting/remoting-command';
import { RequestCode } from '../../lib/remoting/request-code';
import { KEELMQ_MAIN as MAIN, startDev, startServer, stopped, type Dev, type Server } from '../support/keelmq-process';
import { tmpDir } from '../support/tmp';

interface Run { status: number | null; stdout: string; stderr: string }

/** Runs the built `keelmq` command to its end (async: the event loop keeps serving while it runs). */
function keelmq(cwd: string, ...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
  });
}

/** How long after its send a message of `delayLevel` was delivered, through the name server `namesrv` (topic created first). */
async function deliveredAfter(cwd: string, namesrv: string, topic: string, delayLevel: number): Promise<number> {
  const created = await keelmq(cwd, 'topic', 'create', topic, '--queues', '1', '-n', namesrv);
  expect(created.status, created.stderr).to.equal(0);
  const transport = new RemotingTransport({ namesrvAddr: [namesrv] });
  try {
    const producer = new Producer(transport);
    await producer.send({ topic, body: 'later', delayLevel });
    const [mq] = (await transport.route(topic)).readQueues;
    const end = Date.now() + 10_000;
    for (;;) {
      const r = await transport.pull({ group: 'reader', mq: mq!, offset: 0, maxMessages: 1, subscription: parseSubscription('*'), suspendMs: 0 });
      const m = r.messages[0];
      if (m) return m.storeTimestamp - m.bornTimestamp;
      if (Date.now() > end) throw new Error(`no delayed message in ${topic} after 10 s`);
      await new Promise((res) => setTimeout(res, 20));
    }
  } finally {
    await transport.close();
  }
}

describe('keelmq (networked CLI)', function () {
  this.timeout(60_000);
  let t: ReturnType<typeof tmpDir>;
  let dev: Dev;
  let dataDir: string;

  before(async () => {
    t = tmpDir('keelmq-cli-');
    dataDir = path.join(t.dir, 'data');
    dev = await startDev(t.dir, dataDir);
  });

  after(() => {
    stopped(dev);
    t.cleanup();
  });

  it('cli - dev prints where it listens: 127.0.0.1 and the OS-chosen ports', () => {
    expect(dev.namesrv).to.match(/^127\.0\.0\.1:\d+$/);
    expect(dev.broker).to.match(/^127\.0\.0\.1:\d+$/);
    expect(dev.output()).to.include(`name server listening on ${dev.namesrv}`);
    expect(dev.output()).to.include(path.resolve(dataDir));
  });

  it('cli - message finds a message by id and by key (exit 1 when none), cluster list shows the broker, topic delete removes a topic', async () => {
    const n = ['-n', dev.namesrv];
    expect((await keelmq(t.dir, 'topic', 'create', 'CliQuery', '--queues', '2', ...n)).status).to.equal(0);
    const sent = await keelmq(t.dir, 'send', 'CliQuery', 'needle', '--keys', 'order-9', ...n);
    expect(sent.status, sent.stderr).to.equal(0);
    const id = /msgId=(\S+)/.exec(sent.stdout)![1]!;

    const byId = await keelmq(t.dir, 'message', 'CliQuery', id, '--json', ...n);
    expect(byId.status, byId.stderr).to.equal(0);
    const m = JSON.parse(byId.stdout) as { body: string; keys: string[]; msgId: string };
    expect(m).to.include({ body: 'needle', msgId: id });
    expect(m.keys).to.deep.equal(['order-9']);
    // The broker's key index is written by its dispatcher, a moment after the send is answered.
    let byKey = await keelmq(t.dir, 'message', 'CliQuery', '--key', 'order-9', ...n);
    for (let i = 0; i < 50 && byKey.status !== 0; i++) byKey = await keelmq(t.dir, 'message', 'CliQuery', '--key', 'order-9', ...n);
    expect(byKey.status, byKey.stderr).to.equal(0);
    expect(byKey.stdout).to.match(new RegExp(`^\\S+:\\d+@0 msgId=${id} keys=order-9 .*\\| needle$`, 'm'));
    const none = await keelmq(t.dir, 'message', 'CliQuery', '--key', 'order-0', ...n);
    expect(none.status).to.equal(1);
    expect(none.stderr).to.equal('keelmq: NOT_FOUND: no message of topic CliQuery with key order-0\n');
    expect((await keelmq(t.dir, 'message', 'CliQuery', ...n)).status).to.equal(2);

    const cluster = await keelmq(t.dir, 'cluster', 'list', ...n);
    expect(cluster.status, cluster.stderr).to.equal(0);
    expect(cluster.stdout).to.match(new RegExp(`^DefaultCluster +broker-a +0 +${dev.broker.replace(/\./g, '\\.')} `, 'm'));

    const deleted = await keelmq(t.dir, 'topic', 'delete', 'CliQuery', ...n);
    expect(deleted.status, deleted.stderr).to.equal(0);
    expect((await keelmq(t.dir, 'topic', 'list', ...n)).stdout.split('\n')).to.not.include('CliQuery');
  });

  it('cli - topic create, send 10, consume them back by tag with a group, offsets shows the group at the end', async () => {
    const n = ['-n', dev.namesrv];
    const created = await keelmq(t.dir, 'topic', 'create', 'CliTopic', '--queues', '4', ...n);
    expect(created.status, created.stderr).to.equal(0);
    expect(created.stdout).to.match(/^created topic CliTopic with 4 queues on broker-a \(127\.0\.0\.1:\d+\)$/m);
    const route = JSON.parse((await keelmq(t.dir, 'topic', 'route', 'CliTopic', ...n)).stdout) as { queueDatas: { writeQueueNums: number }[] };
    expect(route.queueDatas.map((q) => q.writeQueueNums)).to.deep.equal([4]);

    // Messages of another tag first, so that the consumer has something to filter out.
    const other = await keelmq(t.dir, 'send', 'CliTopic', 'other {i}', '--tags', 'TagB', '--count', '3', ...n);
    expect(other.status, other.stderr).to.equal(0);
    const sent = await keelmq(t.dir, 'send', 'CliTopic', 'hello {i}', '--tags', 'TagA', '--keys', 'k1 k2', '--count', '10', ...n);
    expect(sent.status, sent.stderr).to.equal(0);
    const lines = sent.stdout.trim().split('\n');
    expect(lines).to.have.length(10);
    for (const l of lines) expect(l).to.match(/^SEND_OK msgId=[0-9A-F]{32} queue=broker-a:[0-3] offset=\d+$/);

    const consumed = await keelmq(t.dir, 'consume', 'CliTopic', '--group', 'CliGroup', '--tags', 'TagA', '--count', '10', '--json', ...n);
    expect(consumed.status, consumed.stderr).to.equal(0);
    const msgs = consumed.stdout.trim().split('\n').map((l) => JSON.parse(l) as { body: string; tags: string; keys: string[]; msgId: string });
    expect(msgs.map((m) => m.body).sort()).to.deep.equal(Array.from({ length: 10 }, (_, i) => `hello ${i + 1}`).sort());
    expect(new Set(msgs.map((m) => m.tags))).to.deep.equal(new Set(['TagA']));
    expect(msgs[0]!.keys).to.deep.equal(['k1', 'k2']);
    expect(new Set(msgs.map((m) => m.msgId))).to.deep.equal(new Set(lines.map((l) => /msgId=(\S+)/.exec(l)![1])));

    // The group's progress was committed: every queue consumed to its end (TagB skipped).
    const offsets = await keelmq(t.dir, 'offsets', 'CliGroup', ...n);
    expect(offsets.status, offsets.stderr).to.equal(0);
    const rows = offsets.stdout.trim().split('\n').filter((l) => l.startsWith('CliTopic'));
    expect(rows).to.have.length(4);
    const total = rows.reduce((s, r) => {
      const [, , , brokerOffset, consumerOffset, lag] = r.split(/\s+/);
      expect(consumerOffset, r).to.equal(brokerOffset);
      expect(lag, r).to.equal('0');
      return s + Number(consumerOffset);
    }, 0);
    expect(total).to.equal(13);
    expect(offsets.stdout).to.match(/^total lag 0$/m);

    // So the group has nothing left, while --from-beginning reads everything again.
    const again = await keelmq(t.dir, 'consume', 'CliTopic', '--group', 'CliGroup', ...n);
    expect(again.status, again.stderr).to.equal(0);
    expect(again.stdout).to.equal('');
    const all = await keelmq(t.dir, 'consume', 'CliTopic', '--from-beginning', ...n);
    expect(all.stdout.trim().split('\n')).to.have.length(13);
    expect(all.stdout).to.match(/^broker-a:\d@\d+ msgId=[0-9A-F]{32} tags=TagB \| other 1$/m);

    // Reset to the start: the whole backlog is the group's lag again.
    const reset = await keelmq(t.dir, 'reset-offset', 'CliGroup', 'CliTopic', '--time', '1970-01-01T00:00:00Z', ...n);
    expect(reset.status, reset.stderr).to.equal(0);
    expect((await keelmq(t.dir, 'offsets', 'CliGroup', '--topic', 'CliTopic', ...n)).stdout).to.match(/^total lag 13$/m);

    const stats = await keelmq(t.dir, 'topic', 'stats', 'CliTopic', ...n);
    const queueStats = stats.stdout.trim().split('\n').slice(1).map((l) => l.split(/\s+/));
    expect(queueStats.map((r) => r.slice(0, 3).join(' '))).to.deep.equal(['broker-a 0 0', 'broker-a 1 0', 'broker-a 2 0', 'broker-a 3 0']);
    expect(queueStats.reduce((s, r) => s + Number(r[3]), 0)).to.equal(13);
    expect((await keelmq(t.dir, 'topic', 'list', ...n)).stdout.split('\n')).to.include('CliTopic');
    expect((await keelmq(t.dir, 'dlq', 'CliGroup', ...n)).stdout).to.equal('no dead letters for group CliGroup\n');
  });

  it('cli - a failure is one line on stderr and exit 1: no name server, a topic no broker has', async () => {
    const down = await keelmq(t.dir, 'topic', 'list', '-n', '127.0.0.1:1');
    expect(down.status).to.equal(1);
    expect(down.stderr).to.match(/^keelmq: REMOTING_CONNECT_FAILED: cannot connect to 127\.0\.0\.1:1/);
    expect(down.stderr.trim().split('\n')).to.have.length(1);
    const missing = await keelmq(t.dir, 'topic', 'stats', 'NoSuchTopic', '-n', dev.namesrv);
    expect(missing.status).to.equal(1);
    expect(missing.stderr).to.equal('keelmq: TOPIC_NOT_FOUND: topic NoSuchTopic does not exist on any broker\n');
  });

  it('cli - a port in use is a clear error with exit 1, and nothing is left listening', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = String((blocker.address() as net.AddressInfo).port);
    try {
      const ns = await keelmq(t.dir, 'namesrv', '--port', port);
      expect(ns.status).to.equal(1);
      expect(ns.stderr).to.match(/^keelmq: REMOTING_LISTEN_FAILED: .*address already in use.* \(choose another port with --port, or 0 for any free one\)\n$/);
      const d = await keelmq(t.dir, 'dev', '--namesrv-port', '0', '--port', port, '--dir', path.join(t.dir, 'other'));
      expect(d.status).to.equal(1);
      expect(d.stderr).to.match(/REMOTING_LISTEN_FAILED: cannot listen on 127\.0\.0\.1:\d+: .*address already in use.* with --port,/);
      const d2 = await keelmq(t.dir, 'dev', '--namesrv-port', port, '--port', '0', '--dir', path.join(t.dir, 'other'));
      expect(d2.status).to.equal(1);
      expect(d2.stderr).to.match(/REMOTING_LISTEN_FAILED: .* with --namesrv-port,/);
      expect(fs.existsSync(path.join(t.dir, 'other'))).to.equal(false);
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });

  it('cli - usage errors exit 2 with the reason and the usage; --help exits 0', async () => {
    const cases: [string[], RegExp][] = [
      [['send', 'T'], /keelmq send: expected a topic and a message body/],
      [['send', 'T', 'b', '--count', 'x'], /--count must be a positive integer/],
      [['consume', 'T', '--bogus'], /--bogus/],
      [['consume', 'T', '--tags', 'a b'], /tag expression/],
      [['topic'], /topic needs a subcommand/],
      [['topic', 'frob'], /unknown command topic frob/],
      [['topic', 'create'], /keelmq topic create: expected a topic name/],
      [['reset-offset', 'G', 'T'], /--time is required/],
      [['reset-offset', 'G', 'T', '--time', 'yesterday'], /--time must be an ISO 8601 time/],
      [['dev', '--port', '70000'], /--port must be a port number/],
      [['dev', '--flush-mode', 'SOMETIMES'], /--flush-mode: expected SYNC_FLUSH or ASYNC_FLUSH/],
      [['broker'], /a data directory is needed/],
      [['offsets', '-n', 'nowhere', 'G'], /--name-server: expected host:port/],
    ];
    const runs = await Promise.all(cases.map(([args]) => keelmq(t.dir, ...args)));
    runs.forEach((r, i) => {
      const [args, why] = cases[i]!;
      expect(r.status, args.join(' ')).to.equal(2);
      expect(r.stderr, args.join(' ')).to.match(why);
      expect(r.stdout, args.join(' ')).to.equal('');
    });
    for (const args of [['send', '--help'], ['topic', 'create', '-h'], ['dev', '--help'], ['consume', '--help']]) {
      const r = await keelmq(t.dir, ...args);
      expect(r.status, args.join(' ')).to.equal(0);
      expect(r.stdout, args.join(' ')).to.match(new RegExp(`^usage: keelmq ${args.slice(0, -1).join(' ')} `));
    }
  });

  it('cli - consume --follow prints a message sent while it waits, and SIGINT commits the group\'s progress and exits 0', async () => {
    const n = ['-n', dev.namesrv];
    expect((await keelmq(t.dir, 'topic', 'create', 'FollowTopic', '--queues', '2', ...n)).status).to.equal(0);
    const child = spawn(process.execPath, [MAIN, 'consume', 'FollowTopic', '--follow', '--group', 'FollowGroup', ...n], { cwd: t.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '';
      child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
      child.stderr.on('data', (c: Buffer) => { out += c.toString(); });
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      const printed = async (what: string) => {
        for (let i = 0; i < 200 && !out.includes(what); i++) await new Promise((r) => setTimeout(r, 50));
        expect(out).to.include(what);
      };
      // Held pulls are waiting once the consumer has looked up its offsets; a send then wakes one.
      await new Promise((r) => setTimeout(r, 500));
      expect((await keelmq(t.dir, 'send', 'FollowTopic', 'while waiting', ...n)).status).to.equal(0);
      await printed('| while waiting');
      child.kill('SIGINT');
      expect(await exited).to.equal(0);
      expect(out.trim().split('\n')).to.have.length(1);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    const offsets = await keelmq(t.dir, 'offsets', 'FollowGroup', '--topic', 'FollowTopic', ...n);
    expect(offsets.stdout).to.match(/^total lag 0$/m);
    expect(offsets.stdout.split('\n').filter((l) => /^FollowTopic .* 1 +1 +0 /.test(l))).to.have.length(1);
  });

  it('cli - dlq prints the dead letters of a group with their reconsume count and original topic', async () => {
    const n = ['-n', dev.namesrv];
    expect((await keelmq(t.dir, 'dlq', 'DlqGroup', ...n)).stdout).to.equal('no dead letters for group DlqGroup\n');
    const sent = await keelmq(t.dir, 'send', 'DlqTopic', 'poison', '--tags', 'bad', ...n);
    const msgId = /msgId=([0-9A-F]{32})/.exec(sent.stdout)![1]!;
    // What a consumer past its last retry sends (reference §8): the message goes to %DLQ%DlqGroup.
    const client = new RemotingClient({ logger: silentLogger });
    try {
      const res = await client.invokeSync(dev.broker, RemotingCommand.request(RequestCode.CONSUMER_SEND_MSG_BACK, {
        offset: parseInt(msgId.slice(16), 16), group: 'DlqGroup', delayLevel: 0, originMsgId: msgId, originTopic: 'DlqTopic', maxReconsumeTimes: 0,
      }), 5000);
      expect(res.code, res.remark).to.equal(0);
    } finally {
      await client.close();
    }
    const dlq = await keelmq(t.dir, 'dlq', 'DlqGroup', '--json', ...n);
    expect(dlq.status, dlq.stderr).to.equal(0);
    const letters = dlq.stdout.trim().split('\n').map((l) => JSON.parse(l) as { topic: string; body: string; tags: string; properties: Record<string, string> });
    expect(letters).to.have.length(1);
    expect(letters[0]!).to.include({ topic: '%DLQ%DlqGroup', body: 'poison', tags: 'bad' });
    expect(letters[0]!.properties['RETRY_TOPIC']).to.equal('DlqTopic');
    expect((await keelmq(t.dir, 'dlq', 'DlqGroup', ...n)).stdout).to.match(/^broker-a:0@0 msgId=[0-9A-F]{32} tags=bad reconsumeTimes=\d+ properties=\{.*\} \| poison\n$/);
  });

  it('cli - consume inflates a body a Java producer sent compressed (sysFlag 0x301, zlib), as Java consumers do', async () => {
    const n = ['-n', dev.namesrv];
    const text = 'a body of 4 KiB or more, which a Java 4.9.7 producer compresses with zlib. '.repeat(80);
    const client = new RemotingClient({ logger: silentLogger });
    try {
      const res = await client.invokeSync(dev.broker, RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, {
        a: 'PG', b: 'ZipTopic', c: 'TBW102', d: 4, e: 0, f: 0x301, g: Date.now(), h: 0, i: 'TAGS\u0001zip', j: 0, k: false,
      }, zlib.deflateSync(Buffer.from(text))), 5000);
      expect(res.code, res.remark).to.equal(0);
    } finally {
      await client.close();
    }
    const consumed = await keelmq(t.dir, 'consume', 'ZipTopic', '--json', ...n);
    expect(consumed.status, consumed.stderr).to.equal(0);
    const [m] = consumed.stdout.trim().split('\n').map((l) => JSON.parse(l) as { body: string; tags: string });
    expect(m!.tags).to.equal('zip');
    expect(m!.body).to.equal(text);
  });

  // Last: it stops the shared dev process.
  it('cli - SIGTERM closes dev cleanly: exit 0, no abort marker left in the data directory', async () => {
    expect(fs.existsSync(path.join(dataDir, 'abort'))).to.equal(true);
    dev.child.kill('SIGTERM');
    expect(await dev.exited).to.equal(0);
    expect(fs.existsSync(path.join(dataDir, 'commitlog'))).to.equal(true);
    expect(fs.existsSync(path.join(dataDir, 'abort'))).to.equal(false);
    expect(dev.output()).to.match(/SIGTERM: closing\nclosed cleanly\n$/);
  });
});

describe('keelmq namesrv + broker --config', function () {
  this.timeout(60_000);
  let t: ReturnType<typeof tmpDir>;
  let ns: Server | undefined;
  let broker: Server | undefined;
  beforeEach(() => { t = tmpDir('keelmq-cli-'); });
  afterEach(() => {
    stopped(broker);
    stopped(ns);
    t.cleanup();
  });

  it('cli - a broker from a RocketMQ broker.conf, flags overriding it, registers with a separate name server under the file\'s names', async () => {
    ns = await startServer(t.dir, ['namesrv', '--port', '0']);
    const nsAddr = /^namesrv=(\S+)$/.exec(ns.ready[1]!)![1]!;
    const store = path.join(t.dir, 'store-x');
    fs.writeFileSync(path.join(t.dir, 'broker.conf'), [
      '# a RocketMQ broker.conf',
      'brokerClusterName = ClusterX',
      'brokerName=broker-x',
      'brokerId=0',
      'deleteWhen=04',
      'brokerRole=ASYNC_MASTER',
      'flushDiskType=SYNC_FLUSH',
      'listenPort=10911',
      `namesrvAddr=${nsAddr}`,
      `storePathRootDir=${store}`,
      'sendMessageThreadPoolNums=4',
      '',
    ].join('\n'));
    broker = await startServer(t.dir, ['broker', '-c', 'broker.conf', '--port', '0']);
    expect(broker.output()).to.match(/^keelmq broker broker-x \(cluster ClusterX, SYNC flush\) listening on 127\.0\.0\.1:\d+, data /m);
    expect(broker.output()).to.include(`broker.conf:11: ignoring sendMessageThreadPoolNums, which keelmq does not use`);
    expect(broker.output()).to.not.include('deleteWhen');
    const brokerAddr = /^broker=(\S+)$/.exec(broker.ready[1]!)![1]!;
    expect(brokerAddr).to.not.equal('127.0.0.1:10911');

    const created = await keelmq(t.dir, 'topic', 'create', 'ConfTopic', '--queues', '2', '--cluster', 'ClusterX', '-n', nsAddr);
    expect(created.status, created.stderr).to.equal(0);
    expect(created.stdout).to.equal(`created topic ConfTopic with 2 queues on broker-x (${brokerAddr})\n`);
    const sent = await keelmq(t.dir, 'send', 'ConfTopic', 'x', '-n', nsAddr);
    expect(sent.stdout).to.match(/^SEND_OK .* queue=broker-x:[01] offset=0$/m);
    expect(fs.existsSync(path.join(store, 'commitlog'))).to.equal(true);

    broker.child.kill('SIGTERM');
    ns.child.kill('SIGINT');
    expect(await broker.exited).to.equal(0);
    expect(await ns.exited).to.equal(0);
    expect(fs.existsSync(path.join(store, 'abort'))).to.equal(false);
  });

  it('cli - a close that fails still ends dev, with the reason and exit 1 (regression: the name server kept it running)', async () => {
    const data = path.join(t.dir, 'doomed');
    broker = await startServer(t.dir, ['dev', '--port', '0', '--namesrv-port', '0', '--dir', data]);
    fs.rmSync(data, { recursive: true, force: true });
    broker.child.kill('SIGTERM');
    const code = await Promise.race([broker.exited, new Promise((r) => setTimeout(() => r('still running after 10 s'), 10_000))]);
    expect(code).to.equal(1);
    expect(broker.output()).to.match(/^keelmq: close failed: .*abort/m);
  });

  it('cli - a SIGTERM sent the moment `ready` is read closes cleanly (regression: the line came before the handler, a stalled child died by the signal)', async () => {
    // Stalls the child for 300 ms right after it writes its ready line, as a scheduler may under
    // load: the parent reads the line and signals within that window.
    const stall = path.join(t.dir, 'stall-after-ready.js');
    fs.writeFileSync(stall, `const w = process.stdout.write.bind(process.stdout);
process.stdout.write = (chunk, ...rest) => {
  const r = w(chunk, ...rest);
  if (String(chunk).startsWith('ready ')) { const until = Date.now() + 300; while (Date.now() < until); }
  return r;
};
`);
    ns = await startServer(t.dir, ['namesrv', '--port', '0'], ['--require', stall]);
    ns.child.kill('SIGTERM');
    expect(await ns.exited).to.equal(0);
    expect(ns.output()).to.match(/SIGTERM: closing\nclosed cleanly\n$/);
  });

  it('cli - delay levels from broker.conf (messageDelayLevel) and from --delay-levels on dev; a bad value names the key (exit 1) or the flag (exit 2)', async () => {
    fs.writeFileSync(path.join(t.dir, 'bad.conf'), 'storePathRootDir=bad\nmessageDelayLevel=1s 5x\n');
    const bad = await keelmq(t.dir, 'broker', '-c', 'bad.conf', '--port', '0');
    expect(bad.status).to.equal(1);
    expect(bad.stderr).to.equal('keelmq: OPTION_INVALID: bad.conf:2: messageDelayLevel: delay level "5x" must be a number and a unit (ms, s, m, h, d)\n');
    const badFlag = await keelmq(t.dir, 'dev', '--delay-levels', 'soon', '--port', '0', '--namesrv-port', '0', '--dir', 'bad');
    expect(badFlag.status).to.equal(2);
    expect(badFlag.stderr).to.match(/^keelmq dev: --delay-levels: delay level "soon" must be a number and a unit/);
    expect(fs.existsSync(path.join(t.dir, 'bad'))).to.equal(false);

    // Level 1 is 1 s by default: delivered well before, the configured level was used.
    ns = await startServer(t.dir, ['namesrv', '--port', '0']);
    const nsAddr = /^namesrv=(\S+)$/.exec(ns.ready[1]!)![1]!;
    fs.writeFileSync(path.join(t.dir, 'broker.conf'), `storePathRootDir=store\nnamesrvAddr=${nsAddr}\nmessageDelayLevel=150ms 1h\n`);
    broker = await startServer(t.dir, ['broker', '-c', 'broker.conf', '--port', '0']);
    expect(await deliveredAfter(t.dir, nsAddr, 'FromFile', 1)).to.be.within(140, 900);
    broker.child.kill('SIGTERM');
    expect(await broker.exited).to.equal(0);
    ns.child.kill('SIGTERM');
    expect(await ns.exited).to.equal(0);

    const dev = await startDev(t.dir, path.join(t.dir, 'dev'), ['--delay-levels', '10s 150ms']);
    try {
      expect(await deliveredAfter(t.dir, dev.namesrv, 'FromFlag', 2)).to.be.within(140, 900);
      dev.child.kill('SIGTERM');
      expect(await dev.exited).to.equal(0);
    } finally {
      stopped(dev);
    }
  });

  it('cli - JSON config; a bad value names the file and key (exit 1), a slave without its master\'s address is refused', async () => {
    const json = path.join(t.dir, 'broker.json');
    fs.writeFileSync(json, JSON.stringify({ brokerName: 'broker-j', storePathRootDir: path.join(t.dir, 'j'), flushDiskType: 'SOMETIMES' }));
    const bad = await keelmq(t.dir, 'broker', '--config', json, '--port', '0');
    expect(bad.status).to.equal(1);
    expect(bad.stderr).to.equal(`keelmq: OPTION_INVALID: ${json}: flushDiskType: expected SYNC_FLUSH or ASYNC_FLUSH, got "SOMETIMES"\n`);
    fs.writeFileSync(path.join(t.dir, 'slave.conf'), 'brokerRole=SLAVE\nstorePathRootDir=s\n');
    const slave = await keelmq(t.dir, 'broker', '-c', 'slave.conf', '--port', '0');
    expect(slave.status).to.equal(1);
    expect(slave.stderr).to.match(/OPTION_INVALID: a SLAVE needs haMasterAddress/);
    expect(fs.existsSync(path.join(t.dir, 'j'))).to.equal(false);
    expect(fs.existsSync(path.join(t.dir, 's'))).to.equal(false);
    // The JSON file's directory and name, with the flag overriding its flush mode.
    fs.writeFileSync(json, JSON.stringify({ brokerName: 'broker-j', storePathRootDir: path.join(t.dir, 'j'), flushDiskType: 'SYNC_FLUSH', autoCreateTopicEnable: false }));
    broker = await startServer(t.dir, ['broker', '--config', json, '--port', '0', '--flush-mode', 'ASYNC', '-n', '127.0.0.1:1']);
    expect(broker.output()).to.match(/^keelmq broker broker-j \(cluster DefaultCluster, ASYNC flush\) listening on 127\.0\.0\.1:\d+, data /m);
    expect(broker.output()).to.include('registering with name servers 127.0.0.1:1');
    broker.child.kill('SIGTERM');
    expect(await broker.exited).to.equal(0);
  });
});

describe('keelmq broker --role, promote, truncate, ha', function () {
  this.timeout(60_000);
  let t: ReturnType<typeof tmpDir>;
  const servers: Server[] = [];
  beforeEach(() => { t = tmpDir('keelmq-cli-ha-'); });
  afterEach(() => {
    for (const s of servers.splice(0)) stopped(s);
    t.cleanup();
  });

  it('cli - a master and its slave from flags; broker ha shows the link; truncate refuses a master; the master killed, promote makes the caught-up slave the master', async () => {
    const master = await startServer(t.dir, ['broker', '--dir', 'm', '--port', '0', '--ha-port', '0', '--role', 'SYNC_MASTER', '-n', '127.0.0.1:1']);
    servers.push(master);
    const haAddr = /slaves connect to (\S+)/.exec(master.output())![1]!;
    const mAddr = /^broker=(\S+)$/.exec(master.ready[1]!)![1]!;
    const slave = await startServer(t.dir, ['broker', '--dir', 's', '--port', '0', '--role', 'SLAVE', '--ha-master', haAddr, '-n', '127.0.0.1:1']);
    servers.push(slave);
    expect(slave.output()).to.match(new RegExp(`replication: SLAVE \\(brokerId 1\\) of ${haAddr.replace(/\./g, '\\.')}`));
    const sAddr = /^broker=(\S+)$/.exec(slave.ready[1]!)![1]!;
    let ha: Run;
    for (;;) {
      ha = await keelmq(t.dir, 'broker', 'ha', '-b', mAddr);
      if (/^haConnectionCount 1$/m.test(ha.stdout)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(ha.status).to.equal(0);
    expect(ha.stdout).to.match(/^brokerRole SYNC_MASTER$/m);
    expect(ha.stdout).to.match(/^haSlaveFallBehindBytes 0$/m);
    const noTruncate = await keelmq(t.dir, 'broker', 'truncate', '-b', mAddr);
    expect(noTruncate.status).to.equal(1);
    expect(noTruncate.stderr).to.match(/^keelmq: NOT_MASTER: only a slave is truncated/);
    master.child.kill('SIGKILL');
    await master.exited;
    // The slave had caught up: promoted without --force.
    const ok = await keelmq(t.dir, 'broker', 'promote', '-b', sAddr);
    expect(ok.status, ok.stderr).to.equal(0);
    expect(ok.stdout).to.match(/^promoted to ASYNC_MASTER at CommitLog offset 0$/m);
    expect((await keelmq(t.dir, 'broker', 'ha', '-b', sAddr)).stdout).to.match(/^brokerRole ASYNC_MASTER$/m);
  });
});
