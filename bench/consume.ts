/**
 * End-to-end consumer-layer workload: embedded producers send into a 4-queue
 * topic while a push consumer of one group consumes it. Throughput is messages
 * over the time from the first send to the last listener call; latency is from
 * the start of a send to the listener call that gets the message, so it holds
 * the put (and its fsync in SYNC mode), the dispatch, the arrival wake-up, the
 * read and the consume pool.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { MessageStore } from '../lib/store/message-store';
import { EmbeddedBroker } from '../lib/consumer/embedded-broker';
import { ConsumeStatus, PushConsumer } from '../lib/client/push-consumer';
import { metricsOf, now, secondsSince, type Row } from './stats';
import { Producer } from '../lib/client/producer';

export interface ConsumeBenchOptions {
  /** Parent of the temporary data directories (default the OS temp dir). */
  dir?: string;
  /** Messages per run (default 20,000). */
  messages?: number;
  bodyBytes?: number[];
  flush?: ('async' | 'sync')[];
  /** Concurrent send loops (default 16). */
  producers?: number;
  /** Listener calls running at once (default 20, the consumer's default). */
  consumeConcurrency?: number;
}

/** A result row of the shared shape, for the consumer-layer workload. */
export type ConsumeRow = Row & { system: 'keelmq'; workload: 'consume'; flush: 'async' | 'sync' };

const TOPIC = 'bench';
const QUEUES = 4;

export async function runConsumeBench(opts: ConsumeBenchOptions = {}): Promise<ConsumeRow[]> {
  const rows: ConsumeRow[] = [];
  for (const flush of opts.flush ?? ['async', 'sync']) {
    for (const bodyBytes of opts.bodyBytes ?? [128, 1024]) {
      rows.push(await runOne(flush, bodyBytes, opts));
    }
  }
  return rows;
}

export async function runOne(flush: 'async' | 'sync', bodyBytes: number, opts: ConsumeBenchOptions): Promise<ConsumeRow> {
  const total = opts.messages ?? 20_000;
  const producers = opts.producers ?? 16;
  const concurrency = opts.consumeConcurrency ?? 20;
  if (bodyBytes < 4) throw new RangeError('bodyBytes must be at least 4 (the message index is in the body)');
  const dir = fs.mkdtempSync(path.join(opts.dir ?? os.tmpdir(), 'keelmq-consume-bench-'));
  const store = await MessageStore.open(dir, { flushMode: flush === 'sync' ? 'SYNC' : 'ASYNC', commitLogSegmentSize: 256 * 1024 * 1024 });
  try {
    const broker = await EmbeddedBroker.open(store);
    await broker.createTopic(TOPIC, QUEUES);
    const sentAt = new Array<bigint>(total);
    const latenciesNs: number[] = [];
    let consumed = 0;
    let allConsumed!: () => void;
    const done = new Promise<void>((r) => { allConsumed = r; });
    const consumer = new PushConsumer(broker, {
      group: 'bench',
      consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
      consumeConcurrency: concurrency,
      listener: (msgs) => {
        const t = now();
        for (const m of msgs) {
          latenciesNs.push(Number(t - sentAt[m.body.readUInt32BE(0)]!));
          if (++consumed === total) allConsumed();
        }
        return ConsumeStatus.CONSUME_SUCCESS;
      },
    }).subscribe(TOPIC);
    await consumer.start();
    const producer = new Producer(broker);
    const template = Buffer.alloc(bodyBytes, 0x61);
    let next = 0;
    const start = now();
    await Promise.all(Array.from({ length: producers }, async () => {
      while (next < total) {
        const i = next++;
        const body = Buffer.from(template);
        body.writeUInt32BE(i, 0);
        sentAt[i] = now();
        const r = await producer.send({ topic: TOPIC, body });
        if (r.status !== 'SEND_OK') throw new Error(`send ${i} returned ${r.status}`);
      }
    }));
    await done;
    const seconds = secondsSince(start);
    await broker.close();
    return {
      system: 'keelmq', workload: 'consume', flush, bodyBytes, producers,
      mode: `embedded producer -> push consumer, ${QUEUES} queues, ${concurrency} consume slots, batch 1`,
      ...metricsOf({ messages: total, bodyBytes, seconds, latenciesNs }),
    };
  } finally {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  runConsumeBench({ messages: Number(process.env.MESSAGES ?? 20_000) }).then((rows) => {
    for (const r of rows) console.log(JSON.stringify(r));
  }).catch((e) => { console.error(e); process.exit(1); });
}
