import * as path from 'path';
import type { Clock, TimerHandle } from '../common/clock';
import type { FileIO } from '../io/file-io';
import { KeelError } from '../common/errors';
import type { PutResult, PutStatus } from '../common/message';
import { msgIdOf } from '../common/message-id';
import { END_MARKER_SIZE, layoutRecord, stampRecords, writeEndMarker, type PreparedMessage } from './message-codec';
import { CrcWorker } from './crc-offload';
import { SegmentQueue } from './segment-queue';
import type { SegmentFile } from './segment-file';
import { FlushService } from './flush-service';
import { ReadWindow } from './read-window';
import type { FlushMode, StoreOptions } from './options';
import type { QueueSlot, QueueTable } from './queue-table';
import type { Dispatcher } from './dispatcher';

const CHUNK_SIZE = 2 * 1024 * 1024;
const POOL_MAX = 16;
const SEAL_BYTES = 256 * 1024;
/** A write up to this size may be issued on the main thread (see writeNow). */
const WRITE_NOW_MAX = 64 * 1024;
/** Bytes a sequential read fetches at once (readAhead, readFresh). */
const READ_AHEAD = 1024 * 1024;
/**
 * The newest bytes of small writes (at most WRITE_NOW_MAX each) kept in
 * memory for readFresh. Bulk writes are not kept: they would pay the copy,
 * and their consumers read ahead a MiB at a time anyway.
 */
const FRESH_BYTES = 1024 * 1024;
/**
 * Small writes copied into the fresh ring after a consumer last read (see
 * wantFresh): a store nobody reads from does not pay the copy (~0.6 µs of a
 * lone producer's ~15 µs put).
 */
const FRESH_WRITES_PER_READ = 4096;
/**
 * Bytes this close below the written position are read on the main thread
 * (see readNow): this process wrote them moments ago, so they are in the page
 * cache and the read is a copy.
 */
const RECENT_READ_BYTES = 64 * 1024 * 1024;
/** A SYNC group commit starts at the latest once this much is written and not yet covered. */
const GROUP_COMMIT_MAX_BYTES = 4 * 1024 * 1024;

/** The result of a stored put; the message id is formatted only when asked for. */
class StoredResult implements PutResult {
  constructor(
    public status: PutStatus,
    readonly topic: string,
    readonly queueId: number,
    readonly queueOffset: number,
    readonly physicalOffset: number,
    readonly storeSize: number,
    readonly storeTimestamp: number,
    private readonly hostIp: number,
    private readonly hostPort: number,
  ) {}

  get msgId(): string { return msgIdOf(this.hostIp, this.hostPort, this.physicalOffset); }

  toJSON(): object {
    const { status, msgId, topic, queueId, queueOffset, physicalOffset, storeSize, storeTimestamp } = this;
    return { status, msgId, topic, queueId, queueOffset, physicalOffset, storeSize, storeTimestamp };
  }
}

/**
 * Bytes bound for one segment, encoded into one buffer (a pooled chunk, or a
 * buffer of its own for a put larger than a chunk) and written with one write.
 */
class WriteBatch {
  end: number;
  /** Bytes of buf in use; less than end - start when an end marker stands for the rest of the segment. */
  fill = 0;
  /** Set when sealed and given to the CRC worker: resolves to buf, stamped, in a new Buffer. */
  stamped: Promise<Buffer> | null = null;
  /** Per record: queue, queue offset, physical offset, size, tags code, store time. */
  readonly slots: QueueSlot[] = [];
  readonly queueOffsets: number[] = [];
  readonly offsets: number[] = [];
  readonly sizes: number[] = [];
  readonly tagsCodes: number[] = [];
  readonly storeTimes: number[] = [];
  readonly requests: PutRequest[] = [];

  constructor(readonly seg: SegmentFile, readonly start: number, public buf: Buffer) { this.end = start; }

  get room(): number { return this.buf.length - this.fill; }

  get lastRecordStart(): number { return this.offsets.length ? this.offsets[this.offsets.length - 1] : -1; }
}

/** A record of a raw append (appendRaw), as replication.ts read it. */
export interface RawRecord {
  slot: QueueSlot;
  queueOffset: number;
  offset: number;
  size: number;
  tagsCode: number;
  storeTime: number;
}

class PutRequest {
  settled = false;
  resolve!: (r: PutResult | PutResult[]) => void;
  reject!: (e: unknown) => void;
  readonly promise: Promise<PutResult | PutResult[]>;

  constructor(
    readonly batch: WriteBatch,
    readonly first: number,
    readonly count: number,
    readonly single: boolean,
    readonly end: number,
    readonly needsFlush: boolean,
    readonly deadline: number,
  ) {
    this.promise = new Promise((res, rej) => { this.resolve = res; this.reject = rej; });
  }
}

/**
 * Every message of every topic, appended to one log of fixed-size segments.
 *
 * Write path: append() validates nothing (prepareMessage did), assigns queue
 * and physical offsets, and encodes straight into a pooled chunk. All puts of
 * an event-loop turn — and of every turn while a write is in flight — go out
 * in one positional write per segment. A put resolves when its bytes are in
 * the OS (ASYNC) or covered by an fdatasync (SYNC), after its ConsumeQueue
 * entry was dispatched, so a resolved put is readable at once.
 */
export class CommitLog {
  readonly segments: SegmentQueue;
  /** Where the next record goes (includes bytes still in memory). */
  appendOffset = 0;
  /** Bytes below this are in the OS. */
  writtenOffset = 0;
  /** Bytes below this were dispatched to the ConsumeQueues. */
  confirmedOffset = 0;
  /** Start of the last record below flush.flushed (where recovery starts validating). */
  lastFlushedRecordStart = 0;
  lastFlushedStoreTime = 0;
  readonly flush: FlushService;

  private current: WriteBatch | null = null;
  private readonly sealed: WriteBatch[] = [];
  /** Written or not, not yet dispatched. */
  private readonly undispatched: WriteBatch[] = [];
  /** Written, not yet known durable: (end, last record start, last store time). */
  private readonly unflushed: { end: number; lastRecordStart: number; lastStoreTime: number }[] = [];
  private readonly waiting: PutRequest[] = [];
  private writing = false;
  private writeScheduled = false;
  private readonly pool: Buffer[] = [];
  private lastStoreTime = 0;
  private timeoutTimer: TimerHandle | null = null;
  /** A SYNC put is past its deadline but not yet written: the next write ends the wait, not a timer. */
  private timeoutStalled = false;
  /** Callers of writtenTo(), resolved as writes land or fail. */
  private writeWaiters: { goal: number; resolve: () => void }[] = [];
  /** Set while the log cannot take puts: a write is being repaired, or the store failed. */
  private blocked: KeelError | null = null;
  private readonly hostIp: number;
  private readonly hostPort: number;
  /** Held from start() to close(), when options.crcWorker. */
  private crc: CrcWorker | null = null;
  private readonly window: ReadWindow;
  /** The newest small writes (see readFresh), and the last read served from them with what was copied past it. */
  private readonly fresh = new ReadWindow(FRESH_BYTES);
  private freshRead: { start: number; buf: Buffer } | null = null;
  private freshWrites = 0;
  /** The last sequential read, with what was read past it (see readAhead). */
  private ahead: { start: number; buf: Buffer } | null = null;

  constructor(
    private readonly io: FileIO,
    root: string,
    private readonly options: StoreOptions,
    private readonly queues: QueueTable,
    private readonly dispatcher: Dispatcher,
    host: { ip: number; port: number },
    private readonly onFatal: (e: KeelError) => void,
  ) {
    this.segments = new SegmentQueue(io, path.join(root, 'commitlog'), options.commitLogSegmentSize);
    this.hostIp = host.ip;
    this.hostPort = host.port;
    this.window = new ReadWindow(options.readWindowBytes);
    this.flush = new FlushService(
      {
        written: () => this.writtenOffset,
        syncRange: (from, to) => this.segments.datasyncRange(from, to),
        onFlushed: (to) => this.flushed(to),
        onFlushFailed: (e) => this.onFatal(e),
      },
      options.clock,
      { intervalMs: options.asyncFlushIntervalMs, leastBytes: options.asyncFlushLeastBytes, thoroughIntervalMs: options.asyncFlushThoroughIntervalMs },
      options.flushMode,
      0,
    );
  }

  get clock(): Clock { return this.options.clock; }
  get mode(): FlushMode { return this.flush.mode; }
  get flushedOffset(): number { return this.flush.flushed; }
  get minOffset(): number { return this.segments.first ? this.segments.first.start : 0; }
  /** Writes whose CRCs the CRC worker computed. */
  crcWorkerWrites = 0;
  /** Told of every range written to the OS, in order (the replication hook; see replication.ts). */
  onCommitted: ((from: number, to: number, bytes: Buffer) => void) | null = null;

  /** Loads the segment files; recovery then calls resumeAt(). */
  async load(): Promise<void> {
    const loaded = await SegmentQueue.load(this.io, this.segments.dir, this.options.commitLogSegmentSize);
    (this as { segments: SegmentQueue }).segments = loaded;
  }

  /** Positions every offset at the end of the valid log, as recovery found it. */
  resumeAt(end: number, lastRecordStart: number, lastStoreTime: number): void {
    this.appendOffset = this.writtenOffset = this.confirmedOffset = end;
    this.flush.flushed = end;
    this.lastFlushedRecordStart = lastRecordStart;
    this.lastFlushedStoreTime = this.lastStoreTime = lastStoreTime;
  }

  start(): void {
    if (this.options.crcWorker && !this.crc) this.crc = CrcWorker.acquire();
    this.flush.start();
    // Keep the next segment ready so that a roll never waits for a file to be created.
    this.precreateNext();
  }

  setFlushMode(mode: FlushMode): void {
    this.flush.mode = mode;
    if (mode === 'SYNC') this.flush.kick();
    this.advance();
  }

  /** Rejects every put from now on with `error` (the store failed or is closing). */
  block(error: KeelError): void {
    if (!this.blocked || error.code !== 'STORE_CLOSED') this.blocked = error;
  }

  get blockedBy(): KeelError | null { return this.blocked; }

  /** `now` is the time the messages were prepared at; it becomes their store time. */
  append(msgs: PreparedMessage[], single: boolean, now: number): Promise<PutResult | PutResult[]> {
    if (this.blocked) return Promise.reject(this.blocked);
    let total = 0;
    for (let i = 0; i < msgs.length; i++) total += msgs[i].size;
    const segSize = this.options.commitLogSegmentSize;
    if (total + END_MARKER_SIZE > segSize) {
      return Promise.reject(new KeelError('BATCH_TOO_LARGE', `a batch of ${total} bytes cannot fit in one ${segSize}-byte CommitLog segment`));
    }
    let seg = this.segments.obtain(this.appendOffset);
    const room = seg.end - this.appendOffset;
    if (total + END_MARKER_SIZE > room) {
      // The record goes to the next segment; the rest of this one is declared empty.
      const [buf, pos] = this.reserve(seg, END_MARKER_SIZE);
      writeEndMarker(buf, pos, room);
      this.current!.end = seg.end;
      this.appendOffset = seg.end;
      seg = this.segments.obtain(this.appendOffset);
      this.precreateNext();
    }
    const [buf, start] = this.reserve(seg, total);
    const batch = this.current!;
    // Store times never go backwards, so a time search over a queue stays a binary search.
    const storeTime = now > this.lastStoreTime ? (this.lastStoreTime = now) : this.lastStoreTime;
    const first = batch.offsets.length;
    let pos = start;
    for (let i = 0; i < msgs.length; i++) {
      const m = msgs[i];
      const slot = this.queues.obtain(m.topic, m.queueId);
      const qo = slot.next++;
      layoutRecord(m, buf, pos, qo, this.appendOffset, storeTime, this.hostIp, this.hostPort, this.options.wholeRecordCrc);
      batch.slots.push(slot);
      batch.queueOffsets.push(qo);
      batch.offsets.push(this.appendOffset);
      batch.sizes.push(m.size);
      batch.tagsCodes.push(m.tagsCode);
      batch.storeTimes.push(storeTime);
      this.appendOffset += m.size;
      pos += m.size;
    }
    batch.end = this.appendOffset;
    const needsFlush = this.flush.mode === 'SYNC';
    const req = new PutRequest(batch, first, msgs.length, single, this.appendOffset, needsFlush, needsFlush ? now + this.options.syncFlushTimeoutMs : 0);
    batch.requests.push(req);
    this.waiting.push(req);
    if (needsFlush) {
      // Still flushed promptly if the mode turns ASYNC before the write lands.
      this.flush.want(req.end);
      if (!this.timeoutTimer && !this.timeoutStalled) this.armTimeout();
    }
    this.scheduleWrite();
    return req.promise;
  }

  /** Room for `n` bytes at the end of the current batch of `seg`; the caller advances batch.end. */
  private reserve(seg: SegmentFile, n: number): [Buffer, number] {
    // A full batch is sealed: its CRCs and its write can go on while later puts fill the next one.
    if (this.current && (this.current.seg !== seg || this.current.room < n || this.current.fill >= SEAL_BYTES)) this.seal();
    if (!this.current) {
      const buf = n > CHUNK_SIZE ? this.allocate(n) : (this.pool.pop() ?? this.allocate(CHUNK_SIZE));
      this.current = new WriteBatch(seg, this.appendOffset, buf);
      this.undispatched.push(this.current);
    }
    const at = this.current.fill;
    this.current.fill += n;
    return [this.current.buf, at];
  }

  private allocate(size: number): Buffer {
    return this.options.crcWorker ? CrcWorker.allocate(size) : Buffer.allocUnsafeSlow(size);
  }

  /**
   * Closes the current batch to new puts and stamps its CRCs: on the CRC
   * worker when it is large and puts of other batches are in flight, whose
   * acknowledgements bring the main thread more puts to encode meanwhile.
   * When every waiting put is in this batch (one producer, or producers in
   * lock step on a group commit), its producers wait for it whoever stamps
   * it, and inline saves the round trip.
   */
  private seal(): void {
    const batch = this.current!;
    this.current = null;
    const wholeCrc = this.options.wholeRecordCrc;
    const otherWork = this.waiting.length > batch.requests.length;
    if (otherWork && this.crc && batch.fill >= this.options.crcWorkerMinBytes) batch.stamped = this.crc.stamp(batch.buf, batch.fill, wholeCrc);
    if (!batch.stamped) {
      stampRecords(batch.buf, 0, batch.fill, wholeCrc);
    } else {
      this.crcWorkerWrites++;
      // A batch voided by an earlier failed write is never awaited: its rejection must not go unhandled.
      batch.stamped.catch(() => undefined);
    }
    this.sealed.push(batch);
  }

  private scheduleWrite(): void {
    if (this.writing) return;
    // A sealed batch is written now; the current one collects the puts of this turn first.
    // Never on the main thread from here: that would settle puts inside the put() call.
    if (this.sealed.length) {
      void this.writeLoop(false);
      return;
    }
    if (this.writeScheduled) return;
    this.writeScheduled = true;
    setImmediate(() => {
      this.writeScheduled = false;
      void this.writeLoop(true);
    });
  }

  /** `mayWriteNow`: the caller is not a put, so even the first write may be issued on the main thread. */
  private async writeLoop(mayWriteNow: boolean): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      for (;; mayWriteNow = true) {
        if (!this.sealed.length && this.current) this.seal();
        const batch = this.sealed.shift();
        if (!batch) break;
        try {
          if (!(mayWriteNow && this.writeNow(batch))) {
            if (batch.stamped) batch.buf = await batch.stamped;
            await batch.seg.ready;
            await batch.seg.write(batch.buf, 0, batch.fill, batch.start - batch.seg.start);
          }
        } catch (e) {
          await this.writeFailed(batch, e);
          continue;
        }
        this.window.written(batch.start, batch.buf, batch.fill);
        if (this.freshWrites > 0 && batch.fill <= WRITE_NOW_MAX) {
          this.freshWrites--;
          this.fresh.written(batch.start, batch.buf, batch.fill);
        }
        this.recycle(batch);
        this.writtenOffset = batch.end;
        this.onCommitted?.(batch.start, batch.end, batch.buf.subarray(0, batch.fill));
        this.wakeWriteWaiters();
        if (this.timeoutStalled) this.armTimeout();
        this.unflushed.push({ end: batch.end, lastRecordStart: batch.lastRecordStart, lastStoreTime: batch.storeTimes.length ? batch.storeTimes[batch.storeTimes.length - 1] : -1 });
        // A group commit waits for the bytes about to be written next (the rest of this turn's puts):
        // an fsync costs a journal commit whatever it covers, and two in a row would double the wait.
        if ((!this.sealed.length && !this.current) || this.writtenOffset - this.flush.flushed >= GROUP_COMMIT_MAX_BYTES) this.flush.written();
        this.advance();
      }
    } finally {
      this.writing = false;
    }
  }

  /**
   * Writes a small batch on the main thread, where a hop through the thread
   * pool costs more than the copy into the page cache (queueing a write and
   * taking its callback cost 20–40 µs of main thread here under load, a
   * pwrite of a few hundred bytes ~3 µs), and returns whether it did. Only a
   * batch stamped inline, whose segment is ready, while no fdatasync is in
   * flight (a write into pages under writeback may have to wait for them).
   * A large write stays on the pool even for a lone producer, who waits for
   * it either way: measured, writing 240 KB batches on the main thread cost
   * that row ~15 %, the pool's copy overlapping the main thread's other work.
   * Throws as write() would; the bytes are in the OS when it returns.
   */
  private writeNow(batch: WriteBatch): boolean {
    if (batch.stamped || batch.fill > WRITE_NOW_MAX || !batch.seg.canWriteSync || this.flush.busy) return false;
    batch.seg.writeSync(batch.buf, 0, batch.fill, batch.start - batch.seg.start);
    return true;
  }

  private recycle(batch: WriteBatch): void {
    if (batch.buf.length === CHUNK_SIZE && this.pool.length < POOL_MAX) this.pool.push(batch.buf);
  }

  private flushed(to: number): void {
    // One splice, not a shift per write: a timed flush covers tens of thousands of small writes.
    let n = 0;
    for (; n < this.unflushed.length && this.unflushed[n].end <= to; n++) {
      const u = this.unflushed[n];
      if (u.lastRecordStart >= 0) {
        this.lastFlushedRecordStart = u.lastRecordStart;
        this.lastFlushedStoreTime = u.lastStoreTime;
      }
    }
    this.unflushed.splice(0, n);
    this.advance();
  }

  /** Dispatches what became durable for the current mode, then resolves the puts that are done. */
  private advance(): void {
    const cap = this.flush.mode === 'SYNC' ? this.flush.flushed : this.writtenOffset;
    while (this.undispatched.length && this.undispatched[0] !== this.current && this.undispatched[0].end <= cap && this.undispatched[0].end <= this.writtenOffset) {
      const b = this.undispatched.shift()!;
      for (let i = 0; i < b.slots.length; i++) {
        const outcome = this.dispatcher.dispatch(b.slots[i], b.queueOffsets[i], b.offsets[i], b.sizes[i], b.tagsCodes[i]);
        if (outcome === 'gap') {
          this.onFatal(new KeelError('CORRUPT_STORE', `queue ${b.slots[i].cq.topic}:${b.slots[i].cq.queueId} skipped from ${b.slots[i].cq.maxOffset} to ${b.queueOffsets[i]}`));
          return;
        }
      }
      this.confirmedOffset = b.end;
    }
    this.dispatcher.announce();
    while (this.waiting.length) {
      const r = this.waiting[0];
      if (!r.settled && r.end > (r.needsFlush ? this.flush.flushed : this.writtenOffset)) break;
      this.waiting.shift();
      if (!r.settled) this.settle(r, 'PUT_OK');
    }
  }

  private settle(r: PutRequest, status: PutStatus): void {
    r.settled = true;
    const b = r.batch;
    if (r.single) {
      r.resolve(this.result(b, r.first, status));
    } else {
      const out: PutResult[] = new Array(r.count);
      for (let i = 0; i < r.count; i++) out[i] = this.result(b, r.first + i, status);
      r.resolve(out);
    }
  }

  private result(b: WriteBatch, i: number, status: PutStatus): PutResult {
    const slot = b.slots[i];
    return new StoredResult(status, slot.cq.topic, slot.cq.queueId, b.queueOffsets[i], b.offsets[i], b.sizes[i], b.storeTimes[i], this.hostIp, this.hostPort);
  }

  /**
   * SYNC puts still waiting after syncFlushTimeoutMs resolve FLUSH_DISK_TIMEOUT:
   * stored, not known durable. Only bytes already in the OS count as stored, so
   * a put past its deadline whose write hangs times out when the write returns
   * (writeLoop calls back), without a timer polling meanwhile.
   */
  private armTimeout(): void {
    this.timeoutTimer = null;
    this.timeoutStalled = false;
    const now = this.clock.now();
    for (const r of this.waiting) {
      if (r.settled || !r.needsFlush) continue;
      if (r.deadline > now) {
        this.timeoutTimer = this.clock.setTimeout(() => this.armTimeout(), r.deadline - now);
        return;
      }
      if (r.end > this.writtenOffset) { this.timeoutStalled = true; return; }
      this.settle(r, 'FLUSH_DISK_TIMEOUT');
    }
  }

  /** Rejects every put still waiting (the store failed or closed). */
  failWaiting(err: KeelError): void {
    for (const r of this.waiting.splice(0)) if (!r.settled) { r.settled = true; r.reject(err); }
    this.timeoutTimer?.cancel();
    this.timeoutTimer = null;
    this.timeoutStalled = false;
  }

  /**
   * Resolves once every put appended before the call is written to the OS, or
   * its write failed (the put was rejected), however many puts follow it.
   */
  writtenTo(goal = this.appendOffset): Promise<void> {
    if (this.writtenOffset >= goal) return Promise.resolve();
    return new Promise((resolve) => this.writeWaiters.push({ goal, resolve }));
  }

  private wakeWriteWaiters(failedAt = Infinity): void {
    if (this.writeWaiters.length === 0) return;
    const waiting = this.writeWaiters;
    this.writeWaiters = [];
    for (const w of waiting) {
      if (w.goal <= this.writtenOffset || w.goal > failedAt) w.resolve();
      else this.writeWaiters.push(w);
    }
  }

  /**
   * A failed write voids its batch and every batch after it (their offsets
   * assumed it): their puts reject, queue offsets roll back, and the file is
   * cut at the batch start so no part of a rejected put survives a restart.
   */
  private async writeFailed(batch: WriteBatch, cause: unknown): Promise<void> {
    const code = (cause as { code?: string }).code;
    const err = new KeelError('WRITE_FAILED', `write to the CommitLog at offset ${batch.start} failed (${code ?? String(cause)}); the puts of that write were not stored`, { cause });
    this.blocked = err;
    const doomed = [batch, ...this.sealed.splice(0)];
    if (this.current) { doomed.push(this.current); this.current = null; }
    for (const b of doomed) {
      for (let i = 0; i < b.slots.length; i++) if (b.queueOffsets[i] < b.slots[i].next) b.slots[i].next = b.queueOffsets[i];
      const idx = this.undispatched.indexOf(b);
      if (idx >= 0) this.undispatched.splice(idx, 1);
    }
    for (let i = this.waiting.length - 1; i >= 0; i--) {
      const r = this.waiting[i];
      if (r.end > batch.start) {
        this.waiting.splice(i, 1);
        if (!r.settled) { r.settled = true; r.reject(err); }
      }
    }
    this.appendOffset = batch.start;
    // Everything below the failed write is written; everything above it is void.
    this.wakeWriteWaiters(batch.start);
    try {
      for (const b of doomed) {
        await b.seg.ready;
        await b.seg.zeroFrom(b.start - b.seg.start);
        await b.seg.datasync();
      }
      if (this.blocked === err) this.blocked = null;
    } catch (e) {
      this.onFatal(new KeelError('STORE_READ_ONLY', `a CommitLog write failed and cutting the partial write failed too; the store is read-only until reopened`, { cause: e }));
    }
  }

  /**
   * Appends bytes a replica received, already verified record by record
   * (replication.ts): CRCs stamped, queue offsets taken, one segment, starting
   * at appendOffset. Written, flushed and dispatched like puts; resolves when a
   * put of them would.
   */
  appendRaw(bytes: Buffer, end: number, records: RawRecord[], now: number): Promise<unknown> {
    if (this.blocked) return Promise.reject(this.blocked);
    if (this.current) this.seal();
    // The caller's bytes are written as they are; one of a pooled chunk's size would be taken into the pool.
    const buf = bytes.length === CHUNK_SIZE ? Buffer.from(bytes) : bytes;
    const batch = new WriteBatch(this.segments.obtain(this.appendOffset), this.appendOffset, buf);
    batch.fill = bytes.length;
    for (const r of records) {
      batch.slots.push(r.slot);
      batch.queueOffsets.push(r.queueOffset);
      batch.offsets.push(r.offset);
      batch.sizes.push(r.size);
      batch.tagsCodes.push(r.tagsCode);
      batch.storeTimes.push(r.storeTime);
      if (r.storeTime > this.lastStoreTime) this.lastStoreTime = r.storeTime;
    }
    batch.end = this.appendOffset = end;
    if (end === batch.seg.end) this.precreateNext();
    this.undispatched.push(batch);
    this.sealed.push(batch);
    const needsFlush = this.flush.mode === 'SYNC';
    // No results: nobody reads them for replicated records.
    const req = new PutRequest(batch, 0, 0, false, end, needsFlush, needsFlush ? now + this.options.syncFlushTimeoutMs : 0);
    batch.requests.push(req);
    this.waiting.push(req);
    if (needsFlush) {
      this.flush.want(end);
      if (!this.timeoutTimer && !this.timeoutStalled) this.armTimeout();
    }
    this.scheduleWrite();
    return req.promise;
  }

  /**
   * Moves every position back to `offset` (a record boundary; the caller made
   * sure nothing is in flight) and forgets what was read past it. The caller
   * cuts the files. `lastRecordStart` is a record start at or below it.
   */
  rewind(offset: number, lastRecordStart: number): void {
    this.window.clear();
    this.fresh.clear();
    this.freshRead = null;
    this.ahead = null;
    this.unflushed.length = 0;
    this.appendOffset = this.writtenOffset = this.confirmedOffset = offset;
    this.flush.flushed = offset;
    this.lastFlushedRecordStart = Math.min(this.lastFlushedRecordStart, lastRecordStart);
  }

  /** True while puts or raw appends are not yet written or dispatched. */
  get busy(): boolean {
    return this.writing || this.writeScheduled || this.current !== null || this.sealed.length > 0 || this.undispatched.length > 0;
  }

  private precreateNext(): void {
    const seg = this.segments.obtain(this.appendOffset);
    this.segments.obtain(seg.end);
  }

  /**
   * Reads `length` bytes at a physical offset (never across a segment end):
   * from the read window when it holds them, else from the file. The segment
   * is looked up first either way, so a segment the reaper removed is never
   * read from memory either.
   */
  async read(offset: number, length: number): Promise<Buffer | null> {
    const seg = this.segments.find(offset);
    if (!seg || !seg.acquire()) return null;
    try {
      const held = this.window.read(offset, length);
      if (held) return held;
      const buf = Buffer.allocUnsafe(length);
      const n = this.readNow(seg, buf, length, offset) ?? await seg.read(buf, 0, length, offset - seg.start);
      return n === length ? buf : null;
    } finally {
      seg.release();
    }
  }

  /** A consumer reads the queues: keep the next small writes for readFresh. */
  wantFresh(): void {
    this.freshWrites = FRESH_WRITES_PER_READ;
  }

  /**
   * The bytes [offset, offset + length) when they are among the newest small
   * writes, still held in memory, else null (the caller reads the file). For
   * consumers following the producers: they read what was written moments
   * ago, and a read of it from the file cost a `pread`, a buffer and the CRC
   * checks of every record served. These bytes never left memory: their
   * records need no CRC check. Like readAhead, it copies up to READ_AHEAD
   * bytes (never past `limit`) and serves the next calls inside them (the
   * readers of the other queues written in the same turns) with views.
   * `limit` as for readAhead.
   */
  readFresh(offset: number, length: number, limit: number): Buffer | null {
    if (offset + length > limit) return null;
    // As for every read: a segment the reaper removed is refused before memory is looked at.
    const seg = this.segments.find(offset);
    if (!seg || !seg.acquire()) return null;
    seg.release();
    const earlier = viewOf(this.freshRead, offset, length);
    if (earlier) return earlier;
    const n = Math.min(this.fresh.heldFrom(offset), limit - offset, READ_AHEAD);
    if (n < length) return null;
    const buf = this.fresh.read(offset, n)!;
    this.freshRead = { start: offset, buf };
    return buf.subarray(0, length);
  }

  /**
   * Like read(), for consumers reading the log in order: reads up to
   * READ_AHEAD bytes (never past `limit` nor the segment end) and serves the
   * next calls that fall inside them from memory, so a consumer catching up
   * pays one disk round trip per READ_AHEAD bytes instead of one per call.
   * `limit` must be at most the visible position: bytes below it never change
   * while the store is open (a failed write is cut back only above what was
   * written), and a segment the reaper removed is refused before the memory
   * is looked at.
   */
  async readAhead(offset: number, length: number, limit: number): Promise<Buffer | null> {
    const seg = this.segments.find(offset);
    if (!seg || !seg.acquire()) return null;
    try {
      const earlier = viewOf(this.ahead, offset, length);
      if (earlier) return earlier;
      const held = this.window.read(offset, length);
      if (held) return held;
      const want = Math.max(length, Math.min(READ_AHEAD, Math.min(limit, seg.end) - offset));
      const buf = Buffer.allocUnsafe(want);
      const n = this.readNow(seg, buf, want, offset) ?? await seg.read(buf, 0, want, offset - seg.start);
      if (n < length) return null;
      this.ahead = { start: offset, buf: buf.subarray(0, n) };
      return buf.subarray(0, length);
    } finally {
      seg.release();
    }
  }

  /**
   * Reads recent bytes on the main thread and returns the count, or null
   * when the bytes are older or the FileIO cannot (the caller then reads
   * through the thread pool). A hop through the pool cost 30–100 µs of main
   * thread per read here, and a consumer following the producers reads a few
   * records at a time. Older bytes may have left the page cache, and a disk
   * read would stall the main thread.
   */
  private readNow(seg: SegmentFile, buf: Buffer, length: number, offset: number): number | null {
    if (offset < this.writtenOffset - RECENT_READ_BYTES) return null;
    return seg.readSync(buf, 0, length, offset - seg.start);
  }

  /** Waits for the writes in flight; the caller then flushes. */
  async drain(): Promise<void> {
    while (this.writing || this.writeScheduled || this.current || this.sealed.length) {
      await new Promise((r) => setImmediate(r));
    }
  }

  async close(): Promise<void> {
    this.flush.stop();
    this.window.clear();
    this.fresh.clear();
    this.freshRead = null;
    this.ahead = null;
    this.timeoutTimer?.cancel();
    if (this.crc) {
      this.crc = null;
      CrcWorker.release();
    }
    await this.segments.close();
  }
}

/** [offset, offset + length) as a view of an earlier read that copied past it (readAhead, readFresh), or null. */
function viewOf(read: { start: number; buf: Buffer } | null, offset: number, length: number): Buffer | null {
  if (!read || offset < read.start || offset + length > read.start + read.buf.length) return null;
  return read.buf.subarray(offset - read.start, offset - read.start + length);
}
