// Socket handles of tandem-native after close: a second close, a send, and
// the garbage collection of the JS handle all find the handle's memory
// still there (marked closed). Before, the raw and VRRP sockets freed it at
// the first close while the JS external still pointed at it (a read after
// free on every later use, seen with a trace of the handle's address).
// Run in a child with --expose-gc, so a crash fails the test, not vitest.

import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

const ADDON = createRequire(import.meta.url).resolve('tandem-native');

describe('tandem-native handles after close', () => {
  it('raw and VRRP sockets: close twice, send after close, collected after close', () => {
    const code = `
      const n = require(${JSON.stringify(ADDON)});
      const out = [];
      const r = n.rawOpen(1, () => {});
      const [v] = n.vrrpOpen({ family: 4, ifname: 'lo' }, () => {});
      n.rawClose(r); n.vrrpClose(v);
      // After libuv's close callbacks have run (the point where the memory used to go).
      setTimeout(() => {
        n.rawClose(r); n.vrrpClose(v);
        for (const [name, f] of [['rawSend', () => n.rawSend(r, Buffer.alloc(8), '127.0.0.1')], ['vrrpSend', () => n.vrrpSend(v, Buffer.alloc(8), '224.0.0.18')]]) {
          try { f(); out.push(name + ': sent'); } catch (e) { out.push(name + ': ' + e.message); }
        }
        // Many handles opened, closed and dropped: their finalizers free what the close left.
        for (let i = 0; i < 200; i++) { const h = n.rawOpen(1, () => {}); n.rawClose(h); }
        setTimeout(() => { globalThis.gc(); globalThis.gc(); console.log(out.join('\\n')); }, 20);
      }, 20);`;
    const res = spawnSync(process.execPath, ['--expose-gc', '-e', code], { encoding: 'utf8', timeout: 20_000 });
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    expect(res.stdout.trim().split('\n')).toEqual([
      'rawSend: rawSend(open handle, buffer, ipv4)',
      'vrrpSend: vrrpSend(open handle, buffer <= 8 KiB, dst, src?)',
    ]);
  });
});
