/**
 * `npm run test:rocketmq`: keelmq's client against a real Apache RocketMQ 4.9.7 name server and
 * broker, started by ../shared/rocketmq-server/run.sh (not in `npm test`: it needs Java 17 and a
 * build of ../shared/rocketmq-server/build.sh). The scenarios are the client suite's, with only
 * the name-server address changed. It says SKIP and exits 0 when Java, the build or the ports
 * are missing; it stops every process it started. Exit 1 when a scenario fails.
 *
 * Env: RMQ_BUILD (a built RMQ_ROOT, default /tmp/rmq-server), RMQ_RUN_SH (default
 * ../shared/rocketmq-server/run.sh from the repository), ONLY=name,name (run some scenarios).
 *
 * Add a scenario: push { name, run } onto SCENARIOS; `run` gets a fresh RemotingTransport
 * factory and a unique topic, and throws to fail or returns `{ skipped: reason }`.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as keelmq from '../../lib/index';
import { Admin, isKeelError, LitePullConsumer, Producer, PullConsumer, PushConsumer, RemotingTransport } from '../../lib/index';
import type { MessageExt } from '../../lib/index';

const NAMESRV = '127.0.0.1:9876';
const PORTS = [9876, 10911, 10909, 10912];

interface Ctx {
  /** A transport as a fresh application would make it; closed after the scenario. */
  transport(): RemotingTransport;
  /** A topic of its own (created with 4 queues on the broker before the scenario). */
  topic: string;
  /** A consumer group of its own. */
  group: string;
}

interface Scenario { name: string; run(ctx: Ctx): Promise<void | Skip> }
interface Skip { skipped: string }

function check(cond: boolean, what: string): void {
  if (!cond) throw new Error(what);
}

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!await cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

function sleep(ms: number): Promise<void> { return new Promise((r) => setTimeout(r, ms)); }

const bodiesOf = (ms: MessageExt[]) => ms.map((m) => m.body.toString()).sort();
const numbered = (p: string, n: number) => Array.from({ length: n }, (_, i) => `${p}-${i}`);

/** Consumes `topic` with a PushConsumer until `n` distinct bodies came; returns every delivery. */
async function pushConsume(ctx: Ctx, n: number, listener?: (m: MessageExt, ctx: keelmq.ConsumeContext) => keelmq.ConsumeStatus): Promise<MessageExt[]> {
  const got: MessageExt[] = [];
  const c = new PushConsumer(ctx.transport(), {
    group: ctx.group, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
    listener: (msgs, cctx) => {
      got.push(...msgs);
      for (const m of msgs) if (listener && listener(m, cctx) === 'RECONSUME_LATER') return 'RECONSUME_LATER';
      return 'CONSUME_SUCCESS';
    },
  }).subscribe(ctx.topic);
  await c.start();
  try {
    await until(() => new Set(got.map((m) => m.body.toString())).size >= n, `${n} messages`);
  } finally {
    await c.shutdown();
  }
  return got;
}

const SCENARIOS: Scenario[] = [
  {
    name: 'admin: create topic, list, route, stats, cluster list',
    async run(ctx) {
      const admin = new Admin(ctx.transport());
      const t = `${ctx.topic}_adm`;
      const masters = await admin.createTopic(t, { queues: 3 });
      check(masters.length === 1 && masters[0]!.brokerName === 'ref-broker-a', `masters ${JSON.stringify(masters)}`);
      check((await admin.topicList()).includes(t), 'topic list has the topic');
      check((await admin.route(t)).readQueues.length === 3, 'route has 3 read queues');
      await new Producer(ctx.transport()).send({ topic: t, body: 'x' });
      // A Java broker adds to its consume queues a moment after the store (ReputMessageService).
      await until(async () => (await admin.topicStats(t)).some((s) => s.maxOffset > 0), 'the message in the stats', 5000);
      const stats = await admin.topicStats(t);
      check(stats.length === 3 && stats.reduce((n, s) => n + s.maxOffset, 0) === 1, `stats ${JSON.stringify(stats)}`);
      check(stats.some((s) => s.lastUpdateTimestamp > 0), 'a last update time');
      const cluster = await admin.clusterList();
      check(cluster.length === 1 && cluster[0]!.cluster === 'RefCluster' && cluster[0]!.runtime['brokerVersionDesc'] === 'V4_9_7', `cluster ${JSON.stringify(cluster.map((b) => ({ ...b, runtime: b.runtime['brokerVersionDesc'] })))}`);
    },
  },
  {
    name: 'admin: consumer progress, reset offset by time (offline group), query by id / UNIQ_KEY / key, delete topic',
    async run(ctx) {
      const admin = new Admin(ctx.transport());
      const t = ctx.transport();
      const [q] = (await t.route(ctx.topic)).writeQueues;
      const uniq = 'AC1100010F2A18B4AAC2' + Date.now().toString(16).slice(-8).toUpperCase().padStart(8, '0') + '0001';
      const r = await t.send(q!, { topic: ctx.topic, body: 'needle', keys: ['k-needle'], properties: { UNIQ_KEY: uniq } });
      for (let i = 0; i < 4; i++) await t.send(q!, { topic: ctx.topic, body: `hay-${i}` });
      // A group the broker knows (a Java broker refuses a reset for a group it never saw), now offline.
      const lite = new LitePullConsumer(ctx.transport(), { group: ctx.group, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', autoCommit: false }).subscribe(ctx.topic);
      await lite.start();
      await lite.shutdown();
      // A Java broker resets a group only where it has an offset in every queue of the topic.
      for (const mq of (await t.route(ctx.topic)).readQueues) t.commitOffset(ctx.group, mq, mq.queueId === q!.queueId ? 2 : 0);
      await t.flushOffsets(ctx.group);
      await until(async () => (await admin.consumerProgress(ctx.group, ctx.topic)).totalLag === 3, 'the lag of 3', 5000);
      const p = await admin.consumerProgress(ctx.group, ctx.topic);
      const row = p.queues.find((x) => x.queueId === q!.queueId);
      check(row?.consumerOffset === 2 && row.brokerOffset === 5 && row.lag === 3, `progress ${JSON.stringify(p)}`);
      const back = await admin.resetOffsetByTime(ctx.group, ctx.topic, 0);
      check(back.find((x) => x.queueId === q!.queueId)?.offset === 0, `reset ${JSON.stringify(back)}`);
      const after = await admin.consumerProgress(ctx.group, ctx.topic);
      check(after.queues.find((x) => x.queueId === q!.queueId)?.consumerOffset === 0, `after reset ${JSON.stringify(after)}`);
      check((await admin.queryMessageById(ctx.topic, r.offsetMsgId))?.body.toString() === 'needle', 'by offset msgId');
      check((await admin.queryMessageById(ctx.topic, uniq))?.body.toString() === 'needle', 'by UNIQ_KEY');
      // The broker's index is built by its dispatcher, a moment after the store.
      await until(async () => (await admin.queryMessageByKey(ctx.topic, 'k-needle')).length === 1, 'query by key', 10_000);
      await admin.deleteTopic(`${ctx.topic}`);
      check(!(await admin.topicList()).includes(ctx.topic), 'deleted from the topic list');
    },
  },
  {
    name: 'admin: reset offset by time moves an online PushConsumer back (RESET_CONSUMER_CLIENT_OFFSET)',
    async run(ctx) {
      const admin = new Admin(ctx.transport());
      const producer = new Producer(ctx.transport());
      const t0 = Date.now() - 1000;
      for (const b of numbered('r', 8)) await producer.send({ topic: ctx.topic, body: b });
      const got: string[] = [];
      const c = new PushConsumer(ctx.transport(), {
        group: ctx.group, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', listener: (msgs) => { got.push(...msgs.map((m) => m.body.toString())); return 'CONSUME_SUCCESS'; },
      }).subscribe(ctx.topic);
      await c.start();
      try {
        await until(() => got.length >= 8, 'the first delivery');
        await until(async () => (await admin.consumerProgress(ctx.group, ctx.topic)).totalLag === 0, 'the offsets at the end', 15_000);
        await admin.resetOffsetByTime(ctx.group, ctx.topic, t0);
        await until(() => got.length >= 16, 'the messages again after the reset');
      } finally {
        await c.shutdown();
      }
      check(got.slice(8).sort().join() === numbered('r', 8).sort().join(), `again: ${got.slice(8).join()}`);
    },
  },
  {
    name: 'send sync',
    async run(ctx) {
      const producer = new Producer(ctx.transport());
      const props = { city: 'Zürich – 東京', 'with space': ' a b ' };
      // Java's putUserProperty refuses a blank value, and this broker would drop an empty one.
      await producer.send({ topic: ctx.topic, body: 'never', properties: { empty: '' } }).then(() => check(false, 'an empty property value was sent'), (e: unknown) => check(isKeelError(e, 'PROPERTY_INVALID'), `refused with ${String(e)}`));
      for (const b of numbered('s', 20)) {
        const r = await producer.send({ topic: ctx.topic, body: b, tags: 'T', keys: [b, `${b}-2`], properties: props });
        check(r.status === 'SEND_OK', `status ${r.status}`);
      }
      const got = await pushConsume(ctx, 20);
      check(bodiesOf(got).join() === numbered('s', 20).sort().join(), 'consumed what was sent');
      const m = got.find((x) => x.body.toString() === 's-3')!;
      check(m.tags === 'T' && m.keys.join(' ') === 's-3 s-3-2', `tags ${m.tags}, keys ${JSON.stringify(m.keys)}`);
      for (const [k, v] of Object.entries(props)) check(m.properties[k] === v, `property ${k}: ${JSON.stringify(m.properties[k])}`);
    },
  },
  {
    name: 'send with a callback; delayed message (level 2 = 5 s)',
    async run(ctx) {
      const producer = new Producer(ctx.transport());
      const viaCallback = await new Promise<keelmq.SendResult>((onSuccess, onException) => producer.send({ topic: ctx.topic, body: 'cb' }, { onSuccess, onException }));
      check(viaCallback.status === 'SEND_OK', `callback ${viaCallback.status}`);
      const t0 = Date.now();
      const delayed = await producer.send({ topic: ctx.topic, body: 'later', delayLevel: 2 });
      const got = await pushConsume(ctx, 2);
      const m = got.find((x) => x.body.toString() === 'later')!;
      check(m.topic === ctx.topic && m.properties['UNIQ_KEY'] === delayed.msgId, `delayed as ${m.topic} ${m.properties['UNIQ_KEY']}`);
      check(m.storeTimestamp - t0 >= 4000, `delivered ${m.storeTimestamp - t0} ms after the send`);
    },
  },
  {
    name: 'send async (200 promises in flight)',
    async run(ctx) {
      const producer = new Producer(ctx.transport());
      const rs = await Promise.all(numbered('a', 200).map((b) => producer.send({ topic: ctx.topic, body: b })));
      check(new Set(rs.map((r) => r.msgId)).size === 200, 'distinct msgIds');
      check(new Set(bodiesOf(await pushConsume(ctx, 200))).size === 200, 'consumed all 200');
    },
  },
  {
    name: 'send oneway',
    async run(ctx) {
      const producer = new Producer(ctx.transport());
      for (const b of numbered('o', 10)) await producer.sendOneway({ topic: ctx.topic, body: b });
      check(bodiesOf(await pushConsume(ctx, 10)).join() === numbered('o', 10).sort().join(), 'consumed the 10 oneway sends');
    },
  },
  {
    name: 'send batch',
    async run(ctx) {
      const producer = new Producer(ctx.transport());
      const rs = await producer.sendBatch(numbered('b', 10).map((b) => ({ topic: ctx.topic, body: b, keys: [b] })));
      check(rs.length === 10 && rs.every((r) => r.status === 'SEND_OK' && r.messageQueue.queueId === rs[0]!.messageQueue.queueId), `batch statuses ${JSON.stringify(rs.map((r) => [r.status, r.messageQueue.queueId]))}`);
      check(rs.every((r, i) => r.queueOffset === rs[0]!.queueOffset + i), `batch offsets ${JSON.stringify(rs.map((r) => r.queueOffset))}`);
      check(new Set(rs.map((r) => r.msgId)).size === 10 && new Set(rs.map((r) => r.offsetMsgId)).size === 10, 'a msgId and an offsetMsgId of its own for each');
      const got = await pushConsume(ctx, 10);
      check(bodiesOf(got).join() === numbered('b', 10).sort().join(), 'consumed the batch');
      // Each result names its own message: its UNIQ_KEY as the consumer sees it, its place in the queue.
      for (const [i, r] of rs.entries()) {
        const m = got.find((x) => x.body.toString() === `b-${i}`)!;
        check(m.properties['UNIQ_KEY'] === r.msgId && m.queueOffset === r.queueOffset, `b-${i}: result ${r.msgId}@${r.queueOffset}, consumed ${m.properties['UNIQ_KEY']}@${m.queueOffset}`);
      }
      const admin = new Admin(ctx.transport());
      check((await admin.queryMessageById(ctx.topic, rs[7]!.offsetMsgId))?.body.toString() === 'b-7', 'the 8th by its offsetMsgId');
    },
  },
  {
    name: 'producer msgId = UNIQ_KEY: found by Admin query by id and in the consumed properties',
    async run(ctx) {
      const producer = new Producer(ctx.transport());
      const rs: keelmq.SendResult[] = [];
      for (const b of numbered('u', 5)) rs.push(await producer.send({ topic: ctx.topic, body: b, keys: [b] }));
      check(rs.every((r) => /^[0-9A-F]{32}$/.test(r.msgId) && r.msgId !== r.offsetMsgId), `msgIds ${rs.map((r) => r.msgId).join()}`);
      const admin = new Admin(ctx.transport());
      for (const [i, r] of rs.entries()) {
        const byUniq = await admin.queryMessageById(ctx.topic, r.msgId);
        check(byUniq?.body.toString() === `u-${i}` && byUniq.properties['UNIQ_KEY'] === r.msgId, `u-${i} by msgId ${r.msgId}: ${byUniq?.body.toString()}`);
        const byOffset = await admin.queryMessageById(ctx.topic, r.offsetMsgId);
        check(byOffset?.body.toString() === `u-${i}` && byOffset.queueOffset === r.queueOffset && byOffset.queueId === r.messageQueue.queueId, `u-${i} by offsetMsgId`);
      }
      const got = await pushConsume(ctx, 5);
      for (const [i, r] of rs.entries()) check(got.find((m) => m.body.toString() === `u-${i}`)?.properties['UNIQ_KEY'] === r.msgId, `u-${i}: consumed UNIQ_KEY`);
    },
  },
  {
    name: 'compressed body (>= 4 KiB) round trip',
    async run(ctx) {
      const producer = new Producer(ctx.transport());
      const text = Buffer.from('keelmq compresses this '.repeat(800)); // 18 KiB, compressible
      const random = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919 + (i >> 3) * 104729) & 0xff)); // 5,000 bytes
      const exact = Buffer.alloc(4096, 0x61); // the threshold itself
      const sent = [text, random, exact];
      const rs: keelmq.SendResult[] = [];
      for (const b of sent) rs.push(await producer.send({ topic: ctx.topic, body: b }));
      const got = await pushConsume(ctx, 3);
      for (const [i, b] of sent.entries()) {
        const m = got.find((x) => x.properties['UNIQ_KEY'] === rs[i]!.msgId);
        check(m !== undefined && m.body.equals(b), `body ${i} (${b.length} bytes): consumed ${m?.body.length} bytes${m && m.body.length === b.length ? ', different' : ''}`);
      }
      // The broker stored it compressed (sysFlag bit 0): a pull shows the same body, inflated by the client.
      const pc = new PullConsumer(ctx.transport(), { group: `${ctx.group}_pull` });
      const r = await pc.pull(ctx.topic, rs[0]!.messageQueue.queueId, rs[0]!.queueOffset, { max: 1 });
      check(r.status === 'FOUND' && r.messages[0]!.body.equals(text), `pulled ${r.status} ${r.messages[0]?.body.length}`);
      const admin = new Admin(ctx.transport());
      check((await admin.queryMessageById(ctx.topic, rs[0]!.msgId))?.body.equals(text) === true, 'Admin query inflates it too');
    },
  },
  {
    name: 'push concurrent, tag filter',
    async run(ctx) {
      const producer = new Producer(ctx.transport());
      for (let i = 0; i < 20; i++) await producer.send({ topic: ctx.topic, body: `p-${i}`, tags: i % 2 ? 'B' : 'A' });
      const got: MessageExt[] = [];
      const c = new PushConsumer(ctx.transport(), {
        group: ctx.group, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', listener: (msgs) => { got.push(...msgs); return 'CONSUME_SUCCESS'; },
      }).subscribe(ctx.topic, 'A');
      await c.start();
      try {
        await until(() => got.length >= 10, '10 A messages');
        await sleep(500);
      } finally {
        await c.shutdown();
      }
      check(got.length === 10 && got.every((m) => m.tags === 'A'), `got ${got.length}: ${got.map((m) => m.tags).join()}`);
    },
  },
  {
    name: 'push: two consumers of one group rebalance (queues split, no overlap), one leaves, the other takes all',
    async run(ctx) {
      const producer = new Producer(ctx.transport());
      const got = new Map<string, string[]>(); // body -> consumer names
      const consumer = (name: string) => new PushConsumer(ctx.transport(), {
        group: ctx.group, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
        listener: (msgs) => { for (const m of msgs) got.set(m.body.toString(), [...got.get(m.body.toString()) ?? [], `${name}:${m.queueId}`]); return 'CONSUME_SUCCESS'; },
      }).subscribe(ctx.topic);
      const mine = (c: PushConsumer) => c.assignedQueues().filter((q) => q.topic === ctx.topic).map((q) => q.queueId).sort();
      const a = consumer('a');
      const b = consumer('b');
      let bStopped = false;
      await a.start();
      try {
        await until(() => mine(a).length === 4, 'a alone takes the 4 queues');
        await b.start();
        // The broker tells a of b (NOTIFY_CONSUMER_IDS_CHANGED): no need to wait for the 20 s timer.
        await until(() => mine(a).length === 2 && mine(b).length === 2, `a and b 2 queues each (a ${mine(a).join()}, b ${mine(b).join()})`, 15_000);
        check(new Set([...mine(a), ...mine(b)]).size === 4, `no queue shared: a ${mine(a).join()}, b ${mine(b).join()}`);
        // Drained a's queues on the way; what is sent now goes to the owner of its queue only.
        for (const body of numbered('rb', 40)) await producer.send({ topic: ctx.topic, body });
        await until(() => numbered('rb', 40).every((x) => got.has(x)), 'the 40 consumed');
        await sleep(500);
        const [qa, qb] = [mine(a), mine(b)];
        for (const x of numbered('rb', 40)) {
          const who = got.get(x)!;
          check(who.length === 1, `${x} consumed ${who.length} times: ${who.join()}`);
          const [name, q] = who[0]!.split(':');
          check((name === 'a' ? qa : qb).includes(Number(q)), `${x} consumed by ${name} from queue ${q}, which is not its own (a ${qa.join()}, b ${qb.join()})`);
        }
        await b.shutdown();
        bStopped = true;
        await until(() => mine(a).length === 4, 'a takes b\'s queues back after b left', 15_000);
        for (const body of numbered('rc', 20)) await producer.send({ topic: ctx.topic, body });
        await until(() => numbered('rc', 20).every((x) => got.get(x)?.[0]?.startsWith('a:')), 'a consumes everything after b left');
      } finally {
        if (!bStopped) await b.shutdown();
        await a.shutdown();
      }
    },
  },
  {
    name: 'push orderly: per sharding key in send order across SUSPEND_CURRENT_QUEUE_A_MOMENT and a consumer restart',
    async run(ctx) {
      const producer = new Producer(ctx.transport());
      const keys = ['k0', 'k1', 'k2', 'k3', 'k4'];
      const perKey = 12;
      // Half by sharding key, half by a selector: both pin a key to one queue.
      for (let i = 0; i < perKey; i++) {
        for (const [k, key] of keys.entries()) {
          const msg = { topic: ctx.topic, body: `${key}-${i}`, keys: [key] };
          const r = k % 2 === 0
            ? await producer.send({ ...msg, shardingKey: key })
            : await producer.send(msg, (mqs, _m, arg: number) => mqs[arg % mqs.length]!, k);
          check(r.status === 'SEND_OK', `status ${r.status}`);
        }
      }
      const runs: { key: string; i: number; reconsume: number; who: string; queueId: number }[] = [];
      const suspended = new Map<string, string>(); // body -> the consumer that suspended it
      const orderly = (who: string) => new PushConsumer(ctx.transport(), {
        group: ctx.group, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', suspendCurrentQueueTimeMillis: 300,
        orderlyListener: (msgs) => {
          for (const m of msgs) {
            const body = m.body.toString();
            const [key, i] = body.split('-');
            // k1-5 and k2-7 are suspended once each: they must come again before k1-6 / k2-8.
            if ((body === 'k1-5' || body === 'k2-7') && !suspended.has(body)) { suspended.set(body, who); return 'SUSPEND_CURRENT_QUEUE_A_MOMENT'; }
            runs.push({ key: key!, i: Number(i), reconsume: m.reconsumeTimes, who, queueId: m.queueId });
          }
          return 'SUCCESS';
        },
      }).subscribe(ctx.topic);
      const first = orderly('first');
      await first.start();
      try {
        await until(() => runs.length >= 25, 'half of the messages');
      } finally {
        await first.shutdown();
      }
      const second = orderly('second');
      await second.start();
      try {
        await until(() => keys.every((k) => runs.some((r) => r.key === k && r.i === perKey - 1)), 'every key to its last message');
        await sleep(500);
      } finally {
        await second.shutdown();
      }
      check(suspended.size === 2, `suspended ${[...suspended.keys()].join()}`);
      for (const k of keys) {
        const mine = runs.filter((r) => r.key === k);
        check(new Set(mine.map((r) => r.queueId)).size === 1, `${k} from one queue: ${mine.map((r) => r.queueId).join()}`);
        const a = mine.filter((r) => r.who === 'first').map((r) => r.i);
        const b = mine.filter((r) => r.who === 'second').map((r) => r.i);
        const inOrder = (xs: number[]) => xs.every((x, j) => j === 0 || x === xs[j - 1]! + 1);
        check(inOrder(a) && inOrder(b), `${k} in order: first ${a.join(' ')} | second ${b.join(' ')}`);
        // The second consumer starts where the first one's committed offset is: at most a redelivery, never a gap.
        const start = a.length === 0 ? 0 : a[a.length - 1]! + 1;
        check(b.length === 0 ? start === perKey : b[0]! <= start && b[b.length - 1] === perKey - 1, `${k} resumed at ${b[0]} after ${start - 1}`);
        check(a.length === 0 ? b[0] === 0 : a[0] === 0, `${k} starts at 0`);
      }
      // A suspended batch comes again to the same consumer with reconsumeTimes + 1 (a restart starts over at 0).
      for (const [body, who] of suspended) {
        const [key, i] = body.split('-');
        const again = runs.find((r) => r.key === key && r.i === Number(i))!;
        check(again.reconsume === (again.who === who ? 1 : 0), `${body} suspended by ${who}, consumed by ${again.who} with reconsumeTimes ${again.reconsume}`);
      }
    },
  },
  {
    name: 'push orderly: a second consumer joins, queues split (locks moved), per-key order kept',
    async run(ctx) {
      const producer = new Producer(ctx.transport());
      const runs: { body: string; who: string; queueId: number }[] = [];
      const orderly = (who: string) => new PushConsumer(ctx.transport(), {
        group: ctx.group, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
        orderlyListener: (msgs) => { for (const m of msgs) runs.push({ body: m.body.toString(), who, queueId: m.queueId }); return 'SUCCESS'; },
      }).subscribe(ctx.topic);
      const mine = (c: PushConsumer) => c.assignedQueues().filter((q) => q.topic === ctx.topic).map((q) => q.queueId);
      const keys = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
      const sendRound = async (i: number) => { for (const k of keys) await producer.send({ topic: ctx.topic, body: `${k}-${i}`, shardingKey: k }); };
      const a = orderly('a');
      const b = orderly('b');
      await a.start();
      try {
        for (let i = 0; i < 5; i++) await sendRound(i);
        await until(() => runs.length >= 40, 'a consumed the first rounds');
        await b.start();
        // b gets its queues once a unlocked them (at once) or at b's next rebalance (20 s) if it asked first.
        await until(() => mine(a).length === 2 && mine(b).length === 2, `2 queues each (a ${mine(a).join()}, b ${mine(b).join()})`, 45_000);
        check(new Set([...mine(a), ...mine(b)]).size === 4, `no queue shared: a ${mine(a).join()}, b ${mine(b).join()}`);
        for (let i = 5; i < 10; i++) await sendRound(i);
        await until(() => keys.every((k) => runs.some((r) => r.body === `${k}-9`)), 'every key to round 9');
        await sleep(300);
        const bQueues = mine(b);
        for (const k of keys) {
          const seq = runs.filter((r) => r.body.startsWith(`${k}-`)).map((r) => Number(r.body.split('-')[1]));
          check(seq.join() === '0,1,2,3,4,5,6,7,8,9', `${k}: ${seq.join()}`);
          const late = runs.filter((r) => r.body.startsWith(`${k}-`) && Number(r.body.split('-')[1]) >= 5);
          check(late.every((r) => r.who === (bQueues.includes(r.queueId) ? 'b' : 'a')), `${k} after the split read by the queue's owner: ${late.map((r) => `${r.who}:${r.queueId}`).join()}`);
        }
      } finally {
        await b.shutdown();
        await a.shutdown();
      }
    },
  },
  {
    name: 'push broadcasting: two consumers each get every message, offsets local',
    async run(ctx) {
      const producer = new Producer(ctx.transport());
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keelmq-rmq-bcast-'));
      const got = { a: [] as string[], b: [] as string[] };
      const consumer = (who: 'a' | 'b') => new PushConsumer(ctx.transport(), {
        group: ctx.group, messageModel: 'BROADCASTING', instanceName: who, offsetStoreDir: dir, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
        listener: (msgs) => { got[who].push(...msgs.map((m) => m.body.toString())); return 'CONSUME_SUCCESS'; },
      }).subscribe(ctx.topic);
      const a = consumer('a');
      const b = consumer('b');
      try {
        await a.start();
        await b.start();
        for (const x of numbered('bc', 12)) await producer.send({ topic: ctx.topic, body: x });
        await until(() => got.a.length >= 12 && got.b.length >= 12, 'both got 12');
        await sleep(300);
      } finally {
        await a.shutdown();
        await b.shutdown();
      }
      const files = (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('offsets.json'));
      fs.rmSync(dir, { recursive: true, force: true });
      check(files.length === 2, `local offset files ${files.join()}`);
      check(got.a.sort().join() === numbered('bc', 12).sort().join() && got.b.sort().join() === numbered('bc', 12).sort().join(), `a ${got.a.length}, b ${got.b.length}`);
    },
  },
  {
    name: 'retry through send-back (RECONSUME_LATER, delay level 1)',
    async run(ctx) {
      const producer = new Producer(ctx.transport());
      await producer.send({ topic: ctx.topic, body: 'retry-me' });
      let failed = false;
      const got = await (async () => {
        const all: MessageExt[] = [];
        const c = new PushConsumer(ctx.transport(), {
          group: ctx.group, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
          listener: (msgs, cctx) => {
            all.push(...msgs);
            if (!failed) { failed = true; cctx.delayLevelWhenNextConsume = 1; return 'RECONSUME_LATER'; }
            return 'CONSUME_SUCCESS';
          },
        }).subscribe(ctx.topic);
        await c.start();
        try {
          await until(() => all.length >= 2, 'the redelivery', 30_000);
        } finally {
          await c.shutdown();
        }
        return all;
      })();
      check(got[1]!.body.toString() === 'retry-me' && got[1]!.reconsumeTimes === 1, `redelivered ${JSON.stringify(got.map((m) => [m.topic, m.reconsumeTimes]))}`);
      check(got[1]!.topic === ctx.topic, `redelivered as topic ${got[1]!.topic}`);
    },
  },
  {
    name: 'retry -> DLQ: maxReconsumeTimes 2, read back through Admin and a PullConsumer on %DLQ%group',
    async run(ctx) {
      const producer = new Producer(ctx.transport());
      const sent = await producer.send({ topic: ctx.topic, body: 'doomed', keys: ['k-doomed'] });
      const got: MessageExt[] = [];
      const c = new PushConsumer(ctx.transport(), {
        group: ctx.group, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', maxReconsumeTimes: 2,
        listener: (msgs, cctx) => { got.push(...msgs); cctx.delayLevelWhenNextConsume = 1; return 'RECONSUME_LATER'; },
      }).subscribe(ctx.topic);
      const dlq = `%DLQ%${ctx.group}`;
      const admin = new Admin(ctx.transport());
      await c.start();
      let dead: MessageExt | undefined;
      try {
        // The first delivery, then retries 1 and 2 (level 1: 1 s each); the third failure goes to the DLQ.
        await until(async () => (dead = await admin.queryMessageById(dlq, sent.msgId).catch(() => undefined)) !== undefined, 'the message in the DLQ (Admin query by UNIQ_KEY)', 30_000);
        await sleep(1500); // nothing more may come
      } finally {
        await c.shutdown();
      }
      check(got.map((m) => m.reconsumeTimes).join() === '0,1,2', `deliveries' reconsumeTimes ${got.map((m) => m.reconsumeTimes).join()}`);
      check(got.every((m) => m.body.toString() === 'doomed' && m.topic === ctx.topic), `deliveries ${got.map((m) => `${m.topic}:${m.body.toString()}`).join()}`);
      check(dead!.body.toString() === 'doomed' && dead!.properties['UNIQ_KEY'] === sent.msgId, `DLQ message ${dead!.body.toString()} ${dead!.properties['UNIQ_KEY']}`);
      const pc = new PullConsumer(ctx.transport(), { group: `${ctx.group}_dlq` });
      const queues = await pc.queues(dlq);
      const pulled: MessageExt[] = [];
      for (const q of queues) {
        const r = await pc.pull(dlq, q, 0, { max: 32 });
        if (r.status === 'FOUND') pulled.push(...r.messages);
      }
      // The broker stores the dead letter with reconsumeTimes + 1, as it would a retry (SendMessageProcessor.asyncConsumerSendMsgBack).
      check(pulled.length === 1 && pulled[0]!.body.toString() === 'doomed' && pulled[0]!.reconsumeTimes === 3, `pulled from the DLQ: ${pulled.map((m) => `${m.body.toString()}/${m.reconsumeTimes}`).join()}`);
      check(pulled[0]!.properties['ORIGIN_MESSAGE_ID'] !== undefined && pulled[0]!.properties['RETRY_TOPIC'] === ctx.topic, `DLQ properties ${JSON.stringify(pulled[0]!.properties)}`);
    },
  },
  {
    name: 'orderly -> DLQ: suspended past maxReconsumeTimes 2, the queue goes on',
    async run(ctx) {
      const producer = new Producer(ctx.transport());
      const poison = await producer.send({ topic: ctx.topic, body: 'poison', shardingKey: 'one' });
      await producer.send({ topic: ctx.topic, body: 'after', shardingKey: 'one' });
      const got: MessageExt[] = [];
      const c = new PushConsumer(ctx.transport(), {
        group: ctx.group, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', maxReconsumeTimes: 2, suspendCurrentQueueTimeMillis: 100,
        orderlyListener: (msgs) => { got.push(...msgs); return msgs.some((m) => m.body.toString() === 'poison') ? 'SUSPEND_CURRENT_QUEUE_A_MOMENT' : 'SUCCESS'; },
      }).subscribe(ctx.topic);
      const admin = new Admin(ctx.transport());
      await c.start();
      try {
        await until(() => got.some((m) => m.body.toString() === 'after'), 'the message after the poison one');
      } finally {
        await c.shutdown();
      }
      check(got.map((m) => `${m.body.toString()}/${m.reconsumeTimes}`).join() === 'poison/0,poison/1,poison/2,after/0', `deliveries ${got.map((m) => `${m.body.toString()}/${m.reconsumeTimes}`).join()}`);
      // The broker's index is built by its dispatcher, a moment after the store.
      await until(async () => (await admin.queryMessageById(`%DLQ%${ctx.group}`, poison.msgId).catch(() => undefined))?.body.toString() === 'poison', 'the poison message in the DLQ', 10_000);
    },
  },
  {
    name: 'lite pull: subscribe, poll, commitSync, resume after restart; assign + seek',
    async run(ctx) {
      const producer = new Producer(ctx.transport());
      for (const b of numbered('l', 20)) await producer.send({ topic: ctx.topic, body: b });
      const c = new LitePullConsumer(ctx.transport(), { group: ctx.group, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', autoCommit: false }).subscribe(ctx.topic);
      await c.start();
      const got: MessageExt[] = [];
      try {
        check(c.assignment().length === 4, `assignment ${c.assignment().length}`);
        await until(async () => { got.push(...await c.poll(200)); return got.length >= 20; }, '20 polled');
        await c.commitSync();
      } finally {
        await c.shutdown();
      }
      check(bodiesOf(got).join() === numbered('l', 20).sort().join(), 'polled what was sent');
      for (const b of numbered('l2', 5)) await producer.send({ topic: ctx.topic, body: b });
      const again = new LitePullConsumer(ctx.transport(), { group: ctx.group, autoCommit: false }).subscribe(ctx.topic);
      await again.start();
      const more: MessageExt[] = [];
      try {
        await until(async () => { more.push(...await again.poll(200)); return more.length >= 5; }, '5 after restart');
        await sleep(300);
        more.push(...await again.poll(0));
      } finally {
        await again.shutdown();
      }
      check(bodiesOf(more).join() === numbered('l2', 5).sort().join(), `after restart ${bodiesOf(more).join()}`);

      const a = new LitePullConsumer(ctx.transport(), { group: `${ctx.group}_a` });
      const [mq] = await a.fetchMessageQueues(ctx.topic);
      a.assign([mq!]);
      await a.start();
      try {
        await a.seekToBegin(mq!);
        const first: MessageExt[] = [];
        await until(async () => { first.push(...await a.poll(200)); return first.length > 0; }, 'a message after seekToBegin');
        check(first[0]!.queueOffset === 0 && first.every((m) => m.queueId === mq!.queueId), 'seekToBegin reads from 0');
      } finally {
        await a.shutdown();
      }
    },
  },
  {
    name: 'pull consumer: pull with tags, offsets, send-back to %RETRY%',
    async run(ctx) {
      const t = ctx.transport();
      const [q] = (await t.route(ctx.topic)).writeQueues;
      for (let i = 0; i < 6; i++) await t.send(q!, { topic: ctx.topic, body: `q-${i}`, tags: i % 2 ? 'Y' : 'X' });
      const pc = new PullConsumer(ctx.transport(), { group: ctx.group });
      const r = await pc.pull(ctx.topic, q!.queueId, 0, { expression: 'X' });
      check(r.status === 'FOUND' && r.messages.length === 3 && r.messages.every((m) => m.tags === 'X'), `pull ${r.status} ${r.messages.length}`);
      pc.updateConsumeOffset(ctx.topic, q!.queueId, r.nextBeginOffset);
      await pc.persistConsumerOffset();
      check(await new PullConsumer(ctx.transport(), { group: ctx.group }).fetchConsumeOffset(ctx.topic, q!.queueId) === r.nextBeginOffset, 'offset read back');
      await pc.sendMessageBack(r.messages[0]!, 1);
      const retry = `%RETRY%${ctx.group}`;
      await until(async () => {
        const rr = await pc.pull(retry, 0, 0).catch(() => undefined);
        return rr?.status === 'FOUND' && rr.messages[0]!.body.toString() === 'q-0' && rr.messages[0]!.reconsumeTimes === 1;
      }, 'the message in the retry topic', 20_000);
    },
  },
];

// --- running ---

function say(line: string): void { process.stdout.write(line + '\n'); }

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(false); });
    s.once('error', () => resolve(true));
  });
}

async function main(): Promise<number> {
  const repo = path.resolve(__dirname, '../../..');
  const runSh = process.env['RMQ_RUN_SH'] ?? path.resolve(repo, '../shared/rocketmq-server/run.sh');
  const build = process.env['RMQ_BUILD'] ?? '/tmp/rmq-server';
  if (spawnSync('java', ['-version'], { stdio: 'ignore' }).status !== 0) { say('SKIP: no Java on PATH (RocketMQ 4.9.7 needs Java 17)'); return 0; }
  if (!fs.existsSync(runSh)) { say(`SKIP: no ${runSh}`); return 0; }
  if (!fs.existsSync(path.join(build, 'home', 'classpath.txt'))) {
    say(`SKIP: no RocketMQ build at ${build} (build one: MIRROR=… bash ${path.dirname(runSh)}/build.sh, or set RMQ_BUILD)`);
    return 0;
  }
  for (const p of PORTS) {
    if (!await portFree(p)) { say(`SKIP: port ${p} is in use (another name server or broker runs; run.sh needs 9876/10911/10909/10912)`); return 0; }
  }
  // A root of our own: its store, logs and pid files; the build's jars are shared.
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'keelmq-rmq-interop-'));
  fs.symlinkSync(path.join(build, 'home'), path.join(root, 'home'));
  const env = { ...process.env, RMQ_ROOT: root, WIPE_STORE: '1' };
  const only = process.env['ONLY']?.split(',');
  const results: { name: string; outcome: 'PASS' | 'FAIL' | 'SKIP'; detail: string; ms: number }[] = [];
  try {
    say(`starting RocketMQ 4.9.7 (${build}) with ${runSh}, RMQ_ROOT=${root}`);
    const started = spawnSync('bash', [runSh, 'start'], { env, encoding: 'utf8' });
    process.stdout.write(started.stdout);
    if (started.status !== 0) { say(`FAIL: run.sh start exited ${started.status}: ${started.stderr}`); return 1; }
    const transports: RemotingTransport[] = [];
    const admin = new Admin(track(transports));
    // The broker registers with the name server a moment after "boot success".
    await until(async () => (await admin.clusterList().catch(() => [])).length > 0, 'the broker in the name server', 30_000);
    let n = 0;
    for (const s of SCENARIOS) {
      if (only && !only.some((o) => s.name.startsWith(o))) continue;
      n++;
      const topic = `KeelInterop_${process.pid}_${n}`;
      const t0 = Date.now();
      const mine: RemotingTransport[] = [];
      try {
        await admin.createTopic(topic, { queues: 4 });
        const out = await s.run({ transport: () => track(mine), topic, group: `KeelGroup_${process.pid}_${n}` });
        results.push(out ? { name: s.name, outcome: 'SKIP', detail: out.skipped, ms: Date.now() - t0 } : { name: s.name, outcome: 'PASS', detail: '', ms: Date.now() - t0 });
      } catch (e) {
        results.push({ name: s.name, outcome: 'FAIL', detail: (e as Error).stack ?? String(e), ms: Date.now() - t0 });
      } finally {
        for (const tr of mine) await tr.close().catch(() => undefined);
      }
      const r = results[results.length - 1]!;
      say(`${r.outcome} ${r.name} (${r.ms} ms)${r.detail ? `\n     ${r.detail.split('\n').slice(0, 4).join('\n     ')}` : ''}`);
    }
    for (const tr of transports) await tr.close().catch(() => undefined);
  } finally {
    const stopped = spawnSync('bash', [runSh, 'stop'], { env, encoding: 'utf8' });
    process.stdout.write(stopped.stdout);
    fs.rmSync(root, { recursive: true, force: true });
  }
  const failed = results.filter((r) => r.outcome === 'FAIL').length;
  say(`\n${results.filter((r) => r.outcome === 'PASS').length} passed, ${failed} failed, ${results.filter((r) => r.outcome === 'SKIP').length} skipped (against Apache RocketMQ 4.9.7)`);
  return failed > 0 ? 1 : 0;
}

function track(list: RemotingTransport[]): RemotingTransport {
  const t = new RemotingTransport({ namesrvAddr: [NAMESRV] });
  list.push(t);
  return t;
}

main().then((code) => process.exit(code), (e: unknown) => { console.error(e); process.exit(1); });
