/**
 * The little of a RocketMQ client the broker rows need, on lib/remoting's RemotingClient:
 * SEND_MESSAGE_V2 and SEND_BATCH_MESSAGE frames shaped as the Java 4.9.7 producer shapes them
 * (fixtures/remoting/java-4.9.7-client/send-message-v2.request.bin), and PULL_MESSAGE with long
 * polling as its push consumer sends it, plus posting the subscription (sysFlag 4) so that no
 * heartbeat is needed. It is the baseline the rows with keelmq's own Producer are read against;
 * like any client code it imports nothing of the store or the consumer layer.
 */
import { encodeBatchBody } from '../lib/broker/message-properties';
import { expectSuccess, RemotingClient } from '../lib/remoting/remoting-client';
import { emptyExtFields, RemotingCommand } from '../lib/remoting/remoting-command';
import { RequestCode } from '../lib/remoting/request-code';
import { ResponseCode } from '../lib/remoting/response-code';

/** Java's sendMsgTimeout is 3 s; the Bench class raises it to 10 s, as here. */
const SEND_TIMEOUT_MS = 10_000;
/** The push consumer's defaults: 15 s hold, 30 s call timeout, 32 messages per pull. */
const SUSPEND_MS = 15_000;
const PULL_TIMEOUT_MS = 30_000;
const PULL_BATCH = 32;
const PULL_SYS_FLAG_SUSPEND = 2;
const PULL_SYS_FLAG_SUBSCRIPTION = 4;

/**
 * UNIQ_KEY as MessageClientIDSetter builds it: ip(4) pid(2) classloader hash(4) in a fixed prefix,
 * then ms since the start of the month(4) and a counter(2), all hex.
 */
class UniqKeys {
  private readonly prefix: string;
  private readonly monthStart: number;
  private counter = 0;

  constructor() {
    const head = Buffer.alloc(10);
    head.writeUInt32BE(0x7f000001, 0);
    head.writeUInt16BE(process.pid & 0xffff, 4);
    head.writeUInt32BE((Math.random() * 0x100000000) >>> 0, 6);
    this.prefix = head.toString('hex').toUpperCase();
    const now = new Date();
    this.monthStart = new Date(now.getFullYear(), now.getMonth(), 1).getTime();
  }

  next(): string {
    const ms = (Date.now() - this.monthStart) >>> 0;
    this.counter = (this.counter + 1) & 0xffff;
    return this.prefix + ms.toString(16).toUpperCase().padStart(8, '0') + this.counter.toString(16).toUpperCase().padStart(4, '0');
  }
}

export interface SendReply {
  msgId: string;
  queueId: number;
  queueOffset: number;
}

/** A producer of one group sending to one broker, round-robin over the topic's queues. */
export class BenchProducer {
  private readonly ids = new UniqKeys();
  private nextQueue = 0;

  constructor(
    private readonly remoting: RemotingClient,
    private readonly brokerAddr: string,
    private readonly group: string,
    private readonly topic: string,
    private readonly queues: number,
  ) {
    this.fieldsHead = `{"a":${JSON.stringify(group)},"b":${JSON.stringify(topic)},"c":"TBW102","d":"4","e":"`;
  }

  /** The constant head of the header's fields as JSON (see call). */
  private readonly fieldsHead: string;

  /** SEND_MESSAGE_V2 of one message tagged `tag`; resolves with the reply of a SUCCESS, else throws. */
  send(body: Buffer, tag: string): Promise<SendReply> {
    const properties = `UNIQ_KEY\u0001${this.ids.next()}\u0002WAIT\u0001true\u0002TAGS\u0001${tag}`;
    return this.call(RequestCode.SEND_MESSAGE_V2, properties, 'false', body);
  }

  /** The same request: this client has one way of sending. */
  sendAsync(body: Buffer, tag: string): Promise<SendReply> {
    return this.send(body, tag);
  }

  /** SEND_BATCH_MESSAGE: every item its own message (own UNIQ_KEY), the batch's properties in `i`. */
  sendBatch(bodies: readonly Buffer[], tag: string): Promise<SendReply> {
    const items = bodies.map((body) => ({ body, properties: { TAGS: tag, WAIT: 'true', UNIQ_KEY: this.ids.next() } }));
    return this.call(RequestCode.SEND_BATCH_MESSAGE, 'WAIT\u0001true', 'true', encodeBatchBody(items));
  }

  private call(code: number, properties: string, batch: 'true' | 'false', body: Buffer): Promise<SendReply> {
    const queueId = `${this.nextQueue}`;
    this.nextQueue = (this.nextQueue + 1) % this.queues;
    const born = `${Date.now()}`;
    // Field order and values as the Java producer writes them (DefaultMQProducerImpl.sendKernelImpl),
    // and their JSON from a template (what JSON.stringify of them gives): the client's cost is part of the row.
    const fields = emptyExtFields();
    fields['a'] = this.group;
    fields['b'] = this.topic;
    fields['c'] = 'TBW102';
    fields['d'] = '4';
    fields['e'] = queueId;
    fields['f'] = '0';
    fields['g'] = born;
    fields['h'] = '0';
    fields['i'] = properties;
    fields['j'] = '0';
    fields['k'] = 'false';
    fields['m'] = batch;
    fields['n'] = 'broker-a';
    const req = RemotingCommand.request(code, undefined, body);
    req.extFields = fields;
    req.extFieldsJson = `${this.fieldsHead}${queueId}","f":"0","g":"${born}","h":"0","i":${JSON.stringify(properties)},"j":"0","k":"false","m":"${batch}","n":"broker-a"}`;
    return this.remoting.invokeSync(this.brokerAddr, req, SEND_TIMEOUT_MS).then((r) => {
      const res = expectSuccess(r, 'SEND_MESSAGE');
      return { msgId: res.requireString('msgId'), queueId: res.int('queueId'), queueOffset: res.long('queueOffset') };
    });
  }
}

/**
 * Pulls one queue from `offset` on, with long polling, until stop(); hands every message body to
 * `onMessage`. The records are the stored format (reference §6.1).
 */
export class QueuePuller {
  private stopped = false;
  private readonly subVersion = Date.now();

  constructor(
    private readonly remoting: RemotingClient,
    private readonly brokerAddr: string,
    private readonly group: string,
    private readonly topic: string,
    private readonly queueId: number,
    private readonly onMessage: (body: Buffer) => void,
  ) {}

  async run(offset = 0): Promise<void> {
    let next = offset;
    while (!this.stopped) {
      const req = RemotingCommand.request(RequestCode.PULL_MESSAGE, {
        consumerGroup: this.group, topic: this.topic, queueId: this.queueId, queueOffset: next, maxMsgNums: PULL_BATCH,
        sysFlag: PULL_SYS_FLAG_SUSPEND | PULL_SYS_FLAG_SUBSCRIPTION, commitOffset: 0, suspendTimeoutMillis: SUSPEND_MS,
        subscription: '*', subVersion: this.subVersion, expressionType: 'TAG',
      });
      let res: RemotingCommand;
      try {
        res = await this.remoting.invokeSync(this.brokerAddr, req, PULL_TIMEOUT_MS);
      } catch (err) {
        // Closing the client ends a held pull: that is how a stopped puller is let go.
        if (this.stopped) return;
        throw err;
      }
      if (res.code === ResponseCode.SUCCESS) {
        forEachRecordBody(res.body ?? Buffer.alloc(0), this.onMessage);
      } else if (res.code !== ResponseCode.PULL_NOT_FOUND && res.code !== ResponseCode.PULL_RETRY_IMMEDIATELY) {
        throw new Error(`PULL_MESSAGE ${this.topic}/${this.queueId}@${next}: code ${res.code} ${res.remark ?? ''}`);
      }
      next = res.long('nextBeginOffset');
    }
  }

  /** The loop ends when the pull in flight returns, or at once when the RemotingClient is closed. */
  stop(): void {
    this.stopped = true;
  }
}

/** Walks stored records (`MessageDecoder.decodes`): totalSize ... bodyLen + body, hosts 8 bytes or 20 with IPv6. */
export function forEachRecordBody(buf: Buffer, visit: (body: Buffer) => void): void {
  let p = 0;
  while (p + 4 <= buf.length) {
    const total = buf.readInt32BE(p);
    if (total <= 0 || p + total > buf.length) throw new Error(`pull body: bad record size ${total} at ${p}`);
    const sysFlag = buf.readInt32BE(p + 36);
    const bornHost = sysFlag & 0x10 ? 20 : 8;
    const storeHost = sysFlag & 0x20 ? 20 : 8;
    // sysFlag, bornTimestamp(8), bornHost, storeTimestamp(8), storeHost, reconsumeTimes(4), preparedTxOffset(8)
    const bodyLenAt = p + 40 + 8 + bornHost + 8 + storeHost + 4 + 8;
    const len = buf.readInt32BE(bodyLenAt);
    visit(buf.subarray(bodyLenAt + 4, bodyLenAt + 4 + len));
    p += total;
  }
}

/** GET_MAX_OFFSET: the offset the queue's next message will get. */
export async function maxOffset(remoting: RemotingClient, brokerAddr: string, topic: string, queueId: number): Promise<number> {
  const req = RemotingCommand.request(RequestCode.GET_MAX_OFFSET, { topic, queueId });
  return expectSuccess(await remoting.invokeSync(brokerAddr, req, SEND_TIMEOUT_MS), 'GET_MAX_OFFSET').long('offset');
}
