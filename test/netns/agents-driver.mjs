// Runs inside a test namespace (`ip netns exec NS node agents-driver.mjs DIST`)
// and drives the compiled agents over stdin/stdout, one JSON object per line:
//   {"id":1,"op":"agent","method":"start","resource":{"spec":..,"agent":..,"args":[..]}}
//   {"id":2,"op":"nl","method":"addAddress","args":["va","10.210.7.9",24]}
//   {"id":3,"op":"route","method":"addRoute","owner":"vrrp:A","spec":{"dst":"10.0.9.0","dstLen":24},"where":"k.conf:3"}
//   {"id":4,"op":"watch"}  then every kernel link/address event as {"event":{..}}
//   {"id":5,"op":"behind-view","run":["ip","addr","del",..],"input":"..","then":{"op":"agent",..}}  (input, then: optional)
// answers {"id":1,"ok":true,"value":..} or {"id":1,"ok":false,"error":msg,"name":..,"code":..};
// agent log lines arrive as {"log":[level,msg]}. EOF on stdin closes the handle and exits.
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { closeSync, openSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const dist = process.argv[2];
if (!dist) {
  process.stderr.write('usage: agents-driver.mjs <compiled output dir>\n');
  process.exit(2);
}
const agents = await import(pathToFileURL(join(dist, 'src/agents/index.js')).href);
const net = await import(pathToFileURL(join(dist, 'src/net/index.js')).href);
const send = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const ctx = {
  configDir: '/nonexistent-tandem-config',
  initDir: '/nonexistent-tandem-init',
  scriptTimeoutMs: 5000,
  log: (level, msg) => send({ log: [level, msg] }),
};
let core = net.NetCore.open();
let watcher;
const byspec = new Map();
const held = [];

async function handle(cmd) {
  switch (cmd.op) {
    case 'agent': {
      const key = `${cmd.owner ?? ''}\n${cmd.resource.spec}`;
      let a = byspec.get(key);
      if (!a) {
        a = agents.createAgent(cmd.resource, ctx, core, cmd.owner);
        byspec.set(key, a);
      }
      return a[cmd.method]();
    }
    case 'nl':
      return core.nl[cmd.method](...(cmd.args ?? []));
    case 'route':
      // {"op":"route","method":"addRoute"|"removeRoute","owner":..,"spec":..,"where":..}
      if (cmd.method !== 'addRoute' && cmd.method !== 'removeRoute') throw new Error(`unknown route method ${cmd.method}`);
      return core[cmd.method](cmd.owner, cmd.spec, ctx.log, cmd.where);
    case 'track':
      await core.trackInterfaces();
      return null;
    case 'watch':
      watcher ??= core.watch((event) => send({ event }));
      return null;
    case 'behind-view':
      // {"op":"behind-view","run":[argv..],"then":{..}}: a change made while the
      // event loop cannot read the kernel's events (the command runs
      // synchronously), so the interface view has not heard it when `then` runs.
      execFileSync(cmd.run[0], cmd.run.slice(1), cmd.input === undefined ? {} : { input: cmd.input });
      return cmd.then ? handle(cmd.then) : null;
    case 'reopen':
      core.close();
      core = net.NetCore.open();
      byspec.clear();
      return null;
    case 'exhaust-fds': {
      // Uses up every free descriptor (as 20,000 idle control clients once
      // did), so the next socket(2) fails with EMFILE; 'release-fds' gives
      // them back.
      for (;;) {
        try { held.push(openSync('/dev/null', 'r')); } catch (e) {
          if (e.code === 'EMFILE' || e.code === 'ENFILE') return held.length;
          throw e;
        }
      }
    }
    case 'release-fds':
      for (const fd of held.splice(0)) closeSync(fd);
      return null;
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const cmd = JSON.parse(line);
  handle(cmd).then(
    (value) => send({ id: cmd.id, ok: true, value: value ?? null }),
    (e) => send({ id: cmd.id, ok: false, error: e.message, name: e.name, code: e.code }),
  );
});
rl.on('close', () => {
  watcher?.close();
  core.close();
  // Pending GARP timers are unref'd; nothing else keeps the process alive.
});
