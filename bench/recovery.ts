/**
 * Recovery and ConsumeQueue rebuild, timed as what a user waits for:
 * MessageStore.open.
 *
 * A store of the requested size is written once (ASYNC putBatch, then a clean
 * close). Each recover run forks recovery-child, which reopens it, appends the
 * same ASYNC tail and is SIGKILLed as soon as the tail is acknowledged; the
 * parent then times open and checks that every acknowledged message is there.
 * Each rebuild run deletes the consumequeue directory of the closed store and
 * times open, which rebuilds it from the whole CommitLog. The power-cut rows
 * (recoverAfterPowerCut) run on SimDisk.
 */
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MessageStore } from '../lib/index';
import { SimDisk } from '../lib/io/sim-disk';
import { VirtualClock } from '../lib/common/clock';
import { fill, QUEUE_ID, TOPIC } from './keelmq';
import type { Progress } from './progress';
import type { TailReport } from './recovery-child';
import { formatBytes, now, secondsSince, type Row } from './stats';
import { BodyPool } from './system';

export interface RecoveryStore {
  dir: string;
  storeBytes: number;
  bodyBytes: number;
  /** Messages in the queue as far as acknowledged puts go: what open must find. */
  messages: number;
  /** CommitLog end offset after the last acknowledged put. */
  endOffset: number;
}

export async function createStore(dir: string, storeBytes: number, bodyBytes: number, progress: Progress): Promise<RecoveryStore> {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const store = await MessageStore.open(dir, { flushMode: 'ASYNC' });
  const { messages, endOffset } = await fill(store, new BodyPool(bodyBytes), storeBytes, progress);
  await store.close();
  return { dir, storeBytes, bodyBytes, messages, endOffset };
}

function killedWithTail(s: RecoveryStore, tailBytes: number): Promise<TailReport> {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, 'recovery-child.js'), [s.dir, String(tailBytes), String(s.bodyBytes)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let report: TailReport | undefined;
    child.on('message', (m) => {
      report = m as TailReport;
      child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (report !== undefined && signal === 'SIGKILL') resolve(report);
      else reject(new Error(`recovery child exited with ${signal ?? `code ${code}`} before reporting its tail`));
    });
  });
}

/** Opens and checks the queue holds exactly what was acknowledged; returns the open time. */
async function timedOpen(s: RecoveryStore, progress: Progress) {
  const start = now();
  const store = await MessageStore.open(s.dir, {
    flushMode: 'ASYNC',
    onProgress: (p) => progress.update(p.done, p.total, p.phase === 'commitlog' ? 'bytes scanned' : 'entries rebuilt'),
  });
  const seconds = secondsSince(start);
  const found = store.getMaxOffsetInQueue(TOPIC, QUEUE_ID);
  const recovery = { ...store.recovery };
  await store.close();
  if (found !== s.messages) throw new Error(`after open, the queue holds ${found} messages; ${s.messages} were acknowledged`);
  return { seconds, recovery };
}

function openRow(s: RecoveryStore, workload: 'recover' | 'rebuild', messages: number, bytes: number, seconds: number, mode: string, extra: Record<string, unknown>): Row {
  const ms = seconds * 1000;
  return {
    system: 'keelmq',
    workload,
    flush: 'async',
    bodyBytes: s.bodyBytes,
    producers: 1,
    mode,
    messages,
    msgsPerSec: messages / seconds,
    mbPerSec: bytes / seconds / 1e6,
    // One open is one operation: every percentile is its time.
    p50Ms: ms,
    p99Ms: ms,
    p999Ms: ms,
    seconds,
    storeBytes: s.endOffset,
    extra,
  };
}

export async function recover(s: RecoveryStore, tailBytes: number, progress: Progress): Promise<Row> {
  const tail = await killedWithTail(s, tailBytes);
  s.messages += tail.messages;
  s.endOffset = tail.endOffset;
  const { seconds, recovery } = await timedOpen(s, progress);
  if (recovery.clean) throw new Error('open after SIGKILL reported a clean shutdown');
  return openRow(
    s,
    'recover',
    tail.messages,
    recovery.scannedBytes,
    seconds,
    `open after SIGKILL, ${formatBytes(tailBytes)} ASYNC tail on a ${formatBytes(s.storeBytes)} store; msgs = tail, MB/s = CommitLog scanned`,
    { recovery, tailMessages: tail.messages },
  );
}

export async function rebuild(s: RecoveryStore, progress: Progress): Promise<Row> {
  fs.rmSync(path.join(s.dir, 'consumequeue'), { recursive: true, force: true });
  const { seconds, recovery } = await timedOpen(s, progress);
  return openRow(
    s,
    'rebuild',
    s.messages,
    s.endOffset,
    seconds,
    `open with consumequeue/ deleted, ${formatBytes(s.storeBytes)} store; MB/s = CommitLog rebuilt from`,
    { recovery, gbPerSec: s.endOffset / seconds / 1e9 },
  );
}

/**
 * Open after a power cut, per flush mode. A power cut cannot be had on real
 * files, so this runs on SimDisk (in memory, the page cache kept apart from
 * what was fsynced): a store of `storeBytes` is written in `mode`, flushed
 * and checkpointed, then a tail of `tailBytes` is written and not fsynced
 * (ASYNC: acknowledged, the timed flush held off; SYNC: written, its group
 * commit held back, so not acknowledged, within the current segment), and the power goes with every
 * unsynced write kept (the most a recovery can find to validate). What the
 * row measures is recovery's work — CommitLog bytes scanned, against the
 * tail, and whether any ConsumeQueue was rebuilt — and the time of open on
 * SimDisk (CPU, no disk).
 */
export async function recoverAfterPowerCut(mode: 'SYNC' | 'ASYNC', storeBytes: number, tailBytes: number, bodyBytes: number, progress: Progress): Promise<Row> {
  const clock = new VirtualClock(Date.now());
  let holdSyncs = false;
  const disk = new SimDisk({
    now: () => clock.now(),
    dirs: ['/'],
    pause: (kind) => (holdSyncs && kind === 'datasync' ? new Promise<void>(() => undefined) : new Promise<void>((r) => setImmediate(r))),
  });
  const options = {
    io: disk, clock, flushMode: mode, commitLogSegmentSize: POWER_CUT_SEGMENT,
    // Only flush() and a SYNC group commit fsync the CommitLog: the tail stays unsynced.
    asyncFlushIntervalMs: 1e9, asyncFlushThoroughIntervalMs: 1e9, asyncFlushLeastBytes: 2 ** 30,
  } as const;
  const dir = '/store';
  const pool = new BodyPool(bodyBytes);
  const store = await MessageStore.open(dir, options);
  const { messages } = await fill(store, pool, storeBytes, progress);
  await store.flush();
  // A checkpoint after the flush: recovery starts from there.
  await clock.advance(1001);
  holdSyncs = mode === 'SYNC';
  const tailStart = store.stats().writtenOffset;
  let tailMessages = 0;
  while (store.stats().writtenOffset - tailStart < tailBytes) {
    const batch = pool.slice(messages + tailMessages, 1000).map((body) => ({ topic: TOPIC, queueId: QUEUE_ID, body }));
    tailMessages += batch.length;
    const put = store.putBatch(batch);
    if (mode === 'ASYNC') await put;
    else {
      put.catch(() => undefined);
      while (store.stats().writtenOffset - tailStart < tailBytes && store.stats().appendOffset > store.stats().writtenOffset) await new Promise((r) => setImmediate(r));
    }
  }
  const tail = store.stats().writtenOffset - store.stats().flushedOffset;
  const after = disk.crash({ keepUnsynced: 'all' });
  // The disk after the cut shares the pause: its fsyncs run again.
  holdSyncs = false;
  const start = now();
  const again = await MessageStore.open(dir, { ...options, io: after, clock: new VirtualClock(clock.now() + 60_000) });
  const seconds = secondsSince(start);
  const recovery = { ...again.recovery };
  const found = again.getMaxOffsetInQueue(TOPIC, QUEUE_ID);
  await again.close();
  if (found < messages) throw new Error(`after a power cut the queue holds ${found} messages; ${messages} were flushed`);
  if (recovery.fullRebuild) throw new Error(`after a power cut recovery rebuilt the ConsumeQueues from the whole log (${recovery.rebuiltQueues.join(', ')})`);
  const ms = seconds * 1000;
  return {
    system: 'keelmq',
    workload: 'recover',
    flush: mode === 'SYNC' ? 'sync' : 'async',
    bodyBytes,
    producers: 1,
    mode: `open after power cut (SimDisk), ${formatBytes(tail)} unsynced ${mode} tail on a ${formatBytes(storeBytes)} store; msgs = tail, MB/s = CommitLog scanned`,
    messages: tailMessages,
    msgsPerSec: tailMessages / seconds,
    mbPerSec: recovery.scannedBytes / seconds / 1e6,
    p50Ms: ms,
    p99Ms: ms,
    p999Ms: ms,
    seconds,
    extra: { recovery, tailBytes: tail, storeBytes: tailStart, scannedOverTail: recovery.scannedBytes / tail },
  };
}

const POWER_CUT_SEGMENT = 16 * 1024 * 1024;
