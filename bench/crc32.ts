/**
 * CRC-32 candidates and the record codec, in ns/op.
 *
 *   node dist/bench/crc32.js            all candidates, one child process each
 *   node dist/bench/crc32.js <name>     one candidate (or "codec")
 *
 * Each candidate runs in its own process so that the timing loop's call site
 * stays monomorphic, as it is in the CommitLog.
 */
import { spawnSync } from 'node:child_process';
import * as zlib from 'node:zlib';
import * as CRC32 from 'crc-32';
import { crc32 } from '../lib/store/crc32';
import { encodeRecord, prepareMessage } from '../lib/store/message-codec';
import type { Message } from '../lib/common/message';

type Crc = (buf: Uint8Array, start: number, end: number) => number;

const [T0, T1, T2, T3, T4, T5, T6, T7, T8, T9, Ta, Tb, Tc, Td, Te, Tf] = makeTables(16) as [
  Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array,
  Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array];

function makeTables(n: number): Int32Array[] {
  const t: Int32Array[] = [];
  const t0 = new Int32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t0[i] = c;
  }
  t.push(t0);
  for (let j = 1; j < n; j++) {
    const prev = t[j - 1]!;
    const tj = new Int32Array(256);
    for (let i = 0; i < 256; i++) tj[i] = (prev[i]! >>> 8) ^ t0[prev[i]! & 0xff]!;
    t.push(tj);
  }
  return t;
}

function sliceBy8(b: Uint8Array, start: number, end: number): number {
  let c = -1;
  let i = start;
  for (const last = end - 7; i < last; i += 8) {
    c ^= b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
    c = T7[c & 0xff]! ^ T6[(c >>> 8) & 0xff]! ^ T5[(c >>> 16) & 0xff]! ^ T4[c >>> 24]! ^
      T3[b[i + 4]!]! ^ T2[b[i + 5]!]! ^ T1[b[i + 6]!]! ^ T0[b[i + 7]!]!;
  }
  for (; i < end; i++) c = (c >>> 8) ^ T0[(c ^ b[i]!) & 0xff]!;
  return ~c >>> 0;
}

/** crc-32's own loop, taking a range instead of a whole buffer. */
function sliceBy16Range(b: Uint8Array, start: number, end: number): number {
  let c = -1;
  let i = start;
  for (const last = end - 15; i < last;) {
    c = Tf[b[i++]! ^ (c & 255)]! ^ Te[b[i++]! ^ ((c >> 8) & 255)]! ^ Td[b[i++]! ^ ((c >> 16) & 255)]! ^ Tc[b[i++]! ^ (c >>> 24)]! ^
      Tb[b[i++]!]! ^ Ta[b[i++]!]! ^ T9[b[i++]!]! ^ T8[b[i++]!]! ^
      T7[b[i++]!]! ^ T6[b[i++]!]! ^ T5[b[i++]!]! ^ T4[b[i++]!]! ^
      T3[b[i++]!]! ^ T2[b[i++]!]! ^ T1[b[i++]!]! ^ T0[b[i++]!]!;
  }
  while (i < end) c = (c >>> 8) ^ T0[(c ^ b[i++]!) & 0xff]!;
  return ~c >>> 0;
}

/**
 * Ranges start at an odd offset inside a larger buffer, like a record inside a
 * write buffer; "whole buffer" candidates get a buffer of exactly the size, like
 * a message body.
 */
const candidates: Record<string, Crc> = {
  'zlib.crc32+subarray': (b, s, e) => zlib.crc32(b.subarray(s, e)),
  'zlib.crc32 whole buffer': (b) => zlib.crc32(b),
  'crc-32+subarray': (b, s, e) => CRC32.buf(b.subarray(s, e)) >>> 0,
  'crc-32 whole buffer': (b) => CRC32.buf(b) >>> 0,
  'slice-by-8 range': sliceBy8,
  'slice-by-16 range': sliceBy16Range,
  // keelmq's own: slice-by-16 over 32-bit DataView words below 768 B, zlib above.
  'lib crc32 range': crc32,
};

const SIZES = [32, 64, 128, 256, 384, 512, 768, 1024, 4096, 16384, 65536, 1 << 20];
const OFFSET = 7;

function time(name: string, fn: Crc): number[] {
  const buf = Buffer.alloc(OFFSET + (1 << 20) + 16);
  for (let i = 0; i < buf.length; i++) buf[i] = (i * 2654435761) >>> 24;
  const ref = zlib.crc32(buf.subarray(OFFSET, OFFSET + 1000));
  const probe = name.includes('whole') ? fn(buf.subarray(OFFSET, OFFSET + 1000), 0, 1000) : fn(buf, OFFSET, OFFSET + 1000);
  if (probe !== ref) throw new Error(`${name} computes a wrong CRC`);
  const out: number[] = [];
  for (const size of SIZES) {
    const iters = Math.max(20, Math.min(2_000_000, Math.floor(256e6 / size / 4)));
    let best = Infinity;
    let sink = 0;
    const [b, s] = name.includes('whole') ? [buf.subarray(OFFSET, OFFSET + size), 0] : [buf, OFFSET];
    for (let round = 0; round < 7; round++) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < iters; i++) sink ^= fn(b, s, s + size);
      const ns = Number(process.hrtime.bigint() - t0) / iters;
      if (round > 1 && ns < best) best = ns;
    }
    if (sink === 0.5) console.log(sink);
    out.push(best);
  }
  return out;
}

function codec(): void {
  const limits = { maxBodySize: 4 << 20, maxTopicLength: 127, maxPropertiesLength: 32767, maxQueuesPerTopic: 1024 };
  const host = { ip: 0x7f000001, port: 10911 };
  const out = Buffer.alloc(1 << 20);
  const body = Buffer.alloc(128, 0x61);
  for (const wholeCrc of [false, true]) {
    const iters = 500_000;
    let best = Infinity;
    let size = 0;
    for (let round = 0; round < 7; round++) {
      let pos = 0;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < iters; i++) {
        const msg: Message = { topic: 'BenchTopic', queueId: i & 3, body, tags: 'TagA', keys: 'order-' + i };
        const p = prepareMessage(msg, limits, wholeCrc, host, 1_700_000_000_000);
        if (pos + p.size > out.length) pos = 0;
        encodeRecord(p, out, pos, i, pos, 1_700_000_000_000, host.ip, host.port, wholeCrc);
        pos += p.size;
        size = p.size;
      }
      const ns = Number(process.hrtime.bigint() - t0) / iters;
      if (round > 1 && ns < best) best = ns;
    }
    console.log(JSON.stringify({ wholeCrc, recordBytes: size, nsPerMessage: Math.round(best) }));
  }
}

function main(): void {
  const arg = process.argv[2];
  if (arg === 'codec') return codec();
  if (arg !== undefined) {
    console.log(JSON.stringify(time(arg, candidates[arg]!)));
    return;
  }
  console.log(`| candidate | ${SIZES.map((s) => (s >= 1024 ? `${s / 1024} KiB` : `${s} B`)).join(' | ')} |`);
  console.log(`|---|${SIZES.map(() => '---:').join('|')}|`);
  for (const name of Object.keys(candidates)) {
    const r = spawnSync(process.execPath, [__filename, name], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    const ns = JSON.parse(r.stdout) as number[];
    console.log(`| ${name} | ${ns.map((v) => (v < 100 ? v.toFixed(1) : Math.round(v).toString())).join(' | ')} |`);
  }
  const r = spawnSync(process.execPath, [__filename, 'codec'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  process.stdout.write(r.stdout);
}

main();
