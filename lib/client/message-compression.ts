/**
 * Body compression as RocketMQ 4.9.7 does it: the producer's `tryToCompressMessage` (a body of
 * `compressMsgBodyOverHowmuch` = 4096 bytes or more is deflated with zlib at level 5, the Java
 * `Deflater(5)` of `ZlibCompressor`, batches never), the sysFlag it sets
 * (`COMPRESSED_FLAG | COMPRESSION_ZLIB_TYPE` = 0x301), and `MessageDecoder`'s inflate on consume.
 *
 * Compression type bits 8..10 (`MessageSysFlag.COMPRESSION_TYPE_COMPARATOR`): 1 LZ4, 2 ZSTD,
 * 3 ZLIB, and 0 (brokers and producers before 4.9.4) means zlib. Deliberate difference: Node 20
 * has neither LZ4 nor ZSTD, so such bodies are left compressed with their sysFlag intact
 * (`isBodyCompressed` tells the caller) where Java would decompress them.
 */
import { deflateSync, inflateSync } from 'node:zlib';

export const COMPRESSED_FLAG = 0x1;
export const COMPRESSION_TYPE_MASK = 0x700;
export const COMPRESSION_LZ4_TYPE = 0x100;
export const COMPRESSION_ZSTD_TYPE = 0x200;
export const COMPRESSION_ZLIB_TYPE = 0x300;

/** DefaultMQProducer.compressMsgBodyOverHowmuch. */
export const DEFAULT_COMPRESS_OVER = 4096;
/** DefaultMQProducerImpl.compressLevel (system property rocketmq.message.compressLevel). */
export const DEFAULT_COMPRESS_LEVEL = 5;

export interface CompressOptions {
  compressOver?: number;
  level?: number;
}

/**
 * The body and the sysFlag bits a producer sends: compressed with 0x301 when the body is at least
 * `compressOver` bytes and the message is not a batch; unchanged with 0 otherwise.
 */
export function compressBody(body: Buffer, batch: boolean, options: CompressOptions = {}): { body: Buffer; sysFlag: number } {
  if (batch || body.length < (options.compressOver ?? DEFAULT_COMPRESS_OVER)) return { body, sysFlag: 0 };
  return { body: deflateSync(body, { level: options.level ?? DEFAULT_COMPRESS_LEVEL }), sysFlag: COMPRESSED_FLAG | COMPRESSION_ZLIB_TYPE };
}

function isZlib(sysFlag: number): boolean {
  const type = sysFlag & COMPRESSION_TYPE_MASK;
  return type === 0 || type === COMPRESSION_ZLIB_TYPE;
}

/** True when a received body is still compressed after decompressBody (LZ4 / ZSTD). */
export function isBodyCompressed(sysFlag: number): boolean {
  return (sysFlag & COMPRESSED_FLAG) !== 0 && !isZlib(sysFlag);
}

/** The body as the producer gave it, for a stored record's body and sysFlag; throws on a corrupt zlib stream. */
export function decompressBody(body: Buffer, sysFlag: number): Buffer {
  if ((sysFlag & COMPRESSED_FLAG) === 0 || !isZlib(sysFlag)) return body;
  return inflateSync(body);
}

/**
 * A message read from a store with its body inflated and the compression bits cleared, so that
 * its sysFlag describes the body it now carries (a send-back in-process stores what it is given).
 */
export function inflateMessage<T extends { body: Buffer; sysFlag: number }>(m: T): T {
  if ((m.sysFlag & COMPRESSED_FLAG) === 0 || !isZlib(m.sysFlag)) return m;
  return { ...m, body: inflateSync(m.body), sysFlag: m.sysFlag & ~(COMPRESSED_FLAG | COMPRESSION_TYPE_MASK) };
}
