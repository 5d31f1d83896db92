#!/bin/busybox sh
# /init of the harness's dom0: brings up the Xen toolstack (xenstored,
# xen-init-dom0, xenconsoled) and then runs /harness/job, which the host
# harness (tests/harness/xenrun.py) put into the initramfs for this run.
#
# Lines for the host harness start with "HARNESS: "; lines of a guest's
# console are relayed with the prefix "G<domain name>| ". The grammar of
# every line the host parses (and of /harness/job, and of the dom0 helper's
# requests) is in docs/testing.md, "Console grammar"; change both together.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin:/usr/lib/xen-4.17/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mkdir -p /run/xen /run/xenstored /run/lock /var/log/xen/console
ln -sf /run/lock /var/lock
echo "HARNESS: stage dom0-setup"

for m in xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xenfs; do
    insmod /lib/modules/$m.ko || echo "HARNESS: error insmod $m failed"
done
mount -t xenfs xenfs /proc/xen || echo "HARNESS: error cannot mount xenfs"

# harness.xenstored=oxenstored on dom0's command line selects the OCaml
# xenstored (it offers ring reconnection); the C one is the default.
case " $(cat /proc/cmdline) " in
    *" harness.xenstored=oxenstored "*)
        oxenstored --pid-file=/run/xenstored.pid >/dev/null 2>&1 || echo "HARNESS: error oxenstored failed"
        echo "HARNESS: xenstored is oxenstored" ;;
    *)
        xenstored --pid-file=/run/xenstored.pid || echo "HARNESS: error xenstored failed" ;;
esac
xen-init-dom0 >/dev/null 2>&1 || echo "HARNESS: error xen-init-dom0 failed"
xenconsoled --pid-file=/run/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console || echo "HARNESS: error xenconsoled failed"
echo "HARNESS: dom0 ready"

# Relays a guest's console to ours with a prefix, one line at a time.
relay() {
    cr=$(printf '\r')
    while IFS= read -r line; do
        echo "G$1| ${line%$cr}"
        echo >> /tmp/relayed-$1
    done
}

# dom0_helper DOMID NAME: serves the requests in-guest tests write to
# data/harness/req (protocol: docs/testing.md, "dom0 cooperation"; the guest
# side is kernel/src/ktest/dom0.rs).
dom0_helper() {
    domid=$1; gname=$2
    home=/local/domain/$domid
    last=""
    set -f   # request words are data: no globbing when they are split
    xenstore-watch $home/data/harness/req 2>/dev/null | while read -r _path; do
        req=$(xenstore-read $home/data/harness/req 2>/dev/null) || continue
        set -- $req
        seq=$1; op=$2; path=$3
        [ -z "$seq" ] && continue
        [ "$seq" = "$last" ] && continue
        last=$seq
        case "$op" in
            write) value=${req#* * * }; [ "$value" = "$req" ] && value=""
                   if out=$(xenstore-write "$home/$path" "$value" 2>&1); then rsp="ok"; else rsp="err $out"; fi ;;
            mkdir) if out=$(xenstore-write "$home/$path" "" 2>&1); then rsp="ok"; else rsp="err $out"; fi ;;
            rm)    if out=$(xenstore-rm "$home/$path" 2>&1); then rsp="ok"; else rsp="err $out"; fi ;;
            read)  if out=$(xenstore-read "$home/$path" 2>&1); then rsp="ok $out"; else rsp="err $out"; fi ;;
            console) text=${req#* * }
                   tty=$(xenstore-read $home/console/tty 2>/dev/null)
                   if [ -n "$tty" ] && printf '%s\n' "$text" > "$tty"; then rsp="ok"; else rsp="err no console pty"; fi ;;
            corrupt) # ring-corruptor against the requesting guest only; its
                   # output is one line. The guest may never see the reply.
                   shift 2
                   if [ ! -x /harness/ring-corruptor ]; then
                       rsp="err no ring-corruptor in this dom0 (make test/test-guest put it in)"
                   elif out=$(/harness/ring-corruptor "$domid" "$@" 2>&1); then rsp="ok $(echo $out)"
                   else rsp="err $(echo $out)"; fi
                   echo "HARNESS: guest $gname corrupt $*: $rsp" ;;
            *)     rsp="err unknown request $op" ;;
        esac
        xenstore-write $home/data/harness/rsp "$seq $rsp"
    done
}

# run_guest NAME CFG [xl key=value overrides...]: creates the guest paused,
# attaches the console, unpauses, waits until the domain is gone and prints
#   HARNESS: guest NAME ended reason=<poweroff|reboot|suspend|crash|watchdog|unknown>
run_guest() {
    name=$1; cfg=$2; shift 2
    if ! xl create -p "$cfg" "name=\"$name\"" "$@" >/tmp/xl-create-$name.log 2>&1; then
        echo "HARNESS: error xl create $name failed:"
        sed 's/^/HARNESS:   /' /tmp/xl-create-$name.log
        echo "HARNESS: guest $name ended reason=create-failed"
        return 1
    fi
    domid=$(xl domid "$name")
    echo "HARNESS: guest $name created domid=$domid"
    # xenconsoled publishes the guest console's pty in xenstore; read the pty
    # directly (the domain is still paused, so nothing is missed).
    tty=""; relay_pid=""
    for i in $(seq 1 100); do
        tty=$(xenstore-read /local/domain/$domid/console/tty 2>/dev/null) && [ -n "$tty" ] && break
        sleep 0.05
    done
    if [ -z "$tty" ]; then
        echo "HARNESS: error no console pty for $name"
    else
        stty -F "$tty" raw -echo 2>/dev/null
        relay "$name" < "$tty" &
        relay_pid=$!
    fi
    dom0_helper $domid "$name" &
    helper_pid=$!
    xl unpause "$name"
    echo "HARNESS: stage guest-run $name"
    # GUEST_ACTION=shutdown|reboot: once the guest advertises the shutdown
    # protocol (control/feature-poweroff), ask xl to end it and time it.
    if [ -n "$GUEST_ACTION" ]; then
        for i in $(seq 1 300); do
            [ "$(xenstore-read /local/domain/$domid/control/feature-poweroff 2>/dev/null)" = 1 ] && break
            sleep 0.1
        done
        sleep 1
        t_action=$(cut -d' ' -f1 /proc/uptime)
        case "$GUEST_ACTION" in
            debugkeys) xl debug-keys q >/dev/null 2>&1 || echo "HARNESS: error xl debug-keys failed" ;;
            save)  # Suspend is not supported: xl save must fail and leave
                   # the guest running and manageable.
                   xl save "$name" /tmp/$name.save >/tmp/save-$name.out 2>&1
                   echo "HARNESS: guest $name save rc=$?"
                   sed 's/^/HARNESS:   save: /' /tmp/save-$name.out
                   sleep 1
                   xl shutdown "$name" >/dev/null 2>&1 || echo "HARNESS: error xl shutdown $name failed" ;;
            *) xl $GUEST_ACTION "$name" >/dev/null 2>&1 || echo "HARNESS: error xl $GUEST_ACTION $name failed" ;;
        esac
    fi
    # Wait until the domain is gone (its xenstore home disappears) or xl's
    # monitor logged its shutdown (a crashed domain is preserved). This loop
    # must stay cheap: it shares dom0's one vCPU with xenstored, so no `xl`
    # runs in it except for the CPU-time samples of GUEST_CPU=1 guests.
    # GUEST_TIMEOUT (seconds): past it the guest is destroyed and reported
    # as timed out, and the job goes on with the next guest.
    cpu_first=""; cpu_last=""; t_first=""; t_last=""
    t_start=$(cut -d' ' -f1 /proc/uptime); timed_out=""; next_sample=0
    while xenstore-read /local/domain/$domid/name >/dev/null 2>&1; do
        grep -q "has shut down, reason code" /var/log/xen/xl-$name.log 2>/dev/null && break
        now=$(cut -d' ' -f1 /proc/uptime)
        if [ -n "$GUEST_CPU" ] && [ "$(awk "BEGIN{print ($now - $t_start >= $next_sample)}")" = 1 ]; then
            set -- $(xl list "$name" 2>/dev/null | awk 'NR==2')
            if [ -n "$6" ]; then
                [ -z "$cpu_first" ] && { cpu_first=$6; t_first=$now; }
                cpu_last=$6; t_last=$now
            fi
            next_sample=$(awk "BEGIN{print $now - $t_start + 2}")
        fi
        if [ -n "$GUEST_TIMEOUT" ] && [ "$(awk "BEGIN{print ($now - $t_start > $GUEST_TIMEOUT)}")" = 1 ]; then
            timed_out=1
            echo "HARNESS: guest $name timeout after ${GUEST_TIMEOUT} s; destroying it"
            xl destroy "$name" >/dev/null 2>&1
            break
        fi
        sleep 0.1
    done
    t_end=$(cut -d' ' -f1 /proc/uptime)
    kill $helper_pid 2>/dev/null
    pkill -f "xenstore-watch /local/domain/$domid/" 2>/dev/null
    [ -n "$GUEST_CPU" ] && echo "HARNESS: guest $name cpu first=$cpu_first last=$cpu_last wall_first=$t_first wall_last=$t_last"
    if [ "$GUEST_ACTION" = shutdown ] || [ "$GUEST_ACTION" = reboot ]; then
        echo "HARNESS: guest $name action $GUEST_ACTION took=$(awk "BEGIN{print $t_end - $t_action}")"
    fi
    [ -n "$relay_pid" ] && { sleep 0.2; kill $relay_pid 2>/dev/null; wait $relay_pid 2>/dev/null; }
    # The pty may lose what xenconsoled had not written out when the domain
    # died; xenconsoled's log file has everything the guest put in its ring.
    # Relay the lines the pty did not deliver.
    seen=$(cat /tmp/relayed-$name 2>/dev/null | wc -l)
    tail -n +$((seen + 1)) /var/log/xen/console/guest-$name.log 2>/dev/null | relay "$name"
    # xl's monitoring daemon logs the shutdown reason code.
    reason=unknown
    for i in 1 2 3 4 5 6 7 8 9 10; do
        code=$(sed -n 's/.*has shut down, reason code \([0-9]*\).*/\1/p' /var/log/xen/xl-$name.log 2>/dev/null | tail -n1)
        [ -n "$code" ] && break
        sleep 0.2
    done
    case "$code" in
        0) reason=poweroff ;; 1) reason=reboot ;; 2) reason=suspend ;;
        3) reason=crash ;; 4) reason=watchdog ;; 5) reason=soft_reset ;;
    esac
    [ -n "$timed_out" ] && reason=timeout
    xl destroy "$name" >/dev/null 2>&1
    echo "HARNESS: guest $name ended reason=$reason"
}

# bench_guest NAME CFG [SECONDS]: a guest of `make bench` (docs/bench.md).
# `xl create -p` is timed; then
# /harness/xsbench-dom0 unpauses the domain itself (no `xl unpause`
# process start in the timing) and serves it until it is gone: the ready
# marker, the marks (CPU samples), the pings. Nothing polls in dom0
# meanwhile, so dom0's CPU time is xenstored's and the tool's. Prints
#   HARNESS: bench NAME created domid=<domid> create_ns=<ns>
# then the tool's "HARNESS: bench ..." lines, then
#   HARNESS: guest NAME ended reason=<reason>
bench_guest() {
    name=$1; cfg=$2; limit=${3:-600}
    /harness/xsbench-dom0 time xl create -p "$cfg" "name=\"$name\"" >/tmp/xl-create-$name.log 2>&1
    t=$(sed -n 's/^xsbench-time //p' /tmp/xl-create-$name.log)
    case "$t" in
        *" rc=0") ;;
        *)  echo "HARNESS: error xl create $name failed:"
            grep -v '^xsbench-time ' /tmp/xl-create-$name.log | sed 's/^/HARNESS:   /'
            echo "HARNESS: guest $name ended reason=create-failed"
            return 1 ;;
    esac
    ns=${t#elapsed_ns=}; ns=${ns%% *}
    domid=$(xl domid "$name")
    echo "HARNESS: bench $name created domid=$domid create_ns=$ns"
    # Let dom0 settle (xl's background monitor starts right after the
    # create) so that unpause -> ready measures the guest, not dom0's
    # leftovers; the same pause for every guest.
    sleep 1
    echo "HARNESS: stage guest-run $name"
    timed_out=""
    /harness/xsbench-dom0 serve "$domid" "$name" "$limit" || timed_out=1
    # The console is not relayed live (dom0's relay would compete with
    # xenstored inside the measurements): xenconsoled's log of it is
    # relayed once the domain is gone.
    sleep 0.3
    relay "$name" < /var/log/xen/console/guest-$name.log
    reason=unknown; code=""
    for i in 1 2 3 4 5 6 7 8 9 10; do
        code=$(sed -n 's/.*has shut down, reason code \([0-9]*\).*/\1/p' /var/log/xen/xl-$name.log 2>/dev/null | tail -n1)
        [ -n "$code" ] && break
        sleep 0.2
    done
    case "$code" in
        0) reason=poweroff ;; 1) reason=reboot ;; 2) reason=suspend ;;
        3) reason=crash ;; 4) reason=watchdog ;; 5) reason=soft_reset ;;
    esac
    [ -n "$timed_out" ] && reason=timeout
    xl destroy "$name" >/dev/null 2>&1
    echo "HARNESS: guest $name ended reason=$reason"
}

if [ -f /harness/job ]; then
    . /harness/job
else
    echo "HARNESS: error no /harness/job in the initramfs"
fi
echo "HARNESS: done"
sync
poweroff -f
