/**
 * Result rows, latency percentiles, the merge of repeated runs and the table
 * printed on stdout. Everything that turns raw timings into numbers lives here
 * so that every system is summarised the same way.
 */

export type SystemName = 'keelmq' | 'keelmq-broker' | 'better-sqlite3' | 'lmdb' | 'classic-level' | 'hypercore' | 'disk';
export type Workload = 'append' | 'read' | 'recover' | 'rebuild' | 'consume' | 'send';
/**
 * async: acknowledged once in the OS (survives a process crash, not a power cut);
 * sync: acknowledged after an fsync that covers it, several messages per fsync;
 * per-put-fsync: one fsync per acknowledged message.
 */
export type Flush = 'async' | 'sync' | 'per-put-fsync';

/** The metrics of one run; a repeated row keeps every run's. */
export interface Metrics {
  messages: number;
  msgsPerSec: number;
  mbPerSec: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  seconds: number;
}

export interface Row extends Metrics {
  system: SystemName;
  workload: Workload;
  flush: Flush;
  bodyBytes: number;
  producers: number;
  /** How the row was produced (API, batch size, settings); part of the row's identity. */
  mode: string;
  /** Recover and rebuild rows: bytes of CommitLog in the store. */
  storeBytes?: number;
  /** Workload-specific facts (e.g. the store's own recovery report). */
  extra?: Record<string, unknown>;
  /** With --repeat > 1: the spread of msgsPerSec and every run. */
  msgsPerSecMin?: number;
  msgsPerSecMax?: number;
  runs?: Metrics[];
}

/** What a timed loop measured: per-operation latencies in nanoseconds. */
export interface Measurement {
  messages: number;
  bodyBytes: number;
  seconds: number;
  latenciesNs: number[];
}

export function now(): bigint {
  return process.hrtime.bigint();
}

export function secondsSince(start: bigint): number {
  return Number(now() - start) / 1e9;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function median(values: readonly number[]): number {
  const sorted = Float64Array.from(values).sort();
  return percentile(sorted, 50);
}

/** MB are 10^6 bytes throughout, as disk vendors and `dd` count. */
export function metricsOf(m: Measurement): Metrics {
  const sorted = Float64Array.from(m.latenciesNs).sort();
  const ms = (p: number): number => percentile(sorted, p) / 1e6;
  return {
    messages: m.messages,
    msgsPerSec: m.seconds > 0 ? m.messages / m.seconds : 0,
    mbPerSec: m.seconds > 0 ? (m.messages * m.bodyBytes) / m.seconds / 1e6 : 0,
    p50Ms: ms(50),
    p99Ms: ms(99),
    p999Ms: ms(99.9),
    seconds: m.seconds,
  };
}

function rowKey(r: Row): string {
  return [r.system, r.workload, r.flush, r.bodyBytes, r.producers, r.mode].join('|');
}

/**
 * Folds the runs of each repeated row into one row: every metric is the median
 * of the runs, msgs/s also carries min and max, and `runs` keeps them all.
 */
export function mergeRuns(rows: readonly Row[]): Row[] {
  const groups = new Map<string, Row[]>();
  for (const r of rows) {
    const key = rowKey(r);
    const group = groups.get(key);
    if (group) group.push(r);
    else groups.set(key, [r]);
  }
  const merged: Row[] = [];
  for (const group of groups.values()) {
    const first = group[0]!;
    if (group.length === 1) {
      merged.push(first);
      continue;
    }
    const runs: Metrics[] = group.map((r) => ({
      messages: r.messages,
      msgsPerSec: r.msgsPerSec,
      mbPerSec: r.mbPerSec,
      p50Ms: r.p50Ms,
      p99Ms: r.p99Ms,
      p999Ms: r.p999Ms,
      seconds: r.seconds,
    }));
    const med = (f: (m: Metrics) => number): number => median(runs.map(f));
    const rates = runs.map((m) => m.msgsPerSec);
    merged.push({
      ...first,
      messages: med((m) => m.messages),
      msgsPerSec: med((m) => m.msgsPerSec),
      mbPerSec: med((m) => m.mbPerSec),
      p50Ms: med((m) => m.p50Ms),
      p99Ms: med((m) => m.p99Ms),
      p999Ms: med((m) => m.p999Ms),
      seconds: med((m) => m.seconds),
      msgsPerSecMin: Math.min(...rates),
      msgsPerSecMax: Math.max(...rates),
      extra: first.extra === undefined ? undefined : { ...first.extra, perRun: group.map((r) => r.extra) },
      runs,
    });
  }
  return merged;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1 && Number.isInteger(v / 1024)) {
    v /= 1024;
    u++;
  }
  if (u === 0 && n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${v} ${units[u]}`;
}

export function formatRate(n: number): string {
  if (n >= 100) return Math.round(n).toLocaleString('en-US');
  if (n >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

function formatMs(n: number): string {
  if (n >= 100) return n.toFixed(0);
  if (n >= 1) return n.toFixed(2);
  return n.toFixed(3);
}

function spread(r: Row): string {
  const base = formatRate(r.msgsPerSec);
  if (r.msgsPerSecMin === undefined || r.msgsPerSecMax === undefined) return base;
  return `${base} (${formatRate(r.msgsPerSecMin)}–${formatRate(r.msgsPerSecMax)})`;
}

/** A plain-text table, right-aligned numbers, one line per row. */
export function formatTable(rows: readonly Row[]): string {
  const header = ['system', 'workload', 'flush', 'body', 'prod', 'msgs/s', 'MB/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'msgs', 's', 'store', 'mode'];
  const right = new Set([3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  const cells = rows.map((r) => [
    r.system,
    r.workload,
    r.flush,
    formatBytes(r.bodyBytes),
    String(r.producers),
    spread(r),
    formatRate(r.mbPerSec),
    formatMs(r.p50Ms),
    formatMs(r.p99Ms),
    formatMs(r.p999Ms),
    r.messages.toLocaleString('en-US'),
    r.seconds.toFixed(2),
    r.storeBytes === undefined ? '' : formatBytes(r.storeBytes),
    r.mode,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]): string =>
    c
      .map((s, i) => (right.has(i) ? s.padStart(widths[i]!) : s.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}
