import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { tmpDir } from '../support/tmp';

const ROOT = path.resolve(__dirname, '../../..');

/** Runs `npm run lint:deps`'s dependency-cruiser, with the project's rules, on the tree in `cwd`. */
function cruise(cwd: string): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [
    '--require', path.join(ROOT, 'tools/lint/typescript-5.cjs'),
    path.join(ROOT, 'tools/lint/node_modules/dependency-cruiser/bin/dependency-cruise.mjs'),
    '--config', path.join(ROOT, '.dependency-cruiser.cjs'), 'lib',
  ], { cwd, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, out: r.stdout + r.stderr };
}

describe('dependency rules (npm run lint:deps)', () => {
  it('deps - imports against the source layout fail the check, each under its rule; allowed ones pass', function () {
    this.timeout(60_000);
    const t = tmpDir();
    try {
      const files: Record<string, string> = {
        'tsconfig.json': JSON.stringify({ compilerOptions: { module: 'node16', moduleResolution: 'node16', strict: true } }),
        'lib/common/errors.ts': 'export class KeelError extends Error {}\n',
        'lib/common/bad.ts': "import { log } from '../store/log';\nexport const bad = log;\n",
        'lib/io/file.ts': "import { KeelError } from '../common/errors';\nexport const file = KeelError;\n",
        'lib/consumer/topics.ts': "import { log } from '../store/log';\nexport const topics = log;\n",
        'lib/store/log.ts': "import { KeelError } from '../common/errors';\nexport const log = KeelError;\n",
        'lib/store/bad.ts': "import { topics } from '../consumer/topics';\nexport const bad = topics;\n",
        'lib/io/bad.ts': "import { log } from '../store/log';\nexport const io = log;\n",
        'lib/client/core.ts': "import { log } from '../store/log';\nexport const core = log;\n",
        'lib/client/in-process-transport.ts': "import { topics } from '../consumer/topics';\nexport const local = topics;\n",
        'lib/namesrv/routes.ts': "import { KeelError } from '../common/errors';\nimport { log } from '../store/log';\nexport const routes = [KeelError, log];\n",
      };
      for (const [f, text] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(t.dir, f)), { recursive: true });
        fs.writeFileSync(path.join(t.dir, f), text);
      }
      const r = cruise(t.dir);
      expect(r.status, r.out).to.not.equal(0);
      const errors = r.out.split('\n').filter((l) => /^\s*error /.test(l)).map((l) => l.trim()).sort();
      expect(errors).to.deep.equal([
        'error client-core-no-store: lib/client/core.ts → lib/store/log.ts',
        'error common-is-a-leaf: lib/common/bad.ts → lib/store/log.ts',
        'error io-only-common: lib/io/bad.ts → lib/store/log.ts',
        'error namesrv-remoting-only: lib/namesrv/routes.ts → lib/store/log.ts',
        'error store-not-upward: lib/store/bad.ts → lib/consumer/topics.ts',
      ]);
    } finally {
      t.cleanup();
    }
  });
});
