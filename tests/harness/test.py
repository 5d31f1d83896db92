#!/usr/bin/env python3
"""`make test`: host tests, then one boot of the nested Xen stack that runs
every in-guest check as its own domain, with live progress, JUnit XML in
build/test-results/, the serial log in build/logs/, and one closing line
`N passed, N failed`. Exits non-zero on any failure, crash or timeout.

Guest checks are declared in GUEST_CHECKS below: a command line for the
kernel, the expected way the domain ends, lines its console must show, and,
for in-guest test suites, the per-test result lines the kernel prints
(`TEST <name> ... ok|FAIL|TIMEOUT (<ms> ms)`), each of which becomes a test
case of its own.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xenrun  # noqa: E402
import conformance  # noqa: E402

# name, kernel command line words, expected end, required console lines (regex), timeout (s),
# whether its TEST lines count as test cases
GUEST_CHECKS = [
    ("suites", "tests=all", "poweroff", [r"^Test result: SUCCESS$"], 300, True),
    # The framework's own checks: a failing test shows expected and received
    # bytes, a hanging one is stopped at its timeout and the run goes on.
    ("demo", "tests=demo::fails,demo::hangs", "poweroff",
     [r"^TEST demo::fails \.\.\. FAIL", r"expected: 4f 4b 00 \|OK\.\|", r"received: 45 4e 4f 45 4e 54 00 \|ENOENT\.\|",
      r"^TEST demo::hangs \.\.\. TIMEOUT", r"^0 passed, 2 failed$", r"^Test result: FAILURE$"], 60, False),
    # `xl shutdown` and `xl reboot` of a waiting guest: clean end, within 5 s.
    ("xl-shutdown", "idle=60", "poweroff", [r"control/shutdown: 'poweroff' requested", r"unikernel: poweroff"], 60, False),
    ("xl-reboot", "idle=60", "reboot", [r"control/shutdown: 'reboot' requested", r"unikernel: reboot"], 60, False),
    # `xl save`: suspend is not supported; the save fails, the guest keeps
    # running and still powers off on `xl shutdown` afterwards.
    ("xl-save", "idle=60", "poweroff", [r"control/shutdown: 'poweroff' requested", r"unikernel: poweroff"], 60, False),
    # VIRQ_DEBUG (raised by `xl debug-keys q` in dom0) dumps threads and event channels.
    ("debug-virq", "idle=4", "poweroff", [r"--- debug: threads ---", r"thread +\d+ control", r"--- debug: event channels ---",
                                          r"port +\d+ Ok\(Virq\(0\)\)", r"upcalls=\d+"], 60, False),
    # Idles 10 s blocked in Xen: its CPU time must stay near zero.
    ("idle", "idle=10", "poweroff", [r"idle done after \d+ ms"], 60, False),
    # A guest that never prints: stopped at its timeout, reported, and the
    # run goes on with the next guest.
    ("silent", "hang=early", "timeout", [], 5, False),
    # An image Xen's loader rejects: xl's reason is shown.
    ("bad-image", "", "create-failed", [], 30, False),
    ("boot", "", "poweroff", [r"start_info xen-3\.0-x86_64 nr_pages=\d+", r"memory: heap 0x[0-9a-f]+-0x[0-9a-f]+",
                              r"INFO  boot complete in \d+ us", r"unikernel: poweroff"], 60, False),
    ("crash-pagefault", "crash=pagefault", "crash",
     [r"\*\*\* CRASH: page fault \(vector 14\)", r"fault address 0x00000000deadb000",
      r"#0 0xffffffff[0-9a-f]+ kmain\+0x[0-9a-f]+ \(rip\)", r"\*\*\* END CRASH"], 60, False),
    ("crash-panic", "crash=panic", "crash",
     [r"\*\*\* CRASH: PANIC: crash=panic requested on the command line at kernel/src/main\.rs:\d+",
      r"#\d+ 0xffffffff[0-9a-f]+ kmain\+0x[0-9a-f]+", r"\*\*\* END CRASH"], 60, False),
]

METRICS = []
# Host tests take about 15 s warm and 2 min cold; a hang stops at this.
HOST_TEST_TIMEOUT = 900
TEST_LINE = re.compile(r"^TEST (\S+) \.\.\. (ok|FAIL|TIMEOUT|SKIP)(?: \(([\d.]+) ms\))?")


class Case:
    def __init__(self, suite, name, ok, seconds=0.0, message="", output=""):
        self.suite, self.name, self.ok, self.seconds, self.message, self.output = suite, name, ok, seconds, message, output


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


def guest_cases(run_rc, run, checks, guests):
    cases = []
    for (name, _args, expect, patterns, _t, parse_tests), g in zip(checks, guests):
        out = "\n".join(g.lines[-200:])
        secs = (g.ended - g.started) if (g.ended and g.started) else 0.0
        # Per-test lines of in-guest suites.
        for line in g.lines:
            m = TEST_LINE.match(line) if parse_tests else None
            if m:
                ok = m.group(2) in ("ok", "SKIP")
                msg = "" if ok else f"in-guest test {m.group(2)}"
                cases.append(Case(f"guest.{name}", m.group(1), ok, float(m.group(3) or 0) / 1000, msg,
                                  out if not ok else ""))
        problems = []
        if g.reason is None:
            problems.append(f"domain did not end (harness stage: {getattr(run, 'timed_out', None) or run.stage})")
        elif g.reason != expect:
            problems.append(f"domain ended with reason '{g.reason}', expected '{expect}'")
        for pat in patterns:
            if not any(re.search(pat, l) for l in g.lines):
                problems.append(f"console never showed /{pat}/")
        if name == "bad-image":
            why = [l[len("HARNESS:   "):] for l in run.dom0_lines
                   if l.startswith("HARNESS:   ") and "no loader found" in l]
            if not why:
                problems.append("xl's reason for refusing the image was not shown")
            else:
                METRICS.append("bad-image: xl said: " + why[0])
        if name == "xl-save":
            rcs = [l for l in run.dom0_lines if f"guest {name} save rc=" in l]
            if not rcs or rcs[0].endswith("rc=0"):
                problems.append("xl save did not fail as documented: " + (rcs[0] if rcs else "no result"))
            else:
                why = [l.split("save: ", 1)[1] for l in run.dom0_lines if "HARNESS:   save: " in l and "error" in l]
                METRICS.append(f"xl-save: refused ({rcs[0].split()[-1]}); " + (why[0] if why else ""))
        if name == "silent":
            if not any(f"guest {name} timeout after" in l for l in run.dom0_lines):
                problems.append("the harness did not report the timeout")
        if name in ("xl-shutdown", "xl-reboot") and expect:
            if g.action_seconds is None:
                problems.append("no timing of the xl action")
            else:
                METRICS.append(f"{name}.seconds={g.action_seconds:.2f} (xl {name[3:]} issued until the domain was gone)")
                if g.action_seconds > 5.0:
                    problems.append(f"xl {name[3:]} took {g.action_seconds:.1f} s (limit 5 s)")
        if name == "idle":
            try:
                cpu = float(g.cpu["last"]) - float(g.cpu["first"])
                wall = float(g.cpu["wall_last"]) - float(g.cpu["wall_first"])
                METRICS.append(f"idle.guest_cpu_seconds={cpu:.1f} over {wall:.1f} s of wall time (xl list)")
                if cpu > 0.5:
                    problems.append(f"the idle guest used {cpu:.1f} s of CPU in {wall:.1f} s")
            except (KeyError, ValueError):
                problems.append("no CPU time samples from dom0")
        cases.append(Case(f"guest.{name}", "domain", not problems, secs, "; ".join(problems), out))
    return cases


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--cfg", required=True)
    ap.add_argument("--dom0", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--cargo", default=os.environ.get("CARGO", "/usr/bin/cargo"))
    ap.add_argument("--skip-host", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--tests", default="", help="run only this in-guest selection (make test-guest)")
    ap.add_argument("--scenarios", default="", help="also run this conformance corpus (ours vs Linux)")
    ap.add_argument("--linux-runner", default="")
    ap.add_argument("--compare", default="")
    ap.add_argument("--driver", default="", help="xbdrive, to generate the fixed-seed random batch")
    ap.add_argument("--random-seed", type=int, default=0)
    ap.add_argument("--random-count", type=int, default=0)
    ap.add_argument("--timeout", type=int, default=300)
    a = ap.parse_args()
    t0 = time.monotonic()

    checks = GUEST_CHECKS
    if a.tests:
        # `make test-guest TESTS=...`: one guest running that selection.
        checks = [("selection", f"tests={a.tests}", "poweroff", [r"^Test result: SUCCESS$"], a.timeout, True)]
    cases = [] if (a.skip_host or a.tests) else run_host_tests(a.cargo)
    if not a.tests:
        cases.append(check_image(a.kernel))

    guests = [xenrun.Guest(name, xenrun.guest_cfg(a.cfg, name, args, ramdisk=True,
                                                  kernel="/guest/bogus.elf" if name == "bad-image" else None),
                           timeout, ramdisk=xenrun.boot_module(),
                           action={"xl-shutdown": "shutdown", "xl-reboot": "reboot", "debug-virq": "debugkeys", "xl-save": "save"}.get(name))
              for name, args, _e, _p, timeout, _pt in checks]
    # dom0 destroys a guest past its timeout (and says so); the host-side
    # stage timeout is the backstop, a little later.
    job = "".join(f"GUEST_ACTION={g.action or ''}; GUEST_TIMEOUT={g.timeout}; GUEST_CPU={'1' if g.name == 'idle' else ''}; "
                  f"run_guest {g.name} /guest/{g.name}.cfg\n" for g in guests)
    for g in guests:
        g.timeout += 30
    xenrun.log(f"guest tests: {len(guests)} domains in one boot of Xen under QEMU")

    def progress(g, line):
        if TEST_LINE.match(line) or line.startswith("*** CRASH") or line.startswith("METRIC "):
            print(f"    [{g.name}] {line}", flush=True)

    run = xenrun.Run(a.kernel, a.dom0, os.path.join(a.build, "logs"), guests, job, verbose=a.verbose,
                     log_name="test", quiet_guests=not a.verbose, on_guest_line=progress)
    rc = run.run()
    gcases = guest_cases(rc, run, checks, guests)
    for c in gcases:
        if c.name == "domain":
            status = "ok" if c.ok else "FAIL"
            xenrun.log(f"guest check {c.suite[6:]}: {status} ({c.seconds:.1f} s)" + ("" if c.ok else f": {c.message}"))
            if not c.ok:
                print("    last console lines of the guest:")
                for line in c.output.splitlines()[-15:]:
                    print("      " + line)
    cases += gcases
    if rc != xenrun.EXIT_OK:
        cases.append(Case("harness", "nested-boot", False, message=f"harness exit code {rc}",
                          output="\n".join(run.tail)))

    if not a.tests:
        # The xenstore suite once more against the OCaml xenstored, which
        # offers ring reconnection (the C one does not): the reset protocol
        # runs for real, and the client meets a second server.
        ox_checks = [("oxenstored", "tests=xenstore::*", "poweroff",
                      [r"\(reconnection offered\)", r"^Test result: SUCCESS$"], 120, True)]
        ox = [xenrun.Guest("oxenstored", xenrun.guest_cfg(a.cfg, "oxenstored", "tests=xenstore::*", ramdisk=True), 120,
                           ramdisk=xenrun.boot_module())]
        xenrun.log("the xenstore suite against oxenstored (second boot)")
        orun = xenrun.Run(a.kernel, a.dom0, os.path.join(a.build, "logs"), ox,
                          "GUEST_ACTION=; GUEST_CPU=; GUEST_TIMEOUT=120; run_guest oxenstored /guest/oxenstored.cfg\n",
                          verbose=a.verbose, log_name="test-oxenstored", quiet_guests=not a.verbose,
                          on_guest_line=progress, xenstored="oxenstored")
        orc = orun.run()
        ocases = guest_cases(orc, orun, ox_checks, ox)
        cases += ocases
        for c in ocases:
            if c.name == "domain":
                xenrun.log(f"guest check {c.suite[6:]}: {'ok' if c.ok else 'FAIL'}" + ("" if c.ok else f": {c.message}"))
        guests = guests + ox
    if a.scenarios and not a.tests:
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
    for g in guests:
        tag = "[oxenstored] " if g.name == "oxenstored" else ""
        METRICS.extend(f"{tag}{l[len('METRIC '):]}" for l in g.lines if l.startswith("METRIC "))
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
    xenrun.log(f"JUnit: {junit}; serial log: {run.log_path}; total {time.monotonic() - t0:.1f} s")
    print(f"{passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
