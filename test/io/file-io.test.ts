import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { nodeFileIO } from '../../lib/io/node-file-io';
import { SimDisk } from '../../lib/io/sim-disk';
import { fileIoSuite } from './file-io-suite';

fileIoSuite('NodeFileIO', async () => {
  const root = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'keelmq-file-io-'));
  return { io: nodeFileIO, root, cleanup: () => fs.promises.rm(root, { recursive: true, force: true }) };
});

fileIoSuite('SimDisk', async () => ({ io: new SimDisk({ dirs: ['/data'] }), root: '/data', cleanup: async () => {} }));
