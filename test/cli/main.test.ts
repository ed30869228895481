import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir } from '../support/tmp';

const MAIN = path.resolve(__dirname, '../../lib/cli/main.js');

/** Runs the built `keelmq` command in `cwd`. */
function keelmq(cwd: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { cwd, encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('keelmq (CLI usage)', () => {
  let t: ReturnType<typeof tmpDir>;
  beforeEach(() => { t = tmpDir(); });
  afterEach(() => t.cleanup());

  it('cli - a missing option value is an error, never the next option taken as the value (regression: demo ran in a directory named --kill-after)', () => {
    const r = keelmq(t.dir, 'demo', '--dir', '--kill-after');
    expect(r.status).to.equal(2);
    expect(r.stderr).to.match(/^keelmq: .*--dir/).and.match(/Run "keelmq --help" for usage/);
    expect(fs.readdirSync(t.dir)).to.deep.equal([]);
  });

  it('cli - unknown commands and options, stray arguments and bad numbers exit 2 with the reason on stderr', () => {
    const cases: [string[], RegExp][] = [
      [['frobnicate'], /unknown command frobnicate/],
      [['demo', '--bogus', '1'], /--bogus/],
      [['demo', 'extra'], /unexpected argument extra/],
      [['demo', '--producers', 'abc'], /--producers must be a positive integer/],
      [['demo', '--kill-after', '0'], /--kill-after must be a positive integer/],
      [['demo', '--producers'], /--producers/],
      [['demo-writer'], /demo-writer needs --dir/],
    ];
    for (const [args, why] of cases) {
      const r = keelmq(t.dir, ...args);
      expect(r.status, args.join(' ')).to.equal(2);
      expect(r.stderr, args.join(' ')).to.match(why);
      expect(r.stdout, args.join(' ')).to.equal('');
    }
    expect(fs.readdirSync(t.dir)).to.deep.equal([]);
  });

  it('cli - --help and -h print the usage and exit 0, for the command and for demo; no command prints it and exits 2', () => {
    for (const args of [['--help'], ['-h'], ['help'], ['demo', '--help'], ['demo', '-h']]) {
      const r = keelmq(t.dir, ...args);
      expect(r.status, args.join(' ')).to.equal(0);
      expect(r.stdout, args.join(' ')).to.match(/^keelmq — .*\n\nUsage: keelmq <command>/);
    }
    const none = keelmq(t.dir);
    expect(none.status).to.equal(2);
    expect(none.stdout).to.match(/Usage: keelmq <command>/);
  });

  it('cli - audit: an empty directory or a folder that is not a store is reported as such, exit 2 (regression: "ok: 0 records")', () => {
    const empty = keelmq(t.dir, 'audit', t.dir);
    expect(empty.status).to.equal(2);
    expect(empty.stdout).to.equal('');
    expect(empty.stderr).to.match(/is not a keelmq store/);
    fs.writeFileSync(path.join(t.dir, 'notes.txt'), 'hello');
    fs.mkdirSync(path.join(t.dir, 'photos'));
    const foreign = keelmq(t.dir, 'audit', '--json', t.dir);
    expect(foreign.status).to.equal(2);
    expect(foreign.stderr).to.match(/is not a keelmq store/);
    expect(keelmq(t.dir, 'audit').status).to.equal(2);
    expect(keelmq(t.dir, 'audit', t.dir, t.dir).stderr).to.match(/unexpected argument/);
  });
});
