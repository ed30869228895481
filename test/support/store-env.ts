import * as path from 'path';
import type { MessageStore } from '../../lib/store/message-store';
import type { MessageExt } from '../../lib/common/message';
import type { FileIO } from '../../lib/io/file-io';
import { nodeFileIO } from '../../lib/io/node-file-io';
import { SimDisk } from '../../lib/io/sim-disk';
import { tmpDir } from './tmp';

/** A place to put a store: a directory on some disk, and a way to throw it away. */
export interface StoreEnv {
  io: FileIO;
  dir: string;
  cleanup(): void;
}

export type EnvFactory = () => StoreEnv;

export const realDisk: EnvFactory = () => {
  const t = tmpDir();
  return { io: nodeFileIO, dir: path.join(t.dir, 'store'), cleanup: t.cleanup };
};

export const simDisk: EnvFactory = () => ({ io: new SimDisk({ dirs: ['/data'] }), dir: '/data/store', cleanup: () => undefined });

/** Both disks: the store's behaviour must be the same on each. */
export const DISKS: [string, EnvFactory][] = [['real disk', realDisk], ['simulated disk', simDisk]];

/** Removes a directory tree through a FileIO (SimDisk has no rm -rf). */
export async function removeTree(io: FileIO, dir: string): Promise<void> {
  const st = await io.stat(dir);
  if (!st) return;
  if (!st.isDirectory) { await io.unlink(dir); return; }
  for (const name of await io.readdir(dir)) await removeTree(io, path.join(dir, name));
  await io.rmdir(dir);
}

/** Options that make segments tiny, so every test rolls CommitLog and ConsumeQueue files. */
export const SMALL = {
  commitLogSegmentSize: 64 * 1024,
  consumeQueueEntries: 256,
  maxBodySize: 16 * 1024,
  maxPropertiesLength: 4096,
} as const;

/** Every message of a queue from its minimum on, read `batch` at a time. */
export async function readQueue(store: MessageStore, topic: string, queueId: number, batch = 256): Promise<MessageExt[]> {
  const out: MessageExt[] = [];
  let off = store.getMinOffsetInQueue(topic, queueId);
  for (;;) {
    const r = await store.getMessages(topic, queueId, off, batch);
    if (r.status !== 'FOUND') break;
    out.push(...r.messages);
    off = r.nextBeginOffset;
  }
  return out;
}
