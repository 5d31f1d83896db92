#!/usr/bin/env python3
"""`make conformance`: runs the scenario corpus on our xenbus node (inside
the unikernel) and on Linux's (/dev/xen/xenbus inside a Debian Linux PV
domU), in one boot of the nested Xen stack, then compares the transcripts
step by step (tests/conformance/compare) and writes
build/conformance/report.md. Exits 0 only when every scenario matches or is
a listed deviation.
"""
import argparse
import glob
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xenrun  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def scenario_entries(scen_dir, prefix):
    files = sorted(glob.glob(os.path.join(scen_dir, "*.scn")))
    entries = [(prefix, 0o040755, b"")]
    for f in files:
        entries.append((f"{prefix}/{os.path.basename(f)}", 0o100644, open(f, "rb").read()))
    return files, entries


def linux_initrd(runner, scen_entries):
    entries = [("bin", 0o040755, b""), ("dev", 0o040755, b""), ("proc", 0o040755, b""), ("sys", 0o040755, b""),
               ("bin/busybox", 0o100755, open("/bin/busybox", "rb").read()),
               ("init", 0o100755, open(os.path.join(HERE, "linux-guest-init.sh"), "rb").read()),
               ("xbconform", 0o100755, open(runner, "rb").read())]
    return xenrun.cpio_newc(entries + scen_entries)


def run_conformance(a, verbose=False):
    """Runs the corpus on both guests and compares. Returns (ok, [(scenario,
    verdict)], seconds)."""
    t0 = time.monotonic()
    out_dir = os.path.join(a.build, "conformance")
    os.makedirs(out_dir, exist_ok=True)

    files, scen = scenario_entries(a.scenarios, "scenarios")
    if not files:
        print(f"conformance: no *.scn files in {a.scenarios}", file=sys.stderr)
        return False, [], 0.0
    xenrun.log(f"conformance: {len(files)} scenarios from {a.scenarios}")
    vmlinux = os.path.join(a.dom0, "vmlinux")

    ours = xenrun.Guest("conf-ours", xenrun.guest_cfg(a.cfg, "conf-ours", "conformance=/scenarios", memory=32, ramdisk=True),
                        60 + 10 * len(files), ramdisk=xenrun.cpio_newc(scen))
    linux_cfg = ('name = "conf-linux"\ntype = "pv"\nkernel = "/guest/linux-vmlinux"\n'
                 'ramdisk = "/guest/conf-linux.ramdisk"\nmemory = 160\nvcpus = 1\n'
                 'extra = "console=hvc0 quiet loglevel=3 panic=-1"\n'
                 'on_poweroff = "destroy"\non_reboot = "destroy"\non_crash = "destroy"\n')
    linux = xenrun.Guest("conf-linux", linux_cfg, 120 + 10 * len(files), ramdisk=linux_initrd(a.linux_runner, scen))
    guests = [ours, linux]
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
        if v not in ("match", "deviation"):
            print(f"    {name}: {v} (see {report})")
    ok = rc == xenrun.EXIT_OK and c.returncode == 0
    return ok, verdicts, time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--cfg", required=True)
    ap.add_argument("--dom0", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--scenarios", required=True)
    ap.add_argument("--linux-runner", required=True)
    ap.add_argument("--compare", required=True)
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    ok, verdicts, secs = run_conformance(a, a.verbose)
    xenrun.log(f"conformance: total {secs:.1f} s; report {os.path.join(a.build, 'conformance', 'report.md')}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
