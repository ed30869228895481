import { expect } from 'chai';
import { spawn, type ChildProcess } from 'child_process';
import * as path from 'path';
import { MessageStore } from '../../lib/store/message-store';
import { KeelError } from '../../lib/common/errors';
import { tmpDir } from '../support/tmp';

describe('store - directory lock', () => {
  let child: ChildProcess | null = null;
  const t = tmpDir();
  after(() => {
    child?.kill('SIGKILL');
    t.cleanup();
  });

  it('store - a second process opening the same directory fails at once with STORE_LOCKED', async () => {
    const dir = path.join(t.dir, 'store');
    const lib = path.resolve(__dirname, '../../lib/index.js');
    // The other process opens the store and keeps it open until killed.
    child = spawn(process.execPath, ['-e', `require(${JSON.stringify(lib)}).MessageStore.open(${JSON.stringify(dir)}).then(() => console.log('open'), (e) => { console.error(e); process.exit(1); }); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child!.stdout!.on('data', (d) => { if (String(d).includes('open')) resolve(); });
      child!.on('exit', (code) => reject(new Error(`child exited with ${code}`)));
    });
    const started = Date.now();
    let err: unknown = null;
    try {
      const s = await MessageStore.open(dir);
      await s.close();
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(KeelError);
    expect((err as KeelError).code).to.equal('STORE_LOCKED');
    expect((err as KeelError).message).to.contain(dir);
    expect(Date.now() - started).to.be.below(2000);
    // Once the holder is gone (even killed), the directory opens again.
    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
    child = null;
    const s = await MessageStore.open(dir);
    expect(s.recovery.clean).to.equal(false);
    await s.close();
  });
});
