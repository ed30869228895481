import { expect } from 'chai';
import { runAndKillWriter } from '../../lib/cli/demo';

describe('keelmq demo', () => {
  it('demo - every ack line the writer printed is counted, also those still unread when it was killed (regression: counted at exit, not at the end of its output)', async () => {
    const N = 5000;
    // The ack lines come from a grandchild sharing the writer's stdout, after the writer is killed:
    // they are in the pipe only once the writer is gone, as the last lines of a killed writer are.
    const writer = `
      const { spawn } = require('child_process');
      spawn(process.execPath, ['-e', "setTimeout(() => { for (let i = 0; i < ${N}; i++) process.stdout.write('ack g-' + i + ' ' + (i % 4) + ' ' + i + '\\\\n'); }, 300)"], { stdio: ['ignore', 'inherit', 'inherit'] });
      process.stdout.write('ready 4096\\n');
      setInterval(() => undefined, 1000);
    `;
    const run = await runAndKillWriter([process.execPath, '-e', writer], 20);
    expect(run).to.not.equal(null);
    expect(run!.startOffset).to.equal(4096);
    expect(run!.acked.size).to.equal(N);
    expect(run!.acked.get(`g-${N - 1}`)).to.deep.equal({ queueId: (N - 1) % 4, queueOffset: N - 1 });
  });

  it('demo - a writer that exits before it is ready is reported, not waited for', async () => {
    expect(await runAndKillWriter([process.execPath, '-e', 'process.exit(3)'], 20)).to.equal(null);
  });
});
