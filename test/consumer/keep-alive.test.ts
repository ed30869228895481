import { expect } from 'chai';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir } from '../support/tmp';

const CHILD = path.join(__dirname, 'keep-alive-child.js');

interface Outcome { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Runs the child to its end; kills it if it outlives `timeoutMs`. */
function run(dir: string, mode: string, timeoutMs = 15_000): Promise<Outcome> {
  const proc = spawn(process.execPath, [CHILD, dir, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  proc.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
  proc.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
  const killer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => proc.once('close', (code, signal) => {
    clearTimeout(killer);
    resolve({ code, signal, stdout, stderr });
  }));
}

describe('consumer - waiting keeps the process alive', function () {
  this.timeout(30_000);
  let tmp: ReturnType<typeof tmpDir>;
  beforeEach(() => { tmp = tmpDir('keelmq-keepalive-'); });
  afterEach(() => tmp.cleanup());

  for (const [mode, expected] of [['pull', 'got hello'], ['push', 'got hello'], ['close', 'woken CLIENT_STATE']] as const) {
    it(`keep-alive - a script that only ${mode === 'push' ? 'runs a push consumer' : 'awaits pullBlockIfNotFound'} stays alive until ${mode === 'close' ? 'the store is closed (which wakes the poll at once)' : 'a message arrives'}, then exits cleanly`, async () => {
      const r = await run(tmp.dir, mode);
      expect(r.stderr).to.equal('');
      const m = /^(.*) after (\d+) ms\n$/.exec(r.stdout);
      expect(m, `one line of output, got ${JSON.stringify(r.stdout)}`).to.not.equal(null);
      expect(m![1]).to.equal(expected);
      // It waited for the event 300 ms in, and no longer than it took to come (the poll's timeout is 60 s).
      expect(Number(m![2])).to.be.within(250, 10_000);
      expect(r.code).to.equal(0);
      expect(fs.existsSync(path.join(tmp.dir, 'abort')), 'the store was closed cleanly').to.equal(false);
    });
  }
});
