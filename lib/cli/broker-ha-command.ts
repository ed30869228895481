/** `keelmq broker promote|truncate|ha`: a broker's replication role, over its remoting port. */
import { KeelError } from '../common/errors';
import { RemotingClient } from '../remoting/remoting-client';
import { RemotingCommand } from '../remoting/remoting-command';
import { RequestCode } from '../remoting/request-code';
import { ResponseCode } from '../remoting/response-code';
import { UsageError, stringOption, type ParsedArgs } from './args';
import type { Command } from './command';

const out = (line: string) => { process.stdout.write(line + '\n'); };
const CALL_TIMEOUT_MS = 15_000;
const BROKER_OPTION = { broker: { type: 'string', short: 'b' } } as const;
const BROKER_USAGE = '  -b, --broker ADDR   the broker, "host:port" of its remoting port (default 127.0.0.1:10911)';

async function call(values: ParsedArgs['values'], code: number, fields: Record<string, string | number | boolean>): Promise<RemotingCommand> {
  const addr = stringOption(values, 'broker') ?? '127.0.0.1:10911';
  if (!/^[^\s:]+:\d{1,5}$/.test(addr)) throw new UsageError(`--broker: expected host:port, got ${JSON.stringify(addr)}`);
  const client = new RemotingClient();
  try {
    const res = await client.invokeSync(addr, RemotingCommand.request(code, fields), CALL_TIMEOUT_MS);
    if (res.code !== ResponseCode.SUCCESS) {
      const remark = res.remark ?? `response code ${res.code}`;
      const m = /^([A-Z_]+): ([\s\S]*)$/.exec(remark);
      throw new KeelError(m ? (m[1] as 'NOT_MASTER') : 'REMOTING_ERROR_RESPONSE', m ? m[2]! : remark);
    }
    return res;
  } finally {
    await client.close();
  }
}

export const brokerPromoteCommand: Command = {
  name: 'broker promote',
  usage: `usage: keelmq broker promote [-b ADDR] [--role ASYNC_MASTER|SYNC_MASTER] [--force]

Turns a slave broker into its group's master (brokerId 0). Refused when the slave has not
caught up with its master (the master had more to send, or the link is down and it never said
it was done) unless --force, which accepts losing what the slave lacks. A diverged slave is
refused in any case (truncate it first).

  --role ROLE    the new master's replication (default ASYNC_MASTER)
  --force        promote even when behind
${BROKER_USAGE}`,
  options: { ...BROKER_OPTION, role: { type: 'string' }, force: { type: 'boolean' } },
  positionals: { min: 0, max: 0, what: 'no arguments' },
  async run({ values }) {
    const role = stringOption(values, 'role') ?? 'ASYNC_MASTER';
    if (role !== 'ASYNC_MASTER' && role !== 'SYNC_MASTER') throw new UsageError(`--role: expected ASYNC_MASTER or SYNC_MASTER, got ${JSON.stringify(role)}`);
    const res = await call(values, RequestCode.PROMOTE_TO_MASTER, { role, force: values['force'] === true });
    const r = JSON.parse(res.body!.toString('utf8')) as { offset: number; caughtUp: boolean };
    out(`promoted to ${role} at CommitLog offset ${r.offset}${r.caughtUp ? '' : ' (forced: it had not caught up)'}`);
    return 0;
  },
};

export const brokerTruncateCommand: Command = {
  name: 'broker truncate',
  usage: `usage: keelmq broker truncate [-b ADDR] [--offset N]

Cuts a diverged slave's CommitLog (and its ConsumeQueues) back to where its divergence says,
or to --offset (a record boundary), and lets it follow its master again.
${BROKER_USAGE}`,
  options: { ...BROKER_OPTION, offset: { type: 'string' } },
  positionals: { min: 0, max: 0, what: 'no arguments' },
  async run({ values }) {
    const offset = stringOption(values, 'offset');
    if (offset !== undefined && !/^\d+$/.test(offset)) throw new UsageError(`--offset: expected a whole number, got ${JSON.stringify(offset)}`);
    const res = await call(values, RequestCode.TRUNCATE_SLAVE, offset === undefined ? {} : { offset: Number(offset) });
    out(`truncated; the log now ends at ${(JSON.parse(res.body!.toString('utf8')) as { offset: number }).offset}, following the master again`);
    return 0;
  },
};

export const brokerHaCommand: Command = {
  name: 'broker ha',
  usage: `usage: keelmq broker ha [-b ADDR]

Prints the broker's replication state (from GET_BROKER_RUNTIME_INFO): role, and for a master its
connected slaves with their lag in bytes and ms and bytes/s; for a slave its master, offset,
whether it caught up or diverged.
${BROKER_USAGE}`,
  options: { ...BROKER_OPTION },
  positionals: { min: 0, max: 0, what: 'no arguments' },
  async run({ values }) {
    const res = await call(values, RequestCode.GET_BROKER_RUNTIME_INFO, {});
    const table = (JSON.parse(res.body!.toString('utf8')) as { table: Record<string, string> }).table;
    for (const [k, v] of Object.entries(table)) if (k === 'brokerRole' || k === 'brokerId' || k.startsWith('ha') || k.startsWith('commitLog')) out(`${k} ${v}`);
    return 0;
  },
};
