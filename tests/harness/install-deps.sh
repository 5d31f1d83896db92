#!/usr/bin/env bash
# Installs every Debian package the project needs, idempotently: nothing is
# downloaded when all of them are already installed. Runs apt-get through
# sudo when not root. Used by `make deps` (and so by `make run`/`make test`).
set -euo pipefail

# The toolchain is Debian's rustc-web; the project needs rustc 1.96 or later
# (the edition, lints and build-std of the kernel were written against it).
RUSTC_MIN=1.96
check_rustc() {
    local v
    if [ ! -x /usr/bin/rustc ]; then
        echo "install-deps: /usr/bin/rustc is missing (package rustc-web); the project needs rustc >= $RUSTC_MIN" >&2
        exit 1
    fi
    v=$(/usr/bin/rustc --version 2>/dev/null | awk '{print $2}')
    if ! printf '%s\n%s\n' "$RUSTC_MIN" "${v%%-*}" | sort -V -C; then
        echo "install-deps: /usr/bin/rustc is ${v:-unknown}; the project needs rustc >= $RUSTC_MIN (Debian's rustc-web from bookworm-security)" >&2
        exit 1
    fi
}

PACKAGES=(
    rustc-web cargo-web rust-web-src        # the toolchain (build-std on x86_64-unknown-none)
    rustfmt-web rust-web-clippy             # `make lint`: /usr/bin/rustfmt, cargo-fmt, cargo-clippy, clippy-driver
    binutils                                # ld, nm, size, readelf
    gcc libc6-dev                           # the C test programs (tests/programs)
    libxen-dev bindgen libclang-dev         # Xen public headers and `make bindings`
    qemu-system-x86                         # the nested test machine (TCG)
    xen-utils-4.17 xenstore-utils           # xl, xenstored, xenconsoled for the dom0 initramfs;
    libxenstore4 libxentoolcore1            # and Debian's xenstore tools the guest runs unmodified (docs/programs.md)
    busybox-static cpio gzip                # the dom0 initramfs
    python3                                 # the harness
)

missing=()
for p in "${PACKAGES[@]}"; do
    [[ $p == \#* ]] && continue
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    check_rustc
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >&2

extra=()
# Debian 12 machines here may carry qemu-utils from backports (10.x), which
# conflicts with bookworm's qemu-system-x86 (7.2). Pin qemu-utils to the
# version that matches qemu-system-x86, allowing the downgrade.
if printf '%s\n' "${missing[@]}" | grep -qx qemu-system-x86; then
    want=$(apt-cache policy qemu-system-x86 | awk '/Candidate:/{print $2}')
    have=$(dpkg-query -W -f='${Version}' qemu-utils 2>/dev/null || true)
    if [ -n "$have" ] && [ -n "$want" ] && [ "$have" != "$want" ]; then
        extra+=("qemu-utils=$want" --allow-downgrades)
    fi
fi
if ! $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" "${extra[@]}" >&2; then
    echo "install-deps: apt-get install failed for: ${missing[*]}" >&2
    exit 1
fi
for p in "${missing[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
        || { echo "install-deps: package $p is still missing after apt-get install" >&2; exit 1; }
done
check_rustc
