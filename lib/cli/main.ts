#!/usr/bin/env node
import { demoWriter, runDemo } from './demo';
import { auditCommand } from './audit-command';
import { KeelError } from '../errors';

const HELP = `keelmq — a durable message store on the storage design of Apache RocketMQ

Usage: keelmq <command> [options]

Commands:
  demo [--dir DIR] [--producers N] [--kill-after MS] [--segment-size BYTES]
      Crash demonstration: a child process writes in SYNC mode, is killed with
      SIGKILL, the store is reopened, and every acknowledged message is checked.
      Default DIR ./keelmq-data, N 16, MS 2000, segment size 64 MiB.
  audit DIR [--json] [--no-record-crc]
      Checks every CommitLog record and ConsumeQueue entry of a (closed) data
      directory; exit 0 clean, 1 damage, 2 usage or I/O error.
  help
      This text.
`;

function parseFlags(args: string[], known: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith('--')) throw new UsageError(`unexpected argument ${a}`);
    const name = a.slice(2);
    if (!known.includes(name)) throw new UsageError(`unknown option ${a}`);
    const v = args[++i];
    if (v === undefined) throw new UsageError(`option ${a} needs a value`);
    out[name] = v;
  }
  return out;
}

class UsageError extends Error {}

function intFlag(flags: Record<string, string>, name: string, dflt: number): number {
  if (flags[name] === undefined) return dflt;
  const n = Number(flags[name]);
  if (!Number.isSafeInteger(n) || n <= 0) throw new UsageError(`--${name} must be a positive integer`);
  return n;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return cmd === undefined ? 2 : 0;
    case 'demo': {
      if (rest.includes('--help')) { process.stdout.write(HELP); return 0; }
      const f = parseFlags(rest, ['dir', 'producers', 'kill-after', 'segment-size']);
      return runDemo({
        dir: f.dir ?? 'keelmq-data',
        producers: intFlag(f, 'producers', 16),
        killAfterMs: intFlag(f, 'kill-after', 2000),
        segmentSize: intFlag(f, 'segment-size', 64 * 1024 * 1024),
      }, (l) => console.log(l));
    }
    case 'audit':
      return auditCommand(rest);
    case 'demo-writer': {
      const f = parseFlags(rest, ['dir', 'producers', 'segment-size']);
      if (!f.dir) throw new UsageError('demo-writer needs --dir');
      return demoWriter(f.dir, intFlag(f, 'producers', 16), intFlag(f, 'segment-size', 64 * 1024 * 1024));
    }
    default:
      throw new UsageError(`unknown command ${cmd}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e) => {
    if (e instanceof UsageError) {
      console.error(`keelmq: ${e.message}\nRun "keelmq --help" for usage.`);
      process.exitCode = 2;
    } else if (e instanceof KeelError) {
      console.error(`keelmq: ${e.code}: ${e.message}`);
      process.exitCode = 1;
    } else {
      console.error('keelmq:', e);
      process.exitCode = 1;
    }
  },
);
