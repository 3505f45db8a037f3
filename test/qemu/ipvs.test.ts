// IPVS over generic netlink in a Debian kernel under qemu (this machine's
// kernel has no IPVS), one guest boot (lab/qemu/kvm-run.sh) running
// test/qemu/ipvs-guest.mjs: tandem programs a NAT service (wrr 2:1) and a
// fwmark service with persistence; `ipvsadm -Ln` reads back the same; the
// traffic is balanced; after a crash and someone's edits, a restart adopts
// the services (no duplicate), restores weights, removes the stray
// destination and leaves an administrator's own service alone; a graceful
// stop takes out only tandem's.

import { execFile } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { need } from '../helpers/tools.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
type Step = { step: string; [k: string]: unknown };
let steps: Step[] = [];
let output = '';

beforeAll(async () => {
  need('qemu-system-x86_64', '/bin/busybox', 'ipvsadm', 'xz', '/usr/bin/python3');
  const t0 = Date.now();
  output = await new Promise<string>((done) => {
    execFile(join(ROOT, 'lab/qemu/kvm-run.sh'), ['--timeout', '400', '--', process.execPath, join(ROOT, 'test/qemu/ipvs-guest.mjs')],
      { cwd: ROOT, timeout: 450_000, maxBuffer: 4 << 20 }, (err, stdout, stderr) => done(`${stdout}${err ? `\n(exit: ${err.message})\n${stderr}` : ''}`));
  });
  steps = output.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Step);
  console.log(`one qemu boot with the IPVS checks: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}, 480_000);

const step = (name: string): Step => {
  const s = steps.find((x) => x.step === name);
  if (!s) throw new Error(`the guest did not get to '${name}':\n${output}`);
  return s;
};

const SERVICES = [
  { service: 'TCP 10.160.21.100:80 wrr', dests: ['10.160.22.11:80 Masq 2', '10.160.22.12:80 Masq 1'] },
  { service: 'FWM 1 sh persistent 30 mask 255.255.255.0', dests: ['10.160.22.11:0 Masq 1', '10.160.22.12:0 Masq 1'] },
];

describe('IPVS over generic netlink (Debian kernel under qemu)', () => {
  it('tandem picks IPVS where the kernel has it and programs it over genl: ipvsadm -Ln reads back the same services', () => {
    const s = step('programmed');
    expect(s.backend).toBe('ipvs');
    expect(s.ipvsadm).toEqual(SERVICES);
    expect(s.tandem).toEqual(['10.160.22.11:80 2', '10.160.22.12:80 1']);
  });

  it('traffic through the VIP is balanced 2:1, and status shows the kernel\'s connection counters', () => {
    expect(step('traffic')).toMatchObject({ counts: { r1: 20, r2: 10 }, failed: 0 });
    expect(step('counters').tandem).toEqual([20, 10]);
  });

  it('after a crash and edits by hand, a restart adopts the services without duplicates, restores them, and leaves a foreign service alone', () => {
    const crashed = step('after-crash').ipvsadm as typeof SERVICES;
    expect(crashed[0]!.dests).toContain('10.160.22.12:80 Masq 9');
    expect(crashed[0]!.dests).toContain('10.160.22.99:80 Masq 1');
    const bySvc = (a: { service: string }, b: { service: string }) => (a.service < b.service ? -1 : 1);
    expect([...(step('reconciled').ipvsadm as typeof SERVICES)].sort(bySvc)).toEqual([...SERVICES, { service: 'TCP 10.160.21.200:80 rr', dests: [] }].sort(bySvc));
    expect(step('traffic-after-restart')).toMatchObject({ counts: { r1: 20, r2: 10 }, failed: 0 });
  });

  it('a graceful stop removes tandem\'s services only', () => {
    expect(step('stopped').ipvsadm).toEqual([{ service: 'TCP 10.160.21.200:80 rr', dests: [] }]);
  });
});
