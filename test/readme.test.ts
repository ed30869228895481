import { expect } from 'chai';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '../..');

/** The README's runnable examples: ```js blocks that start with `// example: <name>`. */
function examples(): { name: string; code: string }[] {
  const md = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const out: { name: string; code: string }[] = [];
  for (const m of md.matchAll(/```js\n(\/\/ example: (\S+)\n[\s\S]*?)```/g)) out.push({ name: m[2], code: m[1] });
  return out;
}

describe('README examples', () => {
  const list = examples();
  it('readme - has runnable examples', () => {
    expect(list.length).to.be.greaterThan(0);
  });
  for (const ex of list) {
    it(`readme - example "${ex.name}" runs and prints what its comments say`, function () {
      this.timeout(30_000);
      // Inside the package, so that require('keelmq') resolves to this build.
      const file = path.join(ROOT, 'dist', `readme-example-${ex.name}.js`);
      fs.writeFileSync(file, ex.code);
      try {
        const stdout = execFileSync(process.execPath, [file], { cwd: ROOT, encoding: 'utf8' });
        const expected = ex.code.split('\n').filter((l) => /console\.log\(.*\/\/ /.test(l)).map((l) => l.slice(l.lastIndexOf('// ') + 3).trim());
        const actual = stdout.split('\n').filter((l) => l.length > 0).map((l) => l.trim());
        expect(actual).to.deep.equal(expected);
      } finally {
        fs.rmSync(file, { force: true });
      }
    });
  }
});
