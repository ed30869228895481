/**
 * Replication rows: puts on an embedded SYNC-flush store with no replication, as an
 * ASYNC_MASTER and as a SYNC_MASTER whose slave runs in a child process over loopback
 * (lib/ha). Each row also reports the slave's lag under that load, sampled every 50 ms, in
 * the mode column and the JSON's `extra`.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MessageStore } from '../lib/store/message-store';
import { HAMaster, type MasterRole } from '../lib/ha/ha-master';
import { silentLogger } from '../lib/remoting/logger';
import type { Budget } from './loops';
import { concurrentPuts } from './loops';
import type { Progress } from './progress';
import { formatBytes, metricsOf, type Row } from './stats';
import type { BodyPool, SystemStore } from './system';

export type ReplicationMode = 'none' | MasterRole;

const SLAVE = path.join(__dirname, 'replication-slave.js');
const SEGMENT = 64 * 1024 * 1024;

/**
 * The slave's store goes to memory (/dev/shm) when there is one, standing in for the slave
 * machine's own disk: on the master's disk, the slave's writes allocate blocks that ext4
 * (data=ordered) flushes with every master fdatasync, which measures a shared disk, not
 * replication.
 */
function slaveDir(dir: string): string {
  return fs.existsSync('/dev/shm') ? fs.mkdtempSync('/dev/shm/keelmq-bench-slave-') : path.join(dir, 'slave');
}

export async function replicatedPuts(dir: string, mode: ReplicationMode, producers: number, pool: BodyPool, budget: Budget, progress: Progress): Promise<Row> {
  fs.rmSync(dir, { recursive: true, force: true });
  const store = await MessageStore.open(path.join(dir, 'master'), { flushMode: 'SYNC', commitLogSegmentSize: SEGMENT });
  let master: HAMaster | null = null;
  let child: ReturnType<typeof spawn> | null = null;
  const lag = { samples: 0, bytesSum: 0, bytesMax: 0, msMax: 0, msSum: 0 };
  let sampler: NodeJS.Timeout | null = null;
  const sdir = slaveDir(dir);
  try {
    if (mode !== 'none') {
      master = await HAMaster.start(store, { role: mode, port: 0, logger: silentLogger });
      child = spawn(process.execPath, [SLAVE, sdir, master.address()], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve, reject) => {
        child!.stdout!.once('data', () => resolve());
        child!.once('exit', (c) => reject(new Error(`the bench slave exited (${c})`)));
      });
      const m = master;
      while (m.stats().slaves.every((s) => s.ackOffset < 0)) await new Promise((r) => setTimeout(r, 10));
      sampler = setInterval(() => {
        const s = m.stats().slaves[0];
        if (!s) return;
        lag.samples++;
        lag.bytesSum += s.lagBytes;
        lag.msSum += s.lagMs;
        lag.bytesMax = Math.max(lag.bytesMax, s.lagBytes);
        lag.msMax = Math.max(lag.msMax, s.lagMs);
      }, 50);
    }
    const puts: SystemStore = {
      append: async (b) => {
        const r = await store.put({ topic: 'bench', body: b });
        if (r.status !== 'PUT_OK') throw new Error(`put at ${r.physicalOffset} answered ${r.status}`);
      },
      appendBatch: () => Promise.reject(new Error('not used')),
      readAll: () => Promise.reject(new Error('not used')),
      close: () => Promise.resolve(),
    };
    const m = await concurrentPuts(puts, pool, producers, budget, progress);
    const extra: Record<string, unknown> = {};
    if (lag.samples > 0) {
      extra.lagBytesMean = Math.round(lag.bytesSum / lag.samples);
      extra.lagBytesMax = lag.bytesMax;
      extra.lagMsMean = Math.round(lag.msSum / lag.samples);
      extra.lagMsMax = lag.msMax;
    }
    const how = mode === 'none' ? 'no replication hook' : `slave in a child process over loopback (store in /dev/shm)`;
    const lagText = lag.samples > 0 ? `; lag mean ${formatBytes(extra.lagBytesMean as number)} / ${extra.lagMsMean as number} ms, max ${formatBytes(lag.bytesMax)} / ${lag.msMax} ms` : '';
    progress.note(`replication ${mode} ×${producers}${lagText}`);
    return { system: 'keelmq', workload: 'append', flush: 'sync', bodyBytes: pool.bodyBytes, producers, mode: `replication ${mode}: put, ${how}`, ...metricsOf(m), extra };
  } finally {
    if (sampler) clearInterval(sampler);
    if (child) {
      child.kill('SIGTERM');
      await new Promise((r) => child!.once('exit', r));
    }
    await master?.close();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(sdir, { recursive: true, force: true });
  }
}
