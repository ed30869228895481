#!/usr/bin/env node
import { demoWriter, runDemo } from './demo';
import { auditCommand } from './audit-command';
import { KeelError } from '../errors';
import { UsageError, intOption, parseCommandArgs } from './args';

const HELP = `keelmq — a durable message store on the storage design of Apache RocketMQ

Usage: keelmq <command> [options]

Commands:
  demo [--dir DIR] [--producers N] [--kill-after MS] [--segment-size BYTES]
      Crash demonstration: a child process writes in SYNC mode, is killed with
      SIGKILL, the store is reopened, and every acknowledged message is checked.
      Default DIR ./keelmq-data, N 16, MS 2000, segment size 64 MiB.
  audit DIR [--json] [--no-record-crc]
      Checks every CommitLog record and ConsumeQueue entry of a (closed) data
      directory; exit 0 clean, 1 damage, 2 not a store, usage or I/O error.
  help
      This text.
`;

const DEFAULT_SEGMENT_SIZE = 64 * 1024 * 1024;

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
      const { values } = parseCommandArgs(rest, {
        dir: { type: 'string' }, producers: { type: 'string' }, 'kill-after': { type: 'string' }, 'segment-size': { type: 'string' },
      }, { min: 0, max: 0, what: 'no arguments' });
      if (values['help']) { process.stdout.write(HELP); return 0; }
      return runDemo({
        dir: (values['dir'] as string | undefined) ?? 'keelmq-data',
        producers: intOption(values, 'producers', 16),
        killAfterMs: intOption(values, 'kill-after', 2000),
        segmentSize: intOption(values, 'segment-size', DEFAULT_SEGMENT_SIZE),
      }, (l) => console.log(l));
    }
    case 'audit':
      return auditCommand(rest);
    case 'demo-writer': {
      const { values } = parseCommandArgs(rest, {
        dir: { type: 'string' }, producers: { type: 'string' }, 'segment-size': { type: 'string' },
      }, { min: 0, max: 0, what: 'no arguments' });
      const dir = values['dir'];
      if (typeof dir !== 'string' || dir === '') throw new UsageError('demo-writer needs --dir');
      return demoWriter(dir, intOption(values, 'producers', 16), intOption(values, 'segment-size', DEFAULT_SEGMENT_SIZE));
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
