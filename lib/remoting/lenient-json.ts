/**
 * A JSON reader for what RocketMQ peers put on the wire, which is not always JSON:
 * fastjson writes map keys unquoted when asked for its default format (`{0:"10.0.0.1:10911"}`
 * in broker addresses), and header numbers must keep their exact text because fastjson turns
 * them into the strings a Java header reads (a 64-bit offset must not be rounded through a double).
 */
import { KeelError } from '../common/errors';

export interface LenientJsonOptions {
  /** 'text': numbers come back as their literal text (exact for 64-bit values); 'number': as JS numbers. */
  numbers: 'text' | 'number';
}

/** Junk such as 16 MiB of '[' must fail as bad input, not as a stack overflow. */
const MAX_DEPTH = 256;

const UNQUOTED_KEY = /[A-Za-z0-9_$.-]/;

export function parseLenientJson(text: string, options: LenientJsonOptions): unknown {
  const r = new Reader(text, options.numbers === 'text');
  r.ws();
  const v = r.value(0);
  r.ws();
  if (r.i !== text.length) r.fail('trailing characters');
  return v;
}

class Reader {
  i = 0;
  constructor(private readonly s: string, private readonly numbersAsText: boolean) {}

  fail(what: string): never {
    throw new KeelError('REMOTING_REQUEST_INVALID', `bad JSON at ${this.i}: ${what}`);
  }

  ws(): void {
    const s = this.s;
    for (;;) {
      const c = s.charCodeAt(this.i);
      if (c === 32 || c === 10 || c === 13 || c === 9) this.i++;
      else return;
    }
  }

  value(depth: number): unknown {
    if (depth > MAX_DEPTH) this.fail('nested too deeply');
    const c = this.s[this.i];
    switch (c) {
      case '{': return this.object(depth);
      case '[': return this.array(depth);
      case '"': return this.string();
      case 't': return this.word('true', true);
      case 'f': return this.word('false', false);
      case 'n': return this.word('null', null);
      default:
        if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
        return this.fail(c === undefined ? 'unexpected end' : `unexpected ${JSON.stringify(c)}`);
    }
  }

  private word<T>(w: string, v: T): T {
    if (!this.s.startsWith(w, this.i)) this.fail(`expected ${w}`);
    this.i += w.length;
    return v;
  }

  private number(): string | number {
    const m = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
    m.lastIndex = this.i;
    const hit = m.exec(this.s);
    if (!hit) return this.fail('bad number');
    this.i += hit[0].length;
    return this.numbersAsText ? hit[0] : Number(hit[0]);
  }

  string(): string {
    const s = this.s;
    const start = ++this.i;
    // Fast path: no escapes.
    for (let j = start; j < s.length; j++) {
      const c = s.charCodeAt(j);
      if (c === 34) { this.i = j + 1; return s.slice(start, j); }
      if (c === 92 || c < 32) break;
    }
    let out = '';
    for (;;) {
      const c = s[this.i];
      if (c === undefined) return this.fail('unterminated string');
      if (c === '"') { this.i++; return out; }
      if (c.charCodeAt(0) < 32) this.fail('control character in string');
      if (c !== '\\') { out += c; this.i++; continue; }
      const e = s[this.i + 1];
      this.i += 2;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          const hex = s.slice(this.i, this.i + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('bad \\u escape');
          out += String.fromCharCode(parseInt(hex, 16));
          this.i += 4;
          break;
        }
        default: this.fail('bad escape');
      }
    }
  }

  private key(): string {
    if (this.s[this.i] === '"') return this.string();
    const start = this.i;
    while (this.i < this.s.length && UNQUOTED_KEY.test(this.s[this.i]!)) this.i++;
    if (this.i === start) this.fail('expected a key');
    return this.s.slice(start, this.i);
  }

  private object(depth: number): Record<string, unknown> {
    // No prototype: a key "__proto__" from the wire must stay a plain key.
    const o: Record<string, unknown> = Object.create(null);
    this.i++;
    this.ws();
    if (this.s[this.i] === '}') { this.i++; return o; }
    for (;;) {
      this.ws();
      const k = this.key();
      this.ws();
      if (this.s[this.i] !== ':') this.fail('expected :');
      this.i++;
      this.ws();
      o[k] = this.value(depth + 1);
      this.ws();
      const c = this.s[this.i++];
      if (c === '}') return o;
      if (c !== ',') this.fail('expected , or }');
    }
  }

  private array(depth: number): unknown[] {
    const a: unknown[] = [];
    this.i++;
    this.ws();
    if (this.s[this.i] === ']') { this.i++; return a; }
    for (;;) {
      this.ws();
      a.push(this.value(depth + 1));
      this.ws();
      const c = this.s[this.i++];
      if (c === ']') return a;
      if (c !== ',') this.fail('expected , or ]');
    }
  }
}
