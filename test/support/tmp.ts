import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/** A fresh directory under the OS temp dir, removed by cleanup(). */
export function tmpDir(prefix = 'keelmq-test-'): { dir: string; cleanup(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
