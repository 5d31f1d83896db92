#!/usr/bin/env python3
"""`make test`: host tests, then the guest checks under nested Xen (one boot
of QEMU + Xen + dom0 per xenstored the checks need), then the conformance
corpus, with live progress, JUnit XML in build/test-results/, the serial
logs in build/logs/, and one closing line `N passed, N failed`. Exits
non-zero on any failure, crash or timeout.

Every guest check is one `Check` record in CHECKS below; adding a check
touches that list only. The console lines this file parses (from dom0 and
from the guests) follow the grammar in docs/testing.md, "Console grammar".
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Callable, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xenrun  # noqa: E402
import conformance  # noqa: E402
import tools  # noqa: E402

# Guest console lines (docs/testing.md, "Console grammar").
TEST_LINE = re.compile(r"^TEST (\S+) \.\.\. (ok|FAIL|TIMEOUT|SKIP)(?: \(([\d.]+) ms\))?")
METRIC_PREFIX = "METRIC "
CRASH_PREFIX = "*** CRASH"
SUCCESS = r"^Test result: SUCCESS$"
# Actions dom0's run_guest performs once the guest advertises
# control/feature-poweroff (GUEST_ACTION in tests/harness/dom0-init.sh).
ACTIONS = ("shutdown", "reboot", "debugkeys", "save", "lifecycle")
# How a domain can end (the reason= of "HARNESS: guest <name> ended").
ENDS = ("poweroff", "reboot", "suspend", "crash", "watchdog", "soft_reset", "unknown", "timeout", "create-failed")
# An image Xen's loader rejects; every run's initramfs carries it (xenrun.Run.initrd).
BOGUS_IMAGE = "/guest/bogus.elf"


@dataclass
class Check:
    """One guest check: a domain of its own, started by dom0 with `xl create`.

    name        the domain's name; JUnit suite `guest.<name>`
    cmdline     words added to the kernel command line (the cfg's `extra=`)
    expect      how the domain must end (one of ENDS)
    patterns    regexes; each must match some line of the guest's console
    timeout     seconds dom0 lets the domain run before destroying it (it then
                ends with reason `timeout`)
    action      what dom0 does once the guest is up (one of ACTIONS), or None
    memory      the domain's memory in MiB (the cfg's `memory=` otherwise)
    xenstored   dom0's xenstored: "xenstored" (C) or "oxenstored" (OCaml); the
                checks of each xenstored share one boot of the nested stack
    junit_tests each `TEST` line of the console becomes a JUnit case of its own
    verify      verify(guest, run) -> (problems, metrics): more judgement on the
                ended domain (xenrun.Guest) and its boot (xenrun.Run)
    image       the kernel image dom0 gives xl, instead of the unikernel
    cpu_samples dom0 samples the domain's CPU time (`xl list`) every 2 s; the
                samples are in guest.cpu for verify
    linux       the domain is the Debian Linux PV domU (dom0's kernel) running
                tests/harness/linux-lifecycle-init.sh, not the unikernel
    big         the boot needs a big dom0 (1 GiB, QEMU 3 GiB: save files of
                128 MiB guests, the Linux image); such checks share a boot
    proves      one line for the table in docs/testing.md (`test.py --list`)
    """
    name: str
    cmdline: str = ""
    expect: str = "poweroff"
    patterns: list = field(default_factory=list)
    timeout: int = 60
    action: Optional[str] = None
    memory: Optional[int] = None
    xenstored: str = "xenstored"
    junit_tests: bool = False
    verify: Optional[Callable] = None
    image: Optional[str] = None
    cpu_samples: bool = False
    linux: bool = False
    big: bool = False
    proves: str = ""

    def __post_init__(self):
        assert re.fullmatch(r"[A-Za-z0-9_.-]+", self.name), self.name
        assert self.expect in ENDS, self.expect
        assert self.action is None or self.action in ACTIONS, self.action
        assert self.xenstored in ("xenstored", "oxenstored"), self.xenstored


# --- verify functions: (xenrun.Guest, xenrun.Run) -> (problems, metrics) ---

def xl_reason_shown(g, run):
    """xl's reason for refusing the image reached the console."""
    why = [l[len("HARNESS:   "):] for l in run.dom0_lines if l.startswith("HARNESS:   ") and "no loader found" in l]
    if not why:
        return ["xl's reason for refusing the image was not shown"], []
    return [], [f"{g.name}: xl said: " + why[0]]


def ops_of(g, op):
    return [kv for o, kv in g.lifecycle if o == op]


def secs(kv, key):
    try:
        return float(kv.get(key, ""))
    except ValueError:
        return None


def saved_and_restored(g, run):
    """`xl save` and `xl restore` worked (a new domain), timed."""
    sr = ops_of(g, "saverestore")
    if not sr:
        return ["dom0 reported no save/restore"], []
    kv = sr[0]
    problems = [] if kv.get("rc") == "0" else [f"save/restore failed: rc={kv.get('rc')}"]
    if kv.get("domid") == kv.get("old"):
        problems.append("the domain id did not change")
    return problems, [f"{g.name}: xl save {kv.get('save')} s, xl restore -p {kv.get('restore')} s, unpause "
                      f"{kv.get('unpause')} s, {int(kv.get('bytes') or 0) >> 10} KiB saved, domain {kv.get('old')} -> "
                      f"{kv.get('domid')}"]


def console_once(*needles):
    """Each of these console lines arrived exactly once: output written
    around a suspend was neither lost nor relayed twice."""
    def verify(g, run):
        problems = []
        for n in needles:
            k = sum(n in l for l in g.lines)
            if k != 1:
                problems.append(f"console line '{n}' seen {k} times")
        return problems, []
    return verify


# Figures of the lifecycle checks, by label, for the closing comparison.
LIFECYCLE = {}


def gaps_of(g):
    return [int(l.split("=", 1)[1]) for l in g.lines if l.startswith("GAPWATCH gap_ms=")]


def lifecycle_verify(label):
    """dom0 saved and restored the guest, checkpointed it, migrated it
    through a pipe (all rc=0), `xl migrate` failed and left it running, and
    `xl shutdown` still ended it. The figures go to metrics.txt; the
    program-visible downtime of each comes from the GAPWATCH probe."""
    def verify(g, run):
        problems, figs = [], {}
        for op in ("saverestore", "checkpoint", "migrate"):
            kvs = ops_of(g, op)
            if not kvs:
                problems.append(f"no {op}")
            elif kvs[0].get("rc") != "0":
                problems.append(f"{op} failed: rc={kvs[0].get('rc')}")
        xm = ops_of(g, "xlmigrate")
        if not xm:
            problems.append("no xl migrate attempt")
        elif xm[0].get("rc") == "0" or xm[0].get("alive") != "yes":
            problems.append(f"xl migrate: rc={xm[0].get('rc')} alive={xm[0].get('alive')} (expected a failure, "
                            f"the guest running on)")
        sr = (ops_of(g, "saverestore") or [{}])[0]
        cp = (ops_of(g, "checkpoint") or [{}])[0]
        mg = (ops_of(g, "migrate") or [{}])[0]
        figs = {"save": secs(sr, "save"), "restore": secs(sr, "restore"), "sr_down": secs(sr, "down"),
                "checkpoint": secs(cp, "took"), "cp_down": secs(cp, "down"), "migrate": secs(mg, "took"),
                "migrate_down": secs(mg, "down"), "gaps": gaps_of(g), "bytes": int(sr.get("bytes") or 0)}
        LIFECYCLE[label] = figs
        metrics = [f"lifecycle.{label}: xl save {figs['save']} s, xl restore -p {figs['restore']} s "
                   f"({figs['bytes'] >> 20} MiB saved; stopped {figs['sr_down']} s), xl save -c {figs['checkpoint']} s "
                   f"(stopped {figs['cp_down']} s), migration through a pipe {figs['migrate']} s with "
                   f"{figs['migrate_down']} s downtime (libxl's 'guest has suspended' until unpaused); gaps the "
                   f"in-guest probe saw {figs['gaps']} ms; xl migrate: rc={(xm or [{}])[0].get('rc')}, guest still "
                   f"running"]
        if figs["migrate_down"] is None:
            problems.append("no downtime measured for the migration")
        return problems, metrics
    return verify


def timeout_reported(g, run):
    """dom0 said it destroyed the domain at its timeout."""
    if not any(f"guest {g.name} timeout after" in l for l in run.dom0_lines):
        return ["the harness did not report the timeout"], []
    return [], []


def action_within(limit):
    """The xl action (shutdown, reboot) ended the domain within `limit` s."""
    def verify(g, run):
        if g.action_seconds is None:
            return ["no timing of the xl action"], []
        metrics = [f"{g.name}.seconds={g.action_seconds:.2f} (xl {g.action} issued until the domain was gone)"]
        if g.action_seconds > limit:
            return [f"xl {g.action} took {g.action_seconds:.1f} s (limit {limit:.0f} s)"], metrics
        return [], metrics
    return verify


def cpu_below(limit):
    """The domain used less than `limit` s of CPU time between dom0's samples."""
    def verify(g, run):
        try:
            cpu = float(g.cpu["last"]) - float(g.cpu["first"])
            wall = float(g.cpu["wall_last"]) - float(g.cpu["wall_first"])
        except (KeyError, ValueError):
            return ["no CPU time samples from dom0"], []
        metrics = [f"{g.name}.guest_cpu_seconds={cpu:.1f} over {wall:.1f} s of wall time (xl list)"]
        if cpu > limit:
            return [f"the idle guest used {cpu:.1f} s of CPU in {wall:.1f} s"], metrics
        return [], metrics
    return verify


# A guest test that corrupts its own xenstore ring through dom0's
# ring-corruptor (the dom0 helper's `corrupt` request): the guest must log the
# lost connection and still finish its test run.
RING_PATTERNS = [r"xenstore: connection lost:", SUCCESS]

CHECKS = [
    Check("suites", "tests=all", patterns=[SUCCESS, r"watch events dropped"], timeout=300, junit_tests=True,
          proves="every in-guest suite passes (each test is a JUnit case); the storm's dropped events are logged"),
    Check("suites-4mib", "tests=all", memory=4, patterns=[SUCCESS], timeout=300,
          proves="the whole in-guest suite also passes in a 4 MiB domain"),
    # The framework's own checks: a failing test shows expected and received
    # bytes, a hanging one is stopped at its timeout and the run goes on.
    Check("demo", "tests=demo::fails,demo::hangs,demo::lock_inversion",
          patterns=[r"^TEST demo::fails \.\.\. FAIL", r"expected: 4f 4b 00 \|OK\.\|",
                    r"received: 45 4e 4f 45 4e 54 00 \|ENOENT\.\|", r"^TEST demo::hangs \.\.\. TIMEOUT",
                    r"^LOCKDEP: lock order inversion: 'demo\.a' taken at kernel/src/ktest/demo\.rs:\d+ while holding "
                    r"'demo\.b' \(taken at kernel/src/ktest/demo\.rs:\d+\); earlier 'demo\.b' was taken at "
                    r"kernel/src/ktest/demo\.rs:\d+ while holding 'demo\.a'",
                    r"^TEST demo::lock_inversion \.\.\. ok",
                    r"^1 passed, 2 failed$", r"^Test result: FAILURE$"],
          proves="a failing test shows expected/received bytes; a hanging one is stopped at its timeout and the "
                 "run goes on; the lock-order checker reports a deliberate inversion with both sites"),
    Check("xl-shutdown", "idle=60", action="shutdown", verify=action_within(5.0),
          patterns=[r"control/shutdown: 'poweroff' requested", r"unikernel: poweroff"],
          proves="`xl shutdown` ends a waiting guest cleanly, timed (limit 5 s)"),
    Check("xl-reboot", "idle=60", expect="reboot", action="reboot", verify=action_within(5.0),
          patterns=[r"control/shutdown: 'reboot' requested", r"unikernel: reboot"],
          proves="`xl reboot` ends a waiting guest cleanly, timed (limit 5 s)"),
    Check("xl-save", "idle=60", action="save", verify=saved_and_restored,
          patterns=[r"control/shutdown: 'suspend' requested", r"suspend: resumed in a new domain",
                    r"control/shutdown: 'poweroff' requested", r"unikernel: poweroff"],
          proves="`xl save` then `xl restore`: the guest resumes in a new domain; `xl shutdown` then powers it off"),
    Check("debug-virq", "idle=4", action="debugkeys",
          patterns=[r"--- debug: threads ---", r"thread +\d+ control", r"--- debug: event channels ---",
                    r"port +\d+ Ok\(Virq\(0\)\)", r"upcalls=\d+"],
          proves="`xl debug-keys q` raises VIRQ_DEBUG: threads and event channels are printed"),
    Check("idle", "idle=10", cpu_samples=True, verify=cpu_below(0.5), patterns=[r"idle done after \d+ ms"],
          proves="the guest's CPU time (`xl list`) stays near zero while it waits 10 s"),
    Check("silent", "hang=early", expect="timeout", timeout=5, verify=timeout_reported,
          proves="a guest that never prints is stopped at its timeout and reported; the run goes on"),
    Check("bad-image", image=BOGUS_IMAGE, expect="create-failed", timeout=30, verify=xl_reason_shown,
          proves="an image Xen's loader rejects: xl's reason is shown"),
    Check("boot", patterns=[r"start_info xen-3\.0-x86_64 nr_pages=\d+", r"memory: heap 0x[0-9a-f]+-0x[0-9a-f]+",
                            r"INFO  boot complete in \d+ us", r"unikernel: poweroff"],
          proves="start-of-day lines, memory layout"),
    Check("crash-pagefault", "crash=pagefault", expect="crash",
          patterns=[r"\*\*\* CRASH: page fault \(vector 14\)", r"fault address 0x00000000deadb000",
                    r"#0 0xffffffff[0-9a-f]+ unikernel::modes::\S+\+0x[0-9a-f]+ \(rip\)", r"\*\*\* END CRASH"],
          proves="crash report with fault address and symbolized backtrace; the harness tells crash from poweroff"),
    Check("crash-panic", "crash=panic", expect="crash",
          patterns=[r"\*\*\* CRASH: PANIC: crash=panic requested on the command line at kernel/src/modes\.rs:\d+",
                    r"#\d+ 0xffffffff[0-9a-f]+ unikernel::modes::\S+\+0x[0-9a-f]+", r"\*\*\* END CRASH"],
          proves="a panic's crash report with its location and backtrace"),
    # dom0 corrupts the guest's xenstore ring (tests/harness/ring-corruptor),
    # last in their boot so that a xenstored upset by them harms no other check.
    Check("ring-rsp-prod-ahead", "tests=adversary::dom0_rsp_prod_ahead", patterns=RING_PATTERNS,
          proves="dom0 moves the ring's rsp_prod far ahead: the guest logs the lost connection and goes on"),
    Check("ring-req-cons-ahead", "tests=adversary::dom0_req_cons_ahead", patterns=RING_PATTERNS,
          proves="dom0 moves req_cons past req_prod: the guest logs the lost connection and goes on"),
    Check("ring-oversized-header", "tests=adversary::dom0_oversized_header", patterns=RING_PATTERNS,
          proves="dom0 puts a reply header with len 5000 in the rsp ring: the guest logs the lost connection "
                 "and goes on"),
    Check("ring-self-rsp-prod-ahead", "tests=adversary::self_rsp_prod_ahead", patterns=RING_PATTERNS,
          proves="rsp_prod 64 KiB ahead with 60 requests in flight: each answered once (EIO if lost), timed"),
    Check("ring-self-req-cons-ahead", "tests=adversary::self_req_cons_ahead", patterns=RING_PATTERNS,
          proves="req_cons 5000 past req_prod, found on the submit path: everything in flight answered"),
    Check("ring-policy-poweroff", "tests=adversary::self_rsp_prod_ahead on_xenstore_failure=poweroff",
          patterns=[r"xenstore: connection lost: .*powering off \(on_xenstore_failure=poweroff\)",
                    r"unikernel: poweroff"],
          proves="on_xenstore_failure=poweroff: a lost xenstore connection powers the guest off"),
    # Suspend and resume (issue 11): dom0 saves, restores, checkpoints or
    # migrates the domain when the in-guest test asks (dom0::lifecycle).
    Check("save-restore", "tests=suspend::save_restore", timeout=240, junit_tests=True,
          verify=console_once("asking dom0 for 'saverestore'", "'suspend' requested by the toolstack",
                              "suspend: resumed in a new domain", "console output goes on after the restore"),
          patterns=[SUCCESS, r"suspend: resumed in a new domain", r"console output goes on after the restore",
                    r"xenstore: on the new domain's ring"],
          proves="`xl save` + `xl restore`: a counter thread goes on, time checks hold, xenstore reads and writes "
                 "work, a watch registered through the node before the save fires after it on a dom0 write, a "
                 "queued reply and a partial request survive, console output continues"),
    Check("save-checkpoint", "tests=suspend::checkpoint", timeout=240, junit_tests=True,
          patterns=[SUCCESS, r"suspend: cancelled, resumed where it was"],
          proves="`xl save -c`: the suspend is cancelled and the same domain goes on (no watch fires again; a "
                 "transaction from before ends EAGAIN, as on Linux)"),
    Check("migrate-pipe", "tests=suspend::migrate", timeout=240, junit_tests=True,
          patterns=[SUCCESS, r"suspend: resumed in a new domain"],
          proves="migration through a pipe (`xl save` into a fifo, `xl restore` of a renamed copy, `xl rename`): "
                 "a new domain id, the same name, watches and xenstore work"),
    Check("save-restore-10", "tests=suspend::cycles", timeout=900, junit_tests=True, patterns=[SUCCESS],
          proves="10 save/restore cycles in a row with kernel and node xenstore traffic running: no error"),
    Check("save-inflight", "tests=suspend::inflight", timeout=240, junit_tests=True,
          patterns=[SUCCESS, r"held across it"],
          proves="a suspend requested while 16 xenstore requests are on the ring and 48 more arrive during it: "
                 "every one answered"),
    Check("save-inflight-max", "tests=suspend::inflight_max", memory=64, timeout=300, junit_tests=True,
          patterns=[SUCCESS, r"held across it"],
          proves="the most: 20 requests on the ring (xenstored's quota) and 2000 submitted during the suspend, "
                 "every one answered"),
    # The same lifecycle, timed, for the unikernel and for the Linux domU in
    # one boot (a big dom0): save, restore, save -c, migration through a
    # pipe, `xl migrate` (fails cleanly), then `xl shutdown`.
    Check("lifecycle-ours", "idle=900 gapwatch", action="lifecycle", memory=128, big=True, timeout=600,
          verify=lifecycle_verify("ours"), patterns=[r"suspend: resumed in a new domain", r"unikernel: poweroff"],
          proves="save/restore, save -c, migration through a pipe timed at 128 MiB; `xl migrate` fails and the "
                 "guest stays manageable (`xl shutdown` works)"),
    Check("lifecycle-linux", linux=True, action="lifecycle", memory=128, big=True, timeout=600,
          verify=lifecycle_verify("linux"), patterns=[r"LINUX-GUEST: up"],
          proves="the same operations on the Debian Linux PV domU in the same boot, for comparison"),
    # The xenstore suite against the OCaml xenstored, which offers ring
    # reconnection (the C one does not): the reset protocol runs for real, and
    # the client meets a second server.
    Check("oxenstored", "tests=xenstore::*", xenstored="oxenstored", timeout=120, junit_tests=True,
          patterns=[r"\(reconnection offered\)", SUCCESS],
          proves="the xenstore suite against oxenstored, whose ring reconnection is exercised for real"),
    Check("save-restore-oxenstored", "tests=suspend::save_restore", xenstored="oxenstored", timeout=240,
          junit_tests=True, patterns=[SUCCESS, r"suspend: resumed in a new domain"],
          proves="`xl save` + `xl restore` with oxenstored: the same test as save-restore against the other "
                 "xenstored"),
    Check("ring-reconnect", "tests=adversary::self_corruption_then_reconnect", xenstored="oxenstored",
          patterns=[r"xenstore: connection lost: .*reconnecting", r"xenstore: reconnected", SUCCESS],
          proves="with oxenstored, a corrupted ring is answered, then the guest reconnects and xenstore works"),
]

METRICS = []
# Host tests take about 15 s warm and 2 min cold; a hang stops at this.
HOST_TEST_TIMEOUT = 900


class Case:
    def __init__(self, suite, name, ok, seconds=0.0, message="", output=""):
        self.suite, self.name, self.ok, self.seconds, self.message, self.output = suite, name, ok, seconds, message, output


def run_lint(cmd):
    """`make lint` (fmt, clippy, module cycles): one case; its output on failure."""
    xenrun.log(f"lint: {cmd}")
    t0 = time.monotonic()
    p = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    ok = p.returncode == 0
    xenrun.log(f"lint: {'clean' if ok else 'FAILED'} ({time.monotonic() - t0:.1f} s)")
    if not ok:
        print((p.stdout + p.stderr)[-6000:])
    return Case("lint", "make-lint", ok, time.monotonic() - t0, "" if ok else "make lint failed",
                (p.stdout + p.stderr)[-4000:])


def run_host_tests(cargo):
    """Runs the host unit tests; returns Case objects parsed from libtest's output."""
    xenrun.log("host tests: cargo test --workspace --exclude unikernel")
    t0 = time.monotonic()
    # Its own process group, so that a hanging test binary is killed with cargo.
    proc = subprocess.Popen([cargo, "test", "--workspace", "--exclude", "unikernel", "--no-fail-fast"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=HOST_TEST_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        xenrun.log(f"host tests: TIMEOUT after {HOST_TEST_TIMEOUT} s (a host test hangs); last output:")
        print("\n".join((stdout + stderr).splitlines()[-15:]))
        return [Case("host", "cargo-test", False, message=f"stage 'host tests' timed out after {HOST_TEST_TIMEOUT} s",
                     output=(stdout + stderr)[-4000:])]
    cases, crate = [], "host"
    for line in (stdout + "\n" + stderr).splitlines():
        m = re.match(r"\s*Running (?:unittests )?(\S+) \(.*deps/([A-Za-z0-9_]+)-[0-9a-f]+\)", line)
        if m:
            crate = m.group(2)
            continue
        m = re.match(r"\s*Doc-tests (\S+)", line)
        if m:
            crate = m.group(1) + "-doc"
            continue
        m = re.match(r"^test (\S+) \.\.\. (ok|FAILED|ignored)", line)
        if m:
            cases.append(Case(f"host.{crate}", m.group(1), m.group(2) != "FAILED"))
    failed = [c for c in cases if not c.ok]
    xenrun.log(f"host tests: {len(cases) - len(failed)} passed, {len(failed)} failed "
               f"({time.monotonic() - t0:.1f} s)")
    if proc.returncode != 0:
        if not failed:
            cases.append(Case("host", "cargo-test", False, message="cargo test failed", output=stderr[-4000:]))
        print(stdout[-6000:])
        print(stderr[-4000:])
    return cases


def check_image(kernel):
    """The image's Xen ELF notes, as Xen's own readnotes shows them."""
    want = ["GUEST_OS: xenfs-unikernel", "LOADER: generic", "XEN_VERSION: xen-3.0", "VIRT_BASE: 0xffffffff80000000",
            "ENTRY: 0xffffffff80000000", "HYPERCALL_PAGE: 0xffffffff80001000", "FEATURES: !writable_page_tables"]
    try:
        out = subprocess.run(["/usr/lib/xen-4.17/bin/readnotes", kernel], capture_output=True, text=True).stdout
    except OSError as e:
        return Case("image", "xen_elf_notes", False, message=str(e))
    missing = [w for w in want if w not in out]
    size = os.path.getsize(kernel)
    loaded = subprocess.run(["size", "-A", kernel], capture_output=True, text=True).stdout
    mem = sum(int(l.split()[1]) for l in loaded.splitlines() if l.startswith((".text", ".rodata", ".data", ".bss", ".note")))
    METRICS.append(f"image.elf_bytes={size} (loaded text+rodata+data+bss: {mem} bytes)")
    xenrun.log("image notes: " + ("ok" if not missing else f"missing {missing}"))
    return Case("image", "xen_elf_notes", not missing, message=f"missing notes: {missing}" if missing else "", output=out)


def bench_selftest():
    """make bench's parser and generators on a canned run (docs/bench.md)."""
    p = subprocess.run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench.py"),
                        "selftest"], capture_output=True, text=True)
    ok = p.returncode == 0
    xenrun.log("bench harness selftest: " + ("ok" if ok else "FAILED"))
    return Case("bench", "harness_selftest", ok, message="" if ok else "bench.py selftest failed",
                output=(p.stdout + p.stderr)[-4000:])


def profile_report_selftest():
    """make profile's report on a canned profile (tests/tools/tcg-profile)."""
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "tcg-profile")
    p = subprocess.run([sys.executable, os.path.join(here, "report.py"), "selftest"], capture_output=True, text=True)
    # The plugin itself must still build, warning-free.
    with tempfile.TemporaryDirectory() as d:
        cc = subprocess.run(["gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-o",
                             os.path.join(d, "tcgprof.so"), os.path.join(here, "tcgprof.c")],
                            capture_output=True, text=True)
    p.stdout += cc.stdout
    p.stderr += cc.stderr
    ok = p.returncode == 0 and cc.returncode == 0
    xenrun.log("profile report selftest: " + ("ok" if ok else "FAILED"))
    return Case("bench", "profile_report_selftest", ok, message="" if ok else "report.py selftest failed",
                output=(p.stdout + p.stderr)[-4000:])


def write_junit(path, cases):
    suites = {}
    for c in cases:
        suites.setdefault(c.suite, []).append(c)
    root = ET.Element("testsuites", tests=str(len(cases)), failures=str(sum(not c.ok for c in cases)))
    for sname, cs in suites.items():
        s = ET.SubElement(root, "testsuite", name=sname, tests=str(len(cs)),
                          failures=str(sum(not c.ok for c in cs)), time=f"{sum(c.seconds for c in cs):.3f}")
        for c in cs:
            tc = ET.SubElement(s, "testcase", classname=sname, name=c.name, time=f"{c.seconds:.3f}")
            if not c.ok:
                f = ET.SubElement(tc, "failure", message=c.message or "failed")
                f.text = c.output
    os.makedirs(os.path.dirname(path), exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def judge(check, g, run):
    """The cases of one ended guest: its TEST lines (if check.junit_tests)
    and the check itself (JUnit case `domain`)."""
    cases = []
    out = "\n".join(g.lines[-200:])
    secs = (g.ended - g.started) if (g.ended and g.started) else 0.0
    if check.junit_tests:
        for line in g.lines:
            m = TEST_LINE.match(line)
            if m:
                ok = m.group(2) in ("ok", "SKIP")
                msg = "" if ok else f"in-guest test {m.group(2)}"
                cases.append(Case(f"guest.{check.name}", m.group(1), ok, float(m.group(3) or 0) / 1000, msg,
                                  out if not ok else ""))
    problems = []
    if g.reason is None:
        problems.append(f"domain did not end (harness stage: {getattr(run, 'timed_out', None) or run.stage})")
    elif g.reason != check.expect:
        problems.append(f"domain ended with reason '{g.reason}', expected '{check.expect}'")
    for pat in check.patterns:
        if not any(re.search(pat, l) for l in g.lines):
            problems.append(f"console never showed /{pat}/")
    if check.verify:
        more, metrics = check.verify(g, run)
        problems += more
        METRICS.extend(metrics)
    cases.append(Case(f"guest.{check.name}", "domain", not problems, secs, "; ".join(problems), out))
    return cases


LINUX_IMAGE = "/guest/linux-vmlinux"


def linux_lifecycle_guest(c):
    """The Linux domU of a `linux` check: dom0's own kernel and a busybox
    initramfs running tests/harness/linux-lifecycle-init.sh."""
    cfg = (f'name = "{c.name}"\ntype = "pv"\nkernel = "{LINUX_IMAGE}"\nramdisk = "/guest/{c.name}.ramdisk"\n'
           f'memory = {c.memory or 128}\nvcpus = 1\nextra = "console=hvc0 quiet loglevel=3 panic=-1"\n'
           'on_poweroff = "destroy"\non_reboot = "destroy"\non_crash = "destroy"\n')
    here = os.path.dirname(os.path.abspath(__file__))
    initrd = xenrun.cpio_newc([("bin", 0o040755, b""), ("dev", 0o040755, b""), ("proc", 0o040755, b""),
                               ("sys", 0o040755, b""), ("bin/busybox", 0o100755, open("/bin/busybox", "rb").read()),
                               ("init", 0o100755, open(os.path.join(here, "linux-lifecycle-init.sh"), "rb").read())])
    return xenrun.Guest(c.name, cfg, c.timeout, ramdisk=initrd, action=c.action)


def boot_checks(a, checks, xenstored, extra_files, label, big=False):
    """One boot of the nested stack with dom0 running `xenstored`, each check
    its own domain in turn; `big`: a 1 GiB dom0 in a 3 GiB machine, with the
    Linux image for `linux` checks. Returns (cases, run, guests)."""
    guests = [linux_lifecycle_guest(c) if c.linux else
              xenrun.Guest(c.name, xenrun.guest_cfg(a.cfg, c.name, c.cmdline, memory=c.memory, ramdisk=True,
                                                    kernel=c.image),
                           c.timeout, ramdisk=xenrun.boot_module(), action=c.action)
              for c in checks]
    extra_files = list(extra_files)
    if any(c.linux for c in checks):
        extra_files.append((LINUX_IMAGE.lstrip("/"), 0o100644, open(os.path.join(a.dom0, "vmlinux"), "rb").read()))
    # The job is a dom0 shell script (grammar: docs/testing.md). dom0
    # destroys a guest past its timeout (and says so); the host-side stage
    # timeout is the backstop, a little later.
    job = "".join(f"GUEST_ACTION={c.action or ''}; GUEST_TIMEOUT={c.timeout}; GUEST_CPU={'1' if c.cpu_samples else ''}; "
                  f"run_guest {c.name} /guest/{c.name}.cfg\n" for c in checks)
    for g in guests:
        g.timeout += 30
    xenrun.log(f"{label}: {len(guests)} domain{'s' if len(guests) != 1 else ''} in one boot of Xen under QEMU, "
               f"dom0 runs {xenstored}")

    def progress(g, line):
        if TEST_LINE.match(line) or line.startswith(CRASH_PREFIX) or line.startswith(METRIC_PREFIX):
            print(f"    [{g.name}] {line}", flush=True)

    log_name = ("test" if xenstored == "xenstored" else f"test-{xenstored}") + ("-big" if big else "")
    mem = dict(dom0_mem=1024, machine_mem=3072) if big else {}
    run = xenrun.Run(a.kernel, a.dom0, os.path.join(a.build, "logs"), guests, job, verbose=a.verbose,
                     log_name=log_name, quiet_guests=not a.verbose, on_guest_line=progress,
                     extra_files=extra_files, xenstored=xenstored, **mem)
    rc = run.run()
    cases = []
    for c, g in zip(checks, guests):
        gc = judge(c, g, run)
        d = gc[-1]
        xenrun.log(f"guest check {c.name}: {'ok' if d.ok else 'FAIL'} ({d.seconds:.1f} s)" +
                   ("" if d.ok else f": {d.message}"))
        if not d.ok:
            print("    last console lines of the guest:")
            for line in d.output.splitlines()[-15:]:
                print("      " + line)
        cases += gc
    if rc != xenrun.EXIT_OK:
        cases.append(Case("harness", "nested-boot" + ("" if xenstored == "xenstored" else f"-{xenstored}") +
                          ("-big" if big else ""), False, message=f"harness exit code {rc}",
                          output="\n".join(run.tail)))
    return cases, run, guests


def list_checks():
    """The checks as the markdown table of docs/testing.md."""
    print("| check | kernel command line | expected end | dom0 | what it proves |")
    print("|---|---|---|---|---|")
    for c in CHECKS:
        line = f"`{c.cmdline}`" if c.cmdline else ("(not an ELF Xen can load)" if c.image else "(none)")
        dom0 = ", ".join(x for x in [f"`xl {c.action}`" if c.action in ("shutdown", "reboot", "save") else
                                      ("`xl debug-keys q`" if c.action == "debugkeys" else ""),
                                      "save, restore, save -c, migrate, `xl shutdown`" if c.action == "lifecycle"
                                      else "",
                                      "Linux domU" if c.linux else "", "big dom0" if c.big else "",
                                      f"memory={c.memory}" if c.memory else "",
                                      c.xenstored if c.xenstored != "xenstored" else "",
                                      "CPU samples" if c.cpu_samples else ""] if x)
        print(f"| {c.name} | {line} | {c.expect} | {dom0} | {c.proves} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel")
    ap.add_argument("--cfg")
    ap.add_argument("--dom0")
    ap.add_argument("--build")
    ap.add_argument("--cargo", default=os.environ.get("CARGO", "/usr/bin/cargo"))
    ap.add_argument("--skip-host", action="store_true")
    ap.add_argument("--verbose", action="store_true", default=os.environ.get("VERBOSE", "") not in ("", "0"),
                    help="also show Xen's, dom0's and every guest's lines live (or VERBOSE=1)")
    ap.add_argument("--tests", default="", help="run only this in-guest selection (make test-guest)")
    ap.add_argument("--memory", type=int, default=None, help="with --tests: the guest's memory in MiB")
    ap.add_argument("--xenstored", default="xenstored", choices=["xenstored", "oxenstored"],
                    help="with --tests: dom0's xenstored")
    ap.add_argument("--only", default="", help="run only these guest checks (comma-separated names), no host tests")
    ap.add_argument("--ring-corruptor", default="", help="the static ring-corruptor for dom0 (the `corrupt` request)")
    ap.add_argument("--scenarios", default="", help="also run this conformance corpus (ours vs Linux)")
    ap.add_argument("--lint", default="", help="run this lint command first (make lint): one JUnit case")
    ap.add_argument("--linux-runner", default="")
    ap.add_argument("--tools-runner", default="", help="also run the tools suite (Debian's xenstore tools, ours vs Linux)")
    ap.add_argument("--compare", default="")
    ap.add_argument("--driver", default="", help="xbdrive, to generate the fixed-seed random batch")
    ap.add_argument("--random-seed", type=int, default=0)
    ap.add_argument("--random-count", type=int, default=0)
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--list", action="store_true", help="print the guest checks as a markdown table and exit")
    a = ap.parse_args()
    if a.list:
        list_checks()
        return 0
    for opt in ("kernel", "cfg", "dom0", "build"):
        if not getattr(a, opt):
            ap.error(f"--{opt} is required")
    t0 = time.monotonic()

    selection = bool(a.tests or a.only)
    if a.tests:
        # `make test-guest TESTS=...`: one guest running that selection.
        checks = [Check("selection", f"tests={a.tests}", patterns=[SUCCESS], timeout=a.timeout, junit_tests=True,
                        memory=a.memory, xenstored=a.xenstored)]
    elif a.only:
        names = [n for n in a.only.split(",") if n]
        unknown = [n for n in names if n not in {c.name for c in CHECKS}]
        if unknown:
            ap.error(f"no such check: {', '.join(unknown)} (see --list)")
        checks = [c for c in CHECKS if c.name in names]
    else:
        checks = CHECKS
    cases = []
    if a.lint and not selection:
        cases.append(run_lint(a.lint))
    cases += [] if (a.skip_host or selection) else run_host_tests(a.cargo)
    if not selection:
        cases.append(check_image(a.kernel))
        cases.append(bench_selftest())
        cases.append(profile_report_selftest())

    extra_files = []
    if a.ring_corruptor:
        extra_files.append(("harness/ring-corruptor", 0o100755, open(a.ring_corruptor, "rb").read()))
    # One boot per xenstored (and one for the checks that need a big dom0),
    # in the order the checks first name them.
    order = []
    for c in checks:
        if (c.xenstored, c.big) not in order:
            order.append((c.xenstored, c.big))
    runs, guests = [], []
    for i, (xs, big) in enumerate(order):
        label = "guest checks" + (f", boot {i + 1} of {len(order)}" if len(order) > 1 else "")
        bchecks = [c for c in checks if c.xenstored == xs and c.big == big]
        bcases, run, bguests = boot_checks(a, bchecks, xs, extra_files, label, big=big)
        cases += bcases
        runs.append(run)
        # Measurements of a boot on another xenstored are tagged with its name.
        guests += [(f"[{xs}] " if xs != "xenstored" else "", g) for g in bguests]
    if "ours" in LIFECYCLE and "linux" in LIFECYCLE:
        o, l = LIFECYCLE["ours"], LIFECYCLE["linux"]
        METRICS.append(f"lifecycle, ours vs Linux (128 MiB each, same boot): xl save {o['save']} s vs {l['save']} s; "
                       f"xl restore -p {o['restore']} s vs {l['restore']} s; xl save -c {o['checkpoint']} s vs "
                       f"{l['checkpoint']} s; migration through a pipe {o['migrate']} s vs {l['migrate']} s, downtime "
                       f"{o['migrate_down']} s vs {l['migrate_down']} s")

    if a.scenarios and not selection:
        a.random_batch = ""
        if a.driver and a.random_count > 0:
            # A small fixed-seed batch of random differential scenarios, in
            # the same boot as the corpus (Linux runs it twice).
            a.random_batch = os.path.join(a.build, "conformance", "random-batch")
            shutil.rmtree(a.random_batch, ignore_errors=True)
            subprocess.run([a.driver, "gen", "--seed", str(a.random_seed), "--count", str(a.random_count),
                            "--out", a.random_batch], check=True)
        cok, verdicts, csecs = conformance.run_conformance(a, a.verbose)
        for name, v in verdicts:
            cases.append(Case("conformance", name, v in conformance.OK_VERDICTS, message=v,
                              output=f"see {os.path.join(a.build, 'conformance', 'report.md')}"))
        matched = sum(v == "match" for _, v in verdicts)
        devs = sum(v == "deviation" for _, v in verdicts)
        unrep = sum(v == "unrepeatable" for _, v in verdicts)
        METRICS.append(f"conformance: {len(verdicts)} scenarios ({a.random_count if a.random_batch else 0} generated, "
                       f"seed {a.random_seed}), {matched} match, {devs} listed deviations, {unrep} set aside as "
                       f"unrepeatable, {len(verdicts) - matched - devs - unrep} failing ({csecs:.0f} s)")
        if not cok and all(v in conformance.OK_VERDICTS for _, v in verdicts):
            cases.append(Case("conformance", "run", False, message="the conformance run did not complete"))
    if a.tools_runner and not selection:
        tok, tverdicts, tm = tools.run_tools(a, a.verbose)
        for n, cmd, v, detail in tverdicts:
            cases.append(Case("tools", f"{n:02d} {cmd[:80]}", v in ("match", "deviation"),
                              message=v + (f": {detail}" if detail else ""), output=f"see {tm['report']}"))
        line = (f"tools: {tm['invocations']} invocations of Debian's xenstore tools, {tm['identical']} identical to Linux "
                f"({tm['seconds']:.0f} s)")
        if "xenstore_read_ms" in tm:
            line += (f"; xenstore-read start to exit {tm['xenstore_read_ms'][0]:.2f} ms ours, "
                     f"{tm['xenstore_read_ms'][1]:.2f} ms Linux")
        if "load_ms_median" in tm:
            line += f"; load median {tm['load_ms_median']:.2f} ms"
        METRICS.append(line)
        if not tok and all(v[2] in ("match", "deviation") for v in tverdicts):
            cases.append(Case("tools", "run", False, message="the tools run did not complete"))
    for tag, g in guests:
        METRICS.extend(f"{tag}{l[len(METRIC_PREFIX):]}" for l in g.lines if l.startswith(METRIC_PREFIX))
    if METRICS:
        xenrun.log("measurements:")
        for m in METRICS:
            print(f"    {m}")
        os.makedirs(os.path.join(a.build, "test-results"), exist_ok=True)
        with open(os.path.join(a.build, "test-results", "metrics.txt"), "w") as f:
            f.write("\n".join(METRICS) + "\n")
    junit = os.path.join(a.build, "test-results", "junit.xml")
    write_junit(junit, cases)
    passed = sum(c.ok for c in cases)
    failed = len(cases) - passed
    logs = "; ".join(r.log_path for r in runs)
    xenrun.log(f"JUnit: {junit}; serial log{'s' if len(runs) > 1 else ''}: {logs}; total {time.monotonic() - t0:.1f} s")
    print(f"{passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
