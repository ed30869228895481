/**
 * Golden remoting frames, built byte by byte (not with lib/remoting) as RocketMQ 4.9.7 puts them on
 * the wire (shared/reference/rocketmq-remoting.md §1, §3, §4, §6.1), and written to fixtures/remoting/
 * by make-golden-frames.ts. The test decodes each file, checks the fields, re-encodes it and
 * expects the same bytes.
 *
 * Header JSON is fastjson 1.2.83's default output: bean fields alphabetical, nulls omitted. fastjson
 * does not sort a HashMap without MapSortField (not a default feature), so extFields come in Java
 * HashMap iteration order, as computed with JDK 17 for each key set from the header class's field
 * set (`RemotingCommand.makeCustomHeaderToNet` walks a HashSet<Field>, which decides the order of
 * keys sharing a bucket). Order does not matter to any parser; it matters for byte-exactness here.
 * fixtures/remoting/java-4.9.7-client/ holds frames captured from a real Java 4.9.7 client (see
 * lib/remoting/README.md, "Golden frames"); codec.test checks that the frames built here have their
 * field order.
 */
import * as zlib from 'node:zlib';

function jstr(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if (ch === '"' || ch === '\\') out += '\\' + ch;
    else if (c < 0x20) out += '\\u' + c.toString(16).toUpperCase().padStart(4, '0');
    else out += ch;
  }
  return out + '"';
}

function ext(entries: [string, string][]): string {
  return '{' + entries.map(([k, v]) => `${jstr(k)}:${jstr(v)}`).join(',') + '}';
}

/** A JSON-header frame: fields in fastjson's alphabetical order. */
function jsonFrame(h: { code: number; extFields?: [string, string][]; flag: number; opaque: number; remark?: string }, body?: Buffer): Buffer {
  let s = `{"code":${h.code}`;
  if (h.extFields) s += `,"extFields":${ext(h.extFields)}`;
  s += `,"flag":${h.flag},"language":"JAVA","opaque":${h.opaque}`;
  if (h.remark !== undefined) s += `,"remark":${jstr(h.remark)}`;
  s += ',"serializeTypeCurrentRPC":"JSON","version":407}';
  return frame(0, Buffer.from(s, 'utf8'), body);
}

function frame(type: number, header: Buffer, body?: Buffer): Buffer {
  const b = body ?? Buffer.alloc(0);
  const pre = Buffer.alloc(8);
  pre.writeInt32BE(4 + header.length + b.length, 0);
  pre.writeInt32BE((type << 24) | header.length, 4);
  return Buffer.concat([pre, header, b]);
}

/** The same route request with the ROCKETMQ binary header (`-Drocketmq.serialize.type=ROCKETMQ`). */
function rocketMqRouteRequest(topic: string, opaque: number): Buffer {
  const k = Buffer.from('topic');
  const v = Buffer.from(topic);
  const h = Buffer.alloc(2 + 1 + 2 + 4 + 4 + 4 + 4 + 2 + k.length + 4 + v.length);
  let p = 0;
  p = h.writeInt16BE(105, p);
  p = h.writeInt8(0, p); // JAVA
  p = h.writeInt16BE(407, p);
  p = h.writeInt32BE(opaque, p);
  p = h.writeInt32BE(0, p); // flag
  p = h.writeInt32BE(0, p); // no remark
  p = h.writeInt32BE(2 + k.length + 4 + v.length, p);
  p = h.writeInt16BE(k.length, p);
  p += k.copy(h, p);
  p = h.writeInt32BE(v.length, p);
  v.copy(h, p);
  return frame(1, h);
}

export const BROKER_ADDR = '127.0.0.1:10911';
export const UNIQ_KEY = '7F00000100F918B4AAC2336B72D80000';
/** Offset msgId: storeHost 127.0.0.1:10911 + commitLogOffset 0. */
export const OFFSET_MSG_ID = '7F00000100002A9F0000000000000000';
export const BODY = Buffer.from('Hello RocketMQ 0', 'utf8');
export const BORN = 1700000000000;

/** One stored record (§6.1, v1, IPv4) as a pull body carries it. */
export function storedRecord(): Buffer {
  const topic = Buffer.from('TopicTest');
  const props = Buffer.from(`UNIQ_KEY\u0001${UNIQ_KEY}\u0002CLUSTER\u0001DefaultCluster\u0002TAGS\u0001TagA`, 'utf8');
  const size = 91 + BODY.length + topic.length + props.length;
  const r = Buffer.alloc(size);
  let p = 0;
  p = r.writeInt32BE(size, p);
  p = r.writeUInt32BE(0xdaa320a7, p);
  p = r.writeInt32BE(zlib.crc32(BODY) & 0x7fffffff, p);
  p = r.writeInt32BE(0, p); // queueId
  p = r.writeInt32BE(0, p); // flag
  p = r.writeBigInt64BE(0n, p); // queueOffset
  p = r.writeBigInt64BE(0n, p); // commitLogOffset
  p = r.writeInt32BE(0, p); // sysFlag
  p = r.writeBigInt64BE(BigInt(BORN), p);
  p += Buffer.from([127, 0, 0, 1]).copy(r, p);
  p = r.writeInt32BE(54321, p);
  p = r.writeBigInt64BE(BigInt(BORN + 5), p);
  p += Buffer.from([127, 0, 0, 1]).copy(r, p);
  p = r.writeInt32BE(10911, p);
  p = r.writeInt32BE(0, p); // reconsumeTimes
  p = r.writeBigInt64BE(0n, p); // preparedTransactionOffset
  p = r.writeInt32BE(BODY.length, p);
  p += BODY.copy(r, p);
  p = r.writeInt8(topic.length, p);
  p += topic.copy(r, p);
  p = r.writeInt16BE(props.length, p);
  props.copy(r, p);
  return r;
}

export const HEARTBEAT_BODY = '{"clientID":"127.0.0.1@4242#812345678901","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET",'
  + '"consumeType":"CONSUME_PASSIVELY","groupName":"ConsumerGroupName","messageModel":"CLUSTERING","subscriptionDataSet":['
  + '{"classFilterMode":false,"codeSet":[2598919],"expressionType":"TAG","subString":"TagA","subVersion":1700000000000,"tagsSet":["TagA"],"topic":"TopicTest"},'
  + '{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":1700000000001,"tagsSet":[],"topic":"%RETRY%ConsumerGroupName"}],'
  + '"unitMode":false}],"producerDataSet":[{"groupName":"CLIENT_INNER_PRODUCER"}]}';

export const ROUTE_BODY = '{"brokerDatas":[{"brokerAddrs":{"0":"127.0.0.1:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],'
  + '"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}';

export const SEND_PROPERTIES = `UNIQ_KEY\u0001${UNIQ_KEY}\u0002WAIT\u0001true\u0002TAGS\u0001TagA`;

/** name → frame bytes. */
export function goldenFrames(): Record<string, Buffer> {
  return {
    // DefaultMQProducer.send to TopicTest queue 0 of broker-a; properties in HashMap order, no trailing \u0002.
    'send-message-v2.request': jsonFrame({
      code: 310, flag: 0, opaque: 3, extFields: [
        ['a', 'ProducerGroupName'], ['b', 'TopicTest'], ['c', 'TBW102'], ['d', '4'], ['e', '0'], ['f', '0'], ['g', String(BORN)],
        ['h', '0'], ['i', SEND_PROPERTIES], ['j', '0'], ['k', 'false'], ['m', 'false'], ['n', 'broker-a'],
      ],
    }, BODY),
    // SendMessageProcessor: MSG_REGION and TRACE_ON added first, then SendMessageResponseHeader.
    'send-message-v2.response': jsonFrame({
      code: 0, flag: 1, opaque: 3, extFields: [
        ['queueId', '0'], ['TRACE_ON', 'true'], ['MSG_REGION', 'DefaultRegion'], ['msgId', OFFSET_MSG_ID], ['queueOffset', '0'],
      ],
    }),
    // Push consumer's first pull: suspend (2), no commit, no subscription posted.
    'pull-message.request': jsonFrame({
      code: 11, flag: 0, opaque: 5, extFields: [
        ['queueId', '0'], ['maxMsgNums', '32'], ['sysFlag', '2'], ['suspendTimeoutMillis', '15000'], ['commitOffset', '0'],
        ['bname', 'broker-a'], ['topic', 'TopicTest'], ['queueOffset', '0'], ['expressionType', 'TAG'], ['subVersion', '1700000000000'],
        ['consumerGroup', 'ConsumerGroupName'],
      ],
    }),
    'pull-message.response': jsonFrame({
      code: 0, flag: 1, opaque: 5, remark: 'FOUND', extFields: [
        ['suggestWhichBrokerId', '0'], ['nextBeginOffset', '1'], ['maxOffset', '1'], ['minOffset', '0'],
      ],
    }, storedRecord()),
    // No custom header: extFields absent.
    'heart-beat.request': jsonFrame({ code: 34, flag: 0, opaque: 1 }, Buffer.from(HEARTBEAT_BODY, 'utf8')),
    'heart-beat.response': jsonFrame({ code: 0, flag: 1, opaque: 1 }),
    'get-routeinfo-by-topic.request': jsonFrame({ code: 105, flag: 0, opaque: 0, extFields: [['topic', 'TopicTest']] }),
    'get-routeinfo-by-topic.response': jsonFrame({ code: 0, flag: 1, opaque: 0 }, Buffer.from(ROUTE_BODY, 'utf8')),
    'get-routeinfo-by-topic.rocketmq.request': rocketMqRouteRequest('TopicTest', 0),
  };
}
