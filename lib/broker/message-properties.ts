/**
 * Message properties and batch bodies as producers send them (`MessageDecoder.string2messageProperties`,
 * `MessageDecoder.decodeMessages`). Properties are `k\u0001v` joined by `\u0002`; Java omits the trailing
 * `\u0002`, ali-ons writes it, and entries with an empty name or value are skipped, as both parsers do.
 */
import { KeelError } from '../common/errors';
import { emptyExtFields } from '../remoting/remoting-command';

/** The properties in `s`, without the one named `skip` (what a `delete` afterwards would do, for less). */
export function parseMessageProperties(s: string | undefined, skip?: string): Record<string, string> {
  // Not Object.create(null): a dictionary-mode object, slower to fill here and to walk when the store encodes it.
  const out: Record<string, string> = emptyExtFields();
  if (!s) return out;
  // Walked by index: a split() and a string per entry (then two more per entry) cost more than the rest of the parse.
  // `at` is the next \u0001 at or after `start`, searched again only once passed: linear in s however the entries look.
  let at = -1;
  for (let start = 0; start <= s.length;) {
    let end = s.indexOf('\u0002', start);
    if (end < 0) end = s.length;
    if (at < start) {
      at = s.indexOf('\u0001', start);
      if (at < 0) break;
    }
    if (at > start && at < end - 1) {
      const name = s.slice(start, at);
      if (name !== skip) out[name] = s.slice(at + 1, end);
    }
    start = end + 1;
  }
  return out;
}

export interface BatchItem {
  flag: number;
  body: Buffer;
  properties: Record<string, string>;
}

/**
 * The items of a SEND_BATCH_MESSAGE body: `totalSize i32 · magic i32 · bodyCRC i32 · flag i32 ·
 * bodyLen i32 + body · propsLen i16 + props` each. Anything that does not add up is
 * REMOTING_REQUEST_INVALID (the broker answers MESSAGE_ILLEGAL).
 */
export function decodeBatchBody(body: Buffer): BatchItem[] {
  const items: BatchItem[] = [];
  const bad = (what: string): never => { throw new KeelError('REMOTING_REQUEST_INVALID', `bad batch body at byte ${p}: ${what}`); };
  let p = 0;
  while (p < body.length) {
    if (p + 22 > body.length) bad('truncated item header');
    const totalSize = body.readInt32BE(p);
    if (totalSize < 22 || p + totalSize > body.length) bad(`item size ${totalSize}`);
    const flag = body.readInt32BE(p + 12);
    const bodyLen = body.readInt32BE(p + 16);
    if (bodyLen < 0 || 20 + bodyLen + 2 > totalSize) bad(`body length ${bodyLen}`);
    const b = body.subarray(p + 20, p + 20 + bodyLen);
    const propsLen = body.readInt16BE(p + 20 + bodyLen);
    if (propsLen < 0 || 22 + bodyLen + propsLen !== totalSize) bad(`properties length ${propsLen}`);
    const props = body.toString('utf8', p + 22 + bodyLen, p + 22 + bodyLen + propsLen);
    items.push({ flag, body: b, properties: parseMessageProperties(props) });
    p += totalSize;
  }
  if (items.length === 0) bad('no items');
  return items;
}

/** Encodes items as decodeBatchBody reads them (what a producer's MessageBatch.encode sends). */
export function encodeBatchBody(items: { flag?: number; body: Buffer; properties?: Record<string, string> }[]): Buffer {
  const parts: Buffer[] = [];
  for (const it of items) {
    const props = Buffer.from(Object.entries(it.properties ?? {}).map(([k, v]) => `${k}\u0001${v}`).join('\u0002'), 'utf8');
    const head = Buffer.alloc(20);
    const total = 22 + it.body.length + props.length;
    head.writeInt32BE(total, 0);
    head.writeInt32BE(it.flag ?? 0, 12);
    head.writeInt32BE(it.body.length, 16);
    const len = Buffer.alloc(2);
    len.writeInt16BE(props.length, 0);
    parts.push(head, it.body, len, props);
  }
  return Buffer.concat(parts);
}
