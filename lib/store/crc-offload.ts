import * as path from 'path';
import { Worker } from 'worker_threads';
import type { StampDone, StampJob } from './crc-worker';

interface Pending { resolve: (buf: Buffer) => void; reject: (e: Error) => void }

/** How long an unused worker is kept, so that a store reopened soon after (or the next store of a benchmark) finds it warm. */
const IDLE_MS = 2000;

/**
 * Stamps record CRCs (stampRecords) on a worker thread, so that the main
 * thread encodes the next write while the CRCs of this one are computed:
 * checksumming is a third of the CPU an append costs.
 *
 * The buffer is transferred to the worker and back (zero-copy); meanwhile
 * the caller must not touch it, and it uses the buffer stamp() resolves to.
 * Only a buffer that owns its whole ArrayBuffer can travel (see allocate()).
 *
 * One worker serves every store of the process (acquire/release): a thread
 * costs tens of milliseconds to start and its code must be compiled hot.
 * stamp() answers null (stamp inline) until the worker is online, and for
 * good once it has failed; the jobs it held when it failed reject, as their
 * bytes went with it (the CommitLog then fails those writes as it would a
 * failed pwrite).
 */
export class CrcWorker {
  private static shared: CrcWorker | null = null;
  private static users = 0;
  private static idleTimer: NodeJS.Timeout | null = null;

  private worker: Worker | null = null;
  private online = false;
  private broken = false;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  /** The process's worker, started on first use; pair with release(). */
  static acquire(): CrcWorker {
    if (CrcWorker.idleTimer) clearTimeout(CrcWorker.idleTimer);
    CrcWorker.idleTimer = null;
    CrcWorker.users++;
    if (!CrcWorker.shared || CrcWorker.shared.broken) CrcWorker.shared = new CrcWorker();
    return CrcWorker.shared;
  }

  static release(): void {
    if (--CrcWorker.users > 0 || !CrcWorker.shared) return;
    const idle = CrcWorker.shared;
    CrcWorker.idleTimer = setTimeout(() => {
      CrcWorker.idleTimer = null;
      if (CrcWorker.shared === idle) CrcWorker.shared = null;
      void idle.close();
    }, IDLE_MS);
    CrcWorker.idleTimer.unref();
  }

  /** A buffer over an ArrayBuffer of its own (never Node's shared pool), so that it can be transferred. */
  static allocate(size: number): Buffer {
    return Buffer.from(new ArrayBuffer(size));
  }

  /**
   * Stamps the records of buf[0, length) on the worker and resolves to the
   * same bytes in a new Buffer (buf itself is detached meanwhile). Null when
   * the caller must stamp inline.
   */
  stamp(buf: Buffer, length: number, wholeCrc: boolean): Promise<Buffer> | null {
    const ab = buf.buffer;
    if (this.broken || !(ab instanceof ArrayBuffer) || buf.byteOffset !== 0 || ab.byteLength !== buf.length) return null;
    if (!this.worker) this.start();
    if (!this.online) return null;
    const id = this.nextId++;
    const job: StampJob = { id, buffer: ab, length, wholeCrc };
    return new Promise<Buffer>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker!.postMessage(job, [ab]);
    });
  }

  private start(): void {
    const w = new Worker(path.join(__dirname, 'crc-worker.js'));
    this.worker = w;
    // An idle store must not keep the process alive, any more than its timers do.
    w.unref();
    w.on('online', () => { this.online = true; });
    w.on('message', (done: StampDone) => {
      const p = this.pending.get(done.id);
      if (!p) return;
      this.pending.delete(done.id);
      p.resolve(Buffer.from(done.buffer));
    });
    w.on('error', (e) => this.fail(e));
    w.on('exit', (code) => this.fail(new Error(`the CRC worker exited with code ${code}`)));
  }

  private fail(cause: unknown): void {
    this.broken = true;
    this.online = false;
    this.worker = null;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(new Error(`the CRC worker failed while it held this write: ${String(cause)}`, { cause }));
    }
  }

  private async close(): Promise<void> {
    const w = this.worker;
    this.fail(new Error('the CRC worker was stopped'));
    await w?.terminate();
  }
}
