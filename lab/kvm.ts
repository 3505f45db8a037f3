// A throwaway qemu guest running Debian's stock kernel, for the tests that
// need kernel features this machine's kernel lacks (IPVS). The guest sees
// the host's root file system read-only over virtio-9p with a tmpfs overlay
// on top (writes work and vanish at power-off), runs one command as root in
// the caller's directory, and hands back its stdout, stderr and exit code
// through a second, writable 9p share: 9p writes are synchronous, so nothing
// written before power-off is lost, which a virtio console does not promise.
//
// The kernel is `linux-image-amd64`'s current dependency, fetched once with
// apt-get download into a cache outside the clone (TANDEM_KVM_CACHE,
// default /var/cache/tandem-kvm) so CI runs after the first skip the 70 MB
// download and the extraction. The uncompressed vmlinux is cut out of the
// bzImage once: qemu boots it through its PVH note, which skips the
// real-mode path and the in-guest decompression (~3.5 s a boot under TCG).
//
// Accelerator: KVM only where the CPU has vmx/svm and /dev/kvm is not
// kvm_pvm (a PVM /dev/kvm, as on this workplace's machines, cannot run a
// stock kernel: qemu aborts or the guest hangs); otherwise TCG.

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';

export const DEFAULT_CACHE = '/var/cache/tandem-kvm';
const BUSYBOX = '/bin/busybox';
const QEMU = 'qemu-system-x86_64';
/** What stage 1 loads to reach the host's root; their dependencies come along. */
const BOOT_MODULES = ['virtio_pci', '9pnet_virtio', '9p', 'overlay'];

/** Tools the harness itself needs on the host, and their Debian packages. */
export const GUEST_HOST_TOOLS: Array<[tool: string, pkg: string]> = [
  [QEMU, 'qemu-system-x86'],
  [BUSYBOX, 'busybox-static'],
  ['dpkg-deb', 'dpkg'],
  ['xz', 'xz-utils'],
];

export interface GuestKernel {
  pkg: string;
  version: string;
  /** vmlinux (PVH) when it could be extracted, else the bzImage. */
  image: string;
  moduleDir: string;
  initrd: string;
}

export interface GuestRunOptions {
  timeoutMs?: number;
  memMiB?: number;
  cpus?: number;
  /** Extra environment for the command (the guest gets PATH, HOME, LANG, TANDEM_KVM_GUEST=1 and these). */
  env?: Record<string, string>;
  cwd?: string;
  cache?: string;
}

export interface GuestRun {
  code: number;          // the command's exit code; 124 timed out; 125 the guest gave none
  stdout: string;
  stderr: string;
  console: string;       // the guest's serial console (kernel messages, stage markers)
  timedOut: boolean;
  accel: 'kvm' | 'tcg';
  wallMs: number;
}

class KvmError extends Error {}

function run(cmd: string, args: string[], opts: { cwd?: string; input?: Buffer; maxBuffer?: number; timeoutMs?: number } = {}): { code: number; stdout: Buffer; stderr: string } {
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd, input: opts.input, maxBuffer: opts.maxBuffer ?? 16 << 20, timeout: opts.timeoutMs ?? 300_000,
    stdio: [opts.input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  if (r.error && (r.error as NodeJS.ErrnoException).code !== 'ENOBUFS') throw new KvmError(`${cmd}: ${r.error.message}`);
  return { code: r.status ?? 1, stdout: r.stdout ?? Buffer.alloc(0), stderr: r.stderr?.toString() ?? '' };
}

function onPath(tool: string): boolean {
  const dirs = tool.startsWith('/') ? [''] : [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
  return dirs.some((d) => { try { accessSync(d ? join(d, tool) : tool, constants.X_OK); return true; } catch { return false; } });
}

/** The missing host tools as "needs Debian package P (apt-get install P): 'tool' not found" texts. */
export function missingHostTools(): string[] {
  return GUEST_HOST_TOOLS.filter(([t]) => !onPath(t)).map(([t, p]) => `needs Debian package ${p} (apt-get install ${p}): '${t}' not found`);
}

export function chooseAccel(): 'kvm' | 'tcg' {
  let cpuinfo = '';
  try { cpuinfo = readFileSync('/proc/cpuinfo', 'utf8'); } catch { /* no procfs: no KVM either */ }
  const hw = /\b(vmx|svm)\b/.test(cpuinfo);
  let dev = false;
  try { accessSync('/dev/kvm', constants.R_OK | constants.W_OK); dev = true; } catch { /* none */ }
  return hw && dev && !existsSync('/sys/module/kvm_pvm') ? 'kvm' : 'tcg';
}

function kernelPackage(cache: string): string {
  const fromEnv = process.env.TANDEM_KVM_KERNEL_PKG;
  if (fromEnv) return fromEnv;
  const pinned = join(cache, 'kernel-pkg');
  if (existsSync(pinned)) return readFileSync(pinned, 'utf8').trim();
  const resolve = (): string | undefined =>
    /Depends: (linux-image-\d\S*)/.exec(run('apt-cache', ['depends', 'linux-image-amd64']).stdout.toString())?.[1];
  let pkg = resolve();
  if (!pkg) {
    run('apt-get', ['update', '-qq'], { timeoutMs: 600_000 });
    pkg = resolve();
  }
  if (!pkg) throw new KvmError('cannot tell which kernel package linux-image-amd64 depends on (apt-cache depends linux-image-amd64); set TANDEM_KVM_KERNEL_PKG');
  return pkg;
}

/** The xz stream inside a bzImage, decompressed, when it is an ELF (as linux/scripts/extract-vmlinux does). */
function extractVmlinux(bzImage: Buffer): Buffer | undefined {
  const magic = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
  for (let at = bzImage.indexOf(magic), tries = 0; at >= 0 && tries < 5; at = bzImage.indexOf(magic, at + 1), tries++) {
    // xz complains about the bytes after the stream; the output before that is whole.
    const out = run('xz', ['-dcq'], { input: bzImage.subarray(at), maxBuffer: 512 << 20 }).stdout;
    if (out.length > 4 && out.readUInt32BE(0) === 0x7f454c46) return out;
  }
  return undefined;
}

/** modules.dep (relative paths) as name -> [path, deps in load order]. */
export function readModulesDep(moduleDir: string): Map<string, { path: string; deps: string[] }> {
  const m = new Map<string, { path: string; deps: string[] }>();
  const nameOf = (p: string): string => p.replace(/^.*\//, '').replace(/\.ko(\.\w+)?$/, '').replace(/-/g, '_');
  for (const line of readFileSync(join(moduleDir, 'modules.dep'), 'utf8').split('\n')) {
    const [path, rest] = line.split(':');
    if (!path || rest === undefined) continue;
    m.set(nameOf(path), { path, deps: rest.trim().split(/\s+/).filter(Boolean).map(nameOf) });
  }
  return m;
}

/** The modules to insmod, dependencies first; built-in ones are skipped. */
export function loadOrder(dep: Map<string, { path: string; deps: string[] }>, wanted: string[]): string[] {
  const out: string[] = [];
  const visit = (name: string): void => {
    const e = dep.get(name);
    if (!e || out.includes(e.path)) return;
    for (const d of e.deps) visit(d);
    out.push(e.path);
  };
  for (const w of wanted) visit(w);
  return out;
}

// ---- initramfs: a newc cpio written here, gzip from zlib ------------------

export function cpioNewc(entries: Array<{ name: string; mode: number; data?: Buffer }>): Buffer {
  const parts: Buffer[] = [];
  const pad = (n: number): Buffer => Buffer.alloc((4 - (n % 4)) % 4);
  let ino = 1;
  const push = (name: string, mode: number, data: Buffer): void => {
    const fields = [ino++, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, Buffer.byteLength(name) + 1, 0];
    const head = Buffer.from('070701' + fields.map((f) => f.toString(16).padStart(8, '0')).join('') + name + '\0', 'latin1');
    parts.push(head, pad(head.length), data, pad(data.length));
  };
  for (const e of entries) push(e.name, e.mode, e.data ?? Buffer.alloc(0));
  push('TRAILER!!!', 0, Buffer.alloc(0));
  return Buffer.concat(parts);
}

// Stage 1, /init in the initramfs: the host's root read-only with a tmpfs
// overlay, the run's I/O share, then switch_root into it.
const STAGE1 = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /host /ovl /root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
die() { echo "tandem-kvm: stage 1: $*" >/dev/console; echo "TANDEM_KVM_RC=125" >/dev/console; poweroff -f; sleep 10; }
MODDIR=
for a in $(cat /proc/cmdline); do case "$a" in tandem.moddir=*) MODDIR=\${a#*=};; esac; done
for m in $(cat /boot-modules); do insmod "/mods/$m" || die "insmod $m"; done
n=0
until grep -qs hostroot /sys/bus/virtio/drivers/9pnet_virtio/*/mount_tag; do
  n=$((n+1)); [ $n -lt 500 ] || die "the 9p share hostroot never appeared"; usleep 10000
done
mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=262144,cache=loose hostroot /host || die "mount hostroot"
mount -t tmpfs -o mode=0755 tmpfs /ovl || die "tmpfs"
mkdir -p /ovl/upper /ovl/work
mount -t overlay overlay -o lowerdir=/host,upperdir=/ovl/upper,workdir=/ovl/work /root || die "overlay"
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /root/run || die "tmpfs /run"
K=/root/run/tandem-kvm
mkdir -p $K/io $K/bin
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=none io $K/io || die "mount io"
cp /bin/busybox /stage2 $K/
mkdir -p "/root/lib/modules/$(uname -r)"
mount --bind "/host$MODDIR" "/root/lib/modules/$(uname -r)" || die "bind the modules"
for d in dev proc sys; do mount --move /$d /root/$d || die "move /$d"; done
exec switch_root /root /run/tandem-kvm/busybox sh /run/tandem-kvm/stage2
`;

// Stage 2, PID 1 in the overlay root: what a command expects of a system,
// then the command, its exit code, power-off.
const STAGE2 = `K=/run/tandem-kvm
BB=$K/busybox
IO=$K/io
$BB mkdir -p /dev/pts /dev/shm /tmp
$BB mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
$BB mount -t tmpfs -o nosuid,nodev tmpfs /dev/shm
$BB chmod 1777 /tmp /dev/shm
$BB ln -sf /proc/self/fd /dev/fd
$BB ln -sf /proc/self/fd/0 /dev/stdin; $BB ln -sf /proc/self/fd/1 /dev/stdout; $BB ln -sf /proc/self/fd/2 /dev/stderr
[ -e /dev/ptmx ] || $BB ln -sf pts/ptmx /dev/ptmx
$BB hostname tandem-kvm
$BB ip link set lo up
# busybox's module tools read the text modules.dep written on the host; the
# kernel runs this modprobe for request_module() (IPVS schedulers, the IPVS
# generic netlink family), so those load on first use.
for t in modprobe insmod rmmod lsmod; do $BB ln -sf $BB $K/bin/$t; done
echo $K/bin/modprobe > /proc/sys/kernel/modprobe
echo "TANDEM_KVM_READY $($BB cat /proc/uptime)" >/dev/console
/bin/sh $IO/cmd.sh </dev/null >$IO/stdout 2>$IO/stderr
rc=$?
echo $rc > $IO/rc
echo "TANDEM_KVM_RC=$rc" >/dev/console
$BB sync
$BB poweroff -f
`;

/** Fetches, extracts and prepares the kernel once (cached); builds the initramfs when its inputs change. */
export function prepareGuestKernel(cache = process.env.TANDEM_KVM_CACHE ?? DEFAULT_CACHE): GuestKernel {
  const missing = missingHostTools();
  if (missing.length) throw new KvmError(missing.join('; '));
  mkdirSync(cache, { recursive: true });
  const pkg = kernelPackage(cache);
  const kdir = join(cache, 'kernel', pkg);
  if (!existsSync(join(kdir, 'complete'))) {
    const debDir = join(cache, 'deb');
    mkdirSync(debDir, { recursive: true });
    const findDeb = (): string | undefined => readdirSync(debDir).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
    if (!findDeb()) {
      let r = run('apt-get', ['download', '-o', 'APT::Sandbox::User=root', pkg], { cwd: debDir, timeoutMs: 600_000 });
      if (r.code !== 0) {
        run('apt-get', ['update', '-qq'], { timeoutMs: 600_000 });
        r = run('apt-get', ['download', '-o', 'APT::Sandbox::User=root', pkg], { cwd: debDir, timeoutMs: 600_000 });
      }
      if (r.code !== 0 || !findDeb()) throw new KvmError(`apt-get download ${pkg} failed: ${r.stderr.trim()}`);
    }
    const tmp = mkdtempSync(join(cache, 'kernel-tmp-'));
    try {
      const x = run('dpkg-deb', ['-x', join(debDir, findDeb()!), join(tmp, 'x')]);
      if (x.code !== 0) throw new KvmError(`dpkg-deb -x: ${x.stderr.trim()}`);
      const vmlinuz = readdirSync(join(tmp, 'x/boot')).find((f) => f.startsWith('vmlinuz-'));
      if (!vmlinuz) throw new KvmError(`${pkg} has no /boot/vmlinuz-*`);
      const version = vmlinuz.slice('vmlinuz-'.length);
      const mods = [join(tmp, 'x/lib/modules', version), join(tmp, 'x/usr/lib/modules', version)].find((d) => existsSync(d));
      if (!mods) throw new KvmError(`${pkg} has no lib/modules/${version}`);
      mkdirSync(join(tmp, 'lib/modules'), { recursive: true });
      renameSync(mods, join(tmp, 'lib/modules', version));
      renameSync(join(tmp, 'x/boot', vmlinuz), join(tmp, 'vmlinuz'));
      // The .deb has no modules.dep (its postinst runs depmod); busybox's
      // depmod writes the text files busybox's modprobe reads.
      const d = run(BUSYBOX, ['depmod', '-b', tmp, version]);
      if (d.code !== 0 || !existsSync(join(tmp, 'lib/modules', version, 'modules.dep'))) throw new KvmError(`busybox depmod: ${d.stderr.trim()}`);
      const elf = extractVmlinux(readFileSync(join(tmp, 'vmlinuz')));
      if (elf) writeFileSync(join(tmp, 'vmlinux'), elf);
      writeFileSync(join(tmp, 'version'), version);
      rmSync(join(tmp, 'x'), { recursive: true, force: true });
      writeFileSync(join(tmp, 'complete'), '');
      mkdirSync(dirname(kdir), { recursive: true });
      rmSync(kdir, { recursive: true, force: true });
      renameSync(tmp, kdir);
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      if (!existsSync(join(kdir, 'complete'))) throw e;   // another run finished it meanwhile
    }
    if (!process.env.TANDEM_KVM_KERNEL_PKG) writeFileSync(join(cache, 'kernel-pkg'), pkg + '\n');
  }
  const version = readFileSync(join(kdir, 'version'), 'utf8').trim();
  const moduleDir = join(kdir, 'lib/modules', version);
  const image = existsSync(join(kdir, 'vmlinux')) && process.env.TANDEM_KVM_BZIMAGE !== '1' ? join(kdir, 'vmlinux') : join(kdir, 'vmlinuz');
  return { pkg, version, image, moduleDir, initrd: buildInitramfs(kdir, moduleDir) };
}

function buildInitramfs(kdir: string, moduleDir: string): string {
  const order = loadOrder(readModulesDep(moduleDir), BOOT_MODULES);
  const busybox = readFileSync(BUSYBOX);
  const hash = createHash('sha256').update(STAGE1).update(STAGE2).update(order.join(' ')).update(busybox).digest('hex').slice(0, 16);
  const out = join(kdir, `initramfs-${hash}.cpio.gz`);
  if (existsSync(out)) return out;
  const entries: Array<{ name: string; mode: number; data?: Buffer }> = [
    { name: 'bin', mode: 0o40755 }, { name: 'mods', mode: 0o40755 },
    { name: 'bin/busybox', mode: 0o100755, data: busybox },
    { name: 'init', mode: 0o100755, data: Buffer.from(STAGE1) },
    { name: 'stage2', mode: 0o100644, data: Buffer.from(STAGE2) },
    { name: 'boot-modules', mode: 0o100644, data: Buffer.from(order.map((p) => p.replace(/^.*\//, '')).join('\n') + '\n') },
    ...order.map((p) => ({ name: `mods/${p.replace(/^.*\//, '')}`, mode: 0o100644, data: readFileSync(join(moduleDir, p)) })),
  ];
  const tmp = `${out}.${process.pid}.tmp`;
  writeFileSync(tmp, gzipSync(cpioNewc(entries), { level: 1 }));
  renameSync(tmp, out);
  for (const f of readdirSync(kdir)) if (f.startsWith('initramfs-') && join(kdir, f) !== out && !f.endsWith('.tmp')) rmSync(join(kdir, f), { force: true });
  return out;
}

const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Runs argv as root in a fresh guest, in `cwd` (default: ours), and returns
 * what it printed and its exit code. The guest's qemu runs in its own
 * process group under `timeout`, so it ends at the deadline even if this
 * process dies first.
 */
export async function runInGuest(argv: string[], opts: GuestRunOptions = {}): Promise<GuestRun> {
  if (argv.length === 0) throw new KvmError('runInGuest: no command');
  const k = prepareGuestKernel(opts.cache);
  const accel = chooseAccel();
  const timeoutMs = opts.timeoutMs ?? 300_000;
  const runDir = mkdtempSync(join(tmpdir(), 'tandem-kvm-'));
  const io = join(runDir, 'io');
  mkdirSync(io);
  const env: Record<string, string> = {
    PATH: '/run/tandem-kvm/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: '/root', LANG: 'C.UTF-8', TERM: 'dumb', TANDEM_KVM_GUEST: '1', ...opts.env,
  };
  writeFileSync(join(io, 'cmd.sh'), [
    ...Object.entries(env).map(([n, v]) => `export ${n}=${shq(v)}`),
    `cd ${shq(opts.cwd ?? process.cwd())} || exit 125`,
    argv.map(shq).join(' '),
  ].join('\n') + '\n');
  for (const f of ['stdout', 'stderr']) writeFileSync(join(io, f), '');
  const append = [
    'console=ttyS0', 'quiet', 'loglevel=4', 'panic=-1', 'oops=panic', 'rdinit=/init', 'mitigations=off',
    'random.trust_cpu=on', 'tsc=reliable', 'no_timer_check', '8250.nr_uarts=1', 'i8042.noaux', 'i8042.nomux', 'i8042.nopnp',
    `tandem.moddir=${k.moduleDir}`,
  ].join(' ');
  const qemuArgs = [
    '-name', 'tandem-kvm',
    ...(accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg,thread=multi', '-cpu', 'max']),
    '-smp', String(opts.cpus ?? 2), '-m', String(opts.memMiB ?? 1024), '-machine', 'pc',
    '-nodefaults', '-no-user-config', '-display', 'none', '-vga', 'none', '-no-reboot',
    '-kernel', k.image, '-initrd', k.initrd, '-append', append,
    '-chardev', `file,id=con,path=${join(runDir, 'console.log')}`, '-serial', 'chardev:con',
    '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
    '-virtfs', `local,path=${io},mount_tag=io,security_model=none`,
  ];
  const started = performance.now();
  const secs = Math.max(1, Math.ceil(timeoutMs / 1000));
  const child = spawn('timeout', ['-k', '3', String(secs), QEMU, ...qemuArgs], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  let qemuErr = '';
  child.stderr!.on('data', (d: Buffer) => { if (qemuErr.length < 8192) qemuErr += d.toString(); });
  const kill = (): void => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } };
  process.once('exit', kill);
  const exit: number = await new Promise((resolve) => child.on('close', (code) => resolve(code ?? 1)));
  process.removeListener('exit', kill);
  const wallMs = performance.now() - started;
  const read = (f: string): string => { try { return readFileSync(f, 'utf8'); } catch { return ''; } };
  const consoleText = read(join(runDir, 'console.log'));
  const timedOut = exit === 124 || exit === 137;
  let code = 125;
  const rc = read(join(io, 'rc')).trim();
  if (timedOut) code = 124;
  else if (/^\d+$/.test(rc)) code = Number(rc);
  else {
    const m = /TANDEM_KVM_RC=(\d+)/.exec(consoleText);
    if (m) code = Number(m[1]);
  }
  let stderr = read(join(io, 'stderr'));
  if (code === 125 || timedOut) stderr += `\ntandem-kvm: ${timedOut ? `timed out after ${secs} s` : 'the guest gave no exit code'}; qemu: ${qemuErr.trim() || `exit ${exit}`}; console tail:\n${consoleText.split('\n').slice(-30).join('\n')}`;
  const result: GuestRun = { code, stdout: read(join(io, 'stdout')), stderr, console: consoleText, timedOut, accel, wallMs };
  rmSync(runDir, { recursive: true, force: true });
  return result;
}
