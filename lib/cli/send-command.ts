/** `keelmq send`: SEND_MESSAGE_V2 to the topic's queues in turn, one line per message sent. */
import { intOption, stringOption } from './args';
import { type Command, NAME_SERVER_OPTION, NAME_SERVER_USAGE, withMQAdmin } from './command';

const PRODUCER_GROUP = 'keelmq-cli-producer';

export const sendCommand: Command = {
  name: 'send',
  usage: `usage: keelmq send TOPIC BODY [--tags TAG] [--keys "K1 K2"] [--count N] [-n ADDRS]

Sends BODY (UTF-8) to TOPIC, one queue after the other from a random one, and
prints "<status> msgId=<id> queue=<broker>:<queue> offset=<n>" for each. With --count, {i} in
BODY becomes the message's number (1..N). Exit status 1 when any send was not SEND_OK.

  --tags TAG        the message's tag
  --keys KEYS       space-separated keys (queryable by key)
  --count N         send N messages (default 1)
${NAME_SERVER_USAGE}`,
  options: { ...NAME_SERVER_OPTION, tags: { type: 'string' }, keys: { type: 'string' }, count: { type: 'string' } },
  positionals: { min: 2, max: 2, what: 'a topic and a message body' },
  run: ({ values, positionals }) => withMQAdmin(values, async (admin) => {
    const [topic, body] = positionals as [string, string];
    const count = intOption(values, 'count', 1);
    const tags = stringOption(values, 'tags');
    const keys = stringOption(values, 'keys')?.split(' ').filter((k) => k !== '');
    const queues = await admin.writeQueues(topic);
    // From a random queue on, as Java's producer does: one-message sends spread over the queues too.
    const first = Math.floor(Math.random() * queues.length);
    let failed = 0;
    for (let i = 1; i <= count; i++) {
      const q = queues[(first + i - 1) % queues.length]!;
      const r = await admin.broker.send(q.addr, PRODUCER_GROUP, q.queueId, { topic, body: Buffer.from(body.replaceAll('{i}', String(i)), 'utf8'), tags, keys });
      if (r.status !== 'SEND_OK') failed++;
      process.stdout.write(`${r.status} msgId=${r.msgId} queue=${q.brokerName}:${r.queueId} offset=${r.queueOffset}\n`);
    }
    return failed === 0 ? 0 : 1;
  }),
};
