// The import rules of .dependency-cruiser.cjs (docs/architecture.md, "Import
// rules"): no cycles in src/ and arbiter/, pure machines reach no I/O,
// only config/files.ts touches the disk in src/config, and status, metrics,
// the path monitor, the day-2 commands and the CLI read the engine only
// through its views (node/view.ts). `npm test` runs the
// same check on the tree before vitest; here it also runs on small trees
// that break each rule, so a rule that stopped matching would be noticed.

import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DEPCRUISE = join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');

// The folders and flags exactly as `npm run check:imports` passes them.
const CHECK_ARGS = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> })
  .scripts['check:imports']!.split(/\s+/).slice(1);

function depcruise(cwd: string): Promise<{ code: number; out: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [DEPCRUISE, ...CHECK_ARGS], { cwd }, (err, stdout, stderr) => {
      done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: `${stdout}${stderr}` });
    });
  });
}

const dirs: string[] = [];
/** A throw-away tree with the project's rules and tsconfig, holding `files`. */
function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-imports-'));
  dirs.push(dir);
  copyFileSync(join(ROOT, '.dependency-cruiser.cjs'), join(dir, '.dependency-cruiser.cjs'));
  copyFileSync(join(ROOT, 'tsconfig.json'), join(dir, 'tsconfig.json'));
  const placeholders = { 'src/util/errors.ts': 'export const w = 1;\n', 'arbiter/machine.ts': 'export const x = 1;\n', 'lab/sh.ts': 'export const y = 1;\n', 'bench/x.ts': 'export const z = 1;\n' };
  for (const [path, text] of Object.entries({ ...placeholders, ...files })) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

describe('import rules (dependency-cruiser)', () => {
  it('the tree keeps them', async () => {
    const r = await depcruise(ROOT);
    expect(r.out).toContain('no dependency violations found');
    expect(r.code).toBe(0);
  });

  it('a cycle fails, naming every module on it', async () => {
    const r = await depcruise(tree({
      'src/a/one.ts': "import { two } from '../b/two.js';\nexport const one = () => two;\n",
      'src/b/two.ts': "import type { Three } from './three.js';\nexport const two: Three | 2 = 2;\n",
      'src/b/three.ts': "import { one } from '../a/one.js';\nexport type Three = ReturnType<typeof one>;\n",
    }));
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/error no-circular: src\/a\/one\.ts → \s*src\/b\/two\.ts →\s*src\/b\/three\.ts →\s*src\/a\/one\.ts/);
  });

  it('a cycle in the test lab fails too, even through a type-only import', async () => {
    const r = await depcruise(tree({
      'lab/pair.ts': "import { start } from './heartbeat.js';\nexport class Pair { run() { start(this); } }\n",
      'lab/heartbeat.ts': "import type { Pair } from './pair.js';\nexport function start(p: Pair): void { void p; }\n",
    }));
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/error no-circular: lab\/(pair|heartbeat)\.ts/);
  });

  it("a pure machine importing node:fs fails, naming the import", async () => {
    const r = await depcruise(tree({
      'src/membership/machine.ts': "import { readFileSync } from 'node:fs';\nexport const f = () => readFileSync('/x');\n",
    }));
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('error pure-no-io: src/membership/machine.ts → fs');
  });

  it('a pure machine reaching I/O through an adapter module fails; a type-only import does not', async () => {
    const r = await depcruise(tree({
      'src/transport/udp.ts': "import { createSocket } from 'node:dgram';\nexport type Medium = 'udp';\nexport const open = () => createSocket('udp4');\n",
      'src/node/engine.ts': "import { open } from '../transport/udp.js';\nexport const e = open;\n",
      'src/quorum/lease.ts': "import type { Medium } from '../transport/udp.js';\nexport const m: Medium = 'udp';\n",
    }));
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('error pure-imports-pure: src/node/engine.ts → src/transport/udp.ts');
    expect(r.out).not.toContain('src/quorum/lease.ts');
  });

  it('status or the CLI reaching into a machine fails, even for a type; reading through node/view.ts does not', async () => {
    const r = await depcruise(tree({
      'src/membership/machine.ts': 'export interface MembershipState { seq: number }\n',
      'src/node/engine.ts': "import type { MembershipState } from '../membership/machine.js';\nexport interface EngineState { m: MembershipState }\n",
      'src/node/view.ts': "import type { EngineState } from './engine.js';\nexport const readEngine = (e: EngineState) => ({ seq: e.m.seq });\n",
      'src/daemon/status.ts': "import type { EngineState } from '../node/engine.js';\nexport const seq = (e: EngineState) => e.m.seq;\n",
      'src/daemon/metrics.ts': "import { readEngine } from '../node/view.js';\nexport const m = readEngine;\n",
      'src/cli/format.ts': "import type { MembershipState } from '../membership/machine.js';\nexport const f = (m: MembershipState) => m.seq;\n",
    }));
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('error engine-read-through-views: src/daemon/status.ts → src/node/engine.ts');
    expect(r.out).toContain('error engine-read-through-views: src/cli/format.ts → src/membership/machine.ts');
    expect(r.out).not.toContain('src/daemon/metrics.ts →');
  });

  it('the daemon stepping or reading the engine itself fails; through the runtime and node/view.ts it does not', async () => {
    const r = await depcruise(tree({
      'src/node/engine.ts': 'export interface EngineState { n: number }\nexport const engineStep = (e: EngineState) => e.n;\n',
      'src/node/view.ts': "import type { EngineState } from './engine.js';\nexport const hotRead = (e: EngineState) => e.n;\n",
      'src/node/runtime.ts': "import { engineStep, type EngineState } from './engine.js';\nexport const submit = (e: EngineState) => engineStep(e);\n",
      'src/daemon/daemon.ts': "import { engineStep } from '../node/engine.js';\nimport { submit } from '../node/runtime.js';\nimport { hotRead } from '../node/view.js';\nexport const d = [engineStep, submit, hotRead];\n",
    }));
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('error daemon-drives-through-the-runtime: src/daemon/daemon.ts → src/node/engine.ts');
    expect(r.out).not.toContain('src/daemon/daemon.ts → src/node/runtime.ts');
    expect(r.out).not.toContain('src/daemon/daemon.ts → src/node/view.ts');
  });

  it('a config parser reading a file itself fails: only config/files.ts may', async () => {
    const r = await depcruise(tree({
      'src/config/files.ts': "import { readFileSync } from 'node:fs';\nexport const read = (f: string) => readFileSync(f);\n",
      'src/config/load.ts': "import { statSync } from 'node:fs';\nimport { read } from './files.js';\nexport const l = (f: string) => statSync(f) && read(f);\n",
    }));
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('error config-reads-in-one-place: src/config/load.ts → fs');
    expect(r.out).not.toContain('src/config/files.ts →');
  });
});
