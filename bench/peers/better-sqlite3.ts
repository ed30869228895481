/**
 * better-sqlite3 in WAL mode, one row per message. Its API is synchronous, so
 * concurrent producers cannot share a commit: only single-producer rows run.
 */
import Database from 'better-sqlite3';
import * as path from 'node:path';
import type { System, SystemStore } from '../system';

export const betterSqlite3: System = {
  name: 'better-sqlite3',
  settings: {
    async: 'WAL, synchronous=OFF',
    sync: 'WAL, synchronous=FULL',
    'per-put-fsync': 'WAL, synchronous=FULL, each INSERT its own transaction',
  },
  concurrentPuts: false,
  async open(dir: string, durable: boolean): Promise<SystemStore> {
    const db = new Database(path.join(dir, 'bench.db'));
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${durable ? 'FULL' : 'OFF'}`);
    db.exec('CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, topic TEXT NOT NULL, queue INTEGER NOT NULL, body BLOB NOT NULL)');
    const insert = db.prepare('INSERT INTO messages (topic, queue, body) VALUES (?, ?, ?)');
    const insertMany = db.transaction((bodies: readonly Buffer[]) => {
      for (const body of bodies) insert.run('bench', 0, body);
    });
    return {
      async appendBatch(bodies) {
        insertMany(bodies);
      },
      async append(body) {
        // Outside a transaction each INSERT is its own transaction, so one commit (and fsync) per message.
        insert.run('bench', 0, body);
      },
      async readAll(visit) {
        for (const body of db.prepare('SELECT body FROM messages ORDER BY id').pluck().iterate()) visit(body as Buffer);
      },
      async close() {
        db.close();
      },
    };
  },
};
