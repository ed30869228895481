/**
 * hypercore 11: an append-only log (signed Merkle tree) stored in RocksDB via
 * hypercore-storage. Its writes use RocksDB's default write options (WAL
 * written, not fsynced) and its API offers no way to ask for an fsync, so
 * only the async rows are run: there is no honest durable mode to compare.
 */
import Hypercore from 'hypercore';
import type { System, SystemStore } from '../system';

export const hypercore: System = {
  name: 'hypercore',
  settings: {
    async: 'defaults (RocksDB WAL written, never fsynced)',
  },
  concurrentPuts: false,
  async open(dir: string, durable: boolean): Promise<SystemStore> {
    if (durable) throw new Error('hypercore has no durable (fsync) mode');
    const core = new Hypercore(dir);
    await core.ready();
    return {
      async appendBatch(bodies) {
        await core.append(bodies as Buffer[]);
      },
      async append(body) {
        await core.append(body);
      },
      async readAll(visit) {
        for await (const block of core.createReadStream()) visit(block as Buffer);
      },
      async close() {
        await core.close();
      },
    };
  },
};
