/**
 * `keelmq broker --config FILE`: RocketMQ's broker.conf (Java properties, `key=value`) or the
 * same keys in a JSON object. Keys keelmq does not serve are reported, not fatal, so an existing
 * broker.conf can be used as it is.
 */
import * as fs from 'node:fs';
import type { BrokerConfig } from '../broker/broker-config';
import { parseNamesrvAddr } from '../broker/broker-config';
import { KeelError } from '../common/errors';
import { parseDelayLevels } from '../consumer/schedule-service';

export type BrokerFileConfig = Partial<Pick<BrokerConfig, 'brokerName' | 'clusterName' | 'brokerId' | 'port' | 'namesrvAddr' | 'storeDir' | 'flushMode' | 'autoCreateTopics' | 'advertisedHost' | 'brokerRole' | 'haListenPort' | 'haMasterAddress' | 'slaveReadEnable' | 'services'>>;

type Field = keyof BrokerFileConfig;

/** RocketMQ key -> keelmq field and how its text reads. */
const KEYS: Record<string, { field: Field; parse: (v: string) => BrokerFileConfig[Field] }> = {
  brokerName: { field: 'brokerName', parse: (v) => v },
  brokerClusterName: { field: 'clusterName', parse: (v) => v },
  brokerId: { field: 'brokerId', parse: (v) => integer(v) },
  listenPort: { field: 'port', parse: (v) => integer(v) },
  namesrvAddr: { field: 'namesrvAddr', parse: parseNamesrvAddr },
  storePathRootDir: { field: 'storeDir', parse: (v) => v },
  brokerIP1: { field: 'advertisedHost', parse: (v) => v },
  flushDiskType: { field: 'flushMode', parse: flushMode },
  autoCreateTopicEnable: { field: 'autoCreateTopics', parse: boolean },
  brokerRole: { field: 'brokerRole', parse: brokerRole },
  haListenPort: { field: 'haListenPort', parse: (v) => integer(v) },
  haMasterAddress: { field: 'haMasterAddress', parse: (v) => v },
  slaveReadEnable: { field: 'slaveReadEnable', parse: boolean },
  // The only key that reaches the consumer-layer services, so it may set `services` whole.
  messageDelayLevel: { field: 'services', parse: (v) => ({ delayLevels: delayLevels(v) }) },
};

/** Keys of a RocketMQ broker.conf that keelmq has no use for; accepted silently. */
const IGNORED = new Set(['deleteWhen', 'fileReservedTime']);

/** The file's settings; OPTION_INVALID naming the file, line and key for anything that does not read. */
export function loadBrokerConfigFile(file: string, warn: (line: string) => void): BrokerFileConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new KeelError('OPTION_INVALID', `cannot read the config file ${file}: ${(e as Error).message}`, { cause: e });
  }
  const entries = text.trimStart().startsWith('{') ? jsonEntries(file, text) : propertiesEntries(file, text);
  const out: BrokerFileConfig = {};
  for (const { key, value, where } of entries) {
    const k = KEYS[key];
    if (!k) {
      if (!IGNORED.has(key)) warn(`${where}: ignoring ${key}, which keelmq does not use`);
      continue;
    }
    try {
      (out as Record<string, unknown>)[k.field] = k.parse(value);
    } catch (e) {
      throw new KeelError('OPTION_INVALID', `${where}: ${key}: ${(e as Error).message}`);
    }
  }
  return out;
}

function jsonEntries(file: string, text: string): { key: string; value: string; where: string }[] {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch (e) {
    throw new KeelError('OPTION_INVALID', `${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new KeelError('OPTION_INVALID', `${file} must hold a JSON object`);
  return Object.entries(o).map(([key, v]) => {
    if (typeof v === 'object' && v !== null) throw new KeelError('OPTION_INVALID', `${file}: ${key} must be a string, number or boolean`);
    return { key, value: String(v), where: file };
  });
}

/** Java properties as broker.conf files use them: `key=value`, `key: value` or `key value`; `#` and `!` comments. */
function propertiesEntries(file: string, text: string): { key: string; value: string; where: string }[] {
  const out: { key: string; value: string; where: string }[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('!')) return;
    const m = /^([^=:\s]+)\s*(?:[=:]\s*|\s+)(.*)$/.exec(line);
    const where = `${file}:${i + 1}`;
    if (!m) throw new KeelError('OPTION_INVALID', `${where}: expected key=value, got ${JSON.stringify(line)}`);
    out.push({ key: m[1]!, value: m[2]!.trim(), where });
  });
  return out;
}

function integer(v: string): number {
  if (!/^\d+$/.test(v)) throw new Error(`expected a whole number, got ${JSON.stringify(v)}`);
  return Number(v);
}

/** RocketMQ's "1s 5s 10s 30s 1m …", checked here so that a bad one is refused before the store opens. */
function delayLevels(v: string): string {
  parseDelayLevels(v);
  return v;
}

function boolean(v: string): boolean {
  if (v !== 'true' && v !== 'false') throw new Error(`expected true or false, got ${JSON.stringify(v)}`);
  return v === 'true';
}

function brokerRole(v: string): 'ASYNC_MASTER' | 'SYNC_MASTER' | 'SLAVE' {
  if (v === 'ASYNC_MASTER' || v === 'SYNC_MASTER' || v === 'SLAVE') return v;
  throw new Error(`expected ASYNC_MASTER, SYNC_MASTER or SLAVE, got ${JSON.stringify(v)}`);
}

function flushMode(v: string): 'SYNC' | 'ASYNC' {
  if (v === 'SYNC_FLUSH' || v === 'SYNC') return 'SYNC';
  if (v === 'ASYNC_FLUSH' || v === 'ASYNC') return 'ASYNC';
  throw new Error(`expected SYNC_FLUSH or ASYNC_FLUSH, got ${JSON.stringify(v)}`);
}

/** The same value readers, for the command-line flags that mirror these keys. */
export const parseFlag = { integer, boolean, flushMode, brokerRole, delayLevels };
