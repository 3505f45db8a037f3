// bin/tandem with random and mutated argument vectors: unknown commands and
// flags, missing values, bad numbers and addresses, random unicode, paths
// that do not exist, configuration directories full of garbage (binary
// files, directories, a FIFO, /dev/zero, symlink loops), key files that
// cannot be used, and run dirs whose socket answers nonsense. Every run
// ends by itself, with 0 for a valid vector or the CLI's 1 (operator error)
// or 2 (usage error), a short clear message on stderr, and never a stack
// trace or an internal error (70).
//
// No vector may be able to start a daemon or an arbiter: no valid
// configuration directory or key file is in the random pool (the valid
// ones below are used only with check-config and help).

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
// The tests run a private copy of bin/ and dist/ (see beforeAll): other
// test runs in this checkout rebuild dist/ while these ~200 processes start.
let TANDEM = join(ROOT, 'bin/tandem');
const SEED = 20261203;
const RUNS = 170;   // plus the fixed vectors: under a minute on two loaded cores
const HANG_MS = 15_000;

interface Run { args: string[]; code: number | null; signal: string | null; stdout: string; stderr: string; ms: number; hung: boolean }

function tandem(args: string[], cwd: string): Promise<Run> {
  const env = { ...process.env };
  delete env.TANDEM_DEBUG;   // it would add stacks on purpose
  const t0 = performance.now();
  return new Promise((res) => {
    const child = spawn(process.execPath, [TANDEM, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let hung = false;
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => { hung = true; child.kill('SIGKILL'); }, HANG_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      res({ args, code, signal, stdout, stderr, ms: performance.now() - t0, hung });
    });
  });
}

async function runAll(vectors: string[][], cwd: string, parallel = 4): Promise<Run[]> {
  const out: Run[] = new Array(vectors.length);
  let next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < vectors.length) {
      const i = next++;
      out[i] = await tandem(vectors[i]!, cwd);
    }
  }));
  return out;
}

const STACK = /^\s+at .*:\d+:\d+\)?$|\b(TypeError|ReferenceError|RangeError|SyntaxError|EvalError)\b|internal error|Uncaught|node:internal/m;

/** The failures the CLI promises: a clear message, no stack, no internal error, no hang. */
function checkRun(r: Run): void {
  const ctx = `tandem ${JSON.stringify(r.args)} -> exit ${r.code}${r.signal ? ` (${r.signal})` : ''}${r.hung ? ' HUNG' : ''}\n${r.stderr.slice(0, 2000)}`;
  expect(r.hung, ctx).toBe(false);
  expect(r.signal, ctx).toBeNull();
  expect([0, 1, 2], ctx).toContain(r.code);
  expect(r.stderr, ctx).not.toMatch(STACK);
  expect(r.stdout, ctx).not.toMatch(STACK);
  if (r.code === 0) return;
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  expect(lines.length, ctx).toBeGreaterThan(0);
  if (r.code === 2) {
    // commander: "error: ..." (maybe a "(Did you mean ...?)" hint), or the help of a command named without a subcommand
    if (lines[0]!.startsWith('Usage: ')) return;
    expect(lines[0], ctx).toMatch(/^error: \S/);
    expect(lines.length, ctx).toBeLessThanOrEqual(2);
    if (lines[1] !== undefined) expect(lines[1], ctx).toMatch(/^\(Did you mean .*\?\)$/);
  } else {
    // "tandem: ..." or a list of FILE[:LINE]: message issues, then (run, fence) "tandem: ... not valid"
    expect(lines.length, ctx).toBeLessThanOrEqual(200);
    for (const l of lines) expect(l, ctx).toMatch(/^(tandem: \S|.+?(:\d+)?: \S)/);
    for (const l of lines) expect(l.length, ctx).toBeLessThan(4000);
  }
}

describe('tandem command line under random arguments', () => {
  let work = '';
  const servers: net.Server[] = [];
  const p = (...parts: string[]) => join(work, ...parts);

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'tandem-fuzz-cli-'));
    // A snapshot of the build that loads completely (`--help` imports every
    // module), retried in case it was taken while dist/ was being rewritten.
    const snap = join(work, 'tandem');
    for (let attempt = 1; ; attempt++) {
      rmSync(snap, { recursive: true, force: true });
      for (const d of ['bin', 'dist', 'package.json']) cpSync(join(ROOT, d), join(snap, d), { recursive: true });
      symlinkSync(join(ROOT, 'node_modules'), join(snap, 'node_modules'));
      const check = spawnSync(process.execPath, [join(snap, 'bin/tandem'), '--help'], { encoding: 'utf8' });
      if (check.status === 0 && check.stderr === '') break;
      if (attempt === 5) throw new Error(`the build in dist/ does not load: ${check.stderr}`);
      await new Promise((r) => setTimeout(r, 2000));
    }
    TANDEM = join(snap, 'bin/tandem');
    const file = (path: string, data: string | Buffer, mode = 0o600) => {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, data, { mode });
      chmodSync(path, mode);
    };
    const junk = fc.sample(fc.uint8Array({ minLength: 0, maxLength: 4096 }), { seed: SEED, numRuns: 3 }).map((a) => Buffer.from(a));
    // a valid configuration (check-config and help only, never in the random pool)
    file(p('valid', 'ha.cf'), 'node alpha beta\nbcast eth0\nkeepalive 1\ndeadtime 10\n');
    file(p('valid', 'authkeys'), 'auth 1\n1 sha256 fuzz-secret\n');
    file(p('valid', 'haresources'), 'alpha IPaddr2::10.0.0.5/24/eth0\n');
    // garbage configuration directories
    mkdirSync(p('cfg-empty'));
    file(p('cfg-binary', 'ha.cf'), junk[0]!);
    file(p('cfg-binary', 'authkeys'), junk[1]!);
    file(p('cfg-binary', 'haresources'), junk[2]!);
    file(p('cfg-text', 'ha.cf'), 'node alpha\nbcast\nkeepalive -1\ndeadtime 1ms\nudpport 99999\nauto_failback maybe\n\u00e9\u0000\n');
    file(p('cfg-text', 'authkeys'), 'auth 9\n1 crc\n2 sha256\n');
    file(p('cfg-text', 'haresources'), 'alpha IPaddr2::999.1.1.1/99/eth0 no-such-script \\\n');
    file(p('cfg-mode', 'ha.cf'), 'node alpha beta\nbcast eth0\n');
    file(p('cfg-mode', 'authkeys'), 'auth 1\n1 sha256 x\n', 0o644);
    file(p('cfg-mode', 'haresources'), 'alpha 10.0.0.5\n');
    for (const f of ['ha.cf', 'authkeys', 'haresources']) {
      mkdirSync(p('cfg-dirs', f), { recursive: true });
      mkdirSync(p('cfg-loop'), { recursive: true });
      symlinkSync(f, p('cfg-loop', f));                       // a symlink to itself
      mkdirSync(p('cfg-dangling'), { recursive: true });
      symlinkSync(p('nowhere', f), p('cfg-dangling', f));
    }
    // the files a read never finishes on (regression: these hung check-config, run and fence)
    for (const d of ['cfg-fifo', 'cfg-zero']) {
      file(p(d, 'authkeys'), 'auth 1\n1 sha256 x\n');
      file(p(d, 'haresources'), 'alpha 10.0.0.5\n');
    }
    execFileSync('mkfifo', ['-m', '600', p('cfg-fifo', 'ha.cf')]);
    symlinkSync('/dev/zero', p('cfg-zero', 'ha.cf'));
    file(p('cfg-is-a-file'), 'node alpha beta\n');
    // key files the arbiter cannot use
    file(p('keys-open'), 'auth 1\n1 sha256 x\n', 0o644);
    file(p('keys-broken'), 'auth 1\n1 sha256\n');
    file(p('keys-crc'), 'auth 1\n1 crc\n');
    file(p('keys-binary'), junk[0]!);
    file(p('keys-empty'), '');
    execFileSync('mkfifo', ['-m', '600', p('keys-fifo')]);   // regression: hung `tandem arbiter`
    mkdirSync(p('keys-dir'), { mode: 0o700 });
    // run dirs: none, a plain file as the socket, sockets that answer nonsense or refuse
    mkdirSync(p('run-empty'));
    file(p('run-file', 'tandem.sock'), 'not a socket');
    for (const [d, reply] of [['run-garbage', 'garbage\n'], ['run-refuse', '{"ok":false,"error":"refused by the fuzz test"}\n'], ['run-empty-reply', ''],
      ['run-odd-status', '{"ok":true,"result":{}}\n']] as const) {
      mkdirSync(p(d));
      const s = net.createServer((c) => { c.on('error', () => undefined); c.on('data', () => c.end(reply)); });
      await new Promise<void>((r) => s.listen(p(d, 'tandem.sock'), () => r()));
      servers.push(s);
    }
  });

  afterAll(async () => {
    for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('valid vectors exit 0; the hanging inputs found by this test fail at once with a clear message', async () => {
    const valid = [
      ['--help'], ['-h'], ['help'], ['help', 'run'], ['run', '--help'], ['status', '-h'], ['arbiter', '--help'], ['fence', '--help'],
      ['authkeys', 'generate'], ['authkeys', 'generate', '--method', 'md5'], ['authkeys', 'generate', '--method=sha1'],
      ['check-config', '-c', p('valid')], ['check-config', `--config=${p('valid')}`, '--init-dir', p('nowhere')],
    ];
    const bad: Array<[string[], number, RegExp]> = [
      [['check-config', '-c', p('cfg-fifo')], 1, /cfg-fifo\/ha\.cf: cannot read: not a regular file$/m],
      [['check-config', '-c', p('cfg-zero')], 1, /cfg-zero\/ha\.cf: cannot read: not a regular file$/m],
      [['run', '-c', p('cfg-fifo'), '--state-dir', p('st'), '--run-dir', p('rd')], 1, /^tandem: configuration in .* is not valid; nothing started$/m],
      [['fence', 'beta', '-c', p('cfg-zero'), '--state-dir', p('st')], 1, /^tandem: configuration in .* is not valid; nothing fenced$/m],
      [['arbiter', '--listen', '127.0.0.1:0', '--state-dir', p('arb-state'), '--keys', p('keys-fifo')], 1, /^tandem: .*keys-fifo: cannot read: not a regular file$/m],
      [['arbiter', '--listen', '127.0.0.1:0', '--state-dir', p('arb-state'), '--keys', p('keys-dir')], 1, /^tandem: .*keys-dir: cannot read: not a regular file$/m],
      [['check-config', '-c', p('cfg-dirs')], 1, /cfg-dirs\/ha\.cf: cannot read: not a regular file$/m],
      [['status', '--run-dir', p('run-garbage')], 1, /^tandem: the daemon at .* sent a reply that is not JSON$/m],
      [['status', '--json', '--run-dir', p('run-refuse')], 1, /^tandem: refused by the fuzz test$/m],
      // regression: a status of the wrong shape (another version) was an internal error (exit 70)
      [['status', '--run-dir', p('run-odd-status')], 1, /^tandem: the daemon in .* sent a status report this tandem cannot read; try --json$/m],
      [['status', '--run-dir', p('run-file')], 1, /^tandem: cannot reach the daemon at .*: is the daemon running\? \(tandem run\)$/m],
      [['frobnicate'], 2, /^error: unknown command 'frobnicate'$/m],
      [['standby', 'sideways'], 2, /^error: command-argument value 'sideways' is invalid for argument 'which'\. Allowed choices are all, local, foreign, failback\.$/m],
      [['takeover', '--wait', '-1'], 2, /^error: option '--wait <seconds>' argument '-1' is invalid\. seconds, 0 to 3600$/m],
      [['cleanup', 'g1', '--run-dir', p('run-odd-status')], 1, /^tandem: the daemon in .* sent an answer this tandem cannot read$/m],
      [['standby', '--run-dir', p('run-refuse')], 1, /^tandem: refused by the fuzz test$/m],
      [['run', '-c'], 2, /^error: option '-c, --config <dir>' argument missing$/m],
      [['arbiter', '--listen'], 2, /^error: option '--listen <host:port>' argument missing$/m],
    ];
    const runs = await runAll([...valid, ...bad.map(([a]) => a)], work);
    for (const r of runs.slice(0, valid.length)) {
      checkRun(r);
      expect(r.code, `${JSON.stringify(r.args)}: ${r.stderr}`).toBe(0);
    }
    runs.slice(valid.length).forEach((r, i) => {
      checkRun(r);
      expect(r.code, JSON.stringify(r.args)).toBe(bad[i]![1]);
      expect(r.stderr, JSON.stringify(r.args)).toMatch(bad[i]![2]);
    });
    // A key file the arbiter cannot read never gets as far as creating the state dir.
    expect(existsSync(p('arb-state'))).toBe(false);
  }, 60_000);

  it(`${RUNS} random vectors: exit 0, 1 or 2, a clear message, no stack trace, no hang`, async () => {
    const t0 = performance.now();
    const PATHS = [
      'cfg-empty', 'cfg-binary', 'cfg-text', 'cfg-mode', 'cfg-dirs', 'cfg-loop', 'cfg-dangling', 'cfg-fifo', 'cfg-zero', 'cfg-is-a-file',
      'keys-open', 'keys-broken', 'keys-crc', 'keys-binary', 'keys-empty', 'keys-fifo', 'keys-dir',
      'run-empty', 'run-file', 'run-garbage', 'run-refuse', 'run-empty-reply', 'run-odd-status', 'nowhere', 'nowhere/deeper',
    ].map((x) => p(x)).concat(['', '.', '/', '/dev/null', '/dev/zero', '/proc/self/mem', 'relative/nowhere', '~', '-']);
    const COMMANDS = ['run', 'status', 'check-config', 'fence', 'arbiter', 'authkeys', 'help'];
    const FLAGS = [
      '-c', '--config', '--node', '--state-dir', '--run-dir', '--init-dir', '-d', '--debug', '--json', '--action', '--listen', '--wait',
      '--keys', '--method', '-h', '--help', '-V', '--version', '--', '-', '---', '-x', '--Config', '--no-json', '-cd', '-dc',
    ];
    const VALUES = [
      'generate', 'alpha', 'ALPHA', 'a b', 'a/b', '.alpha', 'x'.repeat(64), 'off', 'on', 'reboot', 'status', 'md5', 'crc', 'sha256',
      '0', '-1', '65536', '1e9', 'NaN', '0x10', 'Infinity', '127.0.0.1', '127.0.0.1:', '1.2.3.4:99999', '[::1]', '[::1]:70000',
      'host:7610', ':7610', '999.1.1.1:7610', '0.0.0.0:-1', '::1:7610', '127.0.0.1:7610:1',
    ];
    const unicode = fc.string({ unit: 'binary', maxLength: 24 }).map((s) => s.replace(/\0/g, ''));
    const pick = (xs: string[]) => fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...xs) }, { weight: 1, arbitrary: unicode });
    const ofKind = (prefix: string) => PATHS.filter((x) => x.startsWith(p(prefix)));
    const nowhere = [p('nowhere'), p('nowhere/deeper'), '', 'relative/nowhere'];

    // Two thirds of the vectors are shaped like a real command line (a command, its
    // own options with values from the pool, some forms broken), so most
    // get past the argument parser to the code behind it.
    const SPEC: Record<string, { positional?: fc.Arbitrary<string>; opts: Record<string, fc.Arbitrary<string> | null> }> = {
      run: { opts: { '-c': pick([...ofKind('cfg-'), ...nowhere]), '--node': pick(VALUES), '--state-dir': pick(PATHS), '--run-dir': pick(PATHS), '--init-dir': pick(PATHS), '-d': null } },
      status: { opts: { '--run-dir': pick([...ofKind('run-'), ...PATHS]), '--json': null } },
      'check-config': { opts: { '-c': pick([...ofKind('cfg-'), ...nowhere]), '--init-dir': pick(PATHS) } },
      fence: {
        positional: pick(['alpha', 'beta', 'ALPHA', 'a b', '-1', '']),
        opts: { '-c': pick([...ofKind('cfg-'), ...nowhere]), '--action': pick(['off', 'on', 'reboot', 'status', 'kill', '']), '--state-dir': pick(PATHS), '--init-dir': pick(PATHS) },
      },
      arbiter: { opts: { '--listen': pick(VALUES.filter((v) => /[.:]/.test(v))), '--state-dir': pick(nowhere), '--keys': pick([...ofKind('keys-'), ...nowhere, '/dev/zero', '/dev/null']) } },
      authkeys: { positional: pick(['generate', 'generate', 'list', '']), opts: { '--method': pick(['sha256', 'sha1', 'md5', 'crc', 'SHA256', '']) } },
      ...Object.fromEntries(['standby', 'takeover', 'cleanup'].map((cmd) => [cmd, {
        positional: pick(cmd === 'cleanup' ? ['g1', 'IPaddr2::10.0.0.1/24/eth0', '', '-x'] : ['all', 'local', 'foreign', 'failback', 'sideways', '']),
        opts: { '--run-dir': pick([...ofKind('run-'), ...PATHS]), '--wait': pick(['0', '1', '60', '-1', 'x', '3601', '1.5', '']) },
      }])),
    };
    const shaped = fc.constantFrom(...Object.keys(SPEC)).chain((cmd) => {
      const spec = SPEC[cmd]!;
      // the required options (-c, and all three of arbiter's) are left out only now and then
      const required = (f: string) => f === '-c' || cmd === 'arbiter';
      const opts = Object.entries(spec.opts).map(([f, v]) => fc.option(
        fc.tuple(fc.constant(f), v ?? fc.constant(''), fc.constantFrom('apart', 'apart', 'apart', 'apart', 'apart', 'joined', 'no-value', 'twice')),
        { freq: required(f) ? 12 : 2 }));
      return fc.tuple(fc.constant(cmd), spec.positional ? fc.option(spec.positional, { freq: 6 }) : fc.constant(null), fc.tuple(...opts), fc.oneof({ weight: 6, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom(...FLAGS) }));
    }).map(([cmd, pos, opts, extra]) => {
      const argv = [cmd];
      if (pos !== null) argv.push(pos);
      for (const o of opts) {
        if (o === null) continue;
        const [f, v, form] = o;
        const flagOnly = SPEC[cmd]!.opts[f] === null;
        if (flagOnly || form === 'no-value') argv.push(f);
        else if (form === 'joined') argv.push(`${f}=${v}`);
        else if (form === 'twice') argv.push(f, v, f, v);
        else argv.push(f, v);
      }
      if (extra !== null) argv.push(extra);
      return argv;
    });

    // The other third: anything at all from the pools.
    const flag = fc.constantFrom(...FLAGS);
    const value = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...VALUES) }, { weight: 3, arbitrary: fc.constantFrom(...PATHS) }, { weight: 1, arbitrary: unicode });
    const element = fc.oneof(
      { weight: 3, arbitrary: flag },
      { weight: 4, arbitrary: value },
      { weight: 1, arbitrary: fc.tuple(flag, value).map(([f, v]) => `${f}=${v}`) },
    );
    const command = fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom(...COMMANDS) },
      { weight: 1, arbitrary: fc.constantFrom('', 'RUN', 'stat', 'arbitre', 'check_config', 'authkeys generate', '-c') },
      { weight: 1, arbitrary: unicode },
    );
    const chaos = fc.tuple(command, fc.array(element, { maxLength: 7 })).map(([c, rest]) => [c, ...rest]);
    const vectors = fc.sample(fc.oneof({ weight: 2, arbitrary: shaped }, { weight: 1, arbitrary: chaos }), { seed: SEED + 1, numRuns: RUNS });
    const runs = await runAll(vectors, work);
    const codes: Record<string, number> = {};
    for (const r of runs) {
      checkRun(r);
      codes[String(r.code)] = (codes[String(r.code)] ?? 0) + 1;
    }
    const slowest = Math.max(...runs.map((r) => r.ms));
    console.log(`[fuzz-cli] ${runs.length} vectors, exit codes ${JSON.stringify(codes)}, ` +
      `${((performance.now() - t0) / 1000).toFixed(1)} s (slowest ${slowest.toFixed(0)} ms)`);
  }, 120_000);
});
