import { expect } from 'chai';
import fc from 'fast-check';
import { parseMessageProperties } from '../../lib/broker/message-properties';

/** MessageDecoder.string2messageProperties, as Java writes it: split on \u0002, each entry on its first \u0001, empty names and values skipped. */
function byJavaRule(s: string, skip?: string): [string, string][] {
  const out = new Map<string, string>();
  for (const entry of s.split('\u0002')) {
    const at = entry.indexOf('\u0001');
    if (at <= 0 || at === entry.length - 1) continue;
    const name = entry.slice(0, at);
    if (name !== skip) out.set(name, entry.slice(at + 1));
  }
  return [...out];
}

describe('broker - message properties', () => {
  it('parses any mix of separators, empty names and values, repeats and a trailing \\u0002 as Java does', () => {
    const text = fc.array(fc.constantFrom('a', 'b', 'WAIT', '\u0001', '\u0002', '\u0001', '\u0002', 'ü'), { maxLength: 16 }).map((parts) => parts.join(''));
    fc.assert(fc.property(text, fc.constantFrom(undefined, 'a', 'WAIT'), (s, skip) => {
      expect(Object.entries(parseMessageProperties(s, skip))).to.deep.equal(byJavaRule(s, skip));
    }), { seed: 11, numRuns: 2000 });
  });

  it('takes time linear in the text, whatever its entries look like (16 MiB frames reach it before any check)', () => {
    const t0 = Date.now();
    expect(parseMessageProperties(`${'\u0002'.repeat(2_000_000)}a\u0001b`)).to.deep.equal({ a: 'b' });
    expect(parseMessageProperties(`${'x\u0002'.repeat(1_000_000)}a\u0001b`)).to.deep.equal({ a: 'b' });
    expect(Date.now() - t0).to.be.below(2000);
  });
});
