/**
 * What a networked broker is told at start (RocketMQ's BrokerConfig + the parts of
 * MessageStoreConfig an operator sets). `DEFAULT_BROKER_CONFIG` holds RocketMQ's defaults where
 * RocketMQ has one; everything is validated once, in resolveBrokerConfig.
 */
import * as os from 'node:os';
import type { Clock } from '../common/clock';
import type { BrokerOptions } from '../consumer/embedded-broker';
import { KeelError } from '../common/errors';
import { isBrokerName } from '../common/names';
import type { Logger } from '../remoting/logger';
import type { FlushMode, StoreOptions } from '../store/options';

export type BrokerRole = 'ASYNC_MASTER' | 'SYNC_MASTER' | 'SLAVE';

/** Finer HA settings (lib/ha's options); the role and addresses come from the fields of BrokerConfig. */
export interface BrokerHAOptions {
  syncTimeoutMs?: number;
  maxLagBytes?: number;
  heartbeatIntervalMs?: number;
  idleTimeoutMs?: number;
  emptySlaveFrom?: 'last-segment' | 'first-segment';
  reportIntervalMs?: number;
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** A slave's copy of its master's topics, consumer offsets and delay progress (SlaveSynchronize), every this often. Default 10 s. */
  slaveSyncIntervalMs?: number;
}

export interface BrokerConfig {
  /** Default "broker-a". */
  brokerName: string;
  /** Default "DefaultCluster". */
  clusterName: string;
  /** 0 for a master; a slave's is 1 or more (default 1). */
  brokerId: number;
  /** ASYNC_MASTER (default), SYNC_MASTER (a send is answered once a slave holds it) or SLAVE (read-only, follows haMasterAddress). */
  brokerRole: BrokerRole;
  /** A master's port for its slaves (RocketMQ's haListenPort): default port + 1 (10912), or 0 (the OS picks) when port is 0. */
  haListenPort: number;
  /** A slave's master, "host:port" of the master's haListenPort. */
  haMasterAddress?: string;
  /** Pulls may be steered to a slave (RocketMQ's slaveReadEnable, false): see the pull's suggestWhichBrokerId. */
  slaveReadEnable: boolean;
  ha?: BrokerHAOptions;
  /** Address to listen on. Default 127.0.0.1. */
  host: string;
  /** Default 10911; 0 lets the OS choose. */
  port: number;
  /**
   * IPv4 clients reach the broker at (RocketMQ's brokerIP1); it goes into the route, the
   * records' storeHost and so into every offset msgId. Default: `host`, or the first
   * non-internal IPv4 address when listening on 0.0.0.0.
   */
  advertisedHost?: string;
  /** Name servers ("ip:port") to register with; empty: none. */
  namesrvAddr: string[];
  /** Data directory of the store (and of config/ beside it). */
  storeDir: string;
  flushMode: FlushMode;
  /** Create a topic on its first send (and serve TBW102, as RocketMQ's autoCreateTopicEnable). Default true. */
  autoCreateTopics: boolean;
  /** REGISTER_BROKER period (RocketMQ's registerNameServerPeriod, 10..60 s there). Default 30 s. */
  registerIntervalMs: number;
  /** Longest a pull is held, whatever suspendTimeoutMillis the client asks for. Default 60 s. */
  maxPullHoldMs: number;
  /** More store options (segment sizes, timeouts); flushMode and storeHost are set from the fields above. */
  store?: Partial<StoreOptions>;
  /** More consumer-layer options (delay levels, offset persistence); autoCreateTopics comes from above. */
  services?: Partial<BrokerOptions>;
  logger?: Logger;
  clock?: Clock;
}

export const DEFAULT_BROKER_PORT = 10911;
export const DEFAULT_HA_PORT = 10912;

export function defaultBrokerConfig(): Omit<BrokerConfig, 'storeDir' | 'haListenPort'> {
  return {
    brokerName: 'broker-a',
    clusterName: 'DefaultCluster',
    brokerId: 0,
    brokerRole: 'ASYNC_MASTER',
    slaveReadEnable: false,
    host: '127.0.0.1',
    port: DEFAULT_BROKER_PORT,
    namesrvAddr: [],
    flushMode: 'ASYNC',
    autoCreateTopics: true,
    registerIntervalMs: 30_000,
    maxPullHoldMs: 60_000,
  };
}

/** Defaults filled in and every field checked; OPTION_INVALID names the first bad one. */
export function resolveBrokerConfig(partial: Partial<BrokerConfig> & { storeDir: string }): BrokerConfig {
  const c: BrokerConfig = { ...defaultBrokerConfig(), ...definedOnly(partial) } as BrokerConfig;
  const bad = (what: string): never => { throw new KeelError('OPTION_INVALID', what); };
  if (c.brokerRole !== 'ASYNC_MASTER' && c.brokerRole !== 'SYNC_MASTER' && c.brokerRole !== 'SLAVE') bad(`brokerRole must be ASYNC_MASTER, SYNC_MASTER or SLAVE, got ${String(c.brokerRole)}`);
  if (c.brokerRole === 'SLAVE' && partial.brokerId === undefined) c.brokerId = 1;
  // RocketMQ's BrokerStartup: haListenPort = listenPort + 1.
  if (c.haListenPort === undefined) c.haListenPort = c.port === 0 ? 0 : c.port + 1;
  if (!Number.isInteger(c.haListenPort) || c.haListenPort < 0 || c.haListenPort > 65535) bad(`haListenPort must be 0..65535, got ${String(c.haListenPort)}`);
  if (c.brokerRole === 'SLAVE' && (typeof c.haMasterAddress !== 'string' || !/^[^\s:]+:\d{1,5}$/.test(c.haMasterAddress))) bad(`a SLAVE needs haMasterAddress "host:port" (its master's haListenPort), got ${JSON.stringify(c.haMasterAddress)}`);
  if (typeof c.slaveReadEnable !== 'boolean') bad(`slaveReadEnable must be true or false, got ${String(c.slaveReadEnable)}`);
  if (typeof c.storeDir !== 'string' || c.storeDir === '') bad('storeDir is required');
  if (!isBrokerName(c.brokerName)) bad(`brokerName must be 1..64 of [a-zA-Z0-9_-], got ${JSON.stringify(c.brokerName)}`);
  if (!isBrokerName(c.clusterName)) bad(`clusterName must be 1..64 of [a-zA-Z0-9_-], got ${JSON.stringify(c.clusterName)}`);
  if (c.brokerRole !== 'SLAVE' && c.brokerId !== 0) bad(`a master's brokerId is 0, got ${String(c.brokerId)}`);
  if (c.brokerRole === 'SLAVE' && (!Number.isInteger(c.brokerId) || c.brokerId < 1)) bad(`a slave's brokerId must be 1 or more, got ${String(c.brokerId)}`);
  if (!Number.isInteger(c.port) || c.port < 0 || c.port > 65535) bad(`port must be 0..65535, got ${String(c.port)}`);
  if (c.flushMode !== 'SYNC' && c.flushMode !== 'ASYNC') bad(`flushMode must be SYNC or ASYNC, got ${String(c.flushMode)}`);
  if (!Array.isArray(c.namesrvAddr) || !c.namesrvAddr.every((a) => typeof a === 'string' && /^[^\s:]+:\d{1,5}$/.test(a))) {
    bad(`namesrvAddr must be a list of "host:port", got ${JSON.stringify(c.namesrvAddr)}`);
  }
  for (const k of ['registerIntervalMs', 'maxPullHoldMs'] as const) {
    if (!Number.isSafeInteger(c[k]) || c[k] < 1) bad(`${k} must be a positive integer, got ${String(c[k])}`);
  }
  if (c.advertisedHost !== undefined && !/^\d{1,3}(\.\d{1,3}){3}$/.test(c.advertisedHost)) bad(`advertisedHost must be an IPv4 address, got ${c.advertisedHost}`);
  return c;
}

/** "a;b" or "a,b" (RocketMQ's namesrvAddr syntax) into a list; for config files and flags. */
export function parseNamesrvAddr(s: string): string[] {
  return s.split(/[;,]/).map((a) => a.trim()).filter((a) => a !== '');
}

/** The IPv4 address that goes into routes and message ids. */
export function advertisedHostOf(c: BrokerConfig): string {
  if (c.advertisedHost) return c.advertisedHost;
  if (c.host !== '0.0.0.0' && /^\d{1,3}(\.\d{1,3}){3}$/.test(c.host)) return c.host;
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

function definedOnly<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
