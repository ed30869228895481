import * as path from 'path';
import { Worker } from 'worker_threads';
import { stampRecords } from './message-codec';
import type { StampJob } from './crc-worker';

interface Pending { buf: Buffer; wholeCrc: boolean; resolve: () => void }

/**
 * Stamps record CRCs (stampRecords) on a worker thread, so that the main
 * thread encodes the next write while the CRCs of this one are computed:
 * checksumming is a third of the CPU an append costs. Only buffers backed by
 * a SharedArrayBuffer can go to the worker (see allocate()).
 *
 * The worker is started on first use and answers null until it is online;
 * if it ever fails, every job it held, and every later one, is stamped
 * inline: a broken worker costs speed, never a write.
 */
export class CrcWorker {
  private worker: Worker | null = null;
  private online = false;
  private broken = false;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Buffers the worker stamped. */
  stamped = 0;

  /** Buffers shorter than minBytes are left to the caller: a round trip to the worker costs ~15-30 µs. */
  constructor(private readonly minBytes: number) {}

  /** A buffer the worker can stamp in place. */
  static allocate(size: number): Buffer {
    return Buffer.from(new SharedArrayBuffer(size));
  }

  /**
   * Stamps the records of buf[0, length) on the worker; resolves when done.
   * Null when the caller must stamp inline (small, not shared, or no worker yet).
   */
  stamp(buf: Buffer, length: number, wholeCrc: boolean): Promise<void> | null {
    if (length < this.minBytes || this.broken || !(buf.buffer instanceof SharedArrayBuffer)) return null;
    if (!this.worker) this.start();
    if (!this.online) return null;
    const id = this.nextId++;
    const job: StampJob = { id, buffer: buf.buffer, byteOffset: buf.byteOffset, length, wholeCrc };
    return new Promise<void>((resolve) => {
      this.pending.set(id, { buf: buf.subarray(0, length), wholeCrc, resolve });
      this.worker!.postMessage(job);
    });
  }

  private start(): void {
    const w = new Worker(path.join(__dirname, 'crc-worker.js'));
    this.worker = w;
    // An idle store must not keep the process alive, any more than its timers do.
    w.unref();
    w.on('online', () => { this.online = true; });
    w.on('message', (id: number) => {
      const p = this.pending.get(id);
      if (!p) return;
      this.pending.delete(id);
      this.stamped++;
      p.resolve();
    });
    w.on('error', () => this.fail());
    w.on('exit', () => this.fail());
  }

  private fail(): void {
    this.broken = true;
    this.online = false;
    this.worker = null;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      stampRecords(p.buf, 0, p.buf.length, p.wholeCrc);
      p.resolve();
    }
  }

  /** Stops the worker; jobs still pending are stamped inline first. */
  async close(): Promise<void> {
    const w = this.worker;
    if (!w) return;
    this.worker = null;
    this.fail();
    await w.terminate();
  }
}
