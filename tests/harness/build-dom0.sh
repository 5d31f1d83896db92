#!/usr/bin/env bash
# Assembles the dom0 side of the nested test stack into OUT:
#   OUT/xen          the Xen hypervisor (gunzipped: QEMU's multiboot loader wants the ELF)
#   OUT/vmlinux      the Debian dom0 kernel, uncompressed when possible (saves ~3 s under TCG)
#   OUT/initrd.cpio  busybox, xl, xenstored, xenconsoled, their libraries, the Xen
#                    modules, and tests/harness/dom0-init.sh as /init
# Everything comes from Debian packages: the host's installed xen-utils (for
# the tools and their shared libraries) and the unpacked hypervisor and
# kernel packages (tests/harness/fetch-dom0-packages.sh).
#
# usage: build-dom0.sh CACHE_DIR OUT_DIR
set -euo pipefail
cache=${1:?usage: build-dom0.sh CACHE_DIR OUT_DIR}
out=${2:?usage: build-dom0.sh CACHE_DIR OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"

"$here/fetch-dom0-packages.sh" "$cache"
root="$cache/root"
kver=$(ls "$root/lib/modules" | head -n1)
[ -n "$kver" ] || { echo "build-dom0: no kernel modules unpacked in $root" >&2; exit 1; }

# Rebuild only when an input changed.
stamp="$out/.inputs"
inputs="$kver $(ls -l --time-style=+%s "$root/boot" | md5sum | cut -c1-12) $(cat "$here/build-dom0.sh" "$here/dom0-init.sh" | md5sum | cut -c1-12)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$inputs" ] && [ -f "$out/initrd.cpio" ]; then
    exit 0
fi
echo "build-dom0: assembling dom0 (kernel $kver) in $out" >&2

xen_gz=$(ls "$root"/boot/xen-4.17-amd64.gz)
gzip -dc "$xen_gz" > "$out/xen"

# The dom0 kernel: find the compressed payload inside the bzImage and unpack it.
vmlinuz="$root/boot/vmlinuz-$kver"
rm -f "$out/vmlinux"
python3 - "$vmlinuz" "$out/vmlinux" <<'PY' || cp "$vmlinuz" "$out/vmlinux"
import sys, lzma, gzip, zlib
data = open(sys.argv[1], "rb").read()
for magic, kind in ((b"\xfd7zXZ\x00", "xz"), (b"\x1f\x8b\x08", "gz")):
    at = data.find(magic)
    while at >= 0:
        try:
            if kind == "xz":
                out = lzma.LZMADecompressor().decompress(data[at:])
            else:
                out = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[at:])
            if out[:4] == b"\x7fELF":
                open(sys.argv[2], "wb").write(out)
                sys.exit(0)
        except Exception:
            pass
        at = data.find(magic, at + 1)
sys.exit(1)
PY

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,etc/xen,lib/modules,proc,sys,dev,run,tmp,var/log/xen/console,var/lib/xen,guest,harness,root}
ln -s ../run "$stage/var/run"

cp /bin/busybox "$stage/bin/busybox"
xenbin=/usr/lib/xen-4.17/bin
bins=("$xenbin/xl" "$xenbin/xenstored" "$xenbin/oxenstored" "$xenbin/xenconsoled" "$xenbin/xenconsole" "$xenbin/xen-init-dom0" "$xenbin/libxl-save-helper" /usr/bin/xenstore)
for b in "${bins[@]}"; do
    [ -x "$b" ] || { echo "build-dom0: $b is missing (is xen-utils-4.17 installed? run make deps)" >&2; exit 1; }
done
mkdir -p "$stage$xenbin"
for b in "${bins[@]}"; do
    install -D -m 0755 "$b" "$stage$b"
done
for c in read write rm ls list exists watch chmod; do
    ln -s /usr/bin/xenstore "$stage/bin/xenstore-$c"
done
ln -s "$xenbin/xl" "$stage/bin/xl"
# Shared libraries, as the dynamic loader resolves them here (same Debian release).
libs=$(for b in "${bins[@]}"; do ldd "$b"; done | awk '/=> \//{print $3} /^[ \t]*\/lib/{print $1}' | sort -u)
libs="$libs $(ls /lib/x86_64-linux-gnu/libgcc_s.so.1)"   # loaded by pthread_cancel at run time
for l in $libs; do
    install -D -m 0755 "$(readlink -f "$l")" "$stage$l"
done
cp /etc/xen/xl.conf "$stage/etc/xen/xl.conf"
cp /etc/xen/oxenstored.conf "$stage/etc/xen/oxenstored.conf"
for m in xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xenfs; do
    f=$(find "$root/lib/modules/$kver" -name "$m.ko*" | head -n1)
    [ -n "$f" ] || { echo "build-dom0: module $m not found in $kver" >&2; exit 1; }
    cp "$f" "$stage/lib/modules/"
done
install -m 0755 "$here/dom0-init.sh" "$stage/init"

(cd "$stage" && find . | cpio -o -H newc --quiet) > "$out/initrd.cpio"
echo "$inputs" > "$stamp"
echo "build-dom0: xen $(stat -c %s "$out/xen") bytes, dom0 kernel $(stat -c %s "$out/vmlinux") bytes, initrd $(stat -c %s "$out/initrd.cpio") bytes" >&2
