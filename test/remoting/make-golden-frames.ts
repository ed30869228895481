/**
 * Writes fixtures/remoting/*.bin from golden-frames.ts. The committed files are what the codec test
 * reads back; rewrite them only on purpose:
 *   npm run build && node dist/test/remoting/make-golden-frames.js
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { goldenFrames } from './golden-frames';

export const GOLDEN_DIR = path.resolve(__dirname, '../../../fixtures/remoting');

if (require.main === module) {
  fs.mkdirSync(GOLDEN_DIR, { recursive: true });
  for (const [name, bytes] of Object.entries(goldenFrames())) fs.writeFileSync(path.join(GOLDEN_DIR, `${name}.bin`), bytes);
  console.log(`wrote ${Object.keys(goldenFrames()).length} frames to ${GOLDEN_DIR}`);
}
