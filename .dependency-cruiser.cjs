// Import rules that `npm test` enforces (docs/architecture.md, "Import rules").
// Run by hand: npx depcruise src arbiter
//
// Type-only imports count for cycles (a circle of types still ties the
// modules together for a reader and for every refactoring) but not for
// purity (they are erased: no I/O can run through them).

/** Modules without I/O: the decision machines `(state, event, now) -> (state, effects)`, codecs and parsers. */
const PURE = [
  '^src/membership/',
  '^src/resources/',
  '^src/node/',
  '^src/runtime/driver[.]ts$',
  '^src/heartbeat/',
  '^src/quorum/(decide|lease|report|protocol|backend|endpoints|view)[.]ts$',
  '^src/ping/tracker[.]ts$',
  '^src/fencing/(policy|view)[.]ts$',
  '^src/transport/(gate|serial-frame)[.]ts$',
  '^src/config/(types|common|time|diff|haresources|quorum|keywords|media|metrics|keepalived-lexer)[.]ts$',
  '^src/vrrp/config[.]ts$',
  '^src/util/(crc|duration|errors|ratelimit)[.]ts$',
  '^src/timeline/(model|svg)[.]ts$',
  '^src/net/(addr|rtnetlink|frames|registry|vip|nft|ipvs-codec|ipvs-reconcile|lvs-nft)[.]ts$',
  '^src/vrrp/packet[.]ts$',
  '^arbiter/machine[.]ts$',
  '^src/ping/pinger[.]ts$',
  '^src/vrrp/(instance|sync-group)[.]ts$',
  '^src/lvs/(config|checker|pool|metrics)[.]ts$',
];

/** What reaches the disk, the network, processes or the kernel. */
const IO = [
  '^(node:)?(dgram|fs|fs/promises|child_process|net|os|cluster|worker_threads|http|https|perf_hooks)$',
  '^node_modules/(classic-level|level|abstract-level|serialport|@serialport|raw-socket)/',
  '^node_modules/tandem-native/',
  '^native/',
];

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Import cycles in src/, arbiter/ and the test lab (lab/, bench/) are not allowed: move the shared part (often a type) to a module both can import.',
      from: { path: '^(src|arbiter|lab|bench)/' },
      to: { circular: true },
    },
    {
      name: 'pure-no-io',
      severity: 'error',
      comment: 'A pure machine must not import an I/O module; take the fact as an event or return an effect instead.',
      from: { path: PURE },
      to: { path: IO, dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'pure-imports-pure',
      severity: 'error',
      comment: 'A pure machine may import only other pure modules (the PURE list in .dependency-cruiser.cjs); anything else may reach I/O.',
      from: { path: PURE },
      to: { path: '^(src|arbiter)/', pathNot: PURE, dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'engine-read-through-views',
      severity: 'error',
      comment: 'Status, metrics, the path monitor, the day-2 commands and the CLI read the engine only through node/view.ts (frozen views each machine builds); they hold it as an EngineHandle and never import a machine or its state types, not even for types.',
      from: { path: ['^src/daemon/(status|paths|operator|metrics)[.]ts$', '^src/cli/'] },
      to: { path: ['^src/node/engine[.]ts$', '^src/membership/machine[.]ts$', '^src/resources/machine[.]ts$', '^src/fencing/policy[.]ts$', '^src/quorum/(decide|lease)[.]ts$'] },
    },
    {
      name: 'daemon-drives-through-the-runtime',
      severity: 'error',
      comment: 'The daemon is a host of node/runtime.ts: it steps the engine through NodeRuntime and reads it through node/view.ts, never through the engine or the machines directly.',
      from: { path: '^src/daemon/daemon[.]ts$' },
      to: { path: ['^src/node/engine[.]ts$', '^src/membership/machine[.]ts$', '^src/resources/machine[.]ts$', '^src/fencing/policy[.]ts$', '^src/quorum/decide[.]ts$'] },
    },
    {
      name: 'config-reads-in-one-place',
      severity: 'error',
      comment: 'In src/config/ only files.ts touches the file system or the host; parsers take text and facts.',
      from: { path: '^src/config/', pathNot: '^src/config/files[.]ts$' },
      to: { path: '^(node:)?(fs|fs/promises|os|child_process)$', dependencyTypesNot: ['type-only'] },
    },
  ],
  options: {
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
  },
};
