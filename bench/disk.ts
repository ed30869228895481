/**
 * The disk's own limits, measured in the same run as the stores so that every
 * row can be read against them: sequential write bandwidth (1 MiB pwrites
 * followed by one fdatasync, all of it timed) and the latency of one small
 * durable write (write + fdatasync).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomFillSync } from 'node:crypto';
import type { Progress } from './progress';
import { metricsOf, now, secondsSince, type Flush, type Measurement, type Row } from './stats';

const CHUNK = 1024 * 1024;

/** Writes `bytes` to a new file in 1 MiB pwrites, then fdatasync; the fsync is inside the timing. */
export function sequentialWrite(dir: string, bytes: number, progress: Progress): Row {
  const file = path.join(dir, 'disk-seq-write');
  const chunk = randomFillSync(Buffer.allocUnsafe(CHUNK));
  const fd = fs.openSync(file, 'w');
  const latenciesNs: number[] = [];
  const writes = Math.ceil(bytes / CHUNK);
  let syncNs = 0;
  let seconds: number;
  try {
    const start = now();
    for (let i = 0; i < writes; i++) {
      const t = now();
      fs.writeSync(fd, chunk, 0, CHUNK, i * CHUNK);
      latenciesNs.push(Number(now() - t));
      progress.update(i + 1, writes, 'MiB');
    }
    const t = now();
    fs.fdatasyncSync(fd);
    syncNs = Number(now() - t);
    seconds = secondsSince(start);
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
  return {
    ...diskRow('sync', `sequential 1 MiB pwrite ×${writes} into a new file, then one fdatasync (counted); latency = one pwrite`, { messages: writes, bodyBytes: CHUNK, seconds, latenciesNs }),
    extra: { finalFdatasyncMs: syncNs / 1e6 },
  };
}

/** A row of the disk's own: one writer, its operations counted as messages. */
function diskRow(flush: Flush, mode: string, m: Measurement): Row {
  return { system: 'disk', workload: 'append', flush, bodyBytes: m.bodyBytes, producers: 1, mode, ...metricsOf(m) };
}

/**
 * `count` times: overwrite `bodyBytes` in place in a file that is already
 * allocated and synced, then fdatasync. Overwriting means the fsync carries
 * the data only, no block allocation or size change: the floor for one durable
 * write on this disk, as for a store that preallocates its segments.
 */
export function fdatasyncLatency(dir: string, bodyBytes: number, count: number, progress: Progress): Row {
  const file = path.join(dir, 'disk-fdatasync');
  const span = 4096 * count;
  const body = randomFillSync(Buffer.allocUnsafe(bodyBytes));
  const fd = fs.openSync(file, 'w');
  const latenciesNs: number[] = [];
  let seconds: number;
  try {
    fs.writeSync(fd, Buffer.alloc(span), 0, span, 0);
    fs.fsyncSync(fd);
    const start = now();
    for (let i = 0; i < count; i++) {
      const t = now();
      fs.writeSync(fd, body, 0, bodyBytes, i * 4096);
      fs.fdatasyncSync(fd);
      latenciesNs.push(Number(now() - t));
      progress.update(i + 1, count, 'fsyncs');
    }
    seconds = secondsSince(start);
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
  return diskRow('per-put-fsync', `${bodyBytes} B pwrite + fdatasync ×${count}, in place in a preallocated file`, { messages: count, bodyBytes, seconds, latenciesNs });
}
