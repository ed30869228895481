import { parseNamesrvAddr } from '../broker/broker-config';
import { Admin } from '../client/admin';
import { MQAdmin } from '../client/mq-admin';
import { type OptionSpec, type ParsedArgs, UsageError, parseCommandArgs, stringOption } from './args';

/** One `keelmq` command: its usage text, its options, and what it does; run returns the exit status. */
export interface Command {
  /** Words after `keelmq`, e.g. "topic create". */
  name: string;
  usage: string;
  options: OptionSpec;
  positionals: { min: number; max: number; what: string };
  run(args: ParsedArgs): Promise<number>;
}

/**
 * Parses and runs `cmd`: `--help` prints its usage (exit 0); a usage error prints the reason and
 * the usage on stderr (exit 2). Every other error is left to the caller.
 */
export async function runCommand(cmd: Command, argv: string[]): Promise<number> {
  let parsed: ParsedArgs;
  try {
    parsed = parseCommandArgs(argv, cmd.options, cmd.positionals);
    if (parsed.values['help']) {
      process.stdout.write(cmd.usage + '\n');
      return 0;
    }
    return await cmd.run(parsed);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`keelmq ${cmd.name}: ${e.message}\n${cmd.usage}\n`);
    return 2;
  }
}

/** The name-server option every client command has. */
export const NAME_SERVER_OPTION: OptionSpec = { 'name-server': { type: 'string', short: 'n' } };
export const NAME_SERVER_USAGE = '  -n, --name-server ADDR  name servers, "host:port;host:port" (default 127.0.0.1:9876)';

/** The name servers of `--name-server`, checked. */
function nameServers(values: ParsedArgs['values']): string[] {
  const addrs = parseNamesrvAddr(stringOption(values, 'name-server') ?? '127.0.0.1:9876');
  for (const a of addrs) if (!/^[^\s:]+:\d{1,5}$/.test(a)) throw new UsageError(`--name-server: expected host:port, got ${JSON.stringify(a)}`);
  if (addrs.length === 0) throw new UsageError('--name-server: no address');
  return addrs;
}

/** Runs `f` with the Admin API on the name servers of `--name-server`, closed afterwards. */
export async function withAdmin<T>(values: ParsedArgs['values'], f: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = Admin.connect(nameServers(values));
  try {
    return await f(admin);
  } finally {
    await admin.close();
  }
}

/** Runs `f` with the wire-level client (routes as the name server sends them, queue addresses), closed afterwards. */
export async function withMQAdmin<T>(values: ParsedArgs['values'], f: (admin: MQAdmin) => Promise<T>): Promise<T> {
  const admin = new MQAdmin({ namesrvAddr: nameServers(values) });
  try {
    return await f(admin);
  } finally {
    await admin.close();
  }
}
