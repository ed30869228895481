/**
 * The producer's message id, property UNIQ_KEY: RocketMQ 4.9.7's `MessageClientIDSetter`. It is
 * what `send` resolves with as msgId, what a consumer sees as the message id and what
 * CONSUMER_SEND_MSG_BACK carries as originMsgId, so it must look like Java's:
 * upper-case hex of ip (4 bytes, or 16 for IPv6) · pid (2) · class-loader hash (4) ·
 * ms since the start of the current month in local time (4) · counter (2) — 32 hex digits.
 *
 * Deliberate differences: the "class-loader hash" is 4 random bytes per generator; the local
 * address skips loopback interfaces (Java takes 127.0.0.1 if its interface comes first).
 */
import { networkInterfaces } from 'node:os';
import { systemClock, type Clock } from '../common/clock';
import { KeelError } from '../common/errors';

export interface UniqueIdOptions {
  /** 4 (IPv4) or 16 (IPv6) bytes; default localIpBytes(). */
  ip?: Buffer;
  pid?: number;
  /** 32-bit value in the place of Java's class-loader hash; default random. */
  instanceHash?: number;
  clock?: Clock;
}

/** Java's 1st of the month, 00:00:00.000, in the local time zone, as `Calendar.getInstance()` gives it. */
function monthStart(ms: number, monthsToAdd = 0): number {
  const d = new Date(ms);
  return new Date(d.getFullYear(), d.getMonth() + monthsToAdd, 1, 0, 0, 0, 0).getTime();
}

/** Upper-case hex of each byte value: an id is made per send, without a Buffer for it. */
const HEX_BYTE: readonly string[] = Array.from({ length: 256 }, (_, b) => b.toString(16).toUpperCase().padStart(2, '0'));

export class UniqueIdGenerator {
  private readonly fixed: string;
  private readonly clock: Clock;
  private counter = 0;
  private startTime: number;
  private nextStartTime: number;
  /** The id up to the counter, for the time it was made at: sends in the same millisecond share it. */
  private head = '';
  private headTime = NaN;

  constructor(options: UniqueIdOptions = {}) {
    this.clock = options.clock ?? systemClock;
    const ip = options.ip ?? localIpBytes(this.clock);
    if (ip.length !== 4 && ip.length !== 16) throw new KeelError('OPTION_INVALID', `ip must be 4 or 16 bytes, got ${ip.length}`);
    const fixed = Buffer.alloc(ip.length + 6);
    ip.copy(fixed, 0);
    fixed.writeUInt16BE((options.pid ?? process.pid) & 0xffff, ip.length);
    fixed.writeInt32BE((options.instanceHash ?? Math.floor(Math.random() * 0x100000000)) | 0, ip.length + 2);
    this.fixed = fixed.toString('hex').toUpperCase();
    const now = this.clock.now();
    this.startTime = monthStart(now);
    this.nextStartTime = monthStart(now, 1);
  }

  /** `createUniqID`. */
  next(): string {
    const now = this.clock.now();
    if (now !== this.headTime) {
      if (now >= this.nextStartTime) {
        this.startTime = monthStart(now);
        this.nextStartTime = monthStart(now, 1);
      }
      // Java casts to int: past 2^31 ms (day 25) the value is negative but its 32 bits read back
      // unsigned. A small step back (NTP) reads as 0 rather than as a time late in the month.
      let diff = (now - this.startTime) | 0;
      if (diff < 0 && diff > -1000000) diff = 0;
      this.head = this.fixed + HEX_BYTE[diff >>> 24]! + HEX_BYTE[(diff >>> 16) & 0xff]! + HEX_BYTE[(diff >>> 8) & 0xff]! + HEX_BYTE[diff & 0xff]!;
      this.headTime = now;
    }
    const c = this.counter;
    this.counter = (c + 1) | 0;
    return this.head + HEX_BYTE[(c >>> 8) & 0xff]! + HEX_BYTE[c & 0xff]!;
  }
}

let processGenerator: UniqueIdGenerator | undefined;

/** A UNIQ_KEY from the process-wide generator (Java's static one: one counter per JVM). */
export function createUniqId(): string {
  processGenerator ??= new UniqueIdGenerator();
  return processGenerator.next();
}

/** What a UNIQ_KEY says about where and when it was made. */
export interface UniqueIdInfo {
  /** Dotted IPv4, or 8 groups of 4 hex digits for IPv6 (Java's ipToIPv6Str). */
  ip: string;
  pid: number;
  /** `getNearlyTimeFromID`: the creation time, assuming the id is less than a month old. */
  time: number;
}

const UNIQ_ID = /^(?:[0-9A-Fa-f]{32}|[0-9A-Fa-f]{56})$/;

export function parseUniqId(id: string, now: number = Date.now()): UniqueIdInfo {
  if (typeof id !== 'string' || !UNIQ_ID.test(id)) throw new KeelError('OFFSET_INVALID', `a UNIQ_KEY is 32 (or 56) hex digits, got ${JSON.stringify(id)}`);
  const b = Buffer.from(id, 'hex');
  const ipLen = b.length === 28 ? 16 : 4;
  const ip = ipLen === 4
    ? `${b[0]}.${b[1]}.${b[2]}.${b[3]}`
    : Array.from({ length: 8 }, (_, i) => b.toString('hex', i * 2, i * 2 + 2)).join(':');
  const span = b.readUInt32BE(ipLen + 6);
  // The month is not in the id: this month's, unless that would put it in the future.
  let start = monthStart(now);
  if (start + span >= now) start = monthStart(now, -1);
  return { ip, pid: b.readUInt16BE(ipLen), time: start + span };
}

function isPrivateV4(a: number[]): boolean {
  return a[0] === 10 || (a[0] === 172 && a[1]! >= 16 && a[1]! <= 31) || (a[0] === 192 && a[1] === 168);
}

/**
 * `UtilAll.getIP`: the first public IPv4 or public IPv6 address, else the first private IPv4,
 * else (`createFakeIP`) the low 4 bytes of the current time. Link-local (fe80::/10) and site-local
 * (fec0::/10) IPv6 addresses are internal, as in `isInternalV6IP`.
 */
export function localIpBytes(clock: Clock = systemClock): Buffer {
  let internal: Buffer | undefined;
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.internal) continue;
      if (a.family === 'IPv4') {
        const parts = a.address.split('.').map(Number);
        if (!isPrivateV4(parts)) return Buffer.from(parts);
        internal ??= Buffer.from(parts);
      } else if (a.family === 'IPv6' && !/^fe[89a-f]/i.test(a.address) && a.address !== '::') {
        return ipv6Bytes(a.address);
      }
    }
  }
  if (internal) return internal;
  const fake = Buffer.alloc(4);
  fake.writeUInt32BE(clock.now() % 0x100000000, 0);
  return fake;
}

function ipv6Bytes(address: string): Buffer {
  const [head, tail] = address.split('%')[0]!.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}
