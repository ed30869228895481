/**
 * The part of the durable-position tests that follows a failed write cut back at `cutAt`: the
 * next puts must take the same offsets, and in SYNC mode what is written but not yet fsynced stays
 * invisible. Shared by the main-thread I/O and the read-window tests, which reach the cut by
 * different paths.
 */
import { expect } from 'chai';
import type { PutResult } from '../../lib/common/message';
import type { MessageStore } from '../../lib/store/message-store';
import type { FlushMode } from '../../lib/store/options';

/** Waits up to 1,000 event-loop turns for `cond`. */
export async function untilTurns(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setImmediate(r));
  expect(cond()).to.equal(true);
}

export interface CutBack {
  store: MessageStore;
  mode: FlushMode;
  topic: string;
  /** Where the failed write was cut back to: the end of the last acknowledged record. */
  cutAt: number;
  /** Holds fsyncs (SYNC mode) so that written-but-unflushed can be looked at. */
  holdSyncs(on: boolean): void;
  body(i: number): string | Buffer;
}

/** Puts 10 messages after the cut; checks what is visible before their fsync; returns their results. */
export async function putAgainAfterCutBack(c: CutBack): Promise<PutResult[]> {
  const { store, cutAt } = c;
  if (c.mode === 'SYNC') c.holdSyncs(true);
  const pending = store.putBatch(Array.from({ length: 10 }, (_, i) => ({ topic: c.topic, queueId: 0, body: c.body(i) })));
  let acked: PutResult[] | null = null;
  void pending.then((r) => { acked = r; });
  await untilTurns(() => store.stats().writtenOffset > cutAt);
  if (c.mode === 'SYNC') {
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(acked).to.equal(null);
    expect(store.stats().flushedOffset).to.equal(cutAt);
    expect(await store.getMessage(cutAt), 'a record written but not flushed in SYNC mode').to.equal(null);
    expect((await store.getMessages(c.topic, 0, 20, 32)).status).to.equal('NO_NEW_MSG');
    c.holdSyncs(false);
  }
  const second = await pending;
  expect(second[0]!.physicalOffset).to.equal(cutAt);
  return second;
}
