// Integration tests run bin/tandem, which runs dist/: build once before any
// test file starts, so no test exercises stale output.

import { execFileSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  // scripts/test-lanes.mjs built it once for both of its lanes.
  if (process.env.TANDEM_TEST_BUILT === '1') return;
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  try {
    execFileSync(process.execPath, [resolve(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: root, stdio: 'pipe' });
  } catch (e) {
    const err = e as { stdout?: Buffer; stderr?: Buffer };
    throw new Error(`build failed before tests:\n${err.stdout?.toString() ?? ''}${err.stderr?.toString() ?? ''}`);
  }
}
