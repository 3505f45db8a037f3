'use strict';
// Builds the addon with node-gyp against the headers of the Node that runs
// this script. node-gyp otherwise downloads them from the internet, which
// fails on a machine without that access; every Node install tandem supports
// (NodeSource/Debian packages, official tarballs, nvm) ships them as
// <prefix>/include/node next to <prefix>/bin/node.
const { spawnSync } = require('node:child_process');
const { existsSync, readFileSync } = require('node:fs');
const path = require('node:path');

/** The install prefix whose include/node matches this Node's version, if any. */
function localHeaders(execPath, version) {
  const prefix = path.resolve(path.dirname(execPath), '..');
  const inc = path.join(prefix, 'include', 'node');
  try {
    if (!existsSync(path.join(inc, 'common.gypi'))) return undefined;
    const h = readFileSync(path.join(inc, 'node_version.h'), 'utf8');
    const part = (n) => (h.match(new RegExp(`#define NODE_${n}_VERSION (\\d+)`)) || [])[1];
    return `${part('MAJOR')}.${part('MINOR')}.${part('PATCH')}` === version ? prefix : undefined;
  } catch {
    return undefined;
  }
}

function main() {
  const args = ['rebuild'];
  // An explicit --nodedir (npm config or environment) wins.
  if (!process.env.npm_config_nodedir) {
    const prefix = localHeaders(process.execPath, process.versions.node);
    if (prefix) args.push(`--nodedir=${prefix}`);
    else process.stderr.write(`tandem-native: no headers for Node ${process.versions.node} under ${path.resolve(path.dirname(process.execPath), '..', 'include', 'node')}; node-gyp will try to download them\n`);
  }
  // npm sets npm_config_node_gyp to its own node-gyp for install scripts.
  const gyp = process.env.npm_config_node_gyp;
  const r = gyp
    ? spawnSync(process.execPath, [gyp, ...args], { stdio: 'inherit', cwd: __dirname })
    : spawnSync('node-gyp', args, { stdio: 'inherit', cwd: __dirname });
  if (r.error) {
    process.stderr.write(`tandem-native: cannot run node-gyp: ${r.error.message}\n`);
    process.exit(1);
  }
  process.exit(r.status ?? 1);
}

if (require.main === module) main();
module.exports = { localHeaders };
