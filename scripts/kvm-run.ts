// node dist/scripts/kvm-run.js [--timeout SECONDS] [--mem MiB] [--env NAME=VALUE]... -- COMMAND [ARGS...]
//
// Runs COMMAND as root in a throwaway qemu guest booting Debian's stock
// kernel (lab/kvm.ts): the host's root read-only with a tmpfs overlay, the
// same working directory. Prints the command's stdout and stderr and exits
// with its code (124: timed out, 125: the guest gave no exit code). For
// capturing golden bytes and trying things by hand; the kernel tests call
// lab/kvm.ts directly.

import { runInGuest } from '../lab/kvm.js';

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  let timeoutMs = 300_000;
  let memMiB: number | undefined;
  const env: Record<string, string> = {};
  while (args.length && args[0] !== '--') {
    const opt = args.shift()!;
    const val = args.shift();
    if (val === undefined) throw new Error(`${opt} needs a value`);
    if (opt === '--timeout') timeoutMs = Number(val) * 1000;
    else if (opt === '--mem') memMiB = Number(val);
    else if (opt === '--env' && val.includes('=')) env[val.slice(0, val.indexOf('='))] = val.slice(val.indexOf('=') + 1);
    else throw new Error(`unknown option ${opt} (usage: kvm-run [--timeout S] [--mem MiB] [--env N=V] -- COMMAND...)`);
  }
  args.shift();
  if (!args.length) throw new Error('usage: kvm-run [--timeout S] [--mem MiB] [--env N=V] -- COMMAND...');
  const r = await runInGuest(args, { timeoutMs, env, ...(memMiB ? { memMiB } : {}) });
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  process.stderr.write(`kvm-run: exit ${r.code}, ${r.accel}, ${(r.wallMs / 1000).toFixed(1)} s\n`);
  return r.code;
}

main().then((code) => process.exit(code), (e: unknown) => {
  process.stderr.write(`kvm-run: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(125);
});
