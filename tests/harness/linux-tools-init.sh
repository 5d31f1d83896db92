#!/bin/busybox sh
# /init of the Linux PV domU of the tools suite: runs the command list
# (/tools/commands) with Debian's xenstore tools against Linux's
# /dev/xen/xenbus, printing the same PROGRAM-* records as the unikernel.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "LINUX-GUEST: up, $(uname -r)"
if [ ! -e /dev/xen/xenbus ]; then
    echo "LINUX-GUEST: error /dev/xen/xenbus missing"
fi
/xbtools /tools/commands
echo "LINUX-GUEST: done"
sync
poweroff -f
