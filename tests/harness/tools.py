#!/usr/bin/env python3
"""The tools suite: Debian's unmodified xenstore tools (xenstore-utils,
libxenstore4, libxentoolcore1) run the same command list
(tests/tools/invocations.txt) in the unikernel (`programs-file=`, its
built-in libc) and in a Linux PV domU (glibc, /dev/xen/xenbus), in one boot
of the nested Xen stack. Every invocation's stdout, stderr and exit status
must be identical, after each side's domain id and guest name are replaced
by <domid> and <name>; a difference fails unless tests/tools/deviations.txt
lists it with its reason. Writes build/tools/report.md and returns one
verdict per invocation (test.py turns them into JUnit cases).
"""
import argparse
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xenrun  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
INVOCATIONS = os.path.join(ROOT, "tests", "tools", "invocations.txt")
DEVIATIONS = os.path.join(ROOT, "tests", "tools", "deviations.txt")


def parse_records(lines):
    """{n: {"status", "load_us", "run_us", "out", "err"}} from PROGRAM-*
    console lines (cmdlist::records)."""
    res = {}
    for line in lines:
        parts = line.split(" ", 3)
        if parts[0] == "PROGRAM-RESULT" and len(parts) >= 3:
            n = int(parts[1])
            kv = dict(p.split("=", 1) for p in line.split()[2:] if "=" in p)
            res[n] = {"status": int(kv["status"]), "load_us": int(kv["load_us"]), "run_us": int(kv["run_us"]),
                      "out": b"", "err": b"", "lens": (int(kv["out"]), int(kv["err"])), "end": False}
        elif parts[0] == "PROGRAM-DATA" and len(parts) == 4:
            n = int(parts[1])
            if n in res:
                res[n][parts[2]] += unescape(parts[3])
        elif parts[0] == "PROGRAM-END" and len(parts) >= 2:
            n = int(parts[1])
            if n in res:
                res[n]["end"] = True
    return res


def unescape(s):
    out = bytearray()
    i = 0
    while i < len(s):
        if s[i] == "\\":
            if s[i + 1] == "\\":
                out.append(0x5c)
                i += 2
            else:
                out.append(int(s[i + 2:i + 4], 16))
                i += 4
        else:
            out.append(ord(s[i]))
            i += 1
    return bytes(out)


def commands(path):
    """The program lines of the list, in order (for the report), joined as
    the runner numbers them: every command but sleep and wait."""
    out = []
    for raw in open(path).read().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        for part in re.split(r";", line):
            p = part.strip().rstrip("&").strip()
            if p and p.split()[0] not in ("sleep", "wait"):
                out.append(p)
    return out


def normalize(data, domid, name):
    """Replaces the side's domain id where the tools print one — in
    permission lists (`(n5,r0)`), in `/local/domain/5`, and as a whole
    output (`xenstore-read domid`) — and its guest name."""
    if domid:
        d = re.escape(domid.encode())
        data = re.sub(rb"(?<=[(,][nrwb])" + d + rb"(?=[,)])", b"<domid>", data)
        data = re.sub(rb"/local/domain/" + d + rb"(?![0-9])", b"/local/domain/<domid>", data)
        if data.strip() == domid.encode():
            data = data.replace(domid.encode(), b"<domid>")
    if name:
        data = data.replace(name.encode(), b"<name>")
    return data


def load_deviations():
    """{n: reason} from tests/tools/deviations.txt (`<n> <reason>` lines)."""
    dev = {}
    if os.path.exists(DEVIATIONS):
        for line in open(DEVIATIONS):
            line = line.strip()
            if line and not line.startswith("#"):
                n, reason = line.split(None, 1)
                dev[int(n)] = reason
    return dev


def linux_initrd(runner, commands_text):
    entries = [("bin", 0o040755, b""), ("dev", 0o040755, b""), ("proc", 0o040755, b""), ("sys", 0o040755, b""),
               ("tmp", 0o040755, b""), ("tools", 0o040755, b""),
               ("bin/busybox", 0o100755, open("/bin/busybox", "rb").read()),
               ("init", 0o100755, open(os.path.join(HERE, "linux-tools-init.sh"), "rb").read()),
               ("xbtools", 0o100755, open(runner, "rb").read()),
               ("tools/commands", 0o100644, commands_text)]
    return xenrun.cpio_newc(entries + xenrun.debian_tools_entries(linux_runtime=True))


def show(b):
    return repr(b)[2:-1] if b else "(empty)"


def run_tools(a, verbose=False):
    """Runs the list on both guests and compares. Returns (ok, [(n, command,
    verdict, detail)], metrics dict)."""
    t0 = time.monotonic()
    out_dir = os.path.join(a.build, "tools")
    os.makedirs(out_dir, exist_ok=True)
    text = open(INVOCATIONS, "rb").read()
    cmds = commands(INVOCATIONS)
    ours_module = xenrun.cpio_newc([("tools", 0o040755, b""), ("tools/commands", 0o100644, text)]
                                   + xenrun.debian_tools_entries())
    ours = xenrun.Guest("tools-ours", xenrun.guest_cfg(a.cfg, "tools-ours",
                                                       "loglevel=warn programs-file=/tools/commands programs-report",
                                                       memory=32, ramdisk=True),
                        240, ramdisk=ours_module)
    linux_cfg = ('name = "tools-linux"\ntype = "pv"\nkernel = "/guest/linux-vmlinux"\n'
                 'ramdisk = "/guest/tools-linux.ramdisk"\nmemory = 160\nvcpus = 1\n'
                 'extra = "console=hvc0 quiet loglevel=3 panic=-1"\n'
                 'on_poweroff = "destroy"\non_reboot = "destroy"\non_crash = "destroy"\n')
    linux = xenrun.Guest("tools-linux", linux_cfg, 300, ramdisk=linux_initrd(a.tools_runner, text))
    guests = [ours, linux]
    job = "".join(f"GUEST_ACTION=; GUEST_CPU=; GUEST_TIMEOUT={g.timeout}; run_guest {g.name} /guest/{g.name}.cfg\n"
                  for g in guests)
    for g in guests:
        g.timeout += 30

    def progress(g, line):
        if line.startswith("programs: done") or line.startswith("LINUX-GUEST"):
            print(f"    [{g.name}] {line}", flush=True)

    run = xenrun.Run(a.kernel, a.dom0, os.path.join(a.build, "logs"), guests, job, verbose=verbose,
                     log_name="tools", quiet_guests=not verbose, on_guest_line=progress,
                     extra_files=[("guest/linux-vmlinux", 0o100644, open(os.path.join(a.dom0, "vmlinux"), "rb").read())],
                     dom0_mem=640, machine_mem=1536)
    rc = run.run()
    logs = {}
    for g in guests:
        p = os.path.join(out_dir, f"{g.name[6:]}.log")
        with open(p, "w") as f:
            f.write("\n".join(g.lines) + "\n")
        logs[g.name] = p
    ro = parse_records(ours.lines)
    rl = parse_records(linux.lines)
    ids = {}
    for side, recs, gname in (("ours", ro, "tools-ours"), ("linux", rl, "tools-linux")):
        first = recs.get(1)
        ids[side] = (first["out"].decode(errors="replace").strip() if first else "", gname)
    dev = load_deviations()
    verdicts = []
    rows = []
    for i, cmd in enumerate(cmds, 1):
        o, li = ro.get(i), rl.get(i)
        if o is None or li is None or not o["end"] or not li["end"]:
            missing = [s for s, r in (("unikernel", o), ("Linux", li)) if r is None or not r["end"]]
            verdicts.append((i, cmd, "missing", f"no complete result from {', '.join(missing)}"))
            continue
        diffs = []
        for key in ("status", "out", "err"):
            a_ = o[key] if key == "status" else normalize(o[key], *ids["ours"])
            b_ = li[key] if key == "status" else normalize(li[key], *ids["linux"])
            if a_ != b_:
                diffs.append((key, a_, b_))
        if not diffs:
            verdicts.append((i, cmd, "match", ""))
        elif i in dev:
            verdicts.append((i, cmd, "deviation", dev[i]))
        else:
            detail = "; ".join(f"{k}: ours {show(x) if k != 'status' else x} vs Linux {show(y) if k != 'status' else y}"
                               for k, x, y in diffs)
            verdicts.append((i, cmd, "differs", detail))
        rows.append((i, o["run_us"], li["run_us"], o["load_us"]))
    # The report.
    rpath = os.path.join(out_dir, "report.md")
    matched = sum(1 for v in verdicts if v[2] == "match")
    with open(rpath, "w") as f:
        f.write("# Tools suite: Debian's xenstore tools, unikernel vs Linux PV domU\n\n")
        f.write(f"{len(cmds)} invocations from tests/tools/invocations.txt: {matched} identical, "
                f"{sum(1 for v in verdicts if v[2] == 'deviation')} listed deviations, "
                f"{sum(1 for v in verdicts if v[2] not in ('match', 'deviation'))} failures.\n\n")
        f.write(f"Domain ids: unikernel {ids['ours'][0] or '?'}, Linux {ids['linux'][0] or '?'} "
                "(replaced by <domid>; guest names by <name>).\n\n")
        f.write("| # | invocation | verdict | ours run (ms) | Linux run (ms) | ours load (ms) |\n|---|---|---|---|---|---|\n")
        times = {r[0]: r for r in rows}
        for n, cmd, v, detail in verdicts:
            t = times.get(n)
            c = cmd if len(cmd) < 70 else cmd[:67] + "..."
            ts = f"{t[1] / 1000:.2f} | {t[2] / 1000:.2f} | {t[3] / 1000:.2f}" if t else "- | - | -"
            f.write(f"| {n} | `{c}` | {v}{': ' + detail if detail else ''} | {ts} |\n")
        f.write(f"\nConsoles: {logs['tools-ours']}, {logs['tools-linux']}\n")
    reads = [(r[1], r[2]) for r in rows if cmds[r[0] - 1].startswith("xenstore-read data/t/a") or
             cmds[r[0] - 1] == "xenstore-read domid"]
    metrics = {"invocations": len(cmds), "identical": matched, "seconds": time.monotonic() - t0,
               "report": rpath}
    if reads:
        metrics["xenstore_read_ms"] = (min(x[0] for x in reads) / 1000, min(x[1] for x in reads) / 1000)
    loads = [r[3] for r in rows if r[3] > 0]
    if loads:
        metrics["load_ms_min"] = min(loads) / 1000
        metrics["load_ms_median"] = sorted(loads)[len(loads) // 2] / 1000
    ok = rc == xenrun.EXIT_OK and all(v[2] in ("match", "deviation") for v in verdicts) and len(cmds) > 0
    return ok, verdicts, metrics


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--cfg", required=True)
    ap.add_argument("--dom0", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--tools-runner", required=True)
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    ok, verdicts, m = run_tools(a, a.verbose)
    for n, cmd, v, detail in verdicts:
        if v != "match":
            c = cmd if len(cmd) < 80 else cmd[:77] + "..."
            print(f"    {n} `{c}`: {v} {detail[:300]}")
    xenrun.log(f"tools: {m['identical']}/{m['invocations']} identical in {m['seconds']:.1f} s; report {m['report']}")
    if "xenstore_read_ms" in m:
        xenrun.log(f"tools: xenstore-read start to exit: unikernel {m['xenstore_read_ms'][0]:.2f} ms, "
                   f"Linux {m['xenstore_read_ms'][1]:.2f} ms")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
