/**
 * classic-level (LevelDB): keys are 8-byte big-endian sequence numbers so that
 * key order is append order. LevelDB merges concurrent writers into one log
 * write (and one fsync when sync is set), its group commit.
 */
import { ClassicLevel } from 'classic-level';
import * as path from 'node:path';
import type { System, SystemStore } from '../system';

function key(seq: number): Buffer {
  const k = Buffer.allocUnsafe(8);
  k.writeBigUInt64BE(BigInt(seq));
  return k;
}

export const classicLevel: System = {
  name: 'classic-level',
  settings: {
    async: 'sync:false',
    sync: 'sync:true',
    'per-put-fsync': 'sync:true',
  },
  concurrentPuts: true,
  async open(dir: string, durable: boolean): Promise<SystemStore> {
    const db = new ClassicLevel<Buffer, Buffer>(path.join(dir, 'bench.level'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
    const options = { sync: durable };
    let seq = 0;
    return {
      async appendBatch(bodies) {
        await db.batch(
          bodies.map((value) => ({ type: 'put' as const, key: key(seq++), value })),
          options,
        );
      },
      async append(body) {
        await db.put(key(seq++), body, options);
      },
      async readAll(visit) {
        const it = db.values();
        try {
          for (;;) {
            const values = await it.nextv(1000);
            if (values.length === 0) break;
            for (const v of values) visit(v);
          }
        } finally {
          await it.close();
        }
      },
      async close() {
        await db.close();
      },
    };
  },
};
