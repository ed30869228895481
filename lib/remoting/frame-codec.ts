/**
 * The remoting frame (`NettyEncoder`/`NettyDecoder`, `RemotingCommand.decode`), big-endian:
 *
 *   int32 totalLength = 4 + headerLength + bodyLength
 *   int32 (serializeType << 24) | headerLength       0 = JSON header, 1 = ROCKETMQ binary header
 *   header, then body = the rest
 *
 * Anything that does not parse is a KeelError REMOTING_FRAME_INVALID; the channel closes the
 * connection on it (as Netty's decoder does), so junk can never reach a processor.
 */
import { KeelError } from '../common/errors';
import { parseLenientJson } from './lenient-json';
import { emptyExtFields, LANGUAGE_CODES, RemotingCommand, SerializeType } from './remoting-command';

/** `com.rocketmq.remoting.frameMaxLength`: the whole frame, length field included. */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

const HEADER_LENGTH_MASK = 0xffffff;

function invalid(message: string): never {
  throw new KeelError('REMOTING_FRAME_INVALID', message);
}

/** The whole frame, length prefix included, in one buffer. Replies use JSON unless told otherwise. */
export function encodeFrame(cmd: RemotingCommand, type: SerializeType = SerializeType.JSON): Buffer {
  const text = type === SerializeType.JSON ? jsonHeaderText(cmd) : undefined;
  const binary = text === undefined ? encodeRocketMqHeader(cmd) : undefined;
  const headerLength = text !== undefined ? Buffer.byteLength(text, 'utf8') : binary!.length;
  if (headerLength > HEADER_LENGTH_MASK) invalid(`header of ${headerLength} bytes does not fit the 24-bit length`);
  const bodyLength = cmd.body ? cmd.body.length : 0;
  const out = Buffer.allocUnsafe(8 + headerLength + bodyLength);
  out.writeInt32BE(4 + headerLength + bodyLength, 0);
  out.writeInt32BE((type << 24) | headerLength, 4);
  if (text !== undefined) out.write(text, 8, 'utf8');
  else binary!.copy(out, 8);
  if (bodyLength > 0) cmd.body!.copy(out, 8 + headerLength);
  return out;
}

/**
 * Java 4.9.7's header through fastjson: bean fields in alphabetical order, nulls omitted,
 * `serializeTypeCurrentRPC` informational. extFields keep the order they were given in.
 */
function jsonHeaderText(cmd: RemotingCommand): string {
  let s = `{"code":${cmd.code}`;
  if (cmd.extFields) s += `,"extFields":${cmd.extFieldsJson ?? JSON.stringify(cmd.extFields)}`;
  s += `,"flag":${cmd.flag},"language":${JSON.stringify(cmd.language)},"opaque":${cmd.opaque}`;
  if (cmd.remark !== undefined) s += `,"remark":${JSON.stringify(cmd.remark)}`;
  return s + `,"serializeTypeCurrentRPC":"JSON","version":${cmd.version}}`;
}

/** `RocketMQSerializable.rocketMQProtocolEncode`. */
function encodeRocketMqHeader(cmd: RemotingCommand): Buffer {
  const remark = cmd.remark ? Buffer.from(cmd.remark, 'utf8') : undefined;
  const entries: Buffer[] = [];
  for (const [k, v] of Object.entries(cmd.extFields ?? {})) {
    const kb = Buffer.from(k, 'utf8');
    const vb = Buffer.from(v, 'utf8');
    const e = Buffer.allocUnsafe(6 + kb.length + vb.length);
    e.writeInt16BE(kb.length, 0);
    kb.copy(e, 2);
    e.writeInt32BE(vb.length, 2 + kb.length);
    vb.copy(e, 6 + kb.length);
    entries.push(e);
  }
  const ext = Buffer.concat(entries);
  const lang = LANGUAGE_CODES.indexOf(cmd.language as (typeof LANGUAGE_CODES)[number]);
  const fixed = Buffer.allocUnsafe(13);
  fixed.writeInt16BE(cmd.code, 0);
  fixed.writeInt8(lang < 0 ? LANGUAGE_CODES.indexOf('OTHER') : lang, 2);
  fixed.writeInt16BE(cmd.version, 3);
  fixed.writeInt32BE(cmd.opaque, 5);
  fixed.writeInt32BE(cmd.flag, 9);
  const len = (n: number) => { const b = Buffer.allocUnsafe(4); b.writeInt32BE(n, 0); return b; };
  return Buffer.concat([fixed, len(remark ? remark.length : 0), remark ?? Buffer.alloc(0), len(ext.length), ext]);
}

/**
 * Cuts a byte stream into commands. A bad frame throws, after which the stream is unusable:
 * the caller closes the connection. An oversized length fails at once, before its bytes arrive.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  /** Bytes of chunks[0] already consumed: a read holding many frames is walked, not re-sliced per frame. */
  private head = 0;
  private size = 0;

  constructor(private readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {}

  /** Appends bytes; commands come out of next(). */
  append(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  /**
   * The next whole command, or undefined until more bytes arrive. A frame within one chunk is
   * decoded where it lies (only its body becomes a view of the chunk); one across chunks is
   * copied alone, not with the rest of the chunks (a 64 KiB read holding ~60 frames of 1 KiB
   * was copied whole for the one frame it split).
   */
  next(): RemotingCommand | undefined {
    if (this.size < 4) return undefined;
    const total = this.headLength();
    if (total < 4) invalid(`frame length ${total} is too small`);
    if (total + 4 > this.maxFrameBytes) invalid(`frame of ${total + 4} bytes is over the ${this.maxFrameBytes}-byte limit`);
    const n = total + 4;
    if (this.size < n) return undefined;
    const first = this.chunks[0]!;
    if (first.length - this.head >= n) {
      const at = this.head;
      this.size -= n;
      this.head += n;
      if (this.head === first.length) {
        this.chunks.shift();
        this.head = 0;
      }
      return decodeCommandAt(first, at + 4, at + n);
    }
    return decodeCommandAt(this.take(n), 4, n);
  }

  /** The int32 at the head of the buffered bytes, which may be spread over chunks. */
  private headLength(): number {
    const first = this.chunks[0]!;
    if (first.length - this.head >= 4) return first.readInt32BE(this.head);
    let v = 0;
    let got = 0;
    for (let c = 0, from = this.head; got < 4; c++, from = 0) {
      const chunk = this.chunks[c]!;
      for (let i = from; i < chunk.length && got < 4; i++, got++) v = (v << 8) | chunk[i]!;
    }
    return v;
  }

  /** The next n buffered bytes, which span chunks, copied into one buffer. */
  private take(n: number): Buffer {
    this.size -= n;
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length - this.head, n - filled);
      c.copy(out, filled, this.head, this.head + k);
      filled += k;
      this.head += k;
      if (this.head === c.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    return out;
  }

  /** append() then every whole command. */
  push(chunk: Buffer): RemotingCommand[] {
    this.append(chunk);
    const out: RemotingCommand[] = [];
    for (let c = this.next(); c; c = this.next()) out.push(c);
    return out;
  }
}

/** Decodes one whole frame, length prefix included (fixtures, tests). */
export function decodeFrame(frame: Buffer): RemotingCommand {
  if (frame.length < 8) invalid(`frame of ${frame.length} bytes is shorter than its fixed fields`);
  const total = frame.readInt32BE(0);
  if (total !== frame.length - 4) invalid(`frame length field ${total} does not match ${frame.length - 4} bytes`);
  return decodeCommand(frame.subarray(4));
}

/** Decodes what follows the length prefix: header length word, header, body. */
export function decodeCommand(buf: Buffer): RemotingCommand {
  return decodeCommandAt(buf, 0, buf.length);
}

/** decodeCommand of buf[start, end), without a view of it: the body is the one view taken. */
function decodeCommandAt(buf: Buffer, start: number, end: number): RemotingCommand {
  if (end - start < 4) invalid('frame too short for its header length');
  const meta = buf.readUInt32BE(start);
  const headerLength = meta & HEADER_LENGTH_MASK;
  const type = meta >>> 24;
  if (headerLength > end - start - 4) invalid(`bad header length ${headerLength} in a frame of ${end - start + 4} bytes`);
  const headerEnd = start + 4 + headerLength;
  let cmd: RemotingCommand;
  if (type === SerializeType.JSON) cmd = decodeJsonHeader(buf.toString('utf8', start + 4, headerEnd));
  else if (type === SerializeType.ROCKETMQ) cmd = decodeRocketMqHeader(buf.subarray(start + 4, headerEnd));
  else return invalid(`unknown serialize type ${type}`);
  cmd.serializeType = type;
  if (end > headerEnd) cmd.body = buf.subarray(headerEnd, end);
  return cmd;
}

const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/** An int32 header field, given as a JSON number or as a string holding one. */
function toInt(v: unknown, name: string, fallback: number): number {
  if (v === undefined || v === null) return fallback;
  const n = typeof v === 'number' ? v : typeof v === 'string' && JSON_NUMBER.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < -0x80000000 || n > 0x7fffffff) invalid(`header field ${name} is not an int: ${JSON.stringify(v)}`);
  return n;
}

/** What fastjson's cast to String gives for a header value (numbers keep their text). */
function toFieldString(v: unknown): string | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return JSON.stringify(v);
}

function stringFieldsOnly(h: unknown): boolean {
  if (typeof h !== 'object' || h === null) return false;
  const o = h as Record<string, unknown>;
  if (o.remark !== undefined && o.remark !== null && typeof o.remark !== 'string') return false;
  const ext = o.extFields;
  if (ext === undefined || ext === null) return true;
  if (typeof ext !== 'object') return false;
  for (const k in ext) if (typeof (ext as Record<string, unknown>)[k] !== 'string') return false;
  return true;
}

function decodeJsonHeader(text: string): RemotingCommand {
  // Java sends every extField as a string: native JSON.parse reads that exactly. Anything else
  // (ali-ons numbers, fastjson's unquoted keys) takes the reader that keeps each number's text.
  let h: unknown;
  try {
    h = JSON.parse(text);
  } catch {
    h = undefined;
  }
  const stringsOnly = stringFieldsOnly(h);
  if (!stringsOnly) {
    try {
      h = parseLenientJson(text, { numbers: 'text' });
    } catch (e) {
      return invalid(`header: ${(e as Error).message}`);
    }
  }
  if (typeof h !== 'object' || h === null || Array.isArray(h)) invalid('JSON header is not an object');
  const o = h as Record<string, unknown>;
  const cmd = new RemotingCommand();
  cmd.code = toInt(o.code, 'code', 0);
  cmd.flag = toInt(o.flag, 'flag', 0);
  cmd.opaque = toInt(o.opaque, 'opaque', 0);
  cmd.version = toInt(o.version, 'version', 0);
  const lang = o.language;
  if (typeof lang === 'string' && !/^-?\d+$/.test(lang)) cmd.language = lang;
  else if (lang !== undefined && lang !== null) cmd.language = LANGUAGE_CODES[Number(lang)] ?? 'OTHER';
  const remark = toFieldString(o.remark);
  if (remark !== undefined) cmd.remark = remark;
  const ext = o.extFields;
  if (ext !== undefined && ext !== null) {
    if (typeof ext !== 'object' || Array.isArray(ext)) invalid('extFields is not an object');
    const fields = emptyExtFields();
    // All strings (Java): one native copy, no array per entry.
    if (stringsOnly) {
      Object.assign(fields, ext);
    } else {
      for (const [k, v] of Object.entries(ext as Record<string, unknown>)) {
        const s = toFieldString(v);
        if (s !== undefined) fields[k] = s;
      }
    }
    cmd.extFields = fields;
  }
  return cmd;
}

/** `RocketMQSerializable.rocketMQProtocolDecode`, with every length checked against the header. */
function decodeRocketMqHeader(h: Buffer): RemotingCommand {
  let p = 0;
  const take = (n: number, what: string): number => {
    if (n < 0 || p + n > h.length) invalid(`ROCKETMQ header: ${what} overruns the header`);
    const at = p;
    p += n;
    return at;
  };
  // Java reads a zero length as null.
  const str = (len: number, what: string): string | undefined => {
    const at = take(len, what);
    return len === 0 ? undefined : h.toString('utf8', at, at + len);
  };
  const cmd = new RemotingCommand();
  cmd.code = h.readInt16BE(take(2, 'code'));
  cmd.language = LANGUAGE_CODES[h.readInt8(take(1, 'language'))] ?? 'OTHER';
  cmd.version = h.readInt16BE(take(2, 'version'));
  cmd.opaque = h.readInt32BE(take(4, 'opaque'));
  cmd.flag = h.readInt32BE(take(4, 'flag'));
  const remark = str(h.readInt32BE(take(4, 'remark length')), 'remark');
  if (remark !== undefined) cmd.remark = remark;
  const extLength = h.readInt32BE(take(4, 'extFields length'));
  if (extLength > 0) {
    if (extLength > h.length - p) invalid('ROCKETMQ header: extFields overruns the header');
    const end = p + extLength;
    const fields = emptyExtFields();
    while (p < end) {
      const k = str(h.readInt16BE(take(2, 'key length')), 'key');
      const v = str(h.readInt32BE(take(4, 'value length')), 'value');
      if (p > end) invalid('ROCKETMQ header: an entry overruns extFields');
      // A repeated key: the last one wins, as in Java's HashMap.put.
      if (k !== undefined && v !== undefined) fields[k] = v;
    }
    cmd.extFields = fields;
  }
  return cmd;
}
