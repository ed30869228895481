import { MessageStore } from '../../lib/store/message-store';
import type { StoreOptions } from '../../lib/store/options';
import { EmbeddedBroker, type BrokerOptions } from '../../lib/consumer/embedded-broker';
import type { Clock } from '../../lib/common/clock';

/**
 * Store options for tests on a virtual clock: small segments, and the store's
 * own timers (flush, checkpoint) rare, so that advancing hours of virtual time
 * runs the consumer layer's timers, not thousands of fsyncs.
 */
export function testStoreOptions(clock: Clock): Partial<StoreOptions> {
  return {
    clock,
    commitLogSegmentSize: 1 << 20,
    maxBodySize: 64 * 1024,
    checkpointIntervalMs: 3_600_000,
    asyncFlushIntervalMs: 3_600_000,
    asyncFlushThoroughIntervalMs: 3_600_000,
  };
}

export interface Opened { store: MessageStore; broker: EmbeddedBroker; close(): Promise<void> }

export async function openBroker(dir: string, clock: Clock, options: Partial<BrokerOptions> = {}): Promise<Opened> {
  const store = await MessageStore.open(dir, testStoreOptions(clock));
  const broker = await EmbeddedBroker.open(store, options);
  return { store, broker, async close() { await broker.close(); await store.close(); } };
}

/** Waits in real time for something the consumer layer does asynchronously. */
export async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

export function sleep(ms: number): Promise<void> { return new Promise((r) => setTimeout(r, ms)); }
