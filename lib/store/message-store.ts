import * as path from 'path';
import type { FileIO, FileLock } from '../io/file-io';
import { KeelError, type KeelErrorCode } from '../common/errors';
import type { GetMessagesResult, Message, MessageExt, MessageFilter, PutResult } from '../common/message';
import { parseMsgId } from '../common/message-id';
import { checkRecord, decodeRecord, parseHost, prepareMessage, STORE_TIMESTAMP_POS, type PreparedMessage, type RecordLimits } from './message-codec';
import { readLong, Checkpoint } from './checkpoint';
import { CommitLog } from './commit-log';
import { CQ_ENTRY_SIZE, decodeEntry } from './consume-queue';
import { Dispatcher, type ArrivalListener } from './dispatcher';
import { QueueTable, type QueueSlot } from './queue-table';
import { recover, type RecoveryReport } from './recovery';
import { Reaper, type ReapResult, type ReaperStats } from './reaper';
import { resolveOptions, type FlushMode, type StoreOptions } from './options';
import type { Clock, TimerHandle } from '../common/clock';
import { combineStatus, splitRaw, type RawSplit, type ReplicationHook } from './replication';

export type { MessageFilter } from '../common/message';

export interface StoreStats {
  /** First byte of the CommitLog still on disk. */
  minOffset: number;
  /** Where the next record goes. */
  appendOffset: number;
  /** Bytes in the OS. */
  writtenOffset: number;
  /** Bytes fsynced. */
  flushedOffset: number;
  /** Bytes visible to consumers. */
  confirmedOffset: number;
  queues: number;
  flushMode: FlushMode;
  state: 'open' | 'read-only' | 'closed';
  /** Puts are rejected with DISK_FULL (disk usage passed diskSpaceWarningLevelRatio; clears below diskSpaceCleanForciblyRatio). */
  diskFull: boolean;
  /** Why writes fail apart from a full disk: the failure that made the store read-only, or a write being repaired (WRITE_FAILED). */
  writeError: KeelErrorCode | null;
  /** Disk usage, sizes and the last pass of the expired-file reaper. */
  reaper: ReaperStats;
  /** CommitLog writes whose CRCs the CRC worker computed (the others were computed inline). */
  crcWorkerWrites: number;
  /** onArrival listeners that threw (or rejected); each went to the onListenerError option. */
  listenerErrors: number;
  /** The replication hook's own figures (HAMaster: slaves, lag in bytes and ms, bytes/s); null without a hook. */
  replication: object | null;
}

/** Reads of a queue span other queues' records up to this gap rather than issue another read. */
const READ_GAP = 64 * 1024;
const READ_SPAN = 4 * 1024 * 1024;
/** Bytes a lookup by offset reads at first: most records fit, and it is small enough for Node's buffer pool (no allocation of its own). */
const LOOKUP_READ = 2048;

type State = 'open' | 'read-only' | 'closing' | 'closed';

/** The layer serving consumers from a store (an EmbeddedBroker); see MessageStore.attach. */
export interface StoreOwner { close(): Promise<void> }

/**
 * The embedded store: one process, one data directory. See README for the API tour.
 *
 * open() takes the directory's lock, recovers, and starts the background
 * services (flush, checkpoint). close() flushes everything, writes a final
 * checkpoint and removes the `abort` marker, so the next open is a clean one.
 */
export class MessageStore {
  private state: State = 'open';
  private failure: KeelError | null = null;
  private checkpointTimer: TimerHandle | null = null;
  private checkpointing: Promise<void> | null = null;
  private readonly limits: RecordLimits;
  private readonly bornHost: { ip: number; port: number };
  private readonly reaper: Reaper;
  private owner: StoreOwner | null = null;
  private hook: ReplicationHook | null = null;
  /** Set on a slave's store: puts are refused, replicated bytes are taken (appendReplica). */
  private replicaOnly = false;
  /** Raw appends and truncations of a replica, one at a time. */
  private replicaOps: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly dir: string,
    private readonly options: StoreOptions,
    private readonly lock: FileLock,
    private readonly checkpoint: Checkpoint,
    private readonly queues: QueueTable,
    private readonly dispatcher: Dispatcher,
    private readonly commitLog: CommitLog,
    /** What the last open found and repaired. */
    readonly recovery: RecoveryReport,
  ) {
    this.limits = options;
    this.bornHost = parseHost(options.storeHost);
    this.reaper = new Reaper(options, commitLog, queues);
  }

  static async open(dir: string, partial: Partial<StoreOptions> = {}): Promise<MessageStore> {
    try {
      return await MessageStore.openOrThrow(dir, partial);
    } catch (e) {
      if (e instanceof KeelError || e instanceof TypeError) throw e;
      // An errno from the disk gets a stable code; the original stays as the cause.
      const code = (e as { code?: string }).code ?? 'unknown';
      throw new KeelError('IO_ERROR', `opening ${path.resolve(dir)} failed: ${code}: ${(e as Error).message}`, { cause: e });
    }
  }

  private static async openOrThrow(dir: string, partial: Partial<StoreOptions>): Promise<MessageStore> {
    const options = resolveOptions(partial);
    const io = options.io;
    const root = path.resolve(dir);
    // Every directory made here must itself survive a power cut: each is synced in its parent, outermost first.
    const made: string[] = [];
    for (let d = root; path.dirname(d) !== d && (await io.stat(d)) === null; d = path.dirname(d)) made.unshift(d);
    await io.mkdirp(root);
    // A first open killed before that sync left the directory in the page cache only, and no checkpoint yet.
    if (made.length === 0 && (await io.stat(path.join(root, 'checkpoint'))) === null) made.push(root);
    for (const d of made) await io.syncDir(path.dirname(d));
    let lock: FileLock;
    try {
      lock = await io.lock(path.join(root, 'lock'));
    } catch (e) {
      if ((e as { code?: string }).code === 'EAGAIN') {
        throw new KeelError('STORE_LOCKED', `${root} is already open (by another process, or another MessageStore in this one)`, { cause: e });
      }
      throw e;
    }
    try {
      const abortFile = path.join(root, 'abort');
      const aborted = (await io.stat(abortFile)) !== null;
      const checkpoint = await Checkpoint.open(io, path.join(root, 'checkpoint'), root);
      const queues = new QueueTable(io, root, options.consumeQueueEntries);
      let fatal: (e: KeelError) => void = () => undefined;
      // A full disk fails ConsumeQueue writes too. Their entries stay in memory, readable, and the next
      // commit or checkpoint writes them once there is room: a full disk must not outlive its space.
      const dispatcher = new Dispatcher(
        (e) => { if (!isNoSpace(e)) fatal(asKeelError(e, 'a ConsumeQueue write failed')); },
        options.onListenerError ?? warnOnce(),
      );
      const commitLog = new CommitLog(io, root, options, queues, dispatcher, parseHost(options.storeHost), (e) => fatal(e));
      await io.mkdirp(path.join(root, 'commitlog'));
      await io.syncDir(root);
      const report = await recover({
        io, root, options, commitLog, queues, dispatcher,
        checkpoint: checkpoint.data,
        clean: !aborted && checkpoint.data !== null,
      });
      const store = new MessageStore(root, options, lock, checkpoint, queues, dispatcher, commitLog, report);
      fatal = (e) => store.fail(e);
      // Recovery's repairs become durable now, so a crash right after open does not redo them.
      await store.writeCheckpoint();
      if (!aborted) {
        const h = await io.open(abortFile, { create: true });
        await h.close();
        await io.syncDir(root);
      }
      await store.reaper.prepare();
      commitLog.start();
      store.armCheckpoint();
      store.reaper.start();
      return store;
    } catch (e) {
      await lock.release();
      throw e;
    }
  }

  /** Stores one message. Resolves once it is in the OS (ASYNC) or on disk (SYNC). */
  put(msg: Message): Promise<PutResult> {
    const now = this.options.clock.now();
    const p = this.prepare(msg, now);
    if (p instanceof Promise) return p as Promise<never>;
    if (this.hook) return this.replicated(this.commitLog.appendOffset, this.commitLog.append([p], true, now)) as Promise<PutResult>;
    return this.commitLog.append([p], true, now) as Promise<PutResult>;
  }

  /** Stores messages contiguously in one segment, in order, with one acknowledgement. */
  putBatch(msgs: Message[]): Promise<PutResult[]> {
    if (!Array.isArray(msgs)) return Promise.reject(new TypeError('putBatch takes an array of messages'));
    if (msgs.length === 0) return Promise.resolve([]);
    const prepared: PreparedMessage[] = new Array(msgs.length);
    const now = this.options.clock.now();
    for (let i = 0; i < msgs.length; i++) {
      const p = this.prepare(msgs[i], now);
      if (p instanceof Promise) return p as Promise<never>;
      prepared[i] = p;
    }
    if (this.hook) return this.replicated(this.commitLog.appendOffset, this.commitLog.append(prepared, false, now)) as Promise<PutResult[]>;
    return this.commitLog.append(prepared, false, now) as Promise<PutResult[]>;
  }

  /** A put just appended, acknowledged once both its flush and the hook's replication say so. */
  private replicated(before: number, put: Promise<PutResult | PutResult[]>): Promise<PutResult | PutResult[]> {
    const end = this.commitLog.appendOffset;
    // A put refused before taking an offset has nothing to replicate.
    if (end === before) return put;
    const wait = this.hook!.waitFor(end);
    if (!wait) return put;
    // Chained, not Promise.all: half the promises and closures per put, on a SYNC_MASTER's every put.
    return put.then((results) => wait.then((status) => {
      combineStatus(results, status);
      return results;
    }));
  }

  /**
   * Sets (or with null removes) the replication hook: it is told of every
   * CommitLog range committed from now on and may hold puts until they are
   * replicated (see replication.ts, and lib/ha for master/slave over TCP).
   * Without a hook, puts take exactly the path they take in a store that never had one.
   */
  setReplicationHook(hook: ReplicationHook | null): void {
    this.readBlock();
    const old = this.hook;
    if (old === hook) return;
    this.hook = null;
    this.commitLog.onCommitted = null;
    old?.detached?.();
    if (!hook) return;
    if (typeof hook.committed !== 'function' || typeof hook.waitFor !== 'function') throw new TypeError('a replication hook has committed() and waitFor()');
    this.hook = hook;
    hook.attached?.(this.commitLog.writtenOffset);
    this.commitLog.onCommitted = (from, to, bytes) => {
      try {
        hook.committed(from, to, bytes);
      } catch (e) {
        process.emitWarning(`the replication hook failed on committed(${from}, ${to}): ${e instanceof Error ? e.stack ?? e.message : String(e)}`, 'KeelReplicationWarning');
      }
    };
  }

  /** On (a slave's store): every put is refused with NOT_MASTER; appendReplica and truncate still work. */
  setReplicaOnly(on: boolean): void {
    this.readBlock();
    this.replicaOnly = on === true;
  }

  get isReplicaOnly(): boolean { return this.replicaOnly; }

  /**
   * Up to `maxBytes` committed CommitLog bytes from `offset` (never past what is
   * in the OS, nor across a segment's end), as stored: what a replication hook
   * sends. Null when the offset is below the log's start or at or past its
   * committed end.
   */
  async readCommitLog(offset: number, maxBytes: number): Promise<Buffer | null> {
    this.readBlock();
    if (!Number.isSafeInteger(offset) || offset < 0) throw new TypeError('offset must be a non-negative integer');
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) throw new TypeError('maxBytes must be a positive integer');
    const c = this.commitLog;
    const segEnd = offset - (offset % this.options.commitLogSegmentSize) + this.options.commitLogSegmentSize;
    const n = Math.min(maxBytes, c.writtenOffset - offset, segEnd - offset);
    if (n <= 0 || offset < c.minOffset) return null;
    return c.read(offset, n);
  }

  /** The CommitLog's committed end (in the OS), where a replica's next bytes would go, and its start. */
  get commitLogRange(): { min: number; committed: number; max: number } {
    const c = this.commitLog;
    return { min: c.minOffset, committed: c.writtenOffset, max: c.appendOffset };
  }

  get commitLogSegmentSize(): number { return this.options.commitLogSegmentSize; }

  /**
   * Appends CommitLog bytes received from a master at `offset`, which must be
   * this store's end (or anywhere, into an empty store). The bytes are checked
   * record by record (CRCs, lengths, offsets, each queue's offsets following
   * on) and only whole records are stored; they are dispatched to this store's
   * own ConsumeQueues. Resolves with the new end once they are written (ASYNC
   * flush) or durable (SYNC), after which `bytes` from `end - offset` on (an
   * incomplete last record) should be offered again with what follows. Rejects
   * with REPLICA_INVALID on anything else, storing nothing of the call.
   */
  appendReplica(offset: number, bytes: Buffer): Promise<number> {
    const run = this.replicaOps.then(() => this.appendReplicaNow(offset, bytes));
    this.replicaOps = run.catch(() => undefined);
    return run;
  }

  private async appendReplicaNow(offset: number, bytes: Buffer): Promise<number> {
    const blocked = this.replicaBlock();
    if (blocked) throw blocked;
    if (!Number.isSafeInteger(offset) || offset < 0) throw new TypeError('offset must be a non-negative integer');
    if (!Buffer.isBuffer(bytes)) throw new TypeError('bytes must be a Buffer');
    const c = this.commitLog;
    if (offset !== c.appendOffset) {
      if (c.appendOffset !== c.minOffset || this.queues.size > 0 || c.busy) {
        throw new KeelError('REPLICA_INVALID', `replicated bytes offered at CommitLog offset ${offset}, but this store ends at ${c.appendOffset}`);
      }
      // An empty replica starts where its master's log is (RocketMQ: at the start of the master's last segment).
      if (offset % this.options.commitLogSegmentSize !== 0) throw new KeelError('REPLICA_INVALID', `an empty replica starts at a segment start, not at ${offset}`);
      await c.segments.truncateFrom(c.minOffset);
      c.resumeAt(offset, offset, 0);
      await this.writeCheckpoint();
    }
    let at = offset;
    let rest = bytes;
    // One call may cover an end marker and the next segment's records: all are checked before any is stored.
    const splits: RawSplit[] = [];
    const next = new Map<QueueSlot, number>();
    while (rest.length > 0) {
      const split = splitRaw(rest, at, this.options.commitLogSegmentSize, this.queues, this.options.wholeRecordCrc, this.options.maxQueuesPerTopic, next);
      if (split.end === at) break;
      splits.push(split);
      rest = rest.subarray(Math.min(rest.length, split.end - at));
      at = split.end;
    }
    for (const [slot, n] of next) slot.next = n;
    const now = this.options.clock.now();
    await Promise.all(splits.map((s) => c.appendRaw(s.bytes, s.end, s.records, now)));
    return at;
  }

  /**
   * Cuts the CommitLog back to `offset` (a record boundary at or above its
   * start: the end of a record, or a segment start) and every ConsumeQueue to
   * match, durably: what a diverged replica needs before it can follow its
   * master again. No puts may be in flight. REPLICA_INVALID when `offset` is
   * not a record boundary of this log.
   */
  truncate(offset: number): Promise<void> {
    const run = this.replicaOps.then(() => this.truncateNow(offset));
    this.replicaOps = run.catch(() => undefined);
    return run;
  }

  private async truncateNow(offset: number): Promise<void> {
    const blocked = this.replicaBlock();
    if (blocked) throw blocked;
    if (!Number.isSafeInteger(offset) || offset < 0) throw new TypeError('offset must be a non-negative integer');
    const c = this.commitLog;
    await c.drain();
    await c.flush.flushAll();
    if (c.busy) throw new KeelError('REPLICA_INVALID', `store ${this.dir} has puts in flight; truncate a replica only`);
    if (offset >= c.appendOffset) return;
    const segSize = this.options.commitLogSegmentSize;
    const segStart = offset - (offset % segSize);
    if (offset < c.minOffset) throw new KeelError('REPLICA_INVALID', `offset ${offset} is below the CommitLog's start ${c.minOffset}`);
    if (offset !== segStart && !(await this.isRecordEnd(offset))) {
      throw new KeelError('REPLICA_INVALID', `offset ${offset} is not a record boundary of ${this.dir}`);
    }
    c.rewind(offset, segStart >= c.minOffset ? segStart : c.minOffset);
    for (const s of this.queues.all()) {
      if (s.cq.maxPhysicalEnd > offset) await s.cq.truncateByPhysical(offset);
      s.next = s.cq.maxOffset;
    }
    // The checkpoint first: a crash between the two finds more log than it records durable (kept as an
    // unflushed tail), never less (which open would refuse as lost data).
    await this.writeCheckpoint();
    await c.segments.truncateFrom(offset);
    c.segments.obtain(offset);
  }

  /** Whether a record ends exactly at `offset`: walks the records of its segment from the segment's start. */
  private async isRecordEnd(offset: number): Promise<boolean> {
    const segSize = this.options.commitLogSegmentSize;
    let at = offset - (offset % segSize);
    while (at < offset) {
      const head = await this.commitLog.read(at, 8);
      if (!head) return false;
      const size = head.readInt32BE(0);
      if (size <= 0 || head.readUInt32BE(4) !== 0xdaa320a7) return false;
      at += size;
    }
    return at === offset;
  }

  private prepare(msg: Message, now: number): PreparedMessage | Promise<never> {
    const blocked = this.writeBlock();
    if (blocked) return Promise.reject(blocked);
    try {
      return prepareMessage(msg, this.limits, this.options.wholeRecordCrc, this.bornHost, now);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private writeBlock(): KeelError | null {
    if (this.replicaOnly && this.state === 'open') return new KeelError('NOT_MASTER', `store ${this.dir} is a slave's: it takes replicated bytes only, no puts (promote its broker first)`);
    return this.replicaBlock();
  }

  /** What stops a replica's appends: what stops puts, except being a replica. */
  private replicaBlock(): KeelError | null {
    if (this.state === 'closed' || this.state === 'closing') return new KeelError('STORE_CLOSED', `store ${this.dir} is closed`);
    if (this.failure) return new KeelError('STORE_READ_ONLY', `store ${this.dir} is read-only after an earlier failure: ${this.failure.message}`, { cause: this.failure });
    // After read-only (which freeing space does not cure), before a write being repaired (which passes by itself).
    if (this.reaper.diskFull) {
      const used = ((this.reaper.diskUsedRatio ?? 1) * 100).toFixed(1);
      return new KeelError('DISK_FULL', `disk of ${this.dir} is ${used}% full (above diskSpaceWarningLevelRatio ${this.options.diskSpaceWarningLevelRatio}); puts are refused until it falls below ${this.options.diskSpaceCleanForciblyRatio}`);
    }
    return null;
  }

  private readBlock(): void {
    if (this.state === 'closed') throw new KeelError('STORE_CLOSED', `store ${this.dir} is closed`);
  }

  /** The message stored at a physical offset, or null when none starts there. */
  async getMessage(physicalOffset: number): Promise<MessageExt | null> {
    const r = await this.getRecord(physicalOffset);
    return r ? r.message : null;
  }

  /**
   * The message stored at a physical offset and its record bytes as stored
   * (what RocketMQ's VIEW_MESSAGE_BY_ID sends), or null when none starts there.
   */
  async getRecord(physicalOffset: number): Promise<{ message: MessageExt; record: Buffer } | null> {
    this.readBlock();
    if (!Number.isSafeInteger(physicalOffset) || physicalOffset < 0) throw new TypeError('physicalOffset must be a non-negative integer');
    // What consumers may see: flushed (SYNC) or written (ASYNC), never what recovery could take back.
    const visible = this.commitLog.confirmedOffset;
    if (physicalOffset >= visible) return null;
    // One read that most records fit in (never across a segment end); a larger one takes a second.
    const segEnd = physicalOffset - (physicalOffset % this.options.commitLogSegmentSize) + this.options.commitLogSegmentSize;
    const first = Math.min(LOOKUP_READ, visible - physicalOffset, segEnd - physicalOffset);
    if (first < 36) return null;
    const head = await this.commitLog.read(physicalOffset, first);
    // A record starts here only if its own offset field says so.
    if (!head || head.readUInt32BE(4) !== 0xdaa320a7 || readLong(head, 28) !== physicalOffset) return null;
    const size = head.readInt32BE(0);
    if (size <= 0 || physicalOffset + size > visible) return null;
    const buf = size <= first ? head.subarray(0, size) : await this.commitLog.read(physicalOffset, size);
    return buf ? { message: this.decode(buf, 0, physicalOffset), record: buf } : null;
  }

  /**
   * Decodes a record read back, refusing one whose CRCs fail (bit rot, a damaged disk) unless
   * verifyReads is off. `fromFile` false: bytes that never left memory (CommitLog.readFresh),
   * whose structure is checked but not their CRCs.
   */
  private decode(buf: Buffer, pos: number, physicalOffset: number, fromFile = true): MessageExt {
    if (this.options.verifyReads) {
      const c = checkRecord(buf, pos, buf.length - pos, physicalOffset, this.options.wholeRecordCrc, fromFile);
      if (c.kind !== 'record') {
        throw new KeelError('CORRUPT_STORE', `the record at CommitLog offset ${physicalOffset} is damaged (${c.kind === 'invalid' ? c.reason : c.kind}); it is not served. Run "keelmq audit ${this.dir}"`);
      }
    }
    return decodeRecord(buf, pos);
  }

  /** Looks a message up by the id a put returned (store host + physical offset). */
  async lookupMessageById(msgId: string): Promise<MessageExt | null> {
    const { physicalOffset } = parseMsgId(msgId);
    const m = await this.getMessage(physicalOffset);
    return m && m.msgId === msgId.toUpperCase() ? m : null;
  }

  /**
   * Up to `max` messages of a queue from `queueOffset`. Never returns anything
   * beyond the durable position of the current flush mode. With `options.records`,
   * `result.records[i]` holds the stored bytes of `result.messages[i]` (a remote
   * pull sends them as they are).
   */
  async getMessages(topic: string, queueId: number, queueOffset: number, max: number, filter?: MessageFilter, options?: { records?: boolean }): Promise<GetMessagesResult> {
    this.readBlock();
    if (!Number.isSafeInteger(queueOffset) || queueOffset < 0) throw new TypeError('queueOffset must be a non-negative integer');
    if (!Number.isSafeInteger(max) || max < 1) throw new TypeError('max must be a positive integer');
    const slot = this.queues.get(topic, queueId);
    if (!slot) return { status: 'NO_MATCHED_LOGIC_QUEUE', messages: [], nextBeginOffset: 0, minOffset: 0, maxOffset: 0 };
    // Before any answer: a consumer waiting at the end of its queue reads the next writes from memory.
    this.commitLog.wantFresh();
    const cq = slot.cq;
    const minOffset = cq.minOffset;
    const maxOffset = cq.maxOffset;
    const base = { minOffset, maxOffset };
    if (queueOffset < minOffset) return { status: 'OFFSET_MOVED', messages: [], nextBeginOffset: minOffset, ...base };
    if (queueOffset > maxOffset) return { status: 'OFFSET_MOVED', messages: [], nextBeginOffset: maxOffset, ...base };
    if (queueOffset === maxOffset) return { status: 'NO_NEW_MSG', messages: [], nextBeginOffset: queueOffset, ...base };
    const raw = await cq.readRaw(queueOffset, max);
    const messages: MessageExt[] = [];
    const records: Buffer[] | undefined = options?.records ? [] : undefined;
    const wanted: { e: number; off: number; size: number }[] = [];
    for (let i = 0; i < raw.count; i++) {
      const at = i * CQ_ENTRY_SIZE;
      if (filter?.matchTagsCode) {
        const e = decodeEntry(raw.buf, at, raw.from + i);
        if (!filter.matchTagsCode(e.tagsCode)) continue;
      }
      wanted.push({ e: i, off: readLong(raw.buf, at), size: raw.buf.readInt32BE(at + 8) });
    }
    // Records close to each other are read together: one read per run, gaps (other queues' records) included.
    for (let i = 0; i < wanted.length;) {
      let j = i + 1;
      let end = wanted[i].off + wanted[i].size;
      // A read never crosses into the next segment file.
      const segEnd = wanted[i].off - (wanted[i].off % this.options.commitLogSegmentSize) + this.options.commitLogSegmentSize;
      const limit = Math.min(segEnd, wanted[i].off + READ_SPAN);
      while (j < wanted.length && wanted[j].off >= end && wanted[j].off - end <= READ_GAP && wanted[j].off + wanted[j].size <= limit) {
        end = wanted[j].off + wanted[j].size;
        j++;
      }
      const visible = this.commitLog.confirmedOffset;
      const fresh = this.commitLog.readFresh(wanted[i].off, end - wanted[i].off, visible);
      const buf = fresh ?? await this.commitLog.readAhead(wanted[i].off, end - wanted[i].off, visible);
      if (!buf) {
        // The segment was removed under us (by the reaper, or by hand): the caller retries from the new minimum.
        await cq.correctMinOffset(this.commitLog.minOffset);
        // A record that is still above the minimum and cannot be read is damage: pointing the caller back at it would loop.
        if (cq.minOffset <= raw.from + wanted[i].e) {
          throw new KeelError('CORRUPT_STORE', `queue ${topic}:${queueId} entry ${raw.from + wanted[i].e} points at CommitLog offset ${wanted[i].off} (${wanted[i].size} bytes), which cannot be read. Run "keelmq audit ${this.dir}"`);
        }
        return { status: 'OFFSET_MOVED', messages: [], nextBeginOffset: cq.minOffset, minOffset: cq.minOffset, maxOffset: cq.maxOffset };
      }
      for (let k = i; k < j; k++) {
        const at = wanted[k].off - wanted[i].off;
        const m = this.decode(buf, at, wanted[k].off, fresh === null);
        if (!filter?.matchMessage || filter.matchMessage(m)) {
          messages.push(m);
          records?.push(buf.subarray(at, at + wanted[k].size));
        }
      }
      i = j;
    }
    const nextBeginOffset = raw.from + raw.count;
    const result: GetMessagesResult = { status: messages.length ? 'FOUND' : 'NO_MATCHED_MSG', messages, nextBeginOffset, ...base };
    if (records) result.records = records;
    return result;
  }

  getMinOffsetInQueue(topic: string, queueId: number): number {
    this.readBlock();
    return this.queues.get(topic, queueId)?.cq.minOffset ?? 0;
  }

  /** The next queue offset a consumer would wait for (entries below it are readable). */
  getMaxOffsetInQueue(topic: string, queueId: number): number {
    this.readBlock();
    return this.queues.get(topic, queueId)?.cq.maxOffset ?? 0;
  }

  /**
   * The first queue offset whose message was stored at or after `timestamp`
   * (binary search on store times; equal times resolve to the first). Returns
   * the max offset when every message is older.
   */
  async getOffsetByTime(topic: string, queueId: number, timestamp: number): Promise<number> {
    this.readBlock();
    // NaN compares false with every store time: the search would end at the queue's start.
    if (typeof timestamp !== 'number' || !Number.isFinite(timestamp)) throw new TypeError(`timestamp must be a finite number of ms since the epoch, got ${String(timestamp)}`);
    const cq = this.queues.get(topic, queueId)?.cq;
    if (!cq) return 0;
    let lo = cq.minOffset;
    let hi = cq.maxOffset;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const e = await cq.entry(mid);
      const ts = e ? await this.storeTimeAt(e.physicalOffset) : null;
      // A record the reaper already removed is older than anything still here.
      if (ts === null || ts < timestamp) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  private async storeTimeAt(physicalOffset: number): Promise<number | null> {
    const b = await this.commitLog.read(physicalOffset + STORE_TIMESTAMP_POS, 8);
    return b ? readLong(b, 0) : null;
  }

  topics(): string[] { this.readBlock(); return this.queues.topicNames(); }
  queueIds(topic: string): number[] { this.readBlock(); return this.queues.queueIds(topic); }

  /**
   * @internal Attaches the layer that serves consumers from this store (an
   * EmbeddedBroker). One at a time: two would both run the delay levels (every
   * delayed message delivered twice) and each let a push consumer of the same
   * group start. close() closes it first. Returns the detach.
   */
  attach(owner: StoreOwner): () => void {
    if (this.state === 'closed' || this.state === 'closing') throw new KeelError('STORE_CLOSED', `store ${this.dir} is closed`);
    if (this.owner) throw new KeelError('BROKER_IN_USE', `store ${this.dir} already has a broker open on it; close that broker first`);
    this.owner = owner;
    return () => { if (this.owner === owner) this.owner = null; };
  }

  /**
   * Called whenever new messages become readable in a queue (for long polling),
   * synchronously, before the puts that made them readable resolve. A listener
   * that throws (or returns a promise that rejects) breaks no put and no other
   * listener: the error goes to the onListenerError option and is counted in
   * stats().listenerErrors.
   */
  onArrival(listener: ArrivalListener): () => void {
    this.readBlock();
    if (typeof listener !== 'function') throw new TypeError('onArrival takes a function');
    return this.dispatcher.onArrival(listener);
  }

  get flushMode(): FlushMode { return this.commitLog.mode; }

  /** The file access and the clock the store was opened with, for layers that keep files and timers beside it. */
  get io(): FileIO { return this.options.io; }
  get clock(): Clock { return this.options.clock; }

  /** Switches between group commit and timed flush on the running store. */
  setFlushMode(mode: FlushMode): void {
    this.readBlock();
    if (mode !== 'SYNC' && mode !== 'ASYNC') throw new TypeError(`flush mode must be SYNC or ASYNC, got ${String(mode)}`);
    this.commitLog.setFlushMode(mode);
  }

  /**
   * Makes every put made before the call durable, ConsumeQueue entries
   * included, however many puts follow it. Rejects with the failure that made
   * the store read-only (FLUSH_FAILED, STORE_READ_ONLY... with the errno as
   * cause), or STORE_CLOSED.
   */
  async flush(): Promise<void> {
    const blocked = this.writeBlock();
    if (blocked && blocked.code === 'STORE_CLOSED') throw blocked;
    if (this.failure) throw this.failure;
    await this.commitLog.writtenTo();
    await this.commitLog.flush.flushAll();
    // The indexes too, so that a flushed store needs no re-dispatch after a crash. They can
    // always be rebuilt from the CommitLog, so a full disk does not fail the flush: the
    // entries stay in memory and are written once there is room.
    await this.dispatcher.flushAll([...this.queues.all()].map((s) => s.cq)).catch((e) => {
      if (isNoSpace(e)) return;
      this.fail(asKeelError(e, 'flushing a ConsumeQueue failed'));
      throw this.failure;
    });
  }

  stats(): StoreStats {
    const c = this.commitLog;
    const writeBlocker = this.failure ?? c.blockedBy;
    return {
      minOffset: c.minOffset, appendOffset: c.appendOffset, writtenOffset: c.writtenOffset,
      flushedOffset: c.flushedOffset, confirmedOffset: c.confirmedOffset, queues: this.queues.size,
      flushMode: c.mode,
      state: this.state === 'open' ? (this.failure ? 'read-only' : 'open') : 'closed',
      diskFull: this.reaper.diskFull,
      writeError: writeBlocker && writeBlocker.code !== 'STORE_CLOSED' ? writeBlocker.code : null,
      reaper: this.reaper.stats(),
      crcWorkerWrites: c.crcWorkerWrites,
      listenerErrors: this.dispatcher.listenerErrors,
      replication: this.hook?.stats?.() ?? null,
    };
  }

  /**
   * Deletes expired CommitLog segments now, whatever the hour and disk usage
   * (with `force`, the oldest ones whatever their age), at most
   * deleteFileBatchMax, and the ConsumeQueue files that pointed into them.
   * Resolves once their files are unlinked (a segment being read goes when
   * its reader is done); call again until nothing more is deleted.
   */
  async deleteExpired(options: { force?: boolean } = {}): Promise<ReapResult> {
    this.readBlock();
    if (this.state === 'closing') throw new KeelError('STORE_CLOSED', `store ${this.dir} is closed`);
    if (typeof options !== 'object' || options === null) throw new TypeError('deleteExpired takes { force?: boolean }');
    return this.reaper.deleteExpired(options.force === true);
  }

  /** Why the store turned read-only, if it did. */
  get error(): KeelError | null { return this.failure; }

  private fail(e: KeelError): void {
    if (this.failure) return;
    this.failure = e;
    this.commitLog.block(e);
    this.commitLog.failWaiting(e);
  }

  private armCheckpoint(): void {
    this.checkpointTimer = this.options.clock.setTimeout(() => {
      this.checkpointing = this.writeCheckpoint()
        // On a full disk the checkpoint waits for room (recovery then starts from the previous one).
        .catch((e) => { if (!isNoSpace(e)) this.fail(asKeelError(e, 'writing the checkpoint failed')); })
        .finally(() => { this.checkpointing = null; if (this.state === 'open') this.armCheckpoint(); });
    }, this.options.checkpointIntervalMs);
  }

  /**
   * Records durable positions: ConsumeQueues are flushed first, so the
   * offset it records for them is one below which every entry is on disk.
   * That offset never passes the CommitLog's durable one: in ASYNC mode
   * entries exist for records still in the page cache, and trusting them after
   * a power cut would send recovery to rebuild every queue from the start.
   */
  private async writeCheckpoint(): Promise<void> {
    const c = this.commitLog;
    const dispatched = c.confirmedOffset;
    const durable = c.flushedOffset;
    const scanFrom = Math.min(c.lastFlushedRecordStart, durable);
    const lastStoreTimestamp = c.lastFlushedStoreTime;
    const slots = [...this.queues.all()];
    await this.dispatcher.flushAll(slots.map((s) => s.cq));
    await this.checkpoint.write({
      commitLogDurable: durable,
      scanFrom,
      consumeQueueDurable: Math.min(dispatched, durable),
      queueCount: slots.filter((s) => s.cq.hasFiles).length,
      lastStoreTimestamp,
    });
  }

  /** Closes the attached broker, then flushes, checkpoints and releases the directory. Safe to call twice. */
  async close(): Promise<void> {
    // The broker goes first, while the store still serves it: its consumers finish and its offsets are written.
    await this.owner?.close();
    if (this.state === 'closed' || this.state === 'closing') return;
    this.state = 'closing';
    const closed = new KeelError('STORE_CLOSED', `store ${this.dir} is closed`);
    this.commitLog.block(closed);
    this.checkpointTimer?.cancel();
    if (this.hook) this.setReplicationHook(null);
    try {
      await this.reaper.stop();
      await this.commitLog.drain();
      let clean = !this.failure;
      if (clean) {
        try {
          await this.commitLog.flush.flushAll();
          await this.checkpointing;
          await this.writeCheckpoint();
        } catch (e) {
          clean = false;
          this.fail(asKeelError(e, 'the final flush failed'));
        }
      }
      this.commitLog.failWaiting(closed);
      await this.commitLog.close();
      for (const s of this.queues.all()) await s.cq.close();
      await this.checkpoint.close();
      if (clean) {
        // Only a store whose every byte is durable may skip recovery next time.
        await this.options.io.unlink(path.join(this.dir, 'abort'));
        await this.options.io.syncDir(this.dir);
      }
    } finally {
      this.state = 'closed';
      await this.lock.release();
    }
  }
}

/** The default onListenerError: one process warning, so a listener failing on every arrival does not flood stderr. */
function warnOnce(): (e: unknown, topic: string, queueId: number) => void {
  let warned = false;
  return (e, topic, queueId) => {
    if (warned) return;
    warned = true;
    process.emitWarning(`an onArrival listener failed on ${topic}:${queueId}: ${e instanceof Error ? e.stack ?? e.message : String(e)} (later failures are only counted in stats().listenerErrors; set the onListenerError option to see them)`, 'KeelListenerWarning');
  };
}

function isNoSpace(e: unknown): boolean {
  return (e as { code?: string } | null)?.code === 'ENOSPC';
}

function asKeelError(e: unknown, what: string): KeelError {
  if (e instanceof KeelError) return e;
  return new KeelError('STORE_READ_ONLY', `${what} (${(e as { code?: string }).code ?? String(e)}); the store is read-only until reopened`, { cause: e });
}
