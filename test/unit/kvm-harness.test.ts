// The pure parts of the qemu harness (lab/kvm.ts): the initramfs archive and
// the boot modules' load order. The boot itself is exercised by
// test/netns/ipvs-kernel.test.ts, once per run.

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cpioNewc, loadOrder, readModulesDep } from '../../lab/kvm.js';
import { need } from '../helpers/tools.js';

const dir = mkdtempSync(join(tmpdir(), 'tdip-kvm-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('qemu harness', () => {
  it('writes a newc cpio that busybox cpio unpacks as written (modes, odd lengths)', () => {
    need('/bin/busybox');
    const archive = cpioNewc([
      { name: 'bin', mode: 0o40755 },
      { name: 'bin/x', mode: 0o100755, data: Buffer.from('#!/bin/sh\necho odd\n') },
      { name: 'y', mode: 0o100644, data: Buffer.alloc(4097, 7) },
      { name: 'empty', mode: 0o100600 },
    ]);
    const out = join(dir, 'unpacked');
    mkdirSync(out);
    execFileSync('/bin/busybox', ['cpio', '-i', '-d'], { cwd: out, input: archive, stdio: ['pipe', 'ignore', 'pipe'] });
    expect(readFileSync(join(out, 'bin/x'), 'utf8')).toBe('#!/bin/sh\necho odd\n');
    expect(readFileSync(join(out, 'y'))).toEqual(Buffer.alloc(4097, 7));
    expect(readFileSync(join(out, 'empty')).length).toBe(0);
    const listing = execFileSync('/bin/busybox', ['cpio', '-t'], { input: archive, stdio: ['pipe', 'pipe', 'pipe'] }).toString().trim().split('\n');
    expect(listing).toEqual(['bin', 'bin/x', 'y', 'empty']);
  });

  it('loads dependencies first, each module once, and skips what is built in', () => {
    const mods = join(dir, 'modules');
    mkdirSync(mods);
    writeFileSync(join(mods, 'modules.dep'), [
      'kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/netfs/netfs.ko',
      'kernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko kernel/drivers/virtio/virtio_ring.ko',
      'kernel/net/9p/9pnet.ko:',
      'kernel/fs/netfs/netfs.ko:',
      'kernel/drivers/virtio/virtio_ring.ko:',
      'kernel/fs/overlayfs/overlay.ko:',
    ].join('\n') + '\n');
    expect(loadOrder(readModulesDep(mods), ['virtio_pci', '9pnet_virtio', '9p', 'overlay'])).toEqual([
      'kernel/net/9p/9pnet.ko', 'kernel/drivers/virtio/virtio_ring.ko', 'kernel/net/9p/9pnet_virtio.ko',
      'kernel/fs/netfs/netfs.ko', 'kernel/fs/9p/9p.ko', 'kernel/fs/overlayfs/overlay.ko',
    ]);
  });
});
