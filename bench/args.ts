// The benchmarks' command lines: `--name VALUE` pairs from a fixed list;
// anything else is a usage error (exit 2) that names the benchmark.

export function benchUsage(bench: string, usage: string, msg: string): never {
  console.error(`${bench}: ${msg}\n${usage}`);
  process.exit(2);
}

/** --name VALUE pairs, each name one of `options`. */
export function parseBenchArgs(bench: string, usage: string, options: readonly string[], argv: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const a = argv[i]!;
    if (!a.startsWith('--') || !options.includes(a.slice(2))) benchUsage(bench, usage, `unknown argument '${a}'`);
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) benchUsage(bench, usage, `${a} needs a value`);
    out.set(a.slice(2), v);
  }
  return out;
}
