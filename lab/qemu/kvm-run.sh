#!/usr/bin/env bash
# lab/qemu/kvm-run.sh [--timeout S] [--mem MB] -- CMD ARGS...
#
# Runs CMD as root inside Debian's stock kernel (linux-image-amd64) under
# qemu, with this host's root file system read-only over 9p and a tmpfs
# overlay on top, in the caller's working directory: for what this host's
# kernel lacks (IPVS). CMD's stdout and stderr come back separately (they
# are files on a 9p share, written synchronously, so nothing is lost at
# power-off); the exit code is CMD's (124: timeout, 125: the guest failed).
#
# Accelerated with KVM when the CPU has vmx/svm and the module is a stock
# one; otherwise TCG (a PVM /dev/kvm, as on this project's machines, cannot
# boot a stock kernel). The kernel is booted as its extracted vmlinux (PVH
# entry), which saves the real-mode setup and the in-guest decompression.
#
# Needs (Debian): qemu-system-x86, busybox-static, xz-utils, and apt access
# for the kernel package (downloaded once into the cache,
# $TANDEM_KVM_CACHE, default /var/tmp/tandem-kvm).
set -euo pipefail

TIMEOUT=120
MEM=1024
while [ $# -gt 0 ]; do
  case "$1" in
    --timeout) TIMEOUT=$2; shift 2 ;;
    --mem) MEM=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "usage: kvm-run.sh [--timeout S] [--mem MB] -- CMD ARGS..." >&2; exit 125 ;;
  esac
done
[ $# -gt 0 ] || { echo "kvm-run.sh: no command" >&2; exit 125; }

need() { command -v "$1" >/dev/null || { echo "kvm-run.sh: needs $1 (Debian package $2: apt-get install $2)" >&2; exit 125; }; }
need qemu-system-x86_64 qemu-system-x86
need xz xz-utils
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] && "$BUSYBOX" --list | grep -qx depmod || { echo "kvm-run.sh: needs a static busybox with depmod (Debian package busybox-static)" >&2; exit 125; }

CACHE=${TANDEM_KVM_CACHE:-/var/tmp/tandem-kvm}
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9

# ---- the kernel, once ------------------------------------------------------------
PKG=$(cat "$CACHE/package" 2>/dev/null || true)
if [ -z "$PKG" ]; then
  PKG=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }')
  [ -n "$PKG" ] || { echo "kvm-run.sh: apt-cache does not know linux-image-amd64 (run apt-get update)" >&2; exit 125; }
  echo "$PKG" > "$CACHE/package"
fi
KDIR=$CACHE/$PKG
if [ ! -f "$KDIR/ready" ]; then
  echo "kvm-run.sh: preparing $PKG in $KDIR (once)" >&2
  rm -rf "$KDIR"; mkdir -p "$KDIR/deb"
  (cd "$KDIR/deb" && apt-get download -q "$PKG" >&2)
  dpkg-deb -x "$KDIR"/deb/*.deb "$KDIR/root"
  rm -rf "$KDIR/deb"
  VER=$(ls "$KDIR/root/lib/modules")
  # The package's postinst runs depmod; busybox's writes the text modules.dep its modprobe reads.
  "$BUSYBOX" depmod -b "$KDIR/root" "$VER"
  # vmlinux: the xz payload of the bzImage, from its magic on.
  IMG=$KDIR/root/boot/vmlinuz-$VER
  OFF=$(grep -abo $'\xfd7zXZ\x00' "$IMG" | head -1 | cut -d: -f1)
  tail -c +$((OFF + 1)) "$IMG" | xz -dc --single-stream > "$KDIR/vmlinux" 2>/dev/null || true
  [ -s "$KDIR/vmlinux" ] || { echo "kvm-run.sh: could not extract vmlinux from $IMG" >&2; exit 125; }
  echo "$VER" > "$KDIR/version"
  touch "$KDIR/ready"
fi
VER=$(cat "$KDIR/version")
MODDIR=$KDIR/root/lib/modules/$VER

# ---- the initramfs: busybox and the modules that reach the host's root -----------------
BOOT_MODULES="virtio_pci 9pnet_virtio 9p overlay"
INITRD=$KDIR/initramfs.cpio.gz
if [ ! -f "$INITRD" ] || [ "$0" -nt "$INITRD" ]; then
  ST=$(mktemp -d "$CACHE/initramfs.XXXXXX")
  mkdir -p "$ST/bin" "$ST/lib/modules/$VER" "$ST/proc" "$ST/sys" "$ST/dev"
  cp "$BUSYBOX" "$ST/bin/busybox"
  for m in $BOOT_MODULES; do
    awk -v m="$m" -F': *' '{ n = $1; sub(/.*\//, "", n); sub(/\.ko.*/, "", n); gsub(/-/, "_", n) }
      n == m { print $1; c = split($2, d, " "); for (i = 1; i <= c; i++) print d[i] }' "$MODDIR/modules.dep"
  done | sort -u | while read -r f; do
    mkdir -p "$ST/lib/modules/$VER/$(dirname "$f")"; cp "$MODDIR/$f" "$ST/lib/modules/$VER/$f"
  done
  cp "$MODDIR"/modules.builtin* "$ST/lib/modules/$VER/" 2>/dev/null || true
  "$BUSYBOX" depmod -b "$ST" "$VER"
  cat > "$ST/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
die() { echo "kvm-run guest: $*" > /dev/console; echo "KVMRUN_RC=125" > /dev/console; poweroff -f; }
for m in virtio_pci 9pnet_virtio 9p overlay; do modprobe "$m" || die "modprobe $m"; done
mkdir -p /host /rw /new
i=0; until mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=262144,cache=loose host /host 2>/dev/null; do
  i=$((i + 1)); [ $i -lt 100 ] || die "no 9p root"; usleep 20000; done
mount -t tmpfs tmpfs /rw && mkdir -p /rw/up /rw/work
mount -t overlay overlay -o lowerdir=/host,upperdir=/rw/up,workdir=/rw/work /new || die overlay
mount -t tmpfs tmpfs /new/run
mkdir -p /new/run/kvm/io
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=none io /new/run/kvm/io || die "io share"
MODDIR=$(cat /new/run/kvm/io/moddir)
mkdir -p "/new/lib/modules/$(uname -r)"
mount --bind "/host$MODDIR" "/new/lib/modules/$(uname -r)"
cp /bin/busybox /new/run/kvm/busybox
for d in proc sys dev; do mount --move /$d /new/$d; done
exec switch_root /new /run/kvm/busybox sh /run/kvm/io/stage2
INIT
  chmod 755 "$ST/init"
  (cd "$ST" && find . | "$BUSYBOX" cpio -o -H newc 2>/dev/null | gzip -1 > "$INITRD.tmp") && mv "$INITRD.tmp" "$INITRD"
  rm -rf "$ST"
fi
flock -u 9

# ---- one run ------------------------------------------------------------------------
RUN=$(mktemp -d "${TMPDIR:-/tmp}/kvm-run.XXXXXX")
IO=$RUN/io
mkdir -p "$IO"
: > "$IO/stdout"; : > "$IO/stderr"
echo "$MODDIR" > "$IO/moddir"
cat > "$IO/stage2" <<'STAGE2'
B=/run/kvm/busybox
IO=/run/kvm/io
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
$B mkdir -p /dev/pts /dev/shm /tmp
$B mount -t devpts devpts /dev/pts; $B mount -t tmpfs tmpfs /dev/shm; $B mount -t tmpfs tmpfs /tmp
$B mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
$B ln -sf /proc/self/fd /dev/fd
$B hostname kvm-run
$B ip link set lo up
# The kernel loads IPVS, its schedulers and genl families on demand through modprobe: busybox's when the host has no kmod.
if [ ! -x /sbin/modprobe ] && [ ! -x /usr/sbin/modprobe ]; then
  for t in modprobe insmod lsmod; do $B ln -sf $B /usr/sbin/$t; done
  echo /usr/sbin/modprobe > /proc/sys/kernel/modprobe
fi
/bin/bash $IO/cmd </dev/null >>$IO/stdout 2>>$IO/stderr
echo $? > $IO/rc
echo "KVMRUN_RC=$(cat $IO/rc)" > /dev/console
$B sync
$B poweroff -f
STAGE2
{
  echo 'export TERM=dumb KVM_RUN_GUEST=1'
  for v in PATH HOME LANG NODE_OPTIONS TANDEM_TEST_BUILT; do [ -n "${!v:-}" ] && printf 'export %s=%q\n' "$v" "${!v}"; done
  printf 'cd %q || exit 125\n' "$PWD"
  printf '%q ' "$@"; echo
} > "$IO/cmd"

ACCEL=(-accel tcg,thread=multi -cpu max)
if grep -qwE 'vmx|svm' /proc/cpuinfo && [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ]; then ACCEL=(-accel kvm -cpu host); fi

QPID=
cleanup() {
  if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then kill -KILL "$QPID" 2>/dev/null || true; fi
  if [ -n "${KVM_RUN_KEEP:-}" ]; then echo "kvm-run.sh: kept $RUN" >&2; else rm -rf "$RUN"; fi
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

qemu-system-x86_64 -name kvm-run "${ACCEL[@]}" -smp 2 -m "$MEM" -machine pc -nodefaults -no-user-config \
  -display none -vga none -no-reboot -kernel "$KDIR/vmlinux" -initrd "$INITRD" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1 oops=panic rdinit=/init mitigations=off tsc=reliable no_timer_check" \
  -serial "file:$RUN/console" \
  -virtfs "local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap" \
  -virtfs "local,path=$IO,mount_tag=io,security_model=none" </dev/null >"$RUN/qemu.log" 2>&1 &
QPID=$!
tail -c +1 -f --pid="$QPID" -s 0.1 "$IO/stdout" &
T1=$!
tail -c +1 -f --pid="$QPID" -s 0.1 "$IO/stderr" >&2 &
T2=$!
END=$(( $(date +%s) + TIMEOUT ))
while kill -0 "$QPID" 2>/dev/null; do
  if [ "$(date +%s)" -ge "$END" ]; then
    echo "kvm-run.sh: timed out after ${TIMEOUT}s" >&2
    kill -KILL "$QPID" 2>/dev/null || true
    wait "$T1" "$T2" 2>/dev/null || true
    exit 124
  fi
  sleep 0.1
done
wait "$QPID" 2>/dev/null || true
QPID=
wait "$T1" "$T2" 2>/dev/null || true
if [ -s "$IO/rc" ]; then exit "$(cat "$IO/rc")"; fi
echo "kvm-run.sh: the guest ended without an exit code; its console:" >&2
tail -n 30 "$RUN/console" "$RUN/qemu.log" >&2 || true
exit 125
