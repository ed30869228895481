/**
 * RocketMQ's offset message id: where a message is stored (store host and
 * commit-log offset), so a broker can find it again by id alone.
 */
import { KeelError } from './errors';

const TWO_32 = 4294967296;
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).toUpperCase().padStart(2, '0'));

function hex32(v: number): string {
  return HEX[v >>> 24]! + HEX[(v >>> 16) & 255]! + HEX[(v >>> 8) & 255]! + HEX[v & 255]!;
}

/** Store host ip 4 + port 4 + physical offset 8, as 32 upper-case hex digits. */
export function msgIdOf(storeHostIp: number, storeHostPort: number, physicalOffset: number): string {
  return hex32(storeHostIp) + hex32(storeHostPort) + hex32(Math.floor(physicalOffset / TWO_32)) + hex32(physicalOffset >>> 0);
}

const MSG_ID = /^[0-9A-Fa-f]{32}$/;

/** Inverse of msgIdOf; KeelError OFFSET_INVALID for anything that is not such an id. */
export function parseMsgId(id: string): { ip: number; port: number; physicalOffset: number } {
  if (typeof id !== 'string' || !MSG_ID.test(id)) throw new KeelError('OFFSET_INVALID', `message id must be 32 hex digits, got ${JSON.stringify(id)}`);
  const port = parseInt(id.slice(8, 16), 16);
  const hi = parseInt(id.slice(16, 24), 16);
  if (port > 65535) throw new KeelError('OFFSET_INVALID', `message id ${id} has port ${port}`);
  if (hi >= 1 << 21) throw new KeelError('OFFSET_INVALID', `message id ${id} has an offset beyond 2^53`);
  return { ip: parseInt(id.slice(0, 8), 16), port, physicalOffset: hi * TWO_32 + parseInt(id.slice(24, 32), 16) };
}
