/** `keelmq offsets` and `keelmq reset-offset`: mqadmin's consumerProgress and resetOffsetByTime. */
import { UsageError, stringOption } from './args';
import { type Command, NAME_SERVER_OPTION, NAME_SERVER_USAGE, withAdmin } from './command';
import { table } from './topic-command';

const out = (line: string) => { process.stdout.write(line + '\n'); };

export const offsetsCommand: Command = {
  name: 'offsets',
  usage: `usage: keelmq offsets GROUP [--topic T] [-n ADDRS]

Prints the group's progress in each queue: the broker's max offset, the group's committed
offset, the difference (lag) and the store time of the last message consumed.

  --topic T    only this topic (default: every topic the group has offsets in)
${NAME_SERVER_USAGE}`,
  options: { ...NAME_SERVER_OPTION, topic: { type: 'string' } },
  positionals: { min: 1, max: 1, what: 'a consumer group' },
  run: ({ values, positionals }) => withAdmin(values, async (admin) => {
    const group = positionals[0]!;
    const { queues: rows, totalLag } = await admin.consumerProgress(group, stringOption(values, 'topic'));
    if (rows.length === 0) {
      out(`group ${group} has no offsets`);
      return 0;
    }
    out(table(['topic', 'broker', 'queue', 'broker offset', 'consumer offset', 'lag', 'last consumed'], rows.map((r) => [
      r.topic, r.brokerName, String(r.queueId), String(r.brokerOffset), String(r.consumerOffset), String(r.lag),
      r.lastTimestamp > 0 ? new Date(r.lastTimestamp).toISOString() : '-',
    ])));
    out(`total lag ${totalLag}`);
    return 0;
  }),
};

/** `--time`: milliseconds since the epoch, or an ISO 8601 date. */
function parseTime(v: string | undefined): number {
  if (v === undefined) throw new UsageError('--time is required: an ISO 8601 time or milliseconds since the epoch');
  if (/^\d+$/.test(v)) return Number(v);
  const t = /^\d{4}-\d\d-\d\d/.test(v) ? Date.parse(v) : NaN;
  if (Number.isNaN(t)) throw new UsageError(`--time must be an ISO 8601 time (2026-12-02T14:00:00Z) or milliseconds since the epoch, got ${JSON.stringify(v)}`);
  return t;
}

export const resetOffsetCommand: Command = {
  name: 'reset-offset',
  usage: `usage: keelmq reset-offset GROUP TOPIC --time ISO|MS [-n ADDRS]

Moves the group's offsets in TOPIC to the first message stored at or after the time (forward
or back); online consumers of the group are told to move too. Prints the new offsets.

  --time T     ISO 8601 (2026-12-02T14:00:00Z) or milliseconds since the epoch
${NAME_SERVER_USAGE}`,
  options: { ...NAME_SERVER_OPTION, time: { type: 'string' } },
  positionals: { min: 2, max: 2, what: 'a consumer group and a topic' },
  run: ({ values, positionals }) => withAdmin(values, async (admin) => {
    const [group, topic] = positionals as [string, string];
    const rows = await admin.resetOffsetByTime(group, topic, parseTime(stringOption(values, 'time')));
    out(table(['topic', 'broker', 'queue', 'offset'], rows.map((r) => [r.topic, r.brokerName, String(r.queueId), String(r.offset)])));
    return 0;
  }),
};
