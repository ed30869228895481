/** `keelmq message` and `keelmq cluster list`: mqadmin's queryMsgById / queryMsgByUniqueKey / queryMsgByKey and clusterList. */
import { KeelError } from '../common/errors';
import { UsageError, stringOption } from './args';
import { type Command, NAME_SERVER_OPTION, NAME_SERVER_USAGE, withAdmin } from './command';
import { printer } from './consume-command';
import { table } from './topic-command';

export const messageCommand: Command = {
  name: 'message',
  usage: `usage: keelmq message TOPIC (ID | --key KEY) [--json] [-n ADDRS]

Finds messages of TOPIC and prints them as \`consume\` does, with their properties: by ID (the
offset msgId a broker answers a send with, or the UNIQ_KEY a producer gives as msgId), or
every message whose KEYS hold KEY. Exit 1 when nothing is found.

  --key KEY     a business key (the message's KEYS)
  --json        one JSON object a line
${NAME_SERVER_USAGE}`,
  options: { ...NAME_SERVER_OPTION, key: { type: 'string' }, json: { type: 'boolean' } },
  positionals: { min: 1, max: 2, what: 'a topic and a message id, or a topic and --key' },
  run: ({ values, positionals }) => withAdmin(values, async (admin) => {
    const [topic, id] = positionals as [string, string | undefined];
    const key = stringOption(values, 'key');
    if ((id === undefined) === (key === undefined)) throw new UsageError('give either a message id or --key KEY');
    const found = id !== undefined ? [await admin.queryMessageById(topic, id)].filter((m) => m !== undefined) : await admin.queryMessageByKey(topic, key!);
    if (found.length === 0) throw new KeelError('NOT_FOUND', `no message of topic ${topic} with ${id !== undefined ? `id ${id}` : `key ${key!}`}`);
    const print = printer(values['json'] === true, true);
    for (const m of found) print(m, m.storeHost);
    return 0;
  }),
};

export const clusterListCommand: Command = {
  name: 'cluster list',
  usage: `usage: keelmq cluster list [-n ADDRS]

Lists the brokers the name servers know: cluster, name, id (0 master, 1 slave), address, and
what the broker reports of itself (version, CommitLog max offset).

${NAME_SERVER_USAGE}`,
  options: NAME_SERVER_OPTION,
  positionals: { min: 0, max: 0, what: 'no arguments' },
  run: ({ values }) => withAdmin(values, async (admin) => {
    const brokers = await admin.clusterList();
    process.stdout.write(table(['cluster', 'broker', 'id', 'address', 'version', 'commitlog max'], brokers.map((b) => [
      b.cluster, b.brokerName, String(b.brokerId), b.addr, b.runtime['brokerVersionDesc'] ?? '-', b.runtime['commitLogMaxOffset'] ?? '-',
    ])) + '\n');
    return 0;
  }),
};
