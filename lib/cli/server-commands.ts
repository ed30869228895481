/**
 * The server commands: `keelmq namesrv`, `keelmq broker` and `keelmq dev` (both in one process).
 * Each runs until SIGINT or SIGTERM, then closes cleanly (the broker unregisters and closes its
 * store, so no abort marker is left) and exits 0.
 */
import * as path from 'node:path';
import { Broker, type BrokerStartConfig } from '../broker/broker';
import { DEFAULT_BROKER_PORT, DEFAULT_HA_PORT, parseNamesrvAddr } from '../broker/broker-config';
import { isKeelError, KeelError } from '../common/errors';
import { DEFAULT_DELAY_LEVELS } from '../consumer/schedule-service';
import { DEFAULT_NAMESRV_PORT, NameServer } from '../namesrv/name-server';
import { UsageError, portOption, stringOption, type ParsedArgs } from './args';
import { loadBrokerConfigFile, parseFlag } from './broker-config-file';
import type { Command } from './command';

/** Not ./keelmq-data, where `keelmq demo` keeps its store: dev gets a store of its own. */
export const DEV_DATA_DIR = path.join('keelmq-data', 'dev');

const log = (line: string) => { process.stdout.write(line + '\n'); };

/**
 * Prints `ready …` and resolves with the exit status once a SIGINT or SIGTERM arrived and `close`
 * finished. A second signal while closing exits at once (status 130), for a close that hangs.
 * The handlers go in before the ready line: whoever reads it may signal at once, and a signal in
 * between would kill the process by default, store unclosed.
 */
function untilSignal(readyLine: string, close: () => Promise<void>): Promise<number> {
  return new Promise((resolve) => {
    let closing = false;
    const onSignal = (sig: NodeJS.Signals) => {
      if (closing) {
        process.stderr.write(`keelmq: ${sig} again, exiting without a clean close\n`);
        process.exit(130);
      }
      closing = true;
      log(`${sig}: closing`);
      close().then(
        () => { log('closed cleanly'); resolve(0); },
        (e: Error) => {
          // Whatever failed to close may still hold the process open: exit regardless.
          process.stderr.write(`keelmq: close failed: ${isKeelError(e) ? `${e.code}: ` : ''}${e.message}\n`);
          process.exit(1);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    log(readyLine);
  });
}

/** A port in use names the flag that moves it. */
async function listening<T>(start: Promise<T>, flag: string): Promise<T> {
  try {
    return await start;
  } catch (e) {
    if (!isKeelError(e, 'REMOTING_LISTEN_FAILED')) throw e;
    throw new KeelError('REMOTING_LISTEN_FAILED', `${e.message} (choose another port with ${flag}, or 0 for any free one)`, { cause: e.cause });
  }
}

function host(values: ParsedArgs['values']): string {
  return stringOption(values, 'host') ?? '127.0.0.1';
}

export const namesrvCommand: Command = {
  name: 'namesrv',
  usage: `usage: keelmq namesrv [--host ADDR] [--port PORT]

Runs a RocketMQ 4.x name server until SIGINT or SIGTERM.

  --host ADDR   address to listen on (default 127.0.0.1)
  --port PORT   port to listen on (default ${DEFAULT_NAMESRV_PORT}; 0: any free port)`,
  options: { host: { type: 'string' }, port: { type: 'string' } },
  positionals: { min: 0, max: 0, what: 'no arguments' },
  async run({ values }) {
    const ns = new NameServer({ host: host(values), port: portOption(values, 'port', DEFAULT_NAMESRV_PORT) });
    await listening(ns.start(), '--port');
    log(`keelmq name server listening on ${ns.address()}`);
    return untilSignal(`ready namesrv=${ns.address()}`, () => ns.close());
  },
};

const BROKER_OPTIONS = {
  host: { type: 'string' }, port: { type: 'string' }, dir: { type: 'string' }, 'flush-mode': { type: 'string' },
  'broker-name': { type: 'string' }, cluster: { type: 'string' }, 'auto-create-topics': { type: 'string' },
  role: { type: 'string' }, 'ha-port': { type: 'string' }, 'ha-master': { type: 'string' }, 'delay-levels': { type: 'string' },
} as const;

const BROKER_FLAGS_USAGE = `  --host ADDR                 address to listen on (default 127.0.0.1)
  --flush-mode SYNC|ASYNC     SYNC: a send is answered after fdatasync (default ASYNC)
  --broker-name NAME          default broker-a
  --cluster NAME              default DefaultCluster
  --auto-create-topics BOOL   create a topic on its first send (default true)
  --role ROLE                 ASYNC_MASTER (default), SYNC_MASTER (a send is answered once a slave
                              holds it) or SLAVE (read-only, follows --ha-master)
  --ha-port PORT              a master's port for its slaves (default 10912; 0: any free port)
  --ha-master ADDR            a slave's master, "host:port" of its --ha-port
  --delay-levels "1s 5s …"    delay of each level, level 1 first, units ms s m h d
                              (default "${DEFAULT_DELAY_LEVELS}")`;

/** The broker settings the flags give, for `broker` and `dev` alike: only those given, so the file's stay. */
function brokerFlags(values: ParsedArgs['values']): Partial<BrokerStartConfig> {
  const out: Partial<BrokerStartConfig> = {};
  const flag = <K extends keyof BrokerStartConfig>(name: string, key: K, parse: (v: string) => BrokerStartConfig[K]) => {
    const v = stringOption(values, name);
    if (v === undefined) return;
    try {
      out[key] = parse(v);
    } catch (e) {
      throw e instanceof UsageError ? e : new UsageError(`--${name}: ${(e as Error).message}`);
    }
  };
  flag('host', 'host', (v) => v);
  flag('port', 'port', () => portOption(values, 'port', DEFAULT_BROKER_PORT));
  flag('dir', 'storeDir', (v) => v);
  flag('flush-mode', 'flushMode', parseFlag.flushMode);
  flag('broker-name', 'brokerName', (v) => v);
  flag('cluster', 'clusterName', (v) => v);
  flag('auto-create-topics', 'autoCreateTopics', parseFlag.boolean);
  flag('role', 'brokerRole', parseFlag.brokerRole);
  flag('ha-port', 'haListenPort', () => portOption(values, 'ha-port', DEFAULT_HA_PORT));
  flag('ha-master', 'haMasterAddress', (v) => v);
  flag('delay-levels', 'services', (v) => ({ delayLevels: parseFlag.delayLevels(v) }));
  return out;
}

function describeBroker(b: Broker): string {
  const c = b.config;
  return `${c.brokerName} (cluster ${c.clusterName}, ${c.flushMode} flush) listening on ${b.address()}, data ${path.resolve(c.storeDir)}`;
}

function describeReplication(b: Broker): string {
  const r = b.replication.info();
  return r.master ? `${r.role}, slaves connect to ${r.master.address}` : `SLAVE (brokerId ${r.brokerId}) of ${r.slave!.masterAddress}`;
}

export const brokerCommand: Command = {
  name: 'broker',
  usage: `usage: keelmq broker [--config FILE] [--name-server ADDRS] [--dir DIR] [--port PORT] [options]

Runs a RocketMQ 4.x broker on a keelmq store until SIGINT or SIGTERM.

  -c, --config FILE           broker.conf (key=value) or JSON with RocketMQ's keys: brokerName,
                              brokerClusterName, brokerId, listenPort, namesrvAddr,
                              storePathRootDir, flushDiskType (SYNC_FLUSH|ASYNC_FLUSH),
                              autoCreateTopicEnable, brokerIP1, brokerRole, haListenPort,
                              haMasterAddress, slaveReadEnable, messageDelayLevel; flags
                              override the file
  -n, --name-server ADDRS     name servers to register with, "host:port;host:port" (default 127.0.0.1:9876)
  --dir DIR                   data directory (required, here or as storePathRootDir)
  --port PORT                 port to listen on (default ${DEFAULT_BROKER_PORT}; 0: any free port)
${BROKER_FLAGS_USAGE}`,
  options: { ...BROKER_OPTIONS, config: { type: 'string', short: 'c' }, 'name-server': { type: 'string', short: 'n' } },
  positionals: { min: 0, max: 0, what: 'no arguments' },
  async run({ values }) {
    const file = stringOption(values, 'config');
    const fromFile = file === undefined ? {} : loadBrokerConfigFile(file, (w) => process.stderr.write(`keelmq broker: ${w}\n`));
    const ns = stringOption(values, 'name-server');
    const config = { ...fromFile, ...brokerFlags(values), ...(ns !== undefined ? { namesrvAddr: parseNamesrvAddr(ns) } : {}) };
    if (config.storeDir === undefined) throw new UsageError('a data directory is needed: --dir DIR, or storePathRootDir in --config');
    const broker = await listening(Broker.start({ namesrvAddr: [`127.0.0.1:${DEFAULT_NAMESRV_PORT}`], ...config, storeDir: config.storeDir }), '--port');
    log(`keelmq broker ${describeBroker(broker)}`);
    log(`replication: ${describeReplication(broker)}`);
    log(`registering with name servers ${broker.config.namesrvAddr.join(';') || '(none)'}`);
    return untilSignal(`ready broker=${broker.address()}`, () => broker.close());
  },
};

export const devCommand: Command = {
  name: 'dev',
  usage: `usage: keelmq dev [--dir DIR] [--namesrv-port PORT] [--port PORT] [options]

A name server and a broker in one process, for development (with the default ports, the
client commands need no -n).
Runs until SIGINT or SIGTERM.

  --dir DIR                   data directory (default ${DEV_DATA_DIR})
  --namesrv-port PORT         name server port (default ${DEFAULT_NAMESRV_PORT}; 0: any free port)
  --port PORT                 broker port (default ${DEFAULT_BROKER_PORT}; 0: any free port)
${BROKER_FLAGS_USAGE}`,
  options: { ...BROKER_OPTIONS, 'namesrv-port': { type: 'string' } },
  positionals: { min: 0, max: 0, what: 'no arguments' },
  async run({ values }) {
    const flags = brokerFlags(values);
    const listen = host(values);
    const ns = new NameServer({ host: listen, port: portOption(values, 'namesrv-port', DEFAULT_NAMESRV_PORT) });
    await listening(ns.start(), '--namesrv-port');
    // A broker listening on every interface still reaches its own name server on loopback.
    const nsAddr = listen === '0.0.0.0' ? `127.0.0.1:${ns.address().split(':').pop()!}` : ns.address();
    let broker: Broker;
    try {
      broker = await listening(Broker.start({ ...flags, storeDir: flags.storeDir ?? DEV_DATA_DIR, namesrvAddr: [nsAddr] }), '--port');
    } catch (e) {
      await ns.close();
      throw e;
    }
    log('keelmq dev: a name server and a broker in one process');
    log(`name server listening on ${ns.address()}`);
    log(`broker ${describeBroker(broker)}`);
    const n = nsAddr === `127.0.0.1:${DEFAULT_NAMESRV_PORT}` ? '' : ` -n ${nsAddr}`;
    log(`try, in another terminal: keelmq send${n} TopicTest hello; keelmq consume${n} TopicTest`);
    return untilSignal(`ready namesrv=${nsAddr} broker=${broker.address()}`, async () => {
      try {
        await broker.close();
      } finally {
        await ns.close();
      }
    });
  },
};
