#!/usr/bin/env bash
# build-vm-assets.sh DIR
#
# Builds what the warmpod VM node boots, from Debian packages only:
#   DIR/<kernel-version>/root/          the kernel package, unpacked (boot/, lib/modules/<kv>/ + modules.dep)
#   DIR/<kernel-version>/vmlinux        the uncompressed kernel (PVH entry: boots ~2.5 s faster under TCG)
#   DIR/<kernel-version>/initrd.img     busybox-static + virtio/9p/overlay/net modules + the init below
#   DIR/<kernel-version>/assets.json    relative paths of the above, read by VmNode
#   DIR/current                         the kernel version the harness boots
#
# Idempotent: every step is skipped when its output exists (keyed by kernel version;
# the initramfs also by a hash of this script and of busybox). The kernel is never
# installed into the host's /boot: the package is downloaded and unpacked with dpkg-deb.
#
# Needs: apt-get, apt-cache, dpkg-deb, xz, GNU grep, busybox (busybox-static), flock.
# Env: WARMPOD_VM_KERNEL_PACKAGE overrides the kernel package (default: the 6.1 image
# that bookworm's linux-image-amd64 depends on).
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
mkdir -p "$1"
DIR=$(cd "$1" && pwd)
SELF=$(readlink -f "${BASH_SOURCE[0]}")
T_START=$(date +%s.%N)

log() { printf '[build-vm-assets] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }

BUSYBOX=$(command -v busybox || true)
[ -n "$BUSYBOX" ] || die "busybox not found (apt-get install busybox-static)"
BUSYBOX=$(readlink -f "$BUSYBOX")
if ldd "$BUSYBOX" >/dev/null 2>&1; then die "$BUSYBOX is dynamically linked: the initramfs needs busybox-static"; fi
for tool in apt-get apt-cache dpkg-deb xz grep flock gzip; do
  command -v "$tool" >/dev/null || die "$tool not found"
done

# One build at a time per DIR.
exec 9>"$DIR/.lock"
flock 9

# ---------------------------------------------------------------- kernel package
kernel_package() {
  if [ -n "${WARMPOD_VM_KERNEL_PACKAGE:-}" ]; then echo "$WARMPOD_VM_KERNEL_PACKAGE"; return; fi
  apt-cache depends linux-image-amd64 2>/dev/null |
    awk '/Depends: linux-image-6\.1\.[0-9]/ {print $2; exit}'
}

KPKG=$(kernel_package || true)
if [ -z "$KPKG" ]; then
  if [ -f "$DIR/current" ] && [ -f "$DIR/$(cat "$DIR/current")/.complete" ]; then
    KV=$(cat "$DIR/current")
    log "apt metadata names no 6.1 kernel; keeping the built $KV"
    KPKG="linux-image-$KV"
  else
    log "apt metadata names no 6.1 kernel: apt-get update"
    apt-get update -qq
    KPKG=$(kernel_package || true)
  fi
fi
case "$KPKG" in
  linux-image-6.1*) ;;
  *) die "no Debian 6.1 kernel package found (got '${KPKG}'); CRIU 3.17 needs the 6.1 vDSO layout" ;;
esac
KV=${KPKG#linux-image-}
KV=${KV%-unsigned}
K="$DIR/$KV"
mkdir -p "$K"

# 1. download + unpack (never installed)
if [ ! -f "$K/root/.unpacked" ]; then
  t=$(date +%s.%N)
  log "downloading and unpacking $KPKG"
  rm -rf "$K/root" "$K/debs"
  mkdir -p "$K/debs"
  (cd "$K/debs" && apt-get -q -o APT::Sandbox::User=root download "$KPKG" >/dev/null) ||
    die "apt-get download $KPKG failed"
  mkdir -p "$K/root.tmp"
  dpkg-deb -x "$K"/debs/*.deb "$K/root.tmp"
  [ -d "$K/root.tmp/lib/modules/$KV" ] || die "package $KPKG has no lib/modules/$KV"
  # modules.dep for modprobe inside the guest (the host may have no kmod at all)
  "$BUSYBOX" depmod -b "$K/root.tmp" "$KV"
  rm -rf "$K/debs"
  touch "$K/root.tmp/.unpacked"
  mv "$K/root.tmp" "$K/root"
  log "kernel package unpacked in $(elapsed "$t") s"
fi
VMLINUZ="$K/root/boot/vmlinuz-$KV"
[ -f "$VMLINUZ" ] || die "missing $VMLINUZ"

# 2. the uncompressed vmlinux (ELF with a PVH note): the bzImage's xz payload
if [ ! -f "$K/vmlinux" ]; then
  t=$(date +%s.%N)
  off=$(LC_ALL=C grep -obUaP -m1 '\xfd7zXZ\x00' "$VMLINUZ" | cut -d: -f1 || true)
  # xz stops after the first stream; tail then dies of SIGPIPE, which is expected
  if [ -n "$off" ] && { tail -c +$((off + 1)) "$VMLINUZ" || true; } | xz -dc --single-stream >"$K/vmlinux.tmp" 2>/dev/null &&
     [ "$(head -c 4 "$K/vmlinux.tmp" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
    mv "$K/vmlinux.tmp" "$K/vmlinux"
    log "vmlinux extracted in $(elapsed "$t") s"
  else
    rm -f "$K/vmlinux.tmp"
    log "could not extract an uncompressed vmlinux: the bzImage will be booted"
  fi
fi

# 3. initramfs
MODULES="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci 9pnet 9pnet_virtio netfs fscache 9p overlay failover net_failover virtio_net virtio_console tun"
STAMP=$( { sha256sum "$SELF" "$BUSYBOX"; echo "$MODULES"; } | sha256sum | cut -c1-16)
if [ ! -f "$K/initrd.img" ] || [ "$(cat "$K/initrd.stamp" 2>/dev/null)" != "$STAMP" ]; then
  t=$(date +%s.%N)
  MD="$K/root/lib/modules/$KV"
  R="$K/initrd-root"
  rm -rf "$R"
  mkdir -p "$R"/{bin,dev,proc,sys,lower,rw,newroot,etc} "$R/lib/modules/$KV"
  cp "$BUSYBOX" "$R/bin/busybox"
  # each wanted module plus what modules.dep says it needs (built-ins are skipped)
  declare -A seen=()
  add_module() {
    local name=$1 rel dep
    [ -n "${seen[$name]:-}" ] && return 0
    seen[$name]=1
    rel=$(awk -F: -v n="$name" '{f=$1; sub(/.*\//, "", f); sub(/\.ko(\.[a-z]+)?$/, "", f); gsub(/-/, "_", f); if (f == n) {print $1; exit}}' "$MD/modules.dep")
    if [ -z "$rel" ]; then
      grep -Eq "/${name//_/[_-]}\.ko\$" "$MD/modules.builtin" && return 0
      die "module $name is neither in modules.dep nor built in"
    fi
    mkdir -p "$R/lib/modules/$KV/$(dirname "$rel")"
    cp "$MD/$rel" "$R/lib/modules/$KV/$rel"
    for dep in $(awk -F: -v r="$rel" '$1 == r {print $2; exit}' "$MD/modules.dep"); do
      dep=${dep##*/}; dep=${dep%%.ko*}; add_module "${dep//-/_}"
    done
  }
  for m in $MODULES; do add_module "$m"; done
  "$BUSYBOX" depmod -b "$R" "$KV"
  echo "$MODULES" >"$R/etc/vm-node-modules"

  cat >"$R/init" <<'INIT'
#!/bin/busybox sh
# warmpod vm-node init, stage 1 (PID 1 inside the initramfs). Mounts the host's / read-only
# over virtio-9p with a tmpfs overlay for writes, the read-write share, /dev /proc /sys /run,
# cgroup v2, loopback + eth0, then hands PID 1 to busybox init (a real init and reaper)
# reading /etc/inittab (from the share when the host wrote one).
# Kernel command line: vmnode.modules=DIR (the kernel package's modules, a host path seen
# through 9p), vmnode.hostname=NAME, vmnode.run=CMD (default workload when the share has no
# inittab), vmnode.overlay_size=SIZE, vmnode.debug=1 (a shell instead of powering off on failure).
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev

MODDIR= HN=warmpod-vm RUN= OVSIZE= DEBUG=
for a in $(cat /proc/cmdline); do
  case "$a" in
    vmnode.modules=*) MODDIR=${a#*=} ;;
    vmnode.hostname=*) HN=${a#*=} ;;
    vmnode.run=*) RUN=${a#*=} ;;
    vmnode.overlay_size=*) OVSIZE=${a#*=} ;;
    vmnode.debug=*) DEBUG=${a#*=} ;;
  esac
done

fail() {
  echo "vm-node init: FAILED: $*"
  [ -n "$DEBUG" ] && sh
  echo o >/proc/sysrq-trigger
  sleep 30
}

for m in $(cat /etc/vm-node-modules); do
  modprobe "$m" 2>/dev/null || [ -d "/sys/module/$m" ] || echo "vm-node init: modprobe $m failed"
done

mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose hostroot /lower ||
  fail "9p mount of the host root"
mount -t tmpfs -o mode=0755${OVSIZE:+,size=$OVSIZE} overlay-rw /rw || fail "tmpfs for the overlay"
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot ||
  fail "overlay root"

R=/newroot
mount -t proc proc $R/proc || fail "proc"
mount -t sysfs sys $R/sys || fail "sysfs"
mount -t cgroup2 cgroup2 $R/sys/fs/cgroup || fail "cgroup2"
mount --move /dev $R/dev || fail "dev"
mkdir -p $R/dev/pts $R/dev/shm $R/dev/mqueue
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts $R/dev/pts
mount -t tmpfs -o mode=1777,nosuid,nodev shm $R/dev/shm
mount -t mqueue mqueue $R/dev/mqueue 2>/dev/null
[ -e $R/dev/fd ] || ln -s /proc/self/fd $R/dev/fd
[ -e $R/dev/stdin ] || ln -s /proc/self/fd/0 $R/dev/stdin
[ -e $R/dev/stdout ] || ln -s /proc/self/fd/1 $R/dev/stdout
[ -e $R/dev/stderr ] || ln -s /proc/self/fd/2 $R/dev/stderr
mount -t tmpfs -o mode=0755,nosuid,nodev run $R/run || fail "run"
V=$R/run/vm-node
mkdir -p $V/bin $V/share
cp /bin/busybox $V/bin/busybox
for applet in init modprobe poweroff sh; do ln -s busybox $V/bin/$applet; done
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 vmshare $V/share ||
  echo "vm-node init: no read-write share (tag vmshare)"

# kernel modules of this kernel, for modprobe (and kernel autoload) after the switch
if [ -n "$MODDIR" ] && [ -d "$R$MODDIR" ]; then
  mkdir -p $R/lib/modules
  rm -rf "$R/lib/modules/$(uname -r)"
  ln -s "$MODDIR" "$R/lib/modules/$(uname -r)"
fi
echo /run/vm-node/bin/modprobe >/proc/sys/kernel/modprobe
[ -e $R/usr/sbin/modprobe ] || [ -L $R/usr/sbin/modprobe ] || ln -s /run/vm-node/bin/busybox $R/usr/sbin/modprobe

# network: loopback + eth0 on QEMU user networking (restrict=on; no default route)
ip link set lo up
if ip link show eth0 >/dev/null 2>&1; then
  ip addr add 10.0.2.15/24 dev eth0
  ip link set eth0 up
fi
hostname "$HN"
echo "$HN" >$R/etc/hostname
printf '127.0.1.1\t%s\n' "$HN" >>$R/etc/hosts
echo 1 >/proc/sys/net/ipv4/ip_forward

if [ -f $V/share/inittab ]; then
  cp $V/share/inittab $R/etc/inittab
else
  {
    [ -n "$RUN" ] && echo "::once:/run/vm-node/bin/sh -c '$RUN'"
    [ -n "$DEBUG" ] && echo "ttyS0::askfirst:-/run/vm-node/bin/sh"
    echo "::ctrlaltdel:/run/vm-node/bin/poweroff"
    echo "::shutdown:/run/vm-node/bin/busybox sync"
  } >$R/etc/inittab
fi
echo "vm-node init: root ready at $(cut -d' ' -f1 /proc/uptime) s"
umount /proc /sys
exec switch_root $R /run/vm-node/bin/init
INIT
  chmod +x "$R/init"
  (cd "$R" && "$BUSYBOX" find . | "$BUSYBOX" cpio -o -H newc 2>/dev/null | gzip -1 >"$K/initrd.img.tmp")
  mv "$K/initrd.img.tmp" "$K/initrd.img"
  echo "$STAMP" >"$K/initrd.stamp"
  rm -rf "$R"
  log "initramfs built in $(elapsed "$t") s"
fi

# 4. manifest + current version
KERNEL=vmlinux
[ -f "$K/vmlinux" ] || KERNEL="root/boot/vmlinuz-$KV"
cat >"$K/assets.json.tmp" <<EOF
{
  "kernelVersion": "$KV",
  "kernelPackage": "$KPKG",
  "kernel": "$KERNEL",
  "bzImage": "root/boot/vmlinuz-$KV",
  "initrd": "initrd.img",
  "modules": "root/lib/modules/$KV",
  "initrdStamp": "$STAMP"
}
EOF
mv "$K/assets.json.tmp" "$K/assets.json"
touch "$K/.complete"
echo "$KV" >"$DIR/current.tmp"
mv "$DIR/current.tmp" "$DIR/current"
log "assets for $KV ready in $DIR ($(elapsed "$T_START") s)"
echo "$K"
