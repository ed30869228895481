/**
 * `keelmq consume` and `keelmq dlq`: a pull consumer on the command line. One loop per queue
 * pulls (held on the broker while waiting for more), prints each message, and with a group
 * commits its progress (UPDATE_CONSUMER_OFFSET) after every batch and at the end.
 */
import { BrokerClient } from '../client/broker-client';
import type { ReceivedMessage } from '../client/message-decoder';
import type { BrokerQueue, MQAdmin } from '../client/mq-admin';
import { dlqTopic } from '../common/message-const';
import { parseSubscription } from '../common/tag-filter';
import { isKeelError } from '../common/errors';
import { RemotingClient } from '../remoting/remoting-client';
import { UsageError, intOption, stringOption } from './args';
import { type Command, NAME_SERVER_OPTION, NAME_SERVER_USAGE, withMQAdmin } from './command';

/** How long a pull waits on the broker for a message (the Java push consumer's 15 s). */
const HOLD_MS = 15_000;
const BATCH = 32;

interface ConsumeRun {
  topic: string;
  /** Pulls carry a group; progress is committed only when `commit`. */
  group: string;
  commit: boolean;
  expression: string;
  /** Start every queue at its first message instead of the group's offset. */
  fromBeginning: boolean;
  /** Stop after this many messages (waiting for them). */
  count?: number;
  /** Keep waiting for messages until interrupted. */
  follow: boolean;
  print(m: ReceivedMessage, brokerName: string): void;
}

/** Consumes as `run` says; returns the number of messages printed. */
async function consume(admin: MQAdmin, run: ConsumeRun): Promise<number> {
  let subscription;
  try {
    subscription = parseSubscription(run.expression);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const queues = await admin.readQueues(run.topic);
  const offsets = new Map<BrokerQueue, number>();
  for (const q of queues) {
    const committed = run.fromBeginning ? undefined : await admin.broker.queryConsumerOffset(q.addr, run.group, q.topic, q.queueId);
    offsets.set(q, committed ?? await admin.broker.minOffset(q.addr, q.topic, q.queueId));
  }
  const committed = new Map(offsets);
  const commit = async (q: BrokerQueue) => {
    const off = offsets.get(q)!;
    if (!run.commit || committed.get(q) === off) return;
    await admin.broker.updateConsumerOffset(q.addr, run.group, q.topic, q.queueId, off);
    committed.set(q, off);
  };
  const wait = run.follow || run.count !== undefined;
  // Held pulls get their own connections: closing them ends the wait without touching the commits.
  const pulls = new BrokerClient(new RemotingClient(), 3000);
  let printed = 0;
  let done = false;
  const stop = () => {
    if (done) return;
    done = true;
    void pulls.remoting.close();
  };
  const onSignal = () => stop();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const pullQueue = async (q: BrokerQueue) => {
    while (!done) {
      let r;
      try {
        r = await pulls.pull(q.addr, { group: run.group, topic: q.topic, queueId: q.queueId, offset: offsets.get(q)!, maxMessages: BATCH, subscription: run.expression, suspendMs: wait ? HOLD_MS : 0 });
      } catch (e) {
        if (done) return;
        // A hold that outlived the client timeout on a busy machine is asked again.
        if (isKeelError(e, 'REMOTING_TIMEOUT')) continue;
        throw e;
      }
      if (done) return;
      let next = r.nextBeginOffset;
      for (const m of r.messages) {
        if (subscription.tags === null || (m.tags !== undefined && subscription.tags.has(m.tags))) {
          run.print(m, q.brokerName);
          printed++;
        }
        if (run.count !== undefined && printed >= run.count) {
          next = m.queueOffset + 1;
          stop();
          break;
        }
      }
      offsets.set(q, next);
      await commit(q);
      if (r.status === 'NO_NEW_MSG' && !wait) return;
    }
  };
  // One queue failing ends them all: the others would otherwise wait on.
  const loop = (q: BrokerQueue) => pullQueue(q).catch((e: unknown) => { stop(); throw e; });
  try {
    const results = await Promise.allSettled(queues.map(loop));
    stop();
    for (const q of queues) await commit(q);
    for (const res of results) if (res.status === 'rejected') throw res.reason;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await pulls.remoting.close();
  }
  return printed;
}

/** One message a line (or a JSON object a line), as `consume` and `message` print them. */
export function printer(json: boolean, extra: boolean): ConsumeRun['print'] {
  return (m, brokerName) => {
    const body = m.body.toString('utf8');
    if (json) {
      process.stdout.write(JSON.stringify({
        topic: m.topic, brokerName, queueId: m.queueId, queueOffset: m.queueOffset, msgId: m.msgId, tags: m.tags ?? null, keys: m.keys,
        bornTimestamp: m.bornTimestamp, storeTimestamp: m.storeTimestamp, reconsumeTimes: m.reconsumeTimes, properties: m.properties, body,
      }) + '\n');
      return;
    }
    const parts = [`${brokerName}:${m.queueId}@${m.queueOffset}`, `msgId=${m.msgId}`];
    if (m.tags !== undefined) parts.push(`tags=${m.tags}`);
    if (m.keys.length > 0) parts.push(`keys=${m.keys.join(',')}`);
    if (extra) parts.push(`reconsumeTimes=${m.reconsumeTimes}`, `properties=${JSON.stringify(m.properties)}`);
    process.stdout.write(`${parts.join(' ')} | ${body}\n`);
  };
}

export const consumeCommand: Command = {
  name: 'consume',
  usage: `usage: keelmq consume TOPIC [--group G] [--tags EXPR] [--count N] [--follow] [--from-beginning] [--json] [-n ADDRS]

Pulls TOPIC's messages from every queue and prints them, one a line:
"<broker>:<queue>@<offset> msgId=<id> [tags=<t>] [keys=<k>] | <body>". Without --count or
--follow it prints what the queues hold and exits.

  --group G           consume as group G: start at its committed offsets (a queue it never
                      committed: the first message) and commit its progress
  --tags EXPR         tag expression: "*" (default) or "TagA || TagB"
  --count N           stop after N messages, waiting for them to arrive
  --follow, -f        keep waiting for new messages until SIGINT
  --from-beginning    start at every queue's first message, whatever the group committed
  --json              one JSON object a line (topic, queue, offset, msgId, tags, keys, properties, body)
${NAME_SERVER_USAGE}`,
  options: {
    ...NAME_SERVER_OPTION, group: { type: 'string', short: 'g' }, tags: { type: 'string' }, count: { type: 'string' },
    follow: { type: 'boolean', short: 'f' }, 'from-beginning': { type: 'boolean' }, json: { type: 'boolean' },
  },
  positionals: { min: 1, max: 1, what: 'a topic' },
  run: ({ values, positionals }) => withMQAdmin(values, async (admin) => {
    const group = stringOption(values, 'group');
    await consume(admin, {
      topic: positionals[0]!,
      group: group ?? 'keelmq-cli-consumer',
      commit: group !== undefined,
      expression: stringOption(values, 'tags') ?? '*',
      fromBeginning: values['from-beginning'] === true,
      count: values['count'] === undefined ? undefined : intOption(values, 'count', 1),
      follow: values['follow'] === true,
      print: printer(values['json'] === true, false),
    });
    return 0;
  }),
};

export const dlqCommand: Command = {
  name: 'dlq',
  usage: `usage: keelmq dlq GROUP [--count N] [--json] [-n ADDRS]

Prints the dead letters of GROUP (topic %DLQ%GROUP): messages that failed every retry, with
their reconsume count and properties (RETRY_TOPIC names the original topic). Reading them
changes nothing.

  --count N    print at most N
  --json       one JSON object a line
${NAME_SERVER_USAGE}`,
  options: { ...NAME_SERVER_OPTION, count: { type: 'string' }, json: { type: 'boolean' } },
  positionals: { min: 1, max: 1, what: 'a consumer group' },
  run: ({ values, positionals }) => withMQAdmin(values, async (admin) => {
    const group = positionals[0]!;
    const topic = dlqTopic(group);
    try {
      await admin.topicStats(topic);
    } catch (e) {
      if (!isKeelError(e, 'TOPIC_NOT_FOUND')) throw e;
      process.stdout.write(`no dead letters for group ${group}\n`);
      return 0;
    }
    const max = values['count'] === undefined ? undefined : intOption(values, 'count', 1);
    const print = printer(values['json'] === true, true);
    let n = 0;
    // Drain from the start; --count only limits what is printed, it does not wait for more.
    await consume(admin, {
      topic, group, commit: false, expression: '*', fromBeginning: true, follow: false,
      print: (m, b) => { if (max === undefined || n++ < max) print(m, b); },
    });
    return 0;
  }),
};
