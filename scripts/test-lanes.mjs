#!/usr/bin/env node
// The last step of `npm test`: the two vitest projects (vitest.config.ts) in
// two processes at once. One vitest process runs projects one after the
// other, and on a 2-core machine one file at a time: the namespace tests
// (mostly waiting on real time) and the simulator (one busy core) then take
// the sum of their times instead of the longer one. Each line is prefixed
// with its lane; the exit status is the first failing lane's.
// Arguments go to both lanes (file filters, -t ...).

import { execFileSync, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const vitest = resolve(root, 'node_modules/vitest/vitest.mjs');

// Built once here: the lanes' global setup skips its own build, so two
// compilers never write dist/ at the same time.
try {
  execFileSync(process.execPath, [resolve(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
} catch {
  process.stderr.write('test-lanes: the build failed; no tests run\n');
  process.exit(1);
}

function lane(name) {
  const started = Date.now();
  const child = spawn(process.execPath, [vitest, 'run', '--project', name, '--passWithNoTests', ...process.argv.slice(2)], {
    cwd: root,
    env: { ...process.env, TANDEM_TEST_BUILT: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tag = `${name.padEnd(5)} | `;
  for (const [stream, out] of [[child.stdout, process.stdout], [child.stderr, process.stderr]]) {
    createInterface({ input: stream }).on('line', (line) => out.write(`${tag}${line}\n`));
  }
  return new Promise((done) => {
    child.on('close', (code, signal) => done({ name, code: code ?? (signal ? 128 : 1), seconds: Math.round((Date.now() - started) / 1000) }));
  });
}

const results = await Promise.all([lane('netns'), lane('rest')]);
for (const r of results) process.stdout.write(`lane ${r.name}: ${r.code === 0 ? 'passed' : `FAILED (exit ${r.code})`} in ${r.seconds} s\n`);
process.exit(results.find((r) => r.code !== 0)?.code ?? 0);
