import { expect } from 'chai';
import { deflateSync } from 'node:zlib';
import { compressBody, decompressBody, isBodyCompressed } from '../../lib/client/message-compression';

/** Compressible but not trivially: level 1 and level 5 give different streams for it. */
function text(n: number): Buffer {
  let s = '';
  for (let i = 0; s.length < n; i++) s += `order ${i * 7919 % 1000} item ${(i * 31) % 97};`;
  return Buffer.from(s.slice(0, n));
}

describe('message compression (lib/client/message-compression)', () => {
  it('compression - bodies of 4096 bytes and more are deflated at level 5 with sysFlag 0x301; 4095 are not', () => {
    const small = compressBody(text(4095), false);
    expect(small.sysFlag).to.equal(0);
    expect(small.body.equals(text(4095))).to.equal(true);
    const big = compressBody(text(4096), false);
    expect(big.sysFlag).to.equal(0x301);
    expect(big.body.equals(deflateSync(text(4096), { level: 5 }))).to.equal(true);
    expect(big.body.equals(deflateSync(text(4096), { level: 1 })), 'the level matters for this body').to.equal(false);
    expect(big.body.readUInt8(0), 'a zlib stream, as Java\'s Deflater writes (not raw deflate)').to.equal(0x78);
  });

  it('compression - batches are never compressed; the threshold is an option', () => {
    expect(compressBody(text(10000), true).sysFlag).to.equal(0);
    expect(compressBody(text(100), false, { compressOver: 100 }).sysFlag).to.equal(0x301);
  });

  it('decompression - zlib under 0x301 and under the legacy 0x1 inflate; LZ4 and ZSTD stay as they are', () => {
    const body = text(9000);
    const z = deflateSync(body);
    expect(decompressBody(z, 0x301).equals(body)).to.equal(true);
    expect(decompressBody(z, 0x1).equals(body)).to.equal(true);
    expect(decompressBody(z, 0x1 | 0x2 | 0x10).equals(body), 'other flag bits do not matter').to.equal(true);
    expect(decompressBody(z, 0x300).equals(z), 'the type without COMPRESSED_FLAG is not compressed').to.equal(true);
    expect(decompressBody(z, 0x101).equals(z)).to.equal(true);
    expect(isBodyCompressed(0x101)).to.equal(true);
    expect(isBodyCompressed(0x201)).to.equal(true);
    expect(isBodyCompressed(0x301)).to.equal(false);
    expect(() => decompressBody(Buffer.from('not zlib'), 0x301)).to.throw();
  });

  it('round trip - what compressBody makes, decompressBody restores', () => {
    for (const n of [0, 1, 4095, 4096, 100_000]) {
      const { body, sysFlag } = compressBody(text(n), false);
      expect(decompressBody(body, sysFlag).equals(text(n)), `${n} bytes`).to.equal(true);
    }
  });
});
