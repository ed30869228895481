/**
 * How a client names itself to the brokers (HEART_BEAT's clientID, GET_CONSUMER_LIST_BY_GROUP):
 * `ClientConfig.buildMQClientId`, `ip@instanceName`. Consumers of a group sort these ids to share
 * out queues, so keelmq's have the same shape as Java's (`ip@pid#nanoTime`, reference §3.6) and
 * ali-ons's (`ip@pid`).
 */
import { networkInterfaces } from 'node:os';

/**
 * `RemotingUtil.getLocalAddress`: the first IPv4 address that is neither loopback nor 192.168.x,
 * else the first 192.168.x, else the first non-loopback IPv6, else 127.0.0.1.
 */
export function localAddress(): string {
  let lan: string | undefined;
  let v6: string | undefined;
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.internal) continue;
      if (a.family === 'IPv4') {
        if (!a.address.startsWith('192.168')) return a.address;
        lan ??= a.address;
      } else if (a.family === 'IPv6') {
        v6 ??= a.address.split('%')[0];
      }
    }
  }
  return lan ?? v6 ?? '127.0.0.1';
}

let lastNano = 0n;

/**
 * The instance name a clustering consumer gets when none is given: Java 4.9.7's
 * `changeInstanceNameToPID`, `pid#nanoTime`, so that consumers of one group in one process have
 * ids of their own. A broadcasting consumer keeps "DEFAULT" (Java does too), so that its id, and
 * the local offset file named after it, survive a restart.
 */
export function defaultInstanceName(model: 'CLUSTERING' | 'BROADCASTING'): string {
  if (model === 'BROADCASTING') return 'DEFAULT';
  let n = process.hrtime.bigint();
  if (n <= lastNano) n = lastNano + 1n;
  lastNano = n;
  return `${process.pid}#${n}`;
}

export function buildClientId(instanceName: string): string {
  return `${localAddress()}@${instanceName}`;
}
