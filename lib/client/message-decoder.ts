/**
 * The stored records a broker sends in PULL / VIEW / QUERY bodies, as a client reads them
 * (`MessageDecoder.decodes`, reference §6.1): the shared record reader (lib/common/record-codec),
 * with the checks a body from the network needs and compressed bodies inflated. A client must
 * read what any RocketMQ 4.x broker sends (IPv6 hosts, compressed bodies).
 */
import { KeelError } from '../common/errors';
import type { MessageExt } from '../common/message';
import { decodeRecord, recordShapeError } from '../common/record-codec';
import { decompressBody } from './message-compression';

/** A message as a client receives it: as stored, with its body inflated. */
export type ReceivedMessage = MessageExt;

/** Every record of a body; a body that does not parse is a REMOTING_REQUEST_INVALID error naming the position. */
export function decodeMessages(body: Buffer | undefined): ReceivedMessage[] {
  const out: ReceivedMessage[] = [];
  if (!body) return out;
  for (let pos = 0; pos < body.length;) {
    const size = body.length - pos >= 4 ? body.readInt32BE(pos) : 0;
    const error = recordShapeError(body, pos, size);
    if (error !== undefined) throw bad(pos, error);
    const m = decodeRecord(body, pos);
    try {
      m.body = decompressBody(m.body, m.sysFlag);
    } catch (e) {
      throw bad(pos, `compressed body: ${(e as Error).message}`);
    }
    out.push(m);
    pos += size;
  }
  return out;
}

/** Properties as a producer sends them (SEND_MESSAGE_V2 field `i`). */
export function encodeProperties(props: Record<string, string>): string {
  return Object.entries(props).map(([k, v]) => `${k}\u0001${v}`).join('\u0002');
}

function bad(pos: number, what: string): KeelError {
  return new KeelError('REMOTING_REQUEST_INVALID', `a message in the reply does not parse at byte ${pos}: ${what}`);
}
