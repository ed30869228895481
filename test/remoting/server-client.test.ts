import { expect } from 'chai';
import { KeelError } from '../../lib/common/errors';
import { RemotingClient } from '../../lib/remoting/remoting-client';
import { FLAG_ONEWAY, RemotingCommand, SerializeType } from '../../lib/remoting/remoting-command';
import { encodeFrame } from '../../lib/remoting/frame-codec';
import { RemotingChannel } from '../../lib/remoting/remoting-channel';
import { RemotingServer, RemotingServerOptions } from '../../lib/remoting/remoting-server';
import { ResponseCode } from '../../lib/remoting/response-code';
import { rejectKeelCode } from '../support/reject-code';
import { MemoryLogger, RawPeer, sleep, until } from './support';
import { goldenFrames } from './golden-frames';

const ECHO = 1000;
const SLOW = 1001;
const HOLD = 1002;
const BIG = 1003;
const FAIL = 1004;

describe('remoting - server and client', () => {
  let server: RemotingServer;
  let client: RemotingClient;
  let logger: MemoryLogger;
  let calls: RemotingCommand[];
  let held: (() => void)[];
  const peers: RawPeer[] = [];

  async function startServer(options: RemotingServerOptions = {}): Promise<void> {
    await server?.close();
    logger = new MemoryLogger();
    server = new RemotingServer({ logger, ...options });
    server.registerProcessor(ECHO, (req) => {
      calls.push(req);
      return RemotingCommand.response(ResponseCode.SUCCESS, undefined, { echo: req.field('v') }, req.body);
    });
    server.registerProcessor(SLOW, async (req) => {
      calls.push(req);
      await sleep(req.int('ms'));
      return RemotingCommand.response(ResponseCode.SUCCESS, undefined, { v: req.field('v') });
    });
    server.registerProcessor(HOLD, (req) => {
      calls.push(req);
      return new Promise<RemotingCommand>((resolve) => held.push(() => resolve(RemotingCommand.response(0))));
    });
    server.registerProcessor(BIG, (req) => {
      calls.push(req);
      return RemotingCommand.response(0, undefined, undefined, Buffer.alloc(1024 * 1024, 7));
    });
    server.registerProcessor(FAIL, () => { throw new Error('boom in processor'); });
    await server.start();
  }

  async function peer(): Promise<RawPeer> {
    const p = await RawPeer.connect(server.address());
    peers.push(p);
    return p;
  }

  beforeEach(async () => {
    calls = [];
    held = [];
    await startServer();
    client = new RemotingClient({ logger });
  });

  afterEach(async () => {
    for (const h of held.splice(0)) h();
    await Promise.all(peers.splice(0).map((p) => p.destroy()));
    await client.close();
    await server.close();
  });

  it('remoting - invokeSync matches concurrent responses to their requests by opaque, whatever their order', async () => {
    const results = await Promise.all([50, 30, 10, 0].map((ms, i) =>
      client.invokeSync(server.address(), RemotingCommand.request(SLOW, { ms, v: `r${i}` }), 2000)));
    expect(results.map((r) => r.field('v'))).to.deep.equal(['r0', 'r1', 'r2', 'r3']);
    expect(results.every((r) => r.isResponse && r.version === 407)).to.equal(true);
  });

  it('remoting - an unknown code is answered REQUEST_CODE_NOT_SUPPORTED (3) with Java\'s remark', async () => {
    const res = await client.invokeSync(server.address(), RemotingCommand.request(4242), 2000);
    expect(res.code).to.equal(3);
    expect(res.remark).to.equal(' request type 4242 not supported');
  });

  it('remoting - a processor that throws gives SYSTEM_ERROR with its message; the connection stays usable', async () => {
    const res = await client.invokeSync(server.address(), RemotingCommand.request(FAIL), 2000);
    expect(res.code).to.equal(ResponseCode.SYSTEM_ERROR);
    expect(res.remark).to.contain('boom in processor');
    const again = await client.invokeSync(server.address(), RemotingCommand.request(ECHO, { v: 'x' }), 2000);
    expect(again.field('echo')).to.equal('x');
  });

  it('remoting - a oneway frame is never answered: not on success, not for an unknown code, not on a processor error', async () => {
    const p = await peer();
    for (const code of [ECHO, 4242, FAIL]) {
      const req = RemotingCommand.request(code, { v: 'oneway' });
      req.flag = FLAG_ONEWAY;
      req.opaque = 100 + code;
      p.send(req);
    }
    const normal = RemotingCommand.request(ECHO, { v: 'normal' });
    normal.opaque = 7;
    p.send(normal);
    await p.waitFor(1);
    await sleep(50);
    expect(p.received.map((c) => c.opaque)).to.deep.equal([7]);
    expect(calls.map((c) => c.field('v'))).to.deep.equal(['oneway', 'normal']);
  });

  it('remoting - a response whose header cannot be framed (over 16 MiB) still answers, with SYSTEM_ERROR', async () => {
    server.registerProcessor(77, () => RemotingCommand.response(0, 'x'.repeat(17 * 1024 * 1024)));
    const res = await client.invokeSync(server.address(), RemotingCommand.request(77), 5000);
    expect(res.code).to.equal(ResponseCode.SYSTEM_ERROR);
    expect(res.remark).to.contain('does not fit the 24-bit length');
  });

  it('remoting - invokeOneway reaches the processor and gets no response', async () => {
    await client.invokeOneway(server.address(), RemotingCommand.request(ECHO, { v: 'ow' }), 1000);
    await until(() => calls.length === 1);
    expect(calls[0]!.isOneway).to.equal(true);
  });

  it('remoting - invokeSync times out with REMOTING_TIMEOUT; the late response is dropped', async () => {
    const t0 = Date.now();
    await rejectKeelCode(client.invokeSync(server.address(), RemotingCommand.request(SLOW, { ms: 400 }), 50), 'REMOTING_TIMEOUT');
    expect(Date.now() - t0).to.be.within(45, 390);
    await sleep(450);
    const res = await client.invokeSync(server.address(), RemotingCommand.request(ECHO, { v: 'after' }), 1000);
    expect(res.field('echo')).to.equal('after');
  });

  it('remoting - invokeAsync calls back, and past maxAsyncInFlight refuses at once with REMOTING_TOO_MANY_REQUESTS', async () => {
    const limited = new RemotingClient({ logger, maxAsyncInFlight: 1 });
    try {
      const results: (KeelError | RemotingCommand)[] = [];
      const done = new Promise<void>((resolve) => {
        const cb = (e: KeelError | null, r?: RemotingCommand) => { results.push(e ?? r!); if (results.length === 2) resolve(); };
        limited.invokeAsync(server.address(), RemotingCommand.request(SLOW, { ms: 30, v: 'a' }), 1000, cb);
        limited.invokeAsync(server.address(), RemotingCommand.request(SLOW, { ms: 0, v: 'b' }), 1000, cb);
      });
      await done;
      expect((results[0] as KeelError).code).to.equal('REMOTING_TOO_MANY_REQUESTS');
      expect((results[1] as RemotingCommand).field('v')).to.equal('a');
    } finally {
      await limited.close();
    }
  });

  it('remoting - a connection closed under a pending call rejects it with REMOTING_CONNECTION_CLOSED, and the next call reconnects', async () => {
    const pending = client.invokeSync(server.address(), RemotingCommand.request(HOLD), 5000);
    await until(() => calls.length === 1);
    for (const ch of server.channels()) ch.close();
    await rejectKeelCode(pending, 'REMOTING_CONNECTION_CLOSED');
    const res = await client.invokeSync(server.address(), RemotingCommand.request(ECHO, { v: 'again' }), 1000);
    expect(res.field('echo')).to.equal('again');
  });

  it('remoting - a second server on a port in use fails with REMOTING_LISTEN_FAILED', async () => {
    const second = new RemotingServer({ logger, port: server.port });
    const e = await rejectKeelCode(second.start(), 'REMOTING_LISTEN_FAILED');
    expect(e.message).to.contain('EADDRINUSE');
    await second.close();
  });

  it('remoting - connecting to a closed port fails with REMOTING_CONNECT_FAILED', async () => {
    const addr = server.address();
    await server.close();
    await rejectKeelCode(client.invokeSync(addr, RemotingCommand.request(ECHO), 1000), 'REMOTING_CONNECT_FAILED');
  });

  it('remoting - a malformed frame closes only that connection, with a log line; other connections go on', async () => {
    const good = await peer();
    const bad = await peer();
    bad.write(Buffer.from([0, 0, 0, 12, 0, 0, 0, 8, 0x7b, 0x7b, 0x7b, 0x7b, 0x7b, 0x7b, 0x7b, 0x7b]));
    await bad.closed;
    expect(logger.lines.some((l) => l.startsWith('warn') && l.includes('bad JSON'))).to.equal(true);
    const req = RemotingCommand.request(ECHO, { v: 'still' });
    good.send(req);
    const [res] = await good.waitFor(1);
    expect(res!.field('echo')).to.equal('still');
  });

  it('remoting - an oversized frame (> 16 MiB) closes the connection as soon as its length arrives', async () => {
    const p = await peer();
    const len = Buffer.alloc(4);
    len.writeInt32BE(16 * 1024 * 1024, 0);
    p.write(len);
    await p.closed;
    expect(logger.lines.some((l) => l.includes('over the 16777216-byte limit'))).to.equal(true);
  });

  it('remoting - an idle connection is closed after idleTimeoutMs, on both sides', async () => {
    await startServer({ idleTimeoutMs: 100 });
    const p = await peer();
    const t0 = Date.now();
    await p.closed;
    expect(Date.now() - t0).to.be.within(80, 1000);
    expect(logger.lines.some((l) => l.includes('idle for 100 ms'))).to.equal(true);

    await startServer({ idleTimeoutMs: 0 });
    const idleClient = new RemotingClient({ logger, idleTimeoutMs: 100 });
    try {
      await idleClient.invokeSync(server.address(), RemotingCommand.request(ECHO), 1000);
      expect(server.channels()).to.have.length(1);
      await until(() => server.channels().length === 0, 1000, 'the client to close its idle connection');
    } finally {
      await idleClient.close();
    }
  });

  it('remoting - reading pauses while maxInFlightRequests of a connection are being processed', async () => {
    await startServer({ maxInFlightRequests: 2 });
    const p = await peer();
    for (let i = 0; i < 5; i++) p.send(Object.assign(RemotingCommand.request(HOLD), { opaque: i }));
    await until(() => calls.length === 2);
    await sleep(50);
    expect(calls).to.have.length(2);
    while (calls.length < 5 || held.length > 0) {
      for (const h of held.splice(0)) h();
      await sleep(5);
    }
    await p.waitFor(5);
  });

  it('remoting - reading pauses while the replies a peer does not read pile up beyond highWaterBytes', async () => {
    await startServer({ highWaterBytes: 1024 * 1024 });
    const p = await peer();
    p.socket.pause();
    const n = 16;
    for (let i = 0; i < n; i++) p.send(Object.assign(RemotingCommand.request(BIG), { opaque: i }));
    await sleep(300);
    const whilePaused = calls.length;
    expect(whilePaused).to.be.lessThan(n / 2);
    p.socket.resume();
    await p.waitFor(n, 10_000);
    expect(calls).to.have.length(n);
  });

  it('remoting - a request with a ROCKETMQ binary header is answered with a JSON header, opaque echoed', async () => {
    server.registerProcessor(105, (req) => RemotingCommand.response(0, undefined, { topic: req.field('topic') }));
    const p = await peer();
    p.write(goldenFrames()['get-routeinfo-by-topic.rocketmq.request']!);
    const [res] = await p.waitFor(1);
    expect(res!.serializeType).to.equal(SerializeType.JSON);
    expect([res!.opaque, res!.version, res!.language, res!.field('topic')]).to.deep.equal([0, 407, 'JAVA', 'TopicTest']);
    expect(encodeFrame(res!).readUInt8(4)).to.equal(0);
  });

  it('remoting - the server calls the client back on the same connection: sync (answered) and oneway (not answered)', async () => {
    const notified: RemotingCommand[] = [];
    client.registerProcessor(307, (req) => RemotingCommand.response(0, undefined, { clientId: req.field('clientId') }));
    client.registerProcessor(40, (req) => { notified.push(req); return RemotingCommand.response(0); });
    let back: RemotingCommand | undefined;
    server.registerProcessor(34, async (_req, ch) => {
      back = await ch.invoke(RemotingCommand.request(307, { clientId: 'c1' }), 1000);
      await ch.oneway(RemotingCommand.request(40, { consumerGroup: 'G' }));
      const unknown = await ch.invoke(RemotingCommand.request(4321), 1000);
      return RemotingCommand.response(0, undefined, { unknownAnswer: unknown.code });
    });
    const res = await client.invokeSync(server.address(), RemotingCommand.request(34), 2000);
    expect(back!.field('clientId')).to.equal('c1');
    expect(res.field('unknownAnswer')).to.equal('3');
    await until(() => notified.length === 1);
    expect(notified[0]!.isOneway).to.equal(true);
  });

  it('remoting - the server tells close listeners about every closed connection', async () => {
    const closed: RemotingChannel[] = [];
    server.onChannelClose((ch) => closed.push(ch));
    await client.invokeSync(server.address(), RemotingCommand.request(ECHO), 1000);
    const [ch] = server.channels();
    await client.close();
    await until(() => closed.length === 1);
    expect(closed[0]).to.equal(ch);
  });
});
