#!/usr/bin/env bash
# Downloads (once) and unpacks the Debian packages that make up the dom0 side
# of the nested test stack: the Xen hypervisor and the Linux dom0 kernel with
# its modules. They are unpacked into a cache outside the work tree, so that a
# fresh clone on the same machine does not download them again. Nothing is
# installed on the host.
#
# usage: fetch-dom0-packages.sh CACHE_DIR
# prints: nothing on success; the name of what failed otherwise.
set -euo pipefail
cache=${1:?usage: fetch-dom0-packages.sh CACHE_DIR}
mkdir -p "$cache/debs" "$cache/root"

# The kernel ABI number moves (6.1.0-NN): ask apt what linux-image-amd64 means today.
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
[ -n "$kpkg" ] || { echo "fetch-dom0-packages: cannot resolve linux-image-amd64 (run apt-get update)" >&2; exit 1; }
xpkg=$(apt-cache depends xen-hypervisor-4.17-amd64 >/dev/null 2>&1 && echo xen-hypervisor-4.17-amd64)
[ -n "$xpkg" ] || { echo "fetch-dom0-packages: package xen-hypervisor-4.17-amd64 not found" >&2; exit 1; }

stamp="$cache/root/.unpacked-$kpkg-$(apt-cache policy "$xpkg" | awk '/Candidate/{print $2}')"
if [ -f "$stamp" ]; then exit 0; fi

cd "$cache/debs"
for p in "$kpkg" "$xpkg"; do
    if ! ls "${p}"_*.deb >/dev/null 2>&1; then
        echo "fetch-dom0-packages: downloading $p" >&2
        apt-get -o APT::Sandbox::User=root download "$p" >&2 || { echo "fetch-dom0-packages: apt-get download $p failed" >&2; exit 1; }
    fi
done
rm -rf "$cache/root" && mkdir -p "$cache/root"
for d in "${kpkg}"_*.deb "${xpkg}"_*.deb; do
    dpkg-deb -x "$d" "$cache/root"
done
touch "$stamp"
