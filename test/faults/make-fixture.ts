/**
 * Writes the golden store of this format version, deterministically (virtual
 * clock, fixed hosts and born times), and the manifest of every message in it.
 * The committed copy in fixtures/ is read back by fixture.test: a change of the
 * on-disk format, or of how it is read, fails there.
 *
 *   npm run build && node dist/test/faults/make-fixture.js   (rewrites fixtures/store-v1*)
 */
import * as fs from 'fs';
import * as path from 'path';
import { MessageStore } from '../../lib/store/message-store';
import { VirtualClock } from '../../lib/common/clock';
import type { Message, MessageExt } from '../../lib/common/message';
import type { StoreOptions } from '../../lib/store/options';

export const FIXTURE_NAME = 'store-v1';

/** 4 KiB CommitLog segments and 16-entry ConsumeQueue files keep the committed files to a few KiB. */
export function fixtureOptions(clock: VirtualClock): Partial<StoreOptions> {
  return {
    clock, flushMode: 'SYNC', commitLogSegmentSize: 4096, consumeQueueEntries: 16,
    maxBodySize: 1024, maxTopicLength: 64, maxPropertiesLength: 512, storeHost: '10.0.0.7:10911',
    // Only the checkpoints of open and close: a timed one would race the real disk and make the file depend on timing.
    checkpointIntervalMs: 24 * 3_600_000,
  };
}

/** Every field a reader must keep stable, as JSON (bodies in hex). */
export function manifestOf(m: MessageExt): Record<string, unknown> {
  return {
    topic: m.topic, queueId: m.queueId, queueOffset: m.queueOffset, physicalOffset: m.physicalOffset, storeSize: m.storeSize,
    body: m.body.toString('hex'), bodyCRC: m.bodyCRC, flag: m.flag, sysFlag: m.sysFlag, bornTimestamp: m.bornTimestamp,
    bornHost: m.bornHost, storeTimestamp: m.storeTimestamp, storeHost: m.storeHost, reconsumeTimes: m.reconsumeTimes,
    preparedTransactionOffset: m.preparedTransactionOffset, properties: m.properties, tags: m.tags ?? null, keys: m.keys, msgId: m.msgId,
  };
}

function messages(): Message[] {
  const out: Message[] = [];
  for (let i = 0; i < 24; i++) {
    const m: Message = {
      topic: i % 3 === 2 ? 'Fixture_Other' : 'FooBar',
      queueId: i % 3 === 2 ? 0 : i % 2,
      // Bodies of every length class: empty, text, binary, near the segment's rest.
      body: i === 0 ? Buffer.alloc(0) : i % 5 === 0 ? Buffer.from(Array.from({ length: 700 + i }, (_, k) => (k * 31 + i) & 255)) : `message ${i} — ünïcödé ✓`,
      bornTimestamp: 1_600_000_000_000 + i,
      bornHost: '192.168.1.20:5000' ,
      flag: i,
      reconsumeTimes: i % 4,
    };
    if (i % 2 === 0) m.tags = `TAG${i % 3}`;
    if (i % 3 === 0) m.keys = [`key-${i}`, 'shared'];
    if (i % 4 === 1) m.properties = { color: 'blue', 'x-ünï': '✓' };
    if (i === 7) m.tagsCode = 1_600_000_010_000;
    out.push(m);
  }
  return out;
}

/** Writes the store into `dir` (which must not hold one) and returns the manifest of what it holds. */
export async function writeFixtureStore(dir: string): Promise<Record<string, unknown>[]> {
  const clock = new VirtualClock(1_650_000_000_000);
  const store = await MessageStore.open(dir, fixtureOptions(clock));
  const msgs = messages();
  for (const m of msgs.slice(0, 20)) {
    await store.put(m);
    await clock.advance(1000);
  }
  await store.putBatch(msgs.slice(20));
  const manifest: Record<string, unknown>[] = [];
  for (const topic of store.topics().sort()) {
    for (const q of store.queueIds(topic)) {
      const r = await store.getMessages(topic, q, 0, 100);
      manifest.push(...r.messages.map(manifestOf));
    }
  }
  await store.close();
  // The lock file is the live process's, not part of the format.
  fs.rmSync(path.join(dir, 'lock'), { force: true });
  return manifest;
}

async function main(): Promise<void> {
  const root = path.resolve(__dirname, '../../../fixtures');
  const dir = path.join(root, FIXTURE_NAME);
  fs.rmSync(dir, { recursive: true, force: true });
  const manifest = await writeFixtureStore(dir);
  fs.writeFileSync(path.join(root, `${FIXTURE_NAME}.json`), JSON.stringify(manifest, null, 1) + '\n');
  console.log(`wrote ${dir} (${manifest.length} messages)`);
}

if (require.main === module) {
  main().catch((e: unknown) => { console.error(e); process.exit(1); });
}
