#!/bin/busybox sh
# /init of the harness's dom0: brings up the Xen toolstack (xenstored,
# xen-init-dom0, xenconsoled) and then runs /harness/job, which the host
# harness (tests/harness/xenrun.py) put into the initramfs for this run.
#
# Lines for the host harness start with "HARNESS: "; lines of a guest's
# console are relayed with the prefix "G<domain name>| ".
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
    *" harness.xstrace=1 "*)
        # Every message in and out, for diagnosing xenstored itself.
        xenstored --pid-file=/run/xenstored.pid -T /var/log/xen/xenstored-trace.log || echo "HARNESS: error xenstored failed"
        echo "HARNESS: xenstored traces to /var/log/xen/xenstored-trace.log" ;;
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

# dom0_helper DOMID NAME: serves the requests in-guest tests and the
# conformance runner write to data/harness/req (see kernel/src/ktest/dom0.rs
# and docs/conformance.md 1.7 for the protocol). Error texts name paths
# relative to the guest's home, so they do not depend on the domain id.
#   save: `xl save` then `xl restore` of the domain; the answer goes to the
#   restored domain (new domid), and a new helper serves it.
dom0_helper() {
    home=/local/domain/$1; name=$2
    last=""
    xenstore-watch $home/data/harness/req 2>/dev/null | while read -r _path; do
        req=$(xenstore-read $home/data/harness/req 2>/dev/null) || continue
        set -- $req
        seq=$1; op=$2; path=$3
        [ -z "$seq" ] && continue
        [ "$seq" = "$last" ] && continue
        last=$seq
        rsp_home=$home; moved=""
        case "$op" in
            write) value=${req#* * * }; [ "$value" = "$req" ] && value=""
                   if out=$(xenstore-write "$home/$path" "$value" 2>&1); then rsp="ok"; else rsp="err $out"; fi ;;
            mkdir) if out=$(xenstore-write "$home/$path" "" 2>&1); then rsp="ok"; else rsp="err $out"; fi ;;
            rm)    if out=$(xenstore-rm "$home/$path" 2>&1); then rsp="ok"; else rsp="err $out"; fi ;;
            read)  if out=$(xenstore-read "$home/$path" 2>&1); then rsp="ok $out"; else rsp="err $out"; fi ;;
            console) text=${req#* * }
                   tty=$(xenstore-read $home/console/tty 2>/dev/null)
                   if [ -n "$tty" ] && printf '%s\n' "$text" > "$tty"; then rsp="ok"; else rsp="err no console pty"; fi ;;
            save)  # Save and restore: the domain id changes. wait_guest
                   # follows /tmp/domid-NAME while /tmp/saving-NAME exists.
                   # The image goes to /run (its own tmpfs: the root one is
                   # too full for a 160 MB guest).
                   echo "HARNESS: guest $name save requested"
                   touch /tmp/saving-$name
                   grep -c "has shut down" /var/log/xen/xl-$name.log > /tmp/shutdowns-$name 2>/dev/null
                   if out=$(xl save "$name" /run/$name.save 2>&1); then
                       if out=$(xl restore /run/$name.save 2>&1); then
                           newid=$(xl domid "$name" 2>/dev/null)
                           rsp="ok"; rsp_home=/local/domain/$newid; moved=$newid
                           echo "$newid" > /tmp/domid-$name
                           echo "HARNESS: guest $name restored domid=$newid"
                       else
                           rsp="err xl restore: $(echo "$out" | tail -n 1)"
                           echo "HARNESS: error xl restore $name failed: $(echo "$out" | tail -n 1)"
                       fi
                   else
                       rsp="err xl save: $(echo "$out" | grep -v '^Saving\|^libxl: info' | tail -n 1)"
                       echo "$out" | sed "s/^/HARNESS:   xl save $name: /"
                   fi
                   grep -c "has shut down" /var/log/xen/xl-$name.log > /tmp/shutdowns-$name 2>/dev/null
                   rm -f /run/$name.save /tmp/saving-$name ;;
            *)     rsp="err unknown request $op" ;;
        esac
        rsp=$(printf '%s' "$rsp" | sed "s|$home/||g")
        xenstore-write $rsp_home/data/harness/rsp "$seq $rsp"
        if [ -n "$moved" ]; then
            dom0_helper $moved $name &
            echo $! > /tmp/helper-$name
            pkill -f "xenstore-watch $home/data/harness/req" 2>/dev/null
            break
        fi
    done
}

# start_guest NAME CFG [xl key=value overrides...]: creates the guest paused,
# attaches the console (unless GUEST_RELAY=0), starts its dom0 helper and
# unpauses it. The domain id is kept in /tmp/domid-NAME.
start_guest() {
    name=$1; cfg=$2; shift 2
    rm -f /tmp/relayed-$name /tmp/saving-$name /tmp/shutdowns-$name
    if ! xl create -p "$cfg" "name=\"$name\"" "$@" >/tmp/xl-create-$name.log 2>&1; then
        echo "HARNESS: error xl create $name failed:"
        sed 's/^/HARNESS:   /' /tmp/xl-create-$name.log
        echo "HARNESS: guest $name ended reason=create-failed"
        return 1
    fi
    domid=$(xl domid "$name")
    echo "$domid" > /tmp/domid-$name
    echo "HARNESS: guest $name created domid=$domid"
    if [ "$GUEST_RELAY" != 0 ]; then
        # xenconsoled publishes the guest console's pty in xenstore; read the
        # pty directly (the domain is still paused, so nothing is missed).
        tty=""
        for i in $(seq 1 100); do
            tty=$(xenstore-read /local/domain/$domid/console/tty 2>/dev/null) && [ -n "$tty" ] && break
            sleep 0.05
        done
        if [ -z "$tty" ]; then
            echo "HARNESS: error no console pty for $name"
        else
            stty -F "$tty" raw -echo 2>/dev/null
            relay "$name" < "$tty" &
            echo $! > /tmp/relay-$name
        fi
    fi
    dom0_helper $domid $name &
    echo $! > /tmp/helper-$name
    xl unpause "$name"
    echo "HARNESS: stage guest-run $name"
}

# wait_guest NAME: waits until the domain is gone and prints
#   HARNESS: guest NAME ended reason=<poweroff|reboot|suspend|crash|watchdog|unknown|timeout>
# GUEST_TIMEOUT (seconds, counted from the call): past it the guest is
# destroyed and reported as timed out. A `dom0 save` request (the helper's
# save op) changes the domain id on the way; it is followed.
wait_guest() {
    name=$1
    domid=$(cat /tmp/domid-$name)
    # This loop must stay cheap: it shares dom0's one vCPU with xenstored, so
    # no `xl` runs in it except for the CPU-time samples of GUEST_CPU=1 guests.
    cpu_first=""; cpu_last=""; t_first=""; t_last=""
    t_start=$(cut -d' ' -f1 /proc/uptime); timed_out=""; next_sample=0
    while :; do
        now=$(cut -d' ' -f1 /proc/uptime)
        if [ -n "$GUEST_TIMEOUT" ] && [ "$(awk "BEGIN{print ($now - $t_start > $GUEST_TIMEOUT)}")" = 1 ]; then
            timed_out=1
            echo "HARNESS: guest $name timeout after ${GUEST_TIMEOUT} s; destroying it"
            xl destroy "$name" >/dev/null 2>&1
            break
        fi
        if [ -f /tmp/saving-$name ]; then
            sleep 0.2
            continue
        fi
        domid=$(cat /tmp/domid-$name)
        xenstore-read /local/domain/$domid/name >/dev/null 2>&1 || break
        seen_down=$(cat /tmp/shutdowns-$name 2>/dev/null); seen_down=${seen_down:-0}
        [ "$(grep -c "has shut down, reason code" /var/log/xen/xl-$name.log 2>/dev/null)" -gt "$seen_down" ] && break
        if [ -n "$GUEST_CPU" ] && [ "$(awk "BEGIN{print ($now - $t_start >= $next_sample)}")" = 1 ]; then
            set -- $(xl list "$name" 2>/dev/null | awk 'NR==2')
            if [ -n "$6" ]; then
                [ -z "$cpu_first" ] && { cpu_first=$6; t_first=$now; }
                cpu_last=$6; t_last=$now
            fi
            next_sample=$(awk "BEGIN{print $now - $t_start + 2}")
        fi
        sleep 0.1
    done
    t_end=$(cut -d' ' -f1 /proc/uptime)
    kill $(cat /tmp/helper-$name 2>/dev/null) 2>/dev/null
    pkill -f "xenstore-watch /local/domain/$domid/" 2>/dev/null
    [ -n "$GUEST_CPU" ] && echo "HARNESS: guest $name cpu first=$cpu_first last=$cpu_last wall_first=$t_first wall_last=$t_last"
    if [ "$GUEST_ACTION" = shutdown ] || [ "$GUEST_ACTION" = reboot ]; then
        echo "HARNESS: guest $name action $GUEST_ACTION took=$(awk "BEGIN{print $t_end - $t_action}")"
    fi
    relay_pid=$(cat /tmp/relay-$name 2>/dev/null)
    [ -n "$relay_pid" ] && { sleep 0.2; kill $relay_pid 2>/dev/null; wait $relay_pid 2>/dev/null; }
    rm -f /tmp/relay-$name
    if [ "$GUEST_RELAY" != 0 ]; then
        # The pty may lose what xenconsoled had not written out when the
        # domain died (or a restore gave the domain a new pty); xenconsoled's
        # log file has everything the guest put in its ring. Relay the lines
        # the pty did not deliver.
        seen=$(cat /tmp/relayed-$name 2>/dev/null | wc -l)
        tail -n +$((seen + 1)) /var/log/xen/console/guest-$name.log 2>/dev/null | relay "$name"
    fi
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

# run_guest NAME CFG [xl key=value overrides...]: start_guest, then the
# GUEST_ACTION if any, then wait_guest.
run_guest() {
    name=$1
    start_guest "$@" || return 1
    domid=$(cat /tmp/domid-$name)
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
    wait_guest "$name"
}

if [ -f /harness/job ]; then
    . /harness/job
else
    echo "HARNESS: error no /harness/job in the initramfs"
fi
echo "HARNESS: done"
sync
poweroff -f
