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

# Save files (xl save, migration through a pipe) live in their own tmpfs:
# the root filesystem is the initramfs, capped at half of dom0's memory.
mkdir -p /save
mount -t tmpfs -o size=80% tmpfs /save || echo "HARNESS: error cannot mount the tmpfs for save files"
# `xl migrate` runs `<ssh> <host> xl migrate-receive`; this "ssh" runs it
# here, so the attempt really reaches the receiving side.
printf '#!/bin/sh\nshift\nexec "$@"\n' > /tmp/fakessh
chmod +x /tmp/fakessh

# Per-guest state (a guest may become several domains in turn: xl save and
# xl restore, migration): /tmp/g-<name>/domid (the current domain),
# .../log (xenconsoled's log file of the current domain), .../xllog (the
# log of xl's monitor of the domain), .../busy (a save or restore is under
# way: the domain may be gone for a while), .../nomonitor (xl's monitor
# exited: a suspended domain ends xl's monitor, so after `xl save -c` nobody
# logs the domain's end and nobody destroys it; dom0 then polls
# `xl list -v`), and the pids of its console relay and dom0 helper.
gdir() { echo /tmp/g-$1; }

# Relays a guest's console to ours with a prefix, one line at a time, and
# counts the lines relayed from each xenconsoled log file ($2).
relay() {
    local cr line
    cr=$(printf '\r')
    while IFS= read -r line; do
        echo "G$1| ${line%$cr}"
        echo >> /tmp/relayed-$2
    done
}

# Relays what the pty did not deliver: xenconsoled's log file has
# everything the guest put in its ring (the pty may lose what xenconsoled
# had not written out when the domain died).
catch_up() {
    local name=$1 logbase=$2 seen
    seen=$(cat /tmp/relayed-$logbase 2>/dev/null | wc -l)
    tail -n +$((seen + 1)) /var/log/xen/console/$logbase 2>/dev/null | relay "$name" "$logbase"
}

# attach NAME DOMID [CREATED_AS]: the console relay and the dom0 helper of
# a domain. CREATED_AS is the name the domain had when it was created
# (xenconsoled's and xl's log files are named after it; default NAME).
attach() {
    local name=$1 domid=$2 d=$(gdir $1) as=${3:-$1} tty i
    mkdir -p $d
    echo $domid > $d/domid
    echo "guest-$as.log" > $d/log
    echo "/var/log/xen/xl-$as.log" > $d/xllog
    # xenconsoled publishes the guest console's pty in xenstore; read the
    # pty directly (the domain is still paused, so nothing is missed).
    # GUEST_RELAY=0: no live relay (two guests that run at once would
    # interleave); detach relays xenconsoled's log once the domain is gone.
    tty=""
    for i in $(seq 1 100); do
        [ "$GUEST_RELAY" = 0 ] && break
        tty=$(xenstore-read /local/domain/$domid/console/tty 2>/dev/null) && [ -n "$tty" ] && break
        sleep 0.05
    done
    if [ "$GUEST_RELAY" = 0 ]; then
        rm -f $d/relay_pid
    elif [ -z "$tty" ]; then
        echo "HARNESS: error no console pty for $name"
        rm -f $d/relay_pid
    else
        stty -F "$tty" raw -echo 2>/dev/null
        relay "$name" "$(cat $d/log)" < "$tty" &
        echo $! > $d/relay_pid
    fi
    dom0_helper $domid "$name" &
    echo $! > $d/helper_pid
}

# detach NAME: stops the relay and helper of the current domain and relays
# what its log has beyond the pty.
detach() {
    local name=$1 d=$(gdir $1) domid
    domid=$(cat $d/domid)
    kill $(cat $d/helper_pid 2>/dev/null) 2>/dev/null
    pkill -f "xenstore-watch /local/domain/$domid/" 2>/dev/null
    if [ -f $d/relay_pid ]; then
        sleep 0.2
        kill $(cat $d/relay_pid) 2>/dev/null
        wait $(cat $d/relay_pid) 2>/dev/null
        rm -f $d/relay_pid
    fi
    catch_up "$name" "$(cat $d/log)"
}

# Seconds since dom0 booted (10 ms resolution).
up() { cut -d' ' -f1 /proc/uptime; }
since() { awk "BEGIN{printf \"%.2f\", $(up) - $1}"; }
# Copies its input, prefixing libxl's "guest has suspended" line with dom0's
# uptime; the lines after it pass through `cat` (little work for dom0's one
# vCPU while the save runs).
stamp_suspended() {
    local l u
    while IFS= read -r l; do
        case "$l" in
            *"guest has suspended"*) read -r u _ < /proc/uptime; echo "$u $l"; cat; return ;;
        esac
        echo "$l"
    done
}
# xl save with libxl's debug messages into $1 (its exit code in $1.rc); the
# moment the guest suspended is the time-stamped "guest has suspended".
xl_save_stamped() {
    local out=$1; shift
    { xl -vvv save "$@"; echo $? > $out.rc; } 2>&1 | stamp_suspended > $out
    return $(cat $out.rc)
}
suspended_at() { sed -n 's/^\([0-9.]*\) .*guest has suspended.*/\1/p' $1 | head -n1; }
downtime() { [ -n "$1" ] && awk "BEGIN{printf \"%.2f\", $(up) - $1}"; }

# lifecycle NAME OP: what xl does to a running guest, timed. OP is
#   saverestore  xl save to /save, xl restore -p, then unpause
#   checkpoint   xl save -c (the guest goes on where it was)
#   migrate      migration through a pipe: xl restore -p of a copy named
#                NAME--incoming reading a fifo while xl save writes it; then
#                xl rename to NAME and unpause
#   xlmigrate    xl migrate through /tmp/fakessh to this host (fails: PV
#                log-dirty needs shadow paging, which Debian's Xen lacks)
# and prints one result line (docs/testing.md):
#   HARNESS: guest NAME OP rc=<n> <key>=<value>...
# followed by xl's output on "  <OP>: " lines when it failed. Durations
# are seconds; down= is the downtime as the toolstack sees it, from libxl's
# "guest has suspended" (xl -vvv) until the domain runs again. The domain's
# relay and helper follow it to its new domid.
lifecycle() {
    local name=$1 op=$2 d=$(gdir $1) old img t0 t1 t2 rc save restore unpause down domid size took fifo rpid rrc alive
    old=$(cat $d/domid)
    touch $d/busy
    img=/save/$name.img
    case "$op" in
        saverestore)
            t0=$(up)
            xl_save_stamped /tmp/op-$name.out "$name" $img; rc=$?
            save=$(since $t0)
            restore=""; unpause=""; down=""
            if [ $rc = 0 ]; then
                detach "$name"
                t1=$(up)
                xl restore -p $img >>/tmp/op-$name.out 2>&1; rc=$?
                restore=$(since $t1)
                domid=$(xl domid "$name" 2>/dev/null)
                if [ $rc = 0 ] && [ -n "$domid" ]; then
                    attach "$name" $domid
                    t2=$(up)
                    xl unpause "$name"; unpause=$(since $t2)
                    down=$(downtime "$(suspended_at /tmp/op-$name.out)")
                fi
            fi
            size=$(stat -c %s $img 2>/dev/null)
            rm -f $img
            result "$name" saverestore rc=$rc save=$save restore=$restore unpause=$unpause down=$down bytes=$size old=$old domid=$(cat $d/domid) ;;
        checkpoint)
            t0=$(up)
            xl_save_stamped /tmp/op-$name.out -c "$name" $img; rc=$?
            took=$(since $t0)
            down=$(downtime "$(suspended_at /tmp/op-$name.out)")
            size=$(stat -c %s $img 2>/dev/null)
            rm -f $img
            no_monitor_if_suspended "$name"
            result "$name" checkpoint rc=$rc took=$took down=$down bytes=$size domid=$old ;;
        migrate)
            fifo=/save/$name.fifo
            rm -f $fifo; mkfifo $fifo
            sed "s/^name *=.*/name = \"$name--incoming\"/" /guest/$name.cfg > /tmp/$name-incoming.cfg
            t0=$(up)
            ( xl restore -p /tmp/$name-incoming.cfg $fifo >/tmp/op-$name-in.out 2>&1; echo $? > /tmp/op-$name-in.rc ) &
            rpid=$!
            xl_save_stamped /tmp/op-$name.out "$name" $fifo; rc=$?
            wait $rpid
            rrc=$(cat /tmp/op-$name-in.rc 2>/dev/null)
            cat /tmp/op-$name-in.out >> /tmp/op-$name.out
            took=$(since $t0)
            rm -f $fifo
            [ "$rc" = 0 ] && rc=${rrc:-1}
            unpause=""; down=""
            domid=$(xl domid "$name--incoming" 2>/dev/null)
            if [ "$rc" = 0 ] && [ -n "$domid" ]; then
                detach "$name"
                xl rename "$name--incoming" "$name" >>/tmp/op-$name.out 2>&1
                # xenconsoled's and xl's logs keep the incoming name.
                attach "$name" $domid "$name--incoming"
                t2=$(up)
                xl unpause "$name"; unpause=$(since $t2)
                down=$(downtime "$(suspended_at /tmp/op-$name.out)")
            fi
            result "$name" migrate rc=$rc took=$took unpause=$unpause down=$down old=$old domid=$(cat $d/domid) ;;
        xlmigrate)
            t0=$(up)
            xl migrate -s /tmp/fakessh "$name" localhost >/tmp/op-$name.out 2>&1; rc=$?
            took=$(since $t0)
            alive=no
            [ "$(xl domid "$name" 2>/dev/null)" = "$old" ] && alive=yes
            no_monitor_if_suspended "$name"
            result "$name" xlmigrate rc=$rc took=$took alive=$alive domid=$old ;;
        *)  echo "HARNESS: error unknown lifecycle operation $op"; rc=1 ;;
    esac
    [ "$rc" != 0 ] && grep -v ": debug: " /tmp/op-$name.out | sed "s/^/HARNESS:   $op: /" | head -n 40
    rm -f $d/busy
    return $rc
}

# The result line of an operation: printed, and kept in $d/result for the
# dom0 helper's answer.
result() {
    echo "HARNESS: guest $*" | tee $(gdir $1)/result
}

# After an operation that suspended a domain and resumed it in place: xl's
# monitor logged the suspend and exited.
no_monitor_if_suspended() {
    local d=$(gdir $1)
    if grep -q "has shut down, reason code" "$(cat $d/xllog)" 2>/dev/null; then
        touch $d/nomonitor
        echo /dev/null > $d/xllog
    fi
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
            save|saverestore|checkpoint|migrate|xlmigrate)
                   [ "$op" = save ] && op=saverestore
                   # The domain is saved (and this helper stopped) on the
                   # way: run it apart, and answer in the home of whatever
                   # domain the guest is afterwards. (Its output goes to the
                   # console: the relay and helper it starts inherit it.)
                   ( lifecycle "$gname" $op; rc=$?
                     g=$(gdir $gname)
                     info=$(cut -d' ' -f5- $g/result 2>/dev/null)
                     if [ $rc = 0 ]; then r="$seq ok $info"; else r="$seq err $info"; fi
                     xenstore-write /local/domain/$(cat $g/domid)/data/harness/rsp "$r" ) &
                   continue ;;
            *)     rsp="err unknown request $op" ;;
        esac
        # Error texts name paths relative to the guest's home, so that they
        # do not depend on the domain id (conformance transcripts).
        rsp=$(printf '%s' "$rsp" | sed "s|$home/||g")
        xenstore-write $home/data/harness/rsp "$seq $rsp"
    done
}

# reason_name CODE: the name of a SHUTDOWN_* reason code xl logged
# ("unknown" for none).
reason_name() {
    case "$1" in
        0) echo poweroff ;; 1) echo reboot ;; 2) echo suspend ;;
        3) echo crash ;; 4) echo watchdog ;; 5) echo soft_reset ;;
        *) echo unknown ;;
    esac
}

# start_guest NAME CFG [xl key=value overrides...]: creates the guest paused,
# attaches the console (unless GUEST_RELAY=0) and its dom0 helper, and
# unpauses it. The domain id is kept in $(gdir NAME)/domid.
start_guest() {
    name=$1; cfg=$2; shift 2
    d=$(gdir $name)
    rm -rf $d; mkdir -p $d
    if ! xl create -p "$cfg" "name=\"$name\"" "$@" >/tmp/xl-create-$name.log 2>&1; then
        echo "HARNESS: error xl create $name failed:"
        sed 's/^/HARNESS:   /' /tmp/xl-create-$name.log
        echo "HARNESS: guest $name ended reason=create-failed"
        return 1
    fi
    domid=$(xl domid "$name")
    echo "$domid" > /tmp/domid-$name
    echo "HARNESS: guest $name created domid=$domid"
    attach "$name" $domid
    xl unpause "$name"
    echo "HARNESS: stage guest-run $name"
}

# run_guest NAME CFG [xl key=value overrides...]: start_guest, then the
# GUEST_ACTION if any, then wait_guest. The guest may change domains on the
# way (xl save/restore, migration), by GUEST_ACTION or at the request of an
# in-guest test.
run_guest() {
    name=$1
    start_guest "$@" || return 1
    d=$(gdir $name); domid=$(cat $d/domid)
    # GUEST_ACTION: once the guest advertises the shutdown protocol
    # (control/feature-poweroff), dom0 acts on it (docs/testing.md).
    if [ -n "$GUEST_ACTION" ]; then
        for i in $(seq 1 300); do
            [ "$(xenstore-read /local/domain/$domid/control/feature-poweroff 2>/dev/null)" = 1 ] && break
            sleep 0.1
        done
        sleep 1
        t_action=$(up)
        case "$GUEST_ACTION" in
            debugkeys) xl debug-keys q >/dev/null 2>&1 || echo "HARNESS: error xl debug-keys failed" ;;
            save)  # xl save and xl restore, then xl shutdown of the restored domain.
                   lifecycle "$name" saverestore
                   sleep 2
                   xl shutdown "$name" >/dev/null 2>&1 || echo "HARNESS: error xl shutdown $name failed" ;;
            lifecycle)
                   # Everything xl can do to a running guest, each timed:
                   # save + restore, save -c, migration through a pipe, and
                   # xl migrate (which fails); then xl shutdown.
                   for op in saverestore checkpoint migrate xlmigrate; do
                       lifecycle "$name" $op
                       sleep 3
                   done
                   xl shutdown "$name" >/dev/null 2>&1 || echo "HARNESS: error xl shutdown $name failed" ;;
            *) xl $GUEST_ACTION "$name" >/dev/null 2>&1 || echo "HARNESS: error xl $GUEST_ACTION $name failed" ;;
        esac
    fi
    wait_guest "$name"
}

# wait_guest NAME: waits until the domain is gone and prints
#   HARNESS: guest NAME ended reason=<poweroff|reboot|suspend|crash|watchdog|unknown|timeout>
wait_guest() {
    name=$1
    d=$(gdir $name)
    # Wait until the domain is gone (its xenstore home disappears) or xl's
    # monitor logged its shutdown (a crashed domain is preserved). This loop
    # must stay cheap: it shares dom0's one vCPU with xenstored, so no `xl`
    # runs in it except for the CPU-time samples of GUEST_CPU=1 guests.
    # While a save or restore is under way (busy) the domain may be gone or
    # suspended: the loop waits for it to finish. GUEST_TIMEOUT (seconds):
    # past it the guest is destroyed and reported as timed out, and the job
    # goes on with the next guest.
    cpu_first=""; cpu_last=""; t_first=""; t_last=""
    t_start=$(up); timed_out=""; next_sample=0; t_poll=0
    while :; do
        now=$(up)
        if [ -n "$GUEST_TIMEOUT" ] && [ "$(awk "BEGIN{print ($now - $t_start > $GUEST_TIMEOUT)}")" = 1 ]; then
            timed_out=1
            echo "HARNESS: guest $name timeout after ${GUEST_TIMEOUT} s; destroying it"
            xl destroy "$name" >/dev/null 2>&1
            break
        fi
        if [ -e $d/busy ]; then sleep 0.1; continue; fi
        domid=$(cat $d/domid)
        gone=""
        xenstore-read /local/domain/$domid/name >/dev/null 2>&1 || gone=1
        grep -q "has shut down, reason code" "$(cat $d/xllog)" 2>/dev/null && gone=1
        if [ -e $d/nomonitor ] && [ "$(awk "BEGIN{print ($now - ${t_poll:-0} >= 1)}")" = 1 ]; then
            t_poll=$now
            set -- $(xl list -v "$name" 2>/dev/null | awk 'NR==2')
            case "$5" in *s*|*c*) echo "$8" > $d/code; gone=1 ;; esac
        fi
        if [ -n "$gone" ]; then
            # A save that began meanwhile is not an end.
            [ -e $d/busy ] && continue
            if [ "$(cat $d/domid)" = "$domid" ]; then
                echo "HARNESS: guest $name gone domid=$domid xllog=$(cat $d/xllog): $(grep 'has shut down' "$(cat $d/xllog)" 2>/dev/null | tail -n1)"
                break
            fi
            continue
        fi
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
    # A save or restore the helper started may still be running.
    for i in $(seq 1 600); do [ -e $d/busy ] || break; sleep 0.1; done
    t_end=$(up)
    [ -n "$GUEST_CPU" ] && echo "HARNESS: guest $name cpu first=$cpu_first last=$cpu_last wall_first=$t_first wall_last=$t_last"
    if [ "$GUEST_ACTION" = shutdown ] || [ "$GUEST_ACTION" = reboot ]; then
        echo "HARNESS: guest $name action $GUEST_ACTION took=$(awk "BEGIN{print $t_end - $t_action}")"
    fi
    detach "$name"
    # xl's monitoring daemon logs the shutdown reason code (or `xl list -v`
    # showed it, without a monitor).
    code=$(cat $d/code 2>/dev/null)
    for i in 1 2 3 4 5 6 7 8 9 10; do
        [ -n "$code" ] && break
        code=$(sed -n 's/.*has shut down, reason code \([0-9]*\).*/\1/p' "$(cat $d/xllog)" 2>/dev/null | tail -n1)
        [ -n "$code" ] && break
        sleep 0.2
    done
    reason=$(reason_name "$code")
    [ -n "$timed_out" ] && reason=timeout
    if [ -f /harness/debug ]; then
        xl dmesg 2>&1 | tail -n 40 | sed 's/^/HARNESS:   xen: /'
        for f in /var/log/xen/console/guest-$name*.log /var/log/xen/xl-$name*.log*; do
            tail -n 30 $f 2>/dev/null | sed "s|^|HARNESS:   $(basename $f): |"
        done
    fi
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
    code=""
    for i in 1 2 3 4 5 6 7 8 9 10; do
        code=$(sed -n 's/.*has shut down, reason code \([0-9]*\).*/\1/p' /var/log/xen/xl-$name.log 2>/dev/null | tail -n1)
        [ -n "$code" ] && break
        sleep 0.2
    done
    reason=$(reason_name "$code")
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
