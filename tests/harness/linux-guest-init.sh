#!/bin/busybox sh
# /init of the Linux PV domU that runs the conformance corpus against the
# real Linux xenbus device (/dev/xen/xenbus), for comparison with ours.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "LINUX-GUEST: up, $(uname -r)"
if [ ! -e /dev/xen/xenbus ]; then
    echo "LINUX-GUEST: error /dev/xen/xenbus missing"
fi
# The harness may put its own command list in /conform.sh (e.g. a second run
# of the random batch, or serve mode); the corpus alone otherwise.
if [ -f /conform.sh ]; then
    . /conform.sh
else
    /xbconform /scenarios
fi
echo "LINUX-GUEST: done"
sync
poweroff -f
