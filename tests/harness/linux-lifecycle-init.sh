#!/bin/busybox sh
# /init of the Linux PV domU whose save, restore, checkpoint and migration
# dom0 times next to the unikernel's (test.py's lifecycle checks). It runs
# the same probe as the unikernel's `gapwatch`: sample the clock every
# 20 ms and report every gap of 200 ms or more (GAPWATCH gap_ms=<n>), the
# downtime as a program sees it. /proc/uptime counts the time the domain was
# suspended (Linux injects it on resume), in 10 ms steps.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# `xl shutdown`: Linux runs /sbin/poweroff (orderly_poweroff); there is no
# init daemon to signal, so power off at once.
mkdir -p /sbin
printf '#!/bin/busybox sh\nsync\nexec /bin/busybox poweroff -f\n' > /sbin/poweroff
chmod +x /sbin/poweroff
echo "LINUX-GUEST: up, $(uname -r)"
read up _ < /proc/uptime
last=$(( ${up%.*} * 100 + 1${up#*.} - 100 ))
while :; do
    usleep 20000
    read up _ < /proc/uptime
    now=$(( ${up%.*} * 100 + 1${up#*.} - 100 ))
    gap=$(( (now - last) * 10 ))
    [ $gap -ge 200 ] && echo "GAPWATCH gap_ms=$gap"
    last=$now
done
