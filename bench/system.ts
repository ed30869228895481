/**
 * The one interface every benchmarked system (keelmq and each peer) is driven
 * through, so that the timed loops in loops.ts are shared and no system gets
 * a loop of its own.
 */
import { randomFillSync } from 'node:crypto';
import type { Flush, SystemName } from './stats';

export interface System {
  readonly name: SystemName;
  /**
   * How each flush label is achieved (shown in the row's mode). A label that
   * is absent is not offered, because the system has no honest way to do it.
   */
  readonly settings: Partial<Record<Flush, string>>;
  /**
   * Whether concurrent producers, each awaiting its own put, can share one
   * commit (group commit). A synchronous API (better-sqlite3) serialises them,
   * so only the single-producer row is run for it.
   */
  readonly concurrentPuts: boolean;
  /** durable: acknowledge only after an fsync that covers the write. */
  open(dir: string, durable: boolean): Promise<SystemStore>;
}

export interface SystemStore {
  /** Stores the bodies in order as one unit (one transaction / batch / putBatch). */
  appendBatch(bodies: readonly Buffer[]): Promise<void>;
  /** Stores one body; in durable mode it resolves only once the body is durable. */
  append(body: Buffer): Promise<void>;
  /** Visits every stored body in append order. */
  readAll(visit: (body: Buffer) => void): Promise<void>;
  close(): Promise<void>;
}

/**
 * Distinct random bodies, reused cyclically: random so that no system gains
 * from compression (LevelDB compresses with Snappy), a pool so that generating
 * bodies costs nothing inside the timed loop. Body i is always at(i), which is
 * how the read workload checks what comes back.
 */
export class BodyPool {
  private readonly bodies: Buffer[];

  constructor(
    readonly bodyBytes: number,
    size = 4096,
  ) {
    this.bodies = Array.from({ length: size }, () => randomFillSync(Buffer.allocUnsafe(bodyBytes)));
  }

  at(i: number): Buffer {
    return this.bodies[i % this.bodies.length]!;
  }

  slice(start: number, n: number): Buffer[] {
    const out = new Array<Buffer>(n);
    for (let i = 0; i < n; i++) out[i] = this.at(start + i);
    return out;
  }
}

/**
 * Opens a store, runs `use`, and always closes it, so that a failed workload
 * leaves no lock or background timer behind for the rest of the run. When
 * `use` failed, its error is the one reported, not a close error after it.
 */
export async function withStore<T>(sys: System, dir: string, durable: boolean, use: (store: SystemStore) => Promise<T>): Promise<T> {
  const store = await sys.open(dir, durable);
  let result: T;
  try {
    result = await use(store);
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
  await store.close();
  return result;
}
