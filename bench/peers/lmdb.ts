/**
 * lmdb (lmdb-js): keys are sequence numbers, values raw binary. Writes are
 * committed on lmdb-js's write thread; puts of one event turn share a
 * transaction, which is its group commit.
 */
import { open } from 'lmdb';
import * as path from 'node:path';
import type { System, SystemStore } from '../system';

export const lmdb: System = {
  name: 'lmdb',
  settings: {
    async: 'noSync (commits reach the OS, never fsynced)',
    sync: 'default durable commits, awaited until db.flushed',
    'per-put-fsync': 'default durable commits, awaited until db.flushed',
  },
  concurrentPuts: true,
  async open(dir: string, durable: boolean): Promise<SystemStore> {
    // By default (overlappingSync) a write's promise resolves at commit, before
    // the fsync; db.flushed resolves once every earlier commit is on disk, so
    // durable writes await it too. noSync turns the fsync off altogether.
    const db = open<Buffer, number>({ path: path.join(dir, 'bench.mdb'), encoding: 'binary', keyEncoding: 'uint32', noSync: !durable });
    let seq = 0;
    return {
      async appendBatch(bodies) {
        await db.transaction(() => {
          for (const body of bodies) void db.put(seq++, body);
        });
        if (durable) await db.flushed;
      },
      async append(body) {
        await db.put(seq++, body);
        if (durable) await db.flushed;
      },
      async readAll(visit) {
        for (const { value } of db.getRange({ start: 0 })) visit(value);
      },
      async close() {
        await db.close();
      },
    };
  },
};
