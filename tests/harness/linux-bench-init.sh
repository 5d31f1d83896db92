#!/bin/busybox sh
# /init of make bench's Linux PV domU: runs the xs-bench workload (the
# `xsbench` runner, the same code the unikernel runs for bench=<spec>)
# against /dev/xen/xenbus, then powers off. The spec is the bench= word of
# the kernel command line (default: ready). Kept minimal (no busybox
# --install): what runs before the workload counts in unpause -> ready.
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox mount -t proc proc /proc
spec=ready
read -r cmdline < /proc/cmdline
for w in $cmdline; do
    case "$w" in bench=*) spec=${w#bench=} ;; esac
done
/xsbench "$spec"
/bin/busybox poweroff -f
