/** `keelmq topic create|list|route|stats`: mqadmin's updateTopic, topicList, topicRoute and topicStatus. */
import { KeelError } from '../common/errors';
import { intOption, stringOption } from './args';
import { type Command, NAME_SERVER_OPTION, NAME_SERVER_USAGE, withAdmin, withMQAdmin } from './command';

const out = (line: string) => { process.stdout.write(line + '\n'); };

/** How long `topic create` waits for the name server to show the new queues (the broker re-registers at once). */
const ROUTE_WAIT_MS = 5000;

export const topicCreateCommand: Command = {
  name: 'topic create',
  usage: `usage: keelmq topic create NAME [--queues N] [--cluster NAME] [-n ADDRS]

Creates (or updates) a topic on every master of the cluster and waits until the name server
routes it.

  --queues N        read and write queues on each broker (default 8)
  --cluster NAME    the cluster (default: the only one registered)
${NAME_SERVER_USAGE}`,
  options: { ...NAME_SERVER_OPTION, queues: { type: 'string' }, cluster: { type: 'string' } },
  positionals: { min: 1, max: 1, what: 'a topic name' },
  run: ({ values, positionals }) => withAdmin(values, async (admin) => {
    const topic = positionals[0]!;
    const queues = intOption(values, 'queues', 8);
    const masters = await admin.createTopic(topic, { queues, cluster: stringOption(values, 'cluster'), routeWaitMs: ROUTE_WAIT_MS });
    for (const m of masters) out(`created topic ${topic} with ${queues} queues on ${m.brokerName} (${m.addr})`);
    return 0;
  }),
};

export const topicListCommand: Command = {
  name: 'topic list',
  usage: `usage: keelmq topic list [-n ADDRS]

Lists the topics the name server knows, one a line.

${NAME_SERVER_USAGE}`,
  options: NAME_SERVER_OPTION,
  positionals: { min: 0, max: 0, what: 'no arguments' },
  run: ({ values }) => withAdmin(values, async (admin) => {
    for (const t of (await admin.topicList()).sort()) out(t);
    return 0;
  }),
};

export const topicRouteCommand: Command = {
  name: 'topic route',
  usage: `usage: keelmq topic route NAME [-n ADDRS]

Prints the topic's route (TopicRouteData) as JSON. Name servers make up a route for a topic
no broker has yet, from TBW102, so that a first send can create it.

${NAME_SERVER_USAGE}`,
  options: NAME_SERVER_OPTION,
  positionals: { min: 1, max: 1, what: 'a topic name' },
  run: ({ values, positionals }) => withMQAdmin(values, async (admin) => {
    const route = await admin.route(positionals[0]!);
    if (!route) throw new KeelError('TOPIC_NOT_FOUND', `no route for topic ${positionals[0]!}`);
    out(JSON.stringify(route, null, 2));
    return 0;
  }),
};

export const topicStatsCommand: Command = {
  name: 'topic stats',
  usage: `usage: keelmq topic stats NAME [-n ADDRS]

Prints each queue's min and max offset and the time of its last message.

${NAME_SERVER_USAGE}`,
  options: NAME_SERVER_OPTION,
  positionals: { min: 1, max: 1, what: 'a topic name' },
  run: ({ values, positionals }) => withAdmin(values, async (admin) => {
    const stats = await admin.topicStats(positionals[0]!);
    out(table(['broker', 'queue', 'min', 'max', 'last message'], stats.map((s) => [
      s.brokerName, String(s.queueId), String(s.minOffset), String(s.maxOffset), s.lastUpdateTimestamp > 0 ? new Date(s.lastUpdateTimestamp).toISOString() : '-',
    ])));
    return 0;
  }),
};

/** Columns padded to their widest cell. */
export function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((r) => r.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd()).join('\n');
}

export const topicDeleteCommand: Command = {
  name: 'topic delete',
  usage: `usage: keelmq topic delete NAME [--cluster NAME] [-n ADDRS]

Deletes the topic from every master of the cluster, then from the name servers (mqadmin
deleteTopic). Its messages stay in the CommitLog until the reaper removes their segments.

  --cluster NAME    the cluster (default: the only one registered)
${NAME_SERVER_USAGE}`,
  options: { ...NAME_SERVER_OPTION, cluster: { type: 'string' } },
  positionals: { min: 1, max: 1, what: 'a topic name' },
  run: ({ values, positionals }) => withAdmin(values, async (admin) => {
    await admin.deleteTopic(positionals[0]!, stringOption(values, 'cluster'));
    out(`deleted topic ${positionals[0]!}`);
    return 0;
  }),
};
