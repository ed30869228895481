#!/usr/bin/env node
import { demoWriter, runDemo } from './demo';
import { auditCommand } from './audit-command';
import { KeelError } from '../common/errors';
import { UsageError, intOption, parseCommandArgs } from './args';
import { type Command, runCommand } from './command';
import { consumeCommand, dlqCommand } from './consume-command';
import { offsetsCommand, resetOffsetCommand } from './offsets-command';
import { sendCommand } from './send-command';
import { brokerCommand, DEV_DATA_DIR, devCommand, namesrvCommand } from './server-commands';
import { brokerHaCommand, brokerPromoteCommand, brokerTruncateCommand } from './broker-ha-command';
import { clusterListCommand, messageCommand } from './query-command';
import { topicCreateCommand, topicDeleteCommand, topicListCommand, topicRouteCommand, topicStatsCommand } from './topic-command';

const HELP = `keelmq — a durable message store on the storage design of Apache RocketMQ

Usage: keelmq <command> [options]     (keelmq <command> --help for its options)

Servers (RocketMQ 4.x remoting; listen on 127.0.0.1 unless --host; SIGINT/SIGTERM close cleanly):
  dev [--dir DIR] [--namesrv-port 9876] [--port 10911]
      A name server and a broker in one process, data in ./${DEV_DATA_DIR}.
  namesrv [--host ADDR] [--port 9876]
      A name server.
  broker [--config FILE] [-n ADDRS] [--dir DIR] [--port 10911] [--flush-mode SYNC|ASYNC] ...
      A broker on a keelmq store, registered with the name servers.
  broker promote [-b ADDR] [--role ASYNC_MASTER|SYNC_MASTER] [--force]
      A caught-up slave broker becomes the master.
  broker truncate [-b ADDR] [--offset N]    broker ha [-b ADDR]
      A diverged slave cuts its log and follows again; replication state and lag.

Clients (-n, --name-server ADDRS: default 127.0.0.1:9876):
  topic create NAME [--queues N]    topic list    topic route NAME    topic stats NAME    topic delete NAME
  message TOPIC (ID | --key KEY)    cluster list
  send TOPIC BODY [--tags T] [--keys K] [--count N]
  consume TOPIC [--group G] [--tags EXPR] [--count N] [--follow] [--from-beginning]
  offsets GROUP [--topic T]
  reset-offset GROUP TOPIC --time ISO|MS
  dlq GROUP

The store:
  demo [--dir DIR] [--producers N] [--kill-after MS] [--segment-size BYTES]
      Crash demonstration: a child process writes in SYNC mode, is killed with
      SIGKILL, the store is reopened, and every acknowledged message is checked.
      Default DIR ./keelmq-data, N 16, MS 2000, segment size 64 MiB.
  audit DIR [--json] [--no-record-crc]
      Checks every CommitLog record and ConsumeQueue entry of a (closed) data
      directory; exit 0 clean, 1 damage, 2 not a store, usage or I/O error.
  help
      This text.

Exit status: 0 done, 1 failed, 2 usage error.
`;

const COMMANDS: Command[] = [
  devCommand, namesrvCommand, brokerCommand, sendCommand, consumeCommand, offsetsCommand, resetOffsetCommand, dlqCommand,
  topicCreateCommand, topicListCommand, topicRouteCommand, topicStatsCommand, topicDeleteCommand, messageCommand, clusterListCommand, brokerPromoteCommand, brokerTruncateCommand, brokerHaCommand,
];

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
    case 'topic':
    case 'cluster': {
      const [sub, ...args] = rest;
      const c = COMMANDS.find((x) => x.name === `${cmd} ${sub}`);
      if (!c) {
        const subs = COMMANDS.filter((x) => x.name.startsWith(`${cmd} `)).map((x) => x.name.slice(cmd.length + 1));
        throw new UsageError(sub === undefined ? `${cmd} needs a subcommand: ${subs.join(', ')}` : `unknown command ${cmd} ${sub}`);
      }
      return runCommand(c, args);
    }
    default: {
      const sub = cmd === 'broker' ? COMMANDS.find((x) => x.name === `broker ${rest[0]}`) : undefined;
      if (sub) return runCommand(sub, rest.slice(1));
      const c = COMMANDS.find((x) => x.name === cmd);
      if (!c) throw new UsageError(`unknown command ${cmd}`);
      return runCommand(c, rest);
    }
  }
}

// `keelmq consume T | head` closes our stdout early: that ends the command as a SIGTERM would (a
// consumer commits, a server closes cleanly), it is not a failure; later writes go nowhere.
let stdoutClosed = false;
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
  if (stdoutClosed) return;
  stdoutClosed = true;
  process.emit('SIGTERM', 'SIGTERM');
});

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
