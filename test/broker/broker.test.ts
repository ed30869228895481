import { expect } from 'chai';
import * as net from 'node:net';
import { NameServerClient } from '../../lib/client/namesrv-client';
import { NameServer } from '../../lib/namesrv/name-server';
import { RemotingClient } from '../../lib/remoting/remoting-client';
import { decodeFrame, encodeFrame } from '../../lib/remoting/frame-codec';
import { RemotingCommand } from '../../lib/remoting/remoting-command';
import { RequestCode } from '../../lib/remoting/request-code';
import { ResponseCode } from '../../lib/remoting/response-code';
import { encodeBatchBody } from '../../lib/broker/message-properties';
import { LOCK_EXPIRY_MS, RebalanceLockManager } from '../../lib/broker/rebalance-lock-manager';
import { VirtualClock } from '../../lib/common/clock';
import { SimDisk } from '../../lib/io/sim-disk';
import { parseMsgId } from '../../lib/common/message-id';
import { sleep, until } from '../remoting/support';
import { BrokerEnv, decodeRecords, heartbeatBody, pullHeader, pullWithSub, sendV2, startBroker, silentLogger } from './support';

describe('broker - send and pull', () => {
  let env: BrokerEnv;
  beforeEach(async () => { env = await startBroker(); });
  afterEach(async () => { await env.stop(); });

  it('broker - SEND_MESSAGE_V2 stores the message as sent; the pull body is the stored record byte for byte', async () => {
    const born = 1_700_000_000_123;
    const body = Buffer.from('hello keelmq');
    const props = { TAGS: 'TagA', KEYS: 'k1 k2', UNIQ_KEY: '7F0000010001000000000000000A0001', WAIT: 'true', user: 'ü' };
    const res = await env.call(RequestCode.SEND_MESSAGE_V2, sendV2('T1', 2, props, { f: 0x301, g: born, h: 7 }), body);
    expect(res.code, res.remark).to.equal(ResponseCode.SUCCESS);
    expect(res.field('queueId')).to.equal('2');
    expect(res.field('queueOffset')).to.equal('0');
    const msgId = res.field('msgId')!;
    // The offset id names the broker's own address, so queryMsgById and END_TRANSACTION reach it.
    const id = parseMsgId(msgId);
    const [host, port] = env.addr.split(':');
    expect(`${id.ip >>> 24}.${(id.ip >>> 16) & 255}.${(id.ip >>> 8) & 255}.${id.ip & 255}`).to.equal(host);
    expect(id.port).to.equal(Number(port));

    const pull = await env.call(RequestCode.PULL_MESSAGE, pullWithSub('G', 'T1', 2, 0));
    expect(pull.code).to.equal(ResponseCode.SUCCESS);
    expect(pull.field('nextBeginOffset')).to.equal('1');
    expect(pull.field('minOffset')).to.equal('0');
    expect(pull.field('maxOffset')).to.equal('1');
    expect(pull.field('suggestWhichBrokerId')).to.equal('0');
    const stored = await env.broker.store.getRecord(id.physicalOffset);
    expect(pull.body!.equals(stored!.record)).to.equal(true);
    const [m] = decodeRecords(pull.body);
    expect(m!.msgId).to.equal(msgId);
    expect(m!.body.toString()).to.equal('hello keelmq');
    expect(m!.topic).to.equal('T1');
    expect(m!.queueId).to.equal(2);
    expect(m!.flag).to.equal(7);
    expect(m!.sysFlag).to.equal(0x301);
    expect(m!.bornTimestamp).to.equal(born);
    expect(m!.bornHost).to.match(/^127\.0\.0\.1:\d+$/);
    expect(m!.bornHost).to.not.equal(env.addr);
    expect(m!.properties).to.include({ TAGS: 'TagA', KEYS: 'k1 k2', UNIQ_KEY: props.UNIQ_KEY, user: 'ü', CLUSTER: 'DefaultCluster' });
    expect(m!.properties).to.not.have.property('WAIT');
  });

  it('broker - ali-ons style headers (JSON numbers, trailing \\u0002) and SEND_MESSAGE (10) long names are accepted', async () => {
    const r1 = await env.call(RequestCode.SEND_MESSAGE, {
      producerGroup: 'PG', topic: 'T2', defaultTopic: 'TBW102', defaultTopicQueueNums: 4, queueId: 0, sysFlag: 0, bornTimestamp: 1, flag: 0,
      properties: 'TAGS\u0001x\u0002', reconsumeTimes: 0, unitMode: false,
    }, Buffer.from('a'));
    expect(r1.code, r1.remark).to.equal(0);
    const [m] = decodeRecords((await env.call(RequestCode.PULL_MESSAGE, pullWithSub('G', 'T2', 0, 0))).body);
    expect(m!.tags).to.equal('x');
  });

  it('broker - SEND_MESSAGE_V2 reads only its one-letter fields, as Java decodes SendMessageRequestHeaderV2: long names beside them are ignored', async () => {
    const res = await env.call(RequestCode.SEND_MESSAGE_V2, sendV2('TV2', 1, { WAIT: 'true', TAGS: 'x', WAIT2: 'w' }, {
      topic: 'TLong', queueId: 3, flag: 5, properties: 'TAGS\u0001long',
    }), Buffer.from('v2'));
    expect(res.code, res.remark).to.equal(ResponseCode.SUCCESS);
    expect(res.field('queueId')).to.equal('1');
    const [m] = decodeRecords((await env.call(RequestCode.PULL_MESSAGE, pullWithSub('G', 'TV2', 1, 0))).body);
    expect(m!.body.toString()).to.equal('v2');
    expect(m!.flag).to.equal(0);
    expect(m!.tags).to.equal('x');
    // Only WAIT itself is dropped; the store keeps the properties in the order sent, CLUSTER last.
    expect(Object.keys(m!.properties).filter((k) => !k.startsWith('__'))).to.deep.equal(['TAGS', 'WAIT2', 'CLUSTER']);
    expect(env.broker.services.topic('TLong')).to.equal(undefined);
  });

  it('broker - SEND_BATCH_MESSAGE stores each item as its own message with its own and the batch properties', async () => {
    const items = [0, 1, 2].map((i) => ({ flag: i, body: Buffer.from(`m${i}`), properties: { UNIQ_KEY: `U${i}`, TAGS: `t${i}` } }));
    const res = await env.call(RequestCode.SEND_BATCH_MESSAGE, sendV2('TB', 1, { batchProp: 'yes' }, { m: true }), encodeBatchBody(items));
    expect(res.code, res.remark).to.equal(0);
    const ids = res.field('msgId')!.split(',');
    expect(ids).to.have.length(3);
    expect(res.field('queueOffset')).to.equal('0');
    const ms = decodeRecords((await env.call(RequestCode.PULL_MESSAGE, pullWithSub('G', 'TB', 1, 0))).body);
    expect(ms.map((m) => m.msgId)).to.deep.equal(ids);
    expect(ms.map((m) => m.body.toString())).to.deep.equal(['m0', 'm1', 'm2']);
    expect(ms.map((m) => m.flag)).to.deep.equal([0, 1, 2]);
    expect(ms.map((m) => m.queueOffset)).to.deep.equal([0, 1, 2]);
    for (let i = 0; i < 3; i++) expect(ms[i]!.properties).to.include({ UNIQ_KEY: `U${i}`, TAGS: `t${i}`, batchProp: 'yes', CLUSTER: 'DefaultCluster' });
  });

  it('broker - the send reply, single and batch, is byte for byte as Java writes it (msgId, queueId, queueOffset, MSG_REGION, TRACE_ON as strings; its header written from a template)', async () => {
    const [host, port] = env.addr.split(':');
    const socket = net.connect(Number(port), host);
    await new Promise((resolve) => socket.once('connect', resolve));
    const raw: Buffer[] = [];
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      // Whole frames cut off the stream by their length prefix, as they came.
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 4 && buffered.length >= 4 + buffered.readInt32BE(0)) {
        const n = 4 + buffered.readInt32BE(0);
        raw.push(buffered.subarray(0, n));
        buffered = buffered.subarray(n);
      }
    });
    try {
      const single = RemotingCommand.request(RequestCode.SEND_MESSAGE_V2, sendV2('TR', 1), Buffer.from('x'));
      const items = [0, 1].map((i) => ({ body: Buffer.from(`b${i}`), properties: { UNIQ_KEY: `U${i}` } }));
      const batch = RemotingCommand.request(RequestCode.SEND_BATCH_MESSAGE, sendV2('TR', 2, {}, { m: true }), encodeBatchBody(items));
      batch.opaque = 1;
      socket.write(Buffer.concat([encodeFrame(single), encodeFrame(batch)]));
      await until(() => raw.length === 2);
    } finally {
      socket.destroy();
    }
    for (const bytes of raw) {
      const reply = decodeFrame(bytes);
      expect(reply.code, reply.remark).to.equal(ResponseCode.SUCCESS);
      // Java's header: these fields in this order, every value a string.
      const expected = RemotingCommand.response(ResponseCode.SUCCESS, undefined, {
        msgId: reply.field('msgId'), queueId: reply.field('queueId'), queueOffset: reply.field('queueOffset'), MSG_REGION: 'DefaultRegion', TRACE_ON: 'true',
      });
      expected.opaque = reply.opaque;
      expect(bytes.toString('latin1')).to.equal(encodeFrame(expected).toString('latin1'));
    }
    const ids = raw.map((bytes) => decodeFrame(bytes)).sort((x, y) => x.opaque - y.opaque).map((r) => r.field('msgId'));
    expect(ids[0]).to.match(/^[0-9A-F]{32}$/);
    expect(ids[1]).to.match(/^[0-9A-F]{32},[0-9A-F]{32}$/);
  });

  it('broker - bad sends: illegal topic (1), forbidden topic (16), queue out of range (1), body over the limit (13), missing header (1)', async () => {
    expect((await env.call(RequestCode.SEND_MESSAGE_V2, sendV2('bad topic', 0), Buffer.from('x'))).code).to.equal(ResponseCode.SYSTEM_ERROR);
    expect((await env.call(RequestCode.SEND_MESSAGE_V2, sendV2('SCHEDULE_TOPIC_XXXX', 0), Buffer.from('x'))).code).to.equal(ResponseCode.NO_PERMISSION);
    expect((await env.call(RequestCode.SEND_MESSAGE_V2, sendV2('T3', 9), Buffer.from('x'))).code).to.equal(ResponseCode.SYSTEM_ERROR);
    const big = await env.call(RequestCode.SEND_MESSAGE_V2, sendV2('T3', 0), Buffer.alloc(4 * 1024 * 1024 + 1));
    expect(big.code).to.equal(ResponseCode.MESSAGE_ILLEGAL);
    const missing = await env.call(RequestCode.SEND_MESSAGE_V2, { a: 'PG' }, Buffer.from('x'));
    expect(missing.code).to.equal(ResponseCode.SYSTEM_ERROR);
    expect(missing.remark).to.contain('topic');
    // The broker still serves.
    expect((await env.call(RequestCode.SEND_MESSAGE_V2, sendV2('T3', 0), Buffer.from('x'))).code).to.equal(0);
  });

  it('broker - a SYNC put whose fsync does not land in syncFlushTimeoutMs is answered FLUSH_DISK_TIMEOUT (10) with its msgId', async () => {
    const held: (() => void)[] = [];
    let hold = false;
    const io = new SimDisk({ dirs: ['/data'], pause: async (kind) => {
      await new Promise((r) => setImmediate(r));
      if (kind === 'datasync' && hold) await new Promise<void>((r) => held.push(r));
    } });
    const slow = await startBroker({ storeDir: '/data/store', flushMode: 'SYNC', store: { io, syncFlushTimeoutMs: 200 } });
    try {
      expect((await slow.call(RequestCode.SEND_MESSAGE_V2, sendV2('TF', 0), Buffer.from('warm'))).code).to.equal(0);
      hold = true;
      const r = await slow.call(RequestCode.SEND_MESSAGE_V2, sendV2('TF', 0), Buffer.from('slow'));
      expect(r.code).to.equal(ResponseCode.FLUSH_DISK_TIMEOUT);
      expect(r.field('queueOffset')).to.equal('1');
      expect(parseMsgId(r.field('msgId')!).physicalOffset).to.be.greaterThan(0);
    } finally {
      hold = false;
      for (const release of held.splice(0)) release();
      await slow.stop();
    }
  });

  it('broker - an unknown request code is REQUEST_CODE_NOT_SUPPORTED (3)', async () => {
    const r = await env.call(999);
    expect(r.code).to.equal(ResponseCode.REQUEST_CODE_NOT_SUPPORTED);
  });

  it('broker - nextBeginOffset and codes of every case of the pull table', async () => {
    const pull = (topic: string, offset: number) => env.call(RequestCode.PULL_MESSAGE, pullWithSub('G', topic, 0, offset));
    // A queue with nothing in it (the topic exists: TBW102's 8 queues, never written).
    let r = await pull('TBW102', 0);
    expect([r.code, r.field('nextBeginOffset')]).to.deep.equal([ResponseCode.PULL_NOT_FOUND, '0']);
    r = await pull('TBW102', 5);
    expect([r.code, r.field('nextBeginOffset')]).to.deep.equal([ResponseCode.PULL_OFFSET_MOVED, '0']);
    for (let i = 0; i < 3; i++) await env.call(RequestCode.SEND_MESSAGE_V2, sendV2('TP', 0, { TAGS: i === 1 ? 'B' : 'A' }), Buffer.from(`m${i}`));
    r = await pull('TP', 3);
    expect([r.code, r.field('nextBeginOffset'), r.body]).to.deep.equal([ResponseCode.PULL_NOT_FOUND, '3', undefined]);
    r = await pull('TP', 7);
    expect([r.code, r.field('nextBeginOffset')]).to.deep.equal([ResponseCode.PULL_OFFSET_MOVED, '3']);
    r = await pull('TP', 1);
    expect([r.code, r.field('nextBeginOffset')]).to.deep.equal([ResponseCode.SUCCESS, '3']);
    expect(decodeRecords(r.body).map((m) => m.queueOffset)).to.deep.equal([1, 2]);
    // Everything scanned filtered out: retry at once, past what was scanned.
    r = await env.call(RequestCode.PULL_MESSAGE, pullWithSub('G', 'TP', 0, 1, 'B', { maxMsgNums: 32 }));
    expect(decodeRecords(r.body).map((m) => m.queueOffset)).to.deep.equal([1]);
    r = await env.call(RequestCode.PULL_MESSAGE, pullWithSub('G', 'TP', 0, 2, 'B'));
    expect([r.code, r.field('nextBeginOffset'), r.body]).to.deep.equal([ResponseCode.PULL_RETRY_IMMEDIATELY, '3', undefined]);
    // maxMsgNums cuts the batch: the next pull starts at the first message not sent.
    r = await env.call(RequestCode.PULL_MESSAGE, pullWithSub('G', 'TP', 0, 0, '*', { maxMsgNums: 2 }));
    expect([r.code, r.field('nextBeginOffset')]).to.deep.equal([ResponseCode.SUCCESS, '2']);
    expect(decodeRecords(r.body)).to.have.length(2);
    // A topic that does not exist is 17.
    r = await pull('NOPE', 0);
    expect(r.code).to.equal(ResponseCode.TOPIC_NOT_EXIST);
  });

  it('broker - a pull below the queue\'s minimum (its segments reaped) is PULL_OFFSET_MOVED to the minimum', async () => {
    const small = await startBroker({ store: { commitLogSegmentSize: 4096, consumeQueueEntries: 16, maxBodySize: 1024, maxPropertiesLength: 1024 } });
    try {
      for (let i = 0; i < 100; i++) await small.call(RequestCode.SEND_MESSAGE_V2, sendV2('TM', 0), Buffer.alloc(200, 97));
      // Only durable segments are reaped.
      await small.broker.store.flush();
      await small.broker.store.deleteExpired({ force: true });
      const min = small.broker.store.getMinOffsetInQueue('TM', 0);
      expect(min).to.be.greaterThan(0);
      const r = await small.call(RequestCode.PULL_MESSAGE, pullWithSub('G', 'TM', 0, 0));
      expect([r.code, r.field('nextBeginOffset'), r.field('minOffset')]).to.deep.equal([ResponseCode.PULL_OFFSET_MOVED, String(min), String(min)]);
      const ok = await small.call(RequestCode.PULL_MESSAGE, pullWithSub('G', 'TM', 0, min));
      expect(decodeRecords(ok.body)[0]!.queueOffset).to.equal(min);
    } finally {
      await small.stop();
    }
  });

  it('broker - long polling: a held pull answers within 100 ms of a send; an empty one NOT_FOUND after suspendTimeoutMillis', async () => {
    await env.call(RequestCode.SEND_MESSAGE_V2, sendV2('LP', 0), Buffer.from('first'));
    const t0 = Date.now();
    const held = env.call(RequestCode.PULL_MESSAGE, pullWithSub('G', 'LP', 0, 1, '*', { sysFlag: 6, suspendTimeoutMillis: 10_000 }), undefined, 15_000);
    await sleep(300);
    const sentAt = Date.now();
    const sent = await env.call(RequestCode.SEND_MESSAGE_V2, sendV2('LP', 0), Buffer.from('second'));
    expect(sent.code).to.equal(0);
    const r = await held;
    const answeredAt = Date.now();
    expect(r.code).to.equal(ResponseCode.SUCCESS);
    expect(decodeRecords(r.body).map((m) => m.body.toString())).to.deep.equal(['second']);
    expect(answeredAt - sentAt).to.be.below(100);
    expect(answeredAt - t0).to.be.at.least(250);

    const t1 = Date.now();
    const empty = await env.call(RequestCode.PULL_MESSAGE, pullWithSub('G', 'LP', 0, 2, '*', { sysFlag: 6, suspendTimeoutMillis: 300 }));
    const waited = Date.now() - t1;
    expect([empty.code, empty.field('nextBeginOffset')]).to.deep.equal([ResponseCode.PULL_NOT_FOUND, '2']);
    expect(waited).to.be.at.least(280).and.below(2000);
  });

  it('broker - a held pull keeps waiting over messages its tag filter skips, and ends with its connection', async () => {
    await env.call(RequestCode.SEND_MESSAGE_V2, sendV2('LF', 0, { TAGS: 'other' }), Buffer.from('before'));
    const held = env.call(RequestCode.PULL_MESSAGE, pullWithSub('G', 'LF', 0, 1, 'want', { sysFlag: 6, suspendTimeoutMillis: 10_000 }), undefined, 15_000);
    await sleep(50);
    await env.call(RequestCode.SEND_MESSAGE_V2, sendV2('LF', 0, { TAGS: 'other' }), Buffer.from('skip'));
    await sleep(100);
    expect(env.broker['pull']!.heldCount).to.equal(1);
    await env.call(RequestCode.SEND_MESSAGE_V2, sendV2('LF', 0, { TAGS: 'want' }), Buffer.from('take'));
    const r = await held;
    expect(r.code).to.equal(ResponseCode.SUCCESS);
    expect(decodeRecords(r.body).map((m) => m.body.toString())).to.deep.equal(['take']);
    expect(r.field('nextBeginOffset')).to.equal('3');

    const other = new RemotingClient({ logger: silentLogger });
    const p = other.invokeSync(env.addr, RemotingCommand.request(RequestCode.PULL_MESSAGE, pullWithSub('G', 'LF', 0, 3, '*', { sysFlag: 6, suspendTimeoutMillis: 10_000 })), 15_000);
    p.catch(() => {});
    await until(() => env.broker['pull']!.heldCount === 1, 2000, 'the pull to be held');
    await other.close();
    await until(() => env.broker['pull']!.heldCount === 0, 2000, 'the hold to be dropped');
  });
});

describe('broker - consumers', () => {
  let env: BrokerEnv;
  beforeEach(async () => { env = await startBroker(); });
  afterEach(async () => { await env.stop(); });

  it('broker - heartbeat registers the group (creating %RETRY%<group>); the consumer list echoes ids; members are told when it changes', async () => {
    const c1 = new RemotingClient({ logger: silentLogger });
    const c2 = new RemotingClient({ logger: silentLogger });
    const notified: string[] = [];
    c1.registerProcessor(RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, (req) => { notified.push(`c1:${req.field('consumerGroup')}:${req.isOneway}`); });
    try {
      const id1 = '10.0.0.5@4242#812345';
      const id2 = 'ünicode@1#"quoted"';
      const hb = (c: RemotingClient, id: string) => c.invokeSync(env.addr, RemotingCommand.request(RequestCode.HEART_BEAT, {}, heartbeatBody(id, 'G1', [{ topic: 'T', subString: '*' }])), 3000);
      expect((await hb(c1, id1)).code).to.equal(0);
      expect(env.broker.services.topic('%RETRY%G1')).to.deep.equal({ name: '%RETRY%G1', queues: 1 });
      notified.length = 0;
      expect((await hb(c2, id2)).code).to.equal(0);
      const list = await env.call(RequestCode.GET_CONSUMER_LIST_BY_GROUP, { consumerGroup: 'G1' });
      expect(list.code).to.equal(0);
      expect(JSON.parse(list.body!.toString('utf8'))).to.deep.equal({ consumerIdList: [id1, id2] });
      await until(() => notified.length > 0, 2000, 'the notification');
      expect(notified).to.deep.equal(['c1:G1:true']);
      // A repeated heartbeat changes nothing and notifies nobody.
      await hb(c2, id2);
      await sleep(50);
      expect(notified).to.have.length(1);
      // The second client's connection closes: the first is told, the list shrinks.
      await c2.close();
      await until(() => notified.length > 1, 2000, 'the notification of the close');
      expect(notified).to.deep.equal(['c1:G1:true', 'c1:G1:true']);
      const after = await env.call(RequestCode.GET_CONSUMER_LIST_BY_GROUP, { consumerGroup: 'G1' });
      expect(JSON.parse(after.body!.toString('utf8')).consumerIdList).to.deep.equal([id1]);
      // UNREGISTER_CLIENT removes the last one; the group is gone.
      expect((await c1.invokeSync(env.addr, RemotingCommand.request(RequestCode.UNREGISTER_CLIENT, { clientID: id1, consumerGroup: 'G1' }), 3000)).code).to.equal(0);
      expect((await env.call(RequestCode.GET_CONSUMER_LIST_BY_GROUP, { consumerGroup: 'G1' })).code).to.equal(ResponseCode.SYSTEM_ERROR);
    } finally {
      await c1.close();
      await c2.close();
    }
  });

  it('broker - a group name no topic can carry is refused by heartbeat and send-back, and creates no topic', async () => {
    const sent = await env.call(RequestCode.SEND_MESSAGE_V2, sendV2('TV', 0), Buffer.from('x'));
    const before = env.broker.services.topics().map((t) => t.name);
    const hb = await env.call(RequestCode.HEART_BEAT, {}, heartbeatBody('c@1', '../bad group', [{ topic: 'TV', subString: '*' }]));
    expect(hb.code).to.equal(ResponseCode.SYSTEM_ERROR);
    const back = await env.call(RequestCode.CONSUMER_SEND_MSG_BACK, { offset: parseMsgId(sent.field('msgId')!).physicalOffset, group: 'bad/group', delayLevel: 0 });
    expect(back.code).to.not.equal(ResponseCode.SUCCESS);
    expect(env.broker.services.topics().map((t) => t.name)).to.deep.equal(before);
  });

  it('broker - pulls without a posted subscription use the heartbeat\'s: 24 without one, 25 when older, its tag filter otherwise', async () => {
    for (const tag of ['A', 'B', 'A']) await env.call(RequestCode.SEND_MESSAGE_V2, sendV2('TS', 0, { TAGS: tag }), Buffer.from(tag));
    let r = await env.call(RequestCode.PULL_MESSAGE, pullHeader('GS', 'TS', 0, 0));
    expect(r.code).to.equal(ResponseCode.SUBSCRIPTION_NOT_EXIST);
    await env.call(RequestCode.HEART_BEAT, {}, heartbeatBody('c@1', 'GS', [{ topic: 'TS', subString: 'A', subVersion: 100 }]));
    r = await env.call(RequestCode.PULL_MESSAGE, pullHeader('GS', 'TS', 0, 0, { subVersion: 200 }));
    expect(r.code).to.equal(ResponseCode.SUBSCRIPTION_NOT_LATEST);
    r = await env.call(RequestCode.PULL_MESSAGE, pullHeader('GS', 'TS', 0, 0, { subVersion: 100 }));
    expect(r.code).to.equal(0);
    expect(decodeRecords(r.body).map((m) => m.queueOffset)).to.deep.equal([0, 2]);
    r = await env.call(RequestCode.PULL_MESSAGE, pullHeader('GX', 'OTHER', 0, 0));
    expect(r.code).to.equal(ResponseCode.TOPIC_NOT_EXIST);
  });

  it('broker - offsets: a new group starts at 0; UPDATE (oneway too) and the pull commit bit store; negatives ignored; max/min/search', async () => {
    const t0 = Date.now();
    for (let i = 0; i < 4; i++) await env.call(RequestCode.SEND_MESSAGE_V2, sendV2('TO', 1), Buffer.from(`m${i}`));
    const q = () => env.call(RequestCode.QUERY_CONSUMER_OFFSET, { consumerGroup: 'GO', topic: 'TO', queueId: 1 });
    const r = await q();
    expect([r.code, r.field('offset')]).to.deep.equal([0, '0']);
    expect((await env.call(RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: 'GO', topic: 'TO', queueId: 1, commitOffset: 2 })).code).to.equal(0);
    expect((await q()).field('offset')).to.equal('2');
    await env.client.invokeOneway(env.addr, RemotingCommand.request(RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: 'GO', topic: 'TO', queueId: 1, commitOffset: 3 }), 3000);
    await env.call(RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: 'GO', topic: 'TO', queueId: 1, commitOffset: -1 });
    expect((await q()).field('offset')).to.equal('3');
    await env.call(RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: 'GO', topic: 'Unknown@Topic', queueId: 1, commitOffset: 3 });
    expect(env.broker.services.offsets.subscriptions()).to.deep.equal([{ group: 'GO', topic: 'TO' }]);
    await env.call(RequestCode.PULL_MESSAGE, pullWithSub('GO', 'TO', 1, 3, '*', { sysFlag: 5, commitOffset: 4 }));
    expect((await q()).field('offset')).to.equal('4');
    // A queue never written reads as "start from 0" too; a queue of a big old log would be 22 (not reproducible here).
    expect((await env.call(RequestCode.GET_MAX_OFFSET, { topic: 'TO', queueId: 1 })).field('offset')).to.equal('4');
    expect((await env.call(RequestCode.GET_MIN_OFFSET, { topic: 'TO', queueId: 1 })).field('offset')).to.equal('0');
    expect((await env.call(RequestCode.SEARCH_OFFSET_BY_TIMESTAMP, { topic: 'TO', queueId: 1, timestamp: t0 - 1000 })).field('offset')).to.equal('0');
    expect((await env.call(RequestCode.SEARCH_OFFSET_BY_TIMESTAMP, { topic: 'TO', queueId: 1, timestamp: Date.now() + 1000 })).field('offset')).to.equal('4');
  });

  it('broker - CONSUMER_SEND_MSG_BACK: retry topic with reconsumeTimes + 1 after the delay, dead letter after maxReconsumeTimes', async () => {
    const sent = await env.call(RequestCode.SEND_MESSAGE_V2, sendV2('TR', 0, { TAGS: 'x', UNIQ_KEY: 'U1' }), Buffer.from('payload'));
    const offset = parseMsgId(sent.field('msgId')!).physicalOffset;
    const back = (off: number, max: number) => env.call(RequestCode.CONSUMER_SEND_MSG_BACK, { offset: off, group: 'GR', delayLevel: 0, originMsgId: 'U1', originTopic: 'TR', unitMode: false, maxReconsumeTimes: max });
    expect((await back(offset, 2)).code).to.equal(0);
    const pullRetry = async (off: number) => {
      for (let i = 0; i < 100; i++) {
        const r = await env.call(RequestCode.PULL_MESSAGE, pullWithSub('GR', '%RETRY%GR', 0, off));
        if (r.code === 0) return decodeRecords(r.body)[0]!;
        await sleep(20);
      }
      throw new Error('the retry never arrived');
    };
    const r1 = await pullRetry(0);
    expect(r1.reconsumeTimes).to.equal(1);
    expect(r1.body.toString()).to.equal('payload');
    expect(r1.properties).to.include({ RETRY_TOPIC: 'TR', TAGS: 'x', UNIQ_KEY: 'U1', ORIGIN_MESSAGE_ID: sent.field('msgId') });
    expect((await back(r1.physicalOffset, 2)).code).to.equal(0);
    const r2 = await pullRetry(1);
    expect(r2.reconsumeTimes).to.equal(2);
    // reconsumeTimes 2 >= max 2: dead letter, at once.
    expect((await back(r2.physicalOffset, 2)).code).to.equal(0);
    const dlq = await env.call(RequestCode.PULL_MESSAGE, pullWithSub('GR', '%DLQ%GR', 0, 0));
    expect(dlq.code).to.equal(0);
    const [d] = decodeRecords(dlq.body);
    expect(d!.body.toString()).to.equal('payload');
    expect(d!.properties).to.include({ RETRY_TOPIC: 'TR', ORIGIN_MESSAGE_ID: sent.field('msgId') });
    // An offset where no message starts.
    expect((await back(offset + 1, 2)).code).to.equal(ResponseCode.SYSTEM_ERROR);
  });

  it('broker - a SEND to %RETRY%<g> with reconsumeTimes >= maxReconsumeTimes goes to %DLQ%<g> (the client fallback of send-back)', async () => {
    let r = await env.call(RequestCode.SEND_MESSAGE_V2, sendV2('%RETRY%GF', 0, { RETRY_TOPIC: 'T' }, { j: 1, l: 3 }), Buffer.from('again'));
    expect(r.code).to.equal(0);
    r = await env.call(RequestCode.SEND_MESSAGE_V2, sendV2('%RETRY%GF', 0, { RETRY_TOPIC: 'T', DELAY: '3' }, { j: 3, l: 3 }), Buffer.from('dead'));
    expect(r.code).to.equal(0);
    const d = await env.call(RequestCode.PULL_MESSAGE, pullWithSub('GF', '%DLQ%GF', 0, 0));
    expect(decodeRecords(d.body).map((m) => [m.body.toString(), m.reconsumeTimes])).to.deep.equal([['dead', 3]]);
    const retry = await env.call(RequestCode.PULL_MESSAGE, pullWithSub('GF', '%RETRY%GF', 0, 0));
    expect(decodeRecords(retry.body).map((m) => m.body.toString())).to.deep.equal(['again']);
  });

  it('broker - a DELAY property is served through the schedule topic', async () => {
    // Level 2 is 20 ms here: too short to assert "not there yet" on a loaded machine, so the
    // delay is checked where it shows, in when the message reached its topic.
    const sentAt = Date.now();
    const r = await env.call(RequestCode.SEND_MESSAGE_V2, sendV2('TD', 0, { DELAY: '2' }), Buffer.from('later'));
    expect(r.code).to.equal(0);
    const held = await env.call(RequestCode.PULL_MESSAGE, pullWithSub('G', 'TD', 0, 0, '*', { sysFlag: 6, suspendTimeoutMillis: 3000 }));
    const got = decodeRecords(held.body);
    expect(got.map((m) => m.body.toString())).to.deep.equal(['later']);
    expect(got[0]!.storeTimestamp - sentAt).to.be.at.least(20);
  });

  it('broker - a queue lock lapses 60 s after its last renewal', async () => {
    const clock = new VirtualClock(1000);
    const locks = new RebalanceLockManager(clock);
    const mq = { brokerName: 'b', queueId: 0, topic: 'T' };
    expect(locks.tryLockBatch('G', [mq], 'a')).to.have.length(1);
    await clock.advance(LOCK_EXPIRY_MS);
    expect(locks.tryLockBatch('G', [mq], 'b')).to.have.length(0);
    expect(locks.tryLockBatch('G', [mq], 'a')).to.have.length(1);
    await clock.advance(LOCK_EXPIRY_MS + 1);
    expect(locks.tryLockBatch('G', [mq], 'b')).to.have.length(1);
  });

  it('broker - LOCK_BATCH_MQ: one holder per queue until it unlocks', async () => {
    const mq = (queueId: number) => ({ brokerName: 'broker-a', queueId, topic: 'T' });
    const lock = async (clientId: string, ids: number[]) => {
      const r = await env.call(RequestCode.LOCK_BATCH_MQ, {}, Buffer.from(JSON.stringify({ consumerGroup: 'GL', clientId, mqSet: ids.map(mq) })));
      return (JSON.parse(r.body!.toString()) as { lockOKMQSet: { queueId: number }[] }).lockOKMQSet.map((m) => m.queueId);
    };
    expect(await lock('a', [0, 1])).to.deep.equal([0, 1]);
    expect(await lock('b', [1, 2])).to.deep.equal([2]);
    expect(await lock('a', [0, 1])).to.deep.equal([0, 1]);
    await env.call(RequestCode.UNLOCK_BATCH_MQ, {}, Buffer.from(JSON.stringify({ consumerGroup: 'GL', clientId: 'a', mqSet: [mq(1)] })));
    expect(await lock('b', [1])).to.deep.equal([1]);
  });
});

describe('broker - name servers and admin', () => {
  let ns1: NameServer;
  let ns2: NameServer;
  let env: BrokerEnv;
  const nsClient = new NameServerClient();
  beforeEach(async () => {
    ns1 = new NameServer({ port: 0, logger: silentLogger });
    ns2 = new NameServer({ port: 0, logger: silentLogger });
    await ns1.start();
    await ns2.start();
    env = await startBroker({ namesrvAddr: [ns1.address(), ns2.address()], brokerName: 'bk', clusterName: 'C1' });
  });
  afterEach(async () => {
    await env.stop();
    await ns1.close();
    await ns2.close();
  });
  after(async () => { await nsClient.close(); });

  it('broker - registers with every name server at start, at once on a new topic, and unregisters at close', async () => {
    for (const ns of [ns1, ns2]) {
      const route = await nsClient.getRouteInfoByTopic(ns.address(), 'TBW102');
      expect(route!.brokerDatas).to.deep.equal([{ brokerAddrs: { 0: env.addr }, brokerName: 'bk', cluster: 'C1' }]);
      expect(route!.queueDatas[0]).to.include({ perm: 7, readQueueNums: 8, writeQueueNums: 8 });
    }
    const created = await env.call(RequestCode.UPDATE_AND_CREATE_TOPIC, {
      topic: 'NewTopic', defaultTopic: 'TBW102', readQueueNums: 3, writeQueueNums: 3, perm: 6, topicFilterType: 'SINGLE_TAG', topicSysFlag: 0, order: false,
    });
    expect(created.code).to.equal(0);
    // Sent to the first send's topic too (auto-create).
    await env.call(RequestCode.SEND_MESSAGE_V2, sendV2('AutoTopic', 0), Buffer.from('x'));
    for (let i = 0; i < 50 && !(await nsClient.getTopicList(ns2.address())).includes('AutoTopic'); i++) await sleep(20);
    for (const ns of [ns1, ns2]) {
      expect(await nsClient.getTopicList(ns.address())).to.include.members(['NewTopic', 'AutoTopic', 'TBW102']);
      const r = await nsClient.getRouteInfoByTopic(ns.address(), 'NewTopic');
      expect(r!.queueDatas).to.deep.equal([{ brokerName: 'bk', perm: 6, readQueueNums: 3, topicSysFlag: 0, writeQueueNums: 3 }]);
    }
    const info = await nsClient.getBrokerClusterInfo(ns1.address());
    expect(info.clusterAddrTable).to.deep.equal({ C1: ['bk'] });
    await env.broker.close();
    for (const ns of [ns1, ns2]) {
      expect(await nsClient.getRouteInfoByTopic(ns.address(), 'NewTopic')).to.equal(undefined);
      expect((await nsClient.getBrokerClusterInfo(ns.address())).clusterAddrTable).to.deep.equal({});
    }
  });

  it('broker - registers again every registerIntervalMs, so a name server with a short expiry keeps its routes', async () => {
    const ns = new NameServer({ port: 0, logger: silentLogger, brokerExpireMs: 1000, scanIntervalMs: 50 });
    await ns.start();
    const periodic = await startBroker({ namesrvAddr: [ns.address()], brokerName: 'periodic', registerIntervalMs: 100 });
    const once = await startBroker({ namesrvAddr: [ns.address()], brokerName: 'once', registerIntervalMs: 60_000 });
    try {
      const names = async () => Object.keys((await nsClient.getBrokerClusterInfo(ns.address())).brokerAddrTable).sort();
      expect(await names()).to.deep.equal(['once', 'periodic']);
      await sleep(2000);
      expect(await names()).to.deep.equal(['periodic']);
    } finally {
      await periodic.stop();
      await once.stop();
      await ns.close();
    }
  });

  it('broker - admin: topic stats, consume stats, consume-by-who, connections, reset offset (with 220 to online clients), runtime info, delete', async () => {
    const t0 = Date.now();
    await sleep(5);
    for (let i = 0; i < 3; i++) await env.call(RequestCode.SEND_MESSAGE_V2, sendV2('TA', 0), Buffer.from(`m${i}`));
    const stats = await env.call(RequestCode.GET_TOPIC_STATS_INFO, { topic: 'TA' });
    expect(stats.body!.toString()).to.match(/^\{"offsetTable":\{\{"brokerName":"bk","queueId":0,"topic":"TA"\}:\{"lastUpdateTimestamp":\d+,"maxOffset":3,"minOffset":0\},/);
    const c = new RemotingClient({ logger: silentLogger });
    const resets: string[] = [];
    c.registerProcessor(RequestCode.RESET_CONSUMER_CLIENT_OFFSET, (req) => { resets.push(req.body!.toString()); });
    try {
      await c.invokeSync(env.addr, RemotingCommand.request(RequestCode.HEART_BEAT, {}, heartbeatBody('cid@1', 'GA', [{ topic: 'TA', subString: '*' }])), 3000);
      await env.call(RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: 'GA', topic: 'TA', queueId: 0, commitOffset: 3 });
      const cs = await env.call(RequestCode.GET_CONSUME_STATS, { consumerGroup: 'GA', topic: 'TA' });
      expect(cs.body!.toString()).to.match(/^\{"consumeTps":0\.0,"offsetTable":\{\{"brokerName":"bk","queueId":0,"topic":"TA"\}:\{"brokerOffset":3,"consumerOffset":3,"lastTimestamp":\d+\}/);
      expect(JSON.parse((await env.call(RequestCode.QUERY_TOPIC_CONSUME_BY_WHO, { topic: 'TA' })).body!.toString())).to.deep.equal({ groupList: ['GA'] });
      const conn = JSON.parse((await env.call(RequestCode.GET_CONSUMER_CONNECTION_LIST, { consumerGroup: 'GA' })).body!.toString());
      expect(conn.connectionSet[0].clientId).to.equal('cid@1');
      expect(Object.keys(conn.subscriptionTable)).to.deep.equal(['TA']);
      const reset = await env.call(RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, { topic: 'TA', group: 'GA', timestamp: t0, isForce: true });
      expect(reset.code).to.equal(0);
      expect(reset.body!.toString()).to.contain('{"brokerName":"bk","queueId":0,"topic":"TA"}:0');
      expect((await env.call(RequestCode.QUERY_CONSUMER_OFFSET, { consumerGroup: 'GA', topic: 'TA', queueId: 0 })).field('offset')).to.equal('0');
      await until(() => resets.length > 0, 2000, 'the reset notice');
      expect(resets).to.deep.equal([reset.body!.toString()]);
      // Without isForce a queue only moves back: "the end" leaves offset 0 alone.
      await env.call(RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, { topic: 'TA', group: 'GA', timestamp: -1, isForce: false });
      expect((await env.call(RequestCode.QUERY_CONSUMER_OFFSET, { consumerGroup: 'GA', topic: 'TA', queueId: 0 })).field('offset')).to.equal('0');
    } finally {
      await c.close();
    }
    const rt = JSON.parse((await env.call(RequestCode.GET_BROKER_RUNTIME_INFO)).body!.toString());
    expect(rt.table.brokerVersionDesc).to.equal('V4_9_7');
    expect((await env.call(RequestCode.DELETE_TOPIC_IN_BROKER, { topic: 'TA' })).code).to.equal(0);
    expect(env.broker.services.topic('TA')).to.equal(undefined);
    expect((await env.call(RequestCode.GET_TOPIC_STATS_INFO, { topic: 'TA' })).code).to.equal(ResponseCode.TOPIC_NOT_EXIST);
  });

  it('broker - VIEW_MESSAGE_BY_ID and QUERY_MESSAGE return stored records', async () => {
    const s = await env.call(RequestCode.SEND_MESSAGE_V2, sendV2('TQ', 0, { KEYS: 'order-1 order-2' }), Buffer.from('q'));
    await env.call(RequestCode.SEND_MESSAGE_V2, sendV2('TQ', 1, { KEYS: 'order-3', UNIQ_KEY: 'UNIQ-3' }), Buffer.from('other'));
    const offset = parseMsgId(s.field('msgId')!).physicalOffset;
    const v = await env.call(RequestCode.VIEW_MESSAGE_BY_ID, { offset });
    expect(decodeRecords(v.body)[0]!.msgId).to.equal(s.field('msgId'));
    expect((await env.call(RequestCode.VIEW_MESSAGE_BY_ID, { offset: offset + 3 })).code).to.equal(ResponseCode.SYSTEM_ERROR);
    const q = await env.call(RequestCode.QUERY_MESSAGE, { topic: 'TQ', key: 'order-2', maxNum: 64, beginTimestamp: 0, endTimestamp: '9223372036854775807' });
    expect(q.code).to.equal(0);
    expect(decodeRecords(q.body).map((m) => m.body.toString())).to.deep.equal(['q']);
    expect(q.field('indexLastUpdatePhyoffset')).to.equal(String(offset));
    const u = await env.call(RequestCode.QUERY_MESSAGE, { topic: 'TQ', key: 'UNIQ-3', maxNum: 64, beginTimestamp: 0, endTimestamp: '9223372036854775807', _UNIQUE_KEY_QUERY: true });
    expect(decodeRecords(u.body).map((m) => m.body.toString())).to.deep.equal(['other']);
    expect((await env.call(RequestCode.QUERY_MESSAGE, { topic: 'TQ', key: 'UNIQ-3', maxNum: 64, beginTimestamp: 0, endTimestamp: '9223372036854775807' })).code).to.equal(ResponseCode.QUERY_NOT_FOUND);
    expect((await env.call(RequestCode.QUERY_MESSAGE, { topic: 'TQ', key: 'none', maxNum: 64, beginTimestamp: 0, endTimestamp: '9223372036854775807' })).code).to.equal(ResponseCode.QUERY_NOT_FOUND);
  });
});
