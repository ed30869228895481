/**
 * One RocketMQ remoting frame, request or response (`RemotingCommand.java`).
 * Header fields (`extFields`) are strings on the wire for Java and may be numbers or booleans from
 * ali-ons; the codec turns them all into strings, and the typed getters below parse them the way
 * Java's `decodeCommandCustomHeader` does.
 */
import { KeelError } from '../common/errors';

/** `flag` bit 0: this frame is a response. */
export const FLAG_RESPONSE = 1;
/** `flag` bit 1: the sender expects no response; a server must never answer such a frame. */
export const FLAG_ONEWAY = 2;

/** MQVersion.Version ordinal of 4.9.7; servers branch on the peer's value (reference §1). */
export const VERSION_4_9_7 = 407;

export const SerializeType = { JSON: 0, ROCKETMQ: 1 } as const;
export type SerializeType = (typeof SerializeType)[keyof typeof SerializeType];

/** `LanguageCode` ordinals, for the ROCKETMQ binary header which sends a byte instead of the name. */
export const LANGUAGE_CODES = ['JAVA', 'CPP', 'DOTNET', 'PYTHON', 'DELPHI', 'ERLANG', 'RUBY', 'OTHER', 'HTTP', 'GO', 'PHP', 'OMS', 'RUST'] as const;

export type HeaderValue = string | number | bigint | boolean | null | undefined;
export type ExtFields = Record<string, string>;

export class RemotingCommand {
  code = 0;
  language = 'JAVA';
  version = VERSION_4_9_7;
  opaque = 0;
  flag = 0;
  remark?: string;
  /** Absent and empty differ on the wire (`extFields` omitted vs `{}`), so both are kept. */
  extFields?: ExtFields;
  /**
   * extFields as JSON text, when the sender wrote it from a template: a JSON header then carries
   * it as it is, instead of JSON.stringify of extFields (0.5–1 µs of a send or its reply, at tens
   * of thousands a second). It must be exactly that stringify; extFields must still hold the
   * fields (the binary header and readers in this process use them).
   */
  extFieldsJson?: string;
  body?: Buffer;
  /** How the header arrived; replies are always JSON (ali-ons can read nothing else, Java reads both). */
  serializeType: SerializeType = SerializeType.JSON;

  static request(code: number, fields?: Record<string, HeaderValue>, body?: Buffer): RemotingCommand {
    const c = new RemotingCommand();
    c.code = code;
    if (fields) c.extFields = toExtFields(fields);
    if (body) c.body = body;
    return c;
  }

  static response(code: number, remark?: string, fields?: Record<string, HeaderValue>, body?: Buffer): RemotingCommand {
    const c = new RemotingCommand();
    c.code = code;
    c.flag = FLAG_RESPONSE;
    if (remark !== undefined) c.remark = remark;
    if (fields) c.extFields = toExtFields(fields);
    if (body) c.body = body;
    return c;
  }

  get isResponse(): boolean { return (this.flag & FLAG_RESPONSE) !== 0; }
  get isOneway(): boolean { return (this.flag & FLAG_ONEWAY) !== 0; }

  /** A header field as sent, or undefined. */
  field(name: string): string | undefined {
    return this.extFields?.[name];
  }

  /** A `@CFNotNull` string field: missing is an error (Java: "the custom field <x> is null"). */
  requireString(name: string): string {
    const v = this.field(name);
    if (v === undefined) throw new KeelError('REMOTING_REQUEST_INVALID', `the custom field <${name}> is null`);
    return v;
  }

  /** A Java `int` field; `optional` gives the value for a missing field. */
  int(name: string, optional?: number): number {
    const v = this.field(name);
    if (v === undefined && optional !== undefined) return optional;
    const s = v ?? this.requireString(name);
    const n = decimal(s, 10);
    if (!(n >= -0x80000000 && n <= 0x7fffffff)) throw new KeelError('REMOTING_REQUEST_INVALID', `the custom field <${name}> is not an int: ${JSON.stringify(s)}`);
    return n;
  }

  /**
   * A Java `long` field as a number. Values beyond 2^53 (Long.MAX_VALUE as "no end" in queries)
   * are clamped to the nearest safe integer: every offset and timestamp keelmq keeps fits.
   */
  long(name: string, optional?: number): number {
    const v = this.field(name);
    if (v === undefined && optional !== undefined) return optional;
    const s = v ?? this.requireString(name);
    const n = decimal(s, 19);
    // Exact below 2^53; longer texts go through BigInt to be range-checked and clamped.
    if (Number.isSafeInteger(n)) return n;
    if (Number.isNaN(n)) throw new KeelError('REMOTING_REQUEST_INVALID', `the custom field <${name}> is not a long: ${JSON.stringify(s)}`);
    const b = BigInt(s);
    if (b > 0x7fffffffffffffffn || b < -0x8000000000000000n) throw new KeelError('REMOTING_REQUEST_INVALID', `the custom field <${name}> is out of long range`);
    return Math.max(Number.MIN_SAFE_INTEGER, Math.min(Number.MAX_SAFE_INTEGER, Number(b)));
  }

  /** A Java `boolean` field: `Boolean.parseBoolean`, so anything but "true" (any case) is false. */
  bool(name: string, optional = false): boolean {
    const v = this.field(name);
    return v === undefined ? optional : v.toLowerCase() === 'true';
  }
}

/**
 * `[+-]?` and 1..maxDigits decimal digits as a number (what `Integer.parseInt`/`Long.parseLong`
 * accept, their range aside), else NaN. A loop: a regular expression per header field was a
 * measurable part of a send.
 */
function decimal(s: string, maxDigits: number): number {
  const c0 = s.charCodeAt(0);
  const negative = c0 === 45; // '-'
  let i = negative || c0 === 43 ? 1 : 0; // '+'
  const digits = s.length - i;
  if (digits < 1 || digits > maxDigits) return NaN;
  let n = 0;
  for (; i < s.length; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return NaN;
    n = n * 10 + d;
  }
  return negative ? 0 - n : n;
}

/**
 * Objects with no inherited properties, so a field named `__proto__` or `constructor` on the wire is
 * an ordinary field and a lookup never finds Object.prototype's. Not `Object.create(null)`: V8 keeps
 * those in dictionary mode, and building, reading and JSON-encoding them was ~30 % of the remoting
 * layer's CPU per message (two or three such objects per send: decoded header, reply).
 */
const ExtFieldsObject = function ExtFieldsObject(this: ExtFields) {} as unknown as new () => ExtFields;
ExtFieldsObject.prototype = Object.create(null);

/** An empty ExtFields with no inherited properties (see ExtFieldsObject). */
export function emptyExtFields(): ExtFields {
  return new ExtFieldsObject();
}

/** Header values as Java writes them: `toString()` of each non-null field. */
function toExtFields(fields: Record<string, HeaderValue>): ExtFields {
  const out = emptyExtFields();
  for (const k of Object.keys(fields)) {
    const v = fields[k];
    if (v !== undefined && v !== null) out[k] = String(v);
  }
  return out;
}
