#!/usr/bin/env python3
"""Conformance runs: our xenbus node (inside the unikernel) against Linux's
(/dev/xen/xenbus inside a Debian Linux PV domU), in one boot of the nested
Xen stack.

`make conformance` (default mode): every scenario of a directory runs on both
guests; tests/conformance/compare (xbcompare) compares the transcripts step
by step and writes build/conformance/report.md. With --random-batch DIR the
generated scenarios of DIR run too, on Linux twice (a scenario whose two
Linux transcripts differ is set aside, not failed). Exits 0 only when every
scenario matches, is a listed deviation, or was set aside.

`--linux-only`: only the Linux guest runs; every transcript must end `end ok`
(to learn what Linux does with a new scenario first).

`make conformance-random SEED=<n> COUNT=<n>` (--random): both guests in serve
mode; the dom0 driver xbdrive generates the scenarios, hands each to Linux,
ours and Linux again, compares, sets aside unrepeatable ones and shrinks
mismatches; shrunk scenarios are saved under --found-dir. Writes
build/conformance-random/report.md.
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xenrun  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OK_VERDICTS = ("match", "deviation", "unrepeatable")


def scenario_entries(scen_dir, prefix):
    files = sorted(glob.glob(os.path.join(scen_dir, "*.scn")))
    entries = [(prefix, 0o040755, b"")]
    for f in files:
        entries.append((f"{prefix}/{os.path.basename(f)}", 0o100644, open(f, "rb").read()))
    return files, entries


def linux_initrd(runner, scen_entries, conform_sh=None):
    entries = [("bin", 0o040755, b""), ("dev", 0o040755, b""), ("proc", 0o040755, b""), ("sys", 0o040755, b""),
               ("bin/busybox", 0o100755, open("/bin/busybox", "rb").read()),
               ("init", 0o100755, open(os.path.join(HERE, "linux-guest-init.sh"), "rb").read()),
               ("xbconform", 0o100755, open(runner, "rb").read())]
    if conform_sh is not None:
        entries.append(("conform.sh", 0o100644, conform_sh.encode()))
    return xenrun.cpio_newc(entries + scen_entries)


LINUX_CFG = ('name = "conf-linux"\ntype = "pv"\nkernel = "/guest/linux-vmlinux"\n'
             'ramdisk = "/guest/conf-linux.ramdisk"\nmemory = 160\nvcpus = 1\n'
             'extra = "console=hvc0 quiet loglevel=3 panic=-1"\n'
             'on_poweroff = "destroy"\non_reboot = "destroy"\non_crash = "destroy"\n')


def run_conformance(a, verbose=False):
    """Runs the scenarios (and a random batch, if a.random_batch) on both
    guests and compares. Returns (ok, [(scenario, verdict)], seconds)."""
    t0 = time.monotonic()
    out_dir = os.path.join(a.build, "conformance")
    os.makedirs(out_dir, exist_ok=True)

    files, scen = scenario_entries(a.scenarios, "scenarios")
    rfiles, rscen = [], []
    batch = getattr(a, "random_batch", None)
    if batch:
        rfiles, rscen = scenario_entries(batch, "random")
    if not files and not rfiles:
        print(f"conformance: no *.scn files in {a.scenarios}", file=sys.stderr)
        return False, [], 0.0
    linux_only = getattr(a, "linux_only", False)
    xenrun.log(f"conformance: {len(files)} scenarios from {a.scenarios}"
               + (f", {len(rfiles)} generated from {batch} (Linux runs them twice)" if rfiles else "")
               + (" (Linux only)" if linux_only else ""))
    vmlinux = os.path.join(a.dom0, "vmlinux")

    # The corpus first: its save/restore scenarios need a Linux that can
    # still suspend. Linux's suspend waits for every open transaction
    # (xs_suspend), and a generated scenario may leave one open in Linux for
    # good (the END-twice case, xenbus-abi.md 9.10); libxl then gives up
    # after 60 s ("guest did not suspend").
    dirs = (["/scenarios"] if files else []) + (["/random"] if rfiles else [])
    conform_sh = None
    if rfiles:
        conform_sh = (("/xbconform /scenarios\n" if files else "")
                      + "/xbconform /random\n/xbconform /random --suffix @2\n")
    guests = []
    if not linux_only:
        guests.append(xenrun.Guest("conf-ours", xenrun.guest_cfg(a.cfg, "conf-ours", "conformance=" + ",".join(dirs),
                                                                 memory=32, ramdisk=True),
                                   60 + 10 * (len(files) + len(rfiles)), ramdisk=xenrun.cpio_newc(scen + rscen)))
    linux = xenrun.Guest("conf-linux", LINUX_CFG, 120 + 10 * (len(files) + 2 * len(rfiles)),
                         ramdisk=linux_initrd(a.linux_runner, scen + rscen, conform_sh))
    guests.append(linux)
    job = "".join(f"GUEST_ACTION=; GUEST_CPU=; GUEST_TIMEOUT={g.timeout}; run_guest {g.name} /guest/{g.name}.cfg\n"
                  for g in guests)
    for g in guests:
        g.timeout += 30

    def progress(g, line):
        if line.startswith("CONFORMANCE DONE") or line.startswith("LINUX-GUEST"):
            print(f"    [{g.name}] {line}", flush=True)

    run = xenrun.Run(a.kernel, a.dom0, os.path.join(a.build, "logs"), guests, job, verbose=verbose,
                     log_name="conformance", quiet_guests=not verbose, on_guest_line=progress,
                     extra_files=[("guest/linux-vmlinux", 0o100644, open(vmlinux, "rb").read())],
                     # dom0's initramfs carries the 65 MB Linux image for the
                     # domU, and `dom0 save-restore` steps save the domUs
                     # (160 MiB for Linux) into dom0's memory.
                     dom0_mem=1024, machine_mem=3072)
    rc = run.run()
    paths = {}
    for g in guests:
        p = os.path.join(out_dir, f"{g.name[5:]}.log")
        with open(p, "w") as f:
            f.write("\n".join(g.lines) + "\n")
        paths[g.name] = p
        xenrun.log(f"{g.name}: ended {g.reason}; console in {p}")
    if linux_only:
        return linux_only_verdicts(run, linux, rc, time.monotonic() - t0)
    report = os.path.join(out_dir, "report.md")
    c = subprocess.run([a.compare, paths["conf-ours"], paths["conf-linux"], report], capture_output=True, text=True)
    verdicts = []
    for line in c.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2:
            verdicts.append((parts[0], parts[1]))
        else:
            print(line)
    for name, v in verdicts:
        if v not in OK_VERDICTS:
            print(f"    {name}: {v} (see {report})")
        elif v == "unrepeatable":
            print(f"    {name}: unrepeatable on Linux, set aside (see {report})")
    ok = rc == xenrun.EXIT_OK and c.returncode == 0
    return ok, verdicts, time.monotonic() - t0


def linux_only_verdicts(run, guest, rc, secs):
    """Linux alone: each transcript must end `end ok`."""
    from_frames = {}
    cur, body = None, []
    for line in guest.lines:
        m = re.search(r"CONFORMANCE BEGIN (\S+)$", line)
        if m:
            cur, body = m.group(1), []
            continue
        if cur and line.endswith(f"CONFORMANCE END {cur}"):
            from_frames[cur] = body
            cur = None
            continue
        if cur:
            body.append(line)
    verdicts = []
    for name, body in from_frames.items():
        end = next((l for l in reversed(body) if l.startswith("end")), "end missing")
        v = "ok" if end == "end ok" else "failed"
        verdicts.append((name, v))
        print(f"    {name:<48} {v}" + ("" if v == "ok" else f": {end}"))
        if v != "ok":
            for l in body:
                print(f"      | {l}")
    ok = rc == xenrun.EXIT_OK and verdicts and all(v == "ok" for _, v in verdicts)
    xenrun.log(f"conformance (Linux only): {len(verdicts)} scenarios, "
               f"{sum(v == 'ok' for _, v in verdicts)} ran with every expectation holding")
    return bool(ok), verdicts, secs


def run_random(a, verbose=False):
    """make conformance-random: one boot, both guests in serve mode, the
    driver in dom0. Returns (ok, summary dict, seconds)."""
    t0 = time.monotonic()
    out_dir = os.path.join(a.build, "conformance-random")
    os.makedirs(out_dir, exist_ok=True)
    vmlinux = os.path.join(a.dom0, "vmlinux")
    budget = a.shrink_budget
    long = 900 + 40 * a.count + 60 * budget
    ours = xenrun.Guest("conf-ours", xenrun.guest_cfg(a.cfg, "conf-ours", "conformance=serve", memory=32), long)
    linux = xenrun.Guest("conf-linux", LINUX_CFG, long, ramdisk=linux_initrd(a.linux_runner, [], "/xbconform --serve\n"))
    guests = [ours, linux]
    job = ("GUEST_RELAY=0; GUEST_ACTION=; GUEST_CPU=; GUEST_TIMEOUT=\n"
           "start_guest conf-ours /guest/conf-ours.cfg\n"
           "start_guest conf-linux /guest/conf-linux.cfg\n"
           f"/harness/xbdrive run --seed {a.seed} --count {a.count} --first {a.first} --shrink-budget {budget} "
           "--ours conf-ours --linux conf-linux\n"
           "echo \"HARNESS: driver exit $?\"\n"
           "GUEST_TIMEOUT=120; wait_guest conf-ours\n"
           "GUEST_TIMEOUT=120; wait_guest conf-linux\n")
    lines = []

    def dom0_line(line):
        if line.startswith("RANDOM ") and not line.startswith("RANDOM DIFF") or line.startswith("HARNESS: driver"):
            print(f"    {line}", flush=True)

    run = xenrun.Run(a.kernel, a.dom0, os.path.join(a.build, "logs"), guests, job, verbose=verbose,
                     log_name="conformance-random", quiet_guests=not verbose, on_dom0_line=dom0_line,
                     extra_files=[("guest/linux-vmlinux", 0o100644, open(vmlinux, "rb").read()),
                                  ("harness/xbdrive", 0o100755, open(a.driver, "rb").read())],
                     dom0_mem=640, machine_mem=1536)
    rc = run.run()
    lines = run.dom0_lines
    # Found scenarios.
    found, cur, body = [], None, []
    for line in lines:
        if line.startswith("FOUND BEGIN "):
            cur, body = line.split()[2], []
        elif cur and line == f"FOUND END {cur}":
            os.makedirs(a.found_dir, exist_ok=True)
            path = os.path.join(a.found_dir, f"{cur}.scn")
            with open(path, "w") as f:
                f.write("\n".join(body) + "\n")
            found.append(path)
            cur = None
        elif cur:
            body.append(line)
    # Transcripts of the scenarios that did not simply match.
    tdir = os.path.join(out_dir, "transcripts")
    cur, body = None, []
    for line in lines:
        m = re.match(r"TRANSCRIPT BEGIN (\S+) (\S+)$", line)
        if m:
            cur, body = f"{m.group(1)}.{m.group(2)}", []
        elif cur and line.startswith("TRANSCRIPT END "):
            os.makedirs(tdir, exist_ok=True)
            with open(os.path.join(tdir, cur + ".txt"), "w") as f:
                f.write("\n".join(body) + "\n")
            cur = None
        elif cur:
            body.append(line)
    summary = {}
    for line in lines:
        if line.startswith("RANDOM DONE "):
            summary = dict(kv.split("=", 1) for kv in line.split()[2:] if "=" in kv)
    report = os.path.join(out_dir, "report.md")
    with open(report, "w") as f:
        f.write(f"# Random differential run: seed {a.seed}, {a.count} scenarios\n\n")
        if summary:
            f.write("| " + " | ".join(summary.keys()) + " |\n|" + "---|" * len(summary) + "\n| "
                    + " | ".join(summary.values()) + " |\n\n")
        else:
            f.write("The run did not finish (no RANDOM DONE line); see build/logs/conformance-random.log.\n\n")
        interesting = [l for l in lines if l.startswith("RANDOM ") and not l.startswith("RANDOM DONE")
                       and not re.match(r"RANDOM \d+ \S+ match", l)]
        f.write("## Everything but plain matches\n\n")
        for l in interesting:
            f.write(f"- `{l[7:].replace('`', chr(39))}`\n")
        if found:
            f.write("\n## Shrunk mismatches saved\n\n")
            for p in found:
                f.write(f"- {p}\n")
    for p in found:
        xenrun.log(f"found: {p}")
    if os.path.isdir(tdir):
        xenrun.log(f"transcripts of the scenarios that did not match: {tdir}")
    xenrun.log(f"report: {report}")
    ok = (rc == xenrun.EXIT_OK and bool(summary) and summary.get("mismatch") == "0" and summary.get("error") == "0")
    return ok, summary, time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--cfg", required=True)
    ap.add_argument("--dom0", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--scenarios", default="tests/conformance/scenarios")
    ap.add_argument("--linux-runner", required=True)
    ap.add_argument("--compare", default="")
    ap.add_argument("--random-batch", default="", help="also run the generated scenarios of this directory")
    ap.add_argument("--linux-only", action="store_true", help="run the Linux guest only; every expectation must hold")
    ap.add_argument("--random", action="store_true", help="random differential run (serve mode, dom0 driver)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--shrink-budget", type=int, default=120)
    ap.add_argument("--driver", default="target/x86_64-unknown-linux-gnu/release/xbdrive")
    ap.add_argument("--found-dir", default="tests/conformance/found")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    if a.random:
        ok, summary, secs = run_random(a, a.verbose)
        xenrun.log(f"conformance-random: total {secs:.1f} s; "
                   + (" ".join(f"{k}={v}" for k, v in summary.items()) if summary else "did not finish"))
        return 0 if ok else 1
    ok, verdicts, secs = run_conformance(a, a.verbose)
    xenrun.log(f"conformance: total {secs:.1f} s; report {os.path.join(a.build, 'conformance', 'report.md')}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
