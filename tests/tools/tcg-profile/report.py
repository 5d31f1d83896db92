#!/usr/bin/env python3
"""Summarises a tcgprof run (tcgprof.c, `make profile`, docs/bench.md).

    report.py --prof FILE --elf KERNEL.elf [--top N]
    report.py selftest

The steady part of the run is the snapshots in which our kernel was
switched in more than 100 times per 0.5 s (the request loop); figures are
per switch-in, which for sequential requests is per request. Blocks and
callers cover the whole run (boot included, a few per cent)."""
import argparse
import bisect
import collections
import os
import re
import subprocess
import sys

CLASSES = ["ours", "xen_ours", "dom0k", "dom0u", "xen_dom0"]


def symbols(elf):
    out = subprocess.run(["nm", "-C", "--defined-only", "-S", elf], capture_output=True, text=True, check=True).stdout
    syms = []
    for line in out.splitlines():
        p = line.split(" ", 3)
        if len(p) == 4 and p[2] in "tTW":
            syms.append((int(p[0], 16), int(p[1], 16), p[3]))
    syms.sort()
    return syms


def report(prof, syms, top=30, out=print):
    """Prints the summary of the profile files `prof`, `prof`.blocks and
    `prof`.callers, naming addresses with `syms` [(start, size, name)]."""
    rows = []
    for line in open(prof):
        rows.append({k: [int(x) for x in v.split("/")] for k, v in re.findall(r"(\w+)=([\d/]+)", line)})
    acc, sw = collections.Counter(), 0
    for prev, r in zip(rows, rows[1:]):
        ds = r["switches_in"][0] - prev["switches_in"][0]
        if ds <= 100:
            continue
        sw += ds
        for c in CLASSES:
            for j in range(3):
                acc[(c, j)] += r[c][j] - prev[c][j]
        for j in range(4):
            acc[("pages", j)] += r["pages"][j] - prev["pages"][j]
    if not sw:
        out(f"no steady request loop found in {prof}")
        return None
    out(f"steady request loop: {sw} switches into our kernel; per switch-in (≈ per sequential request):")
    out(f"  {'class':10s} {'instructions':>12s} {'blocks':>8s} {'kcycles':>8s}")
    per = {}
    for c in CLASSES:
        per[c] = (acc[(c, 0)] / sw, acc[(c, 1)] / sw, acc[(c, 2)] / sw / 1e3)
        out(f"  {c:10s} {per[c][0]:12.0f} {per[c][1]:8.0f} {per[c][2]:8.1f}")
    p = [acc[("pages", j)] / sw for j in range(4)]
    out(f"  distinct pages while ours is current: our code {p[0]:.1f}, our data {p[1]:.1f}, "
        f"Xen code {p[2]:.1f}, Xen data {p[3]:.1f}")
    starts = [x[0] for x in syms]

    def name(va):
        i = bisect.bisect_right(starts, va) - 1
        return syms[i][2] if i >= 0 and va < syms[i][0] + max(syms[i][1], 1) else f"{va:#x}"

    n_blocks, cyc = collections.Counter(), collections.Counter()
    for line in open(prof + ".blocks"):
        va, c, n = (int(x, 16) if i == 0 else int(x) for i, x in enumerate(line.split()))
        k = name(va) if va >= 0xffffffff80000000 else "(Xen)"
        n_blocks[k] += n
        cyc[k] += c
    out("\nfunctions by cycles (per switch-in; blocks executed, kcycles):")
    funcs = sorted(n_blocks.items(), key=lambda x: -cyc[x[0]])[:top]
    for k, n in funcs:
        out(f"  {n / sw:7.1f} {cyc[k] / sw / 1e3:7.1f}  {k[:140]}")
    try:
        lines = open(prof + ".callers").read().split("\n")
    except FileNotFoundError:
        lines = []
    by = collections.defaultdict(collections.Counter)
    for line in lines:
        if line.strip():
            t, f, n = line.split()
            by[name(int(t, 16))][name(int(f, 16))] += int(n)
    for t, cs in by.items():
        out(f"\ncallers of {t[:120]} ({sum(cs.values()) / sw:.1f} per switch-in):")
        for f, n in cs.most_common(8):
            out(f"  {n / sw:6.1f}  {f[:130]}")
    return {"switches": sw, "per": per, "pages": p, "functions": [k for k, _ in funcs],
            "callers": {t: dict(cs) for t, cs in by.items()}}


def selftest():
    """The summary of a canned profile: steady-loop selection, per-switch
    figures, naming, callers."""
    import tempfile
    d = tempfile.mkdtemp()
    prof = os.path.join(d, "p.txt")
    snap = "SNAP {n} t=0 ours={o}/{ob}/{oc} xen_ours={x}/1/1 dom0k=0/0/0 dom0u=0/0/0 xen_dom0=0/0/0 " \
           "switches_in={s} pages={s}/{s}/0/0 idle=0\n"
    with open(prof, "w") as f:
        f.write(snap.format(n=0, o=0, ob=0, oc=0, x=0, s=0))
        f.write(snap.format(n=1, o=5, ob=1, oc=1, x=5, s=10))          # boot: 10 switches, not steady
        f.write(snap.format(n=2, o=2005, ob=401, oc=40001, x=1005, s=210))  # 200 switches: steady
    with open(prof + ".blocks", "w") as f:
        f.write("ffffffff80001010 30000 200\nffffffff80002000 10000 400\nffff82d040200000 5 1\n")
    with open(prof + ".callers", "w") as f:
        f.write("ffffffff80002000 ffffffff80001010 400\n")
    syms = [(0xffffffff80001000, 0x100, "service"), (0xffffffff80002000, 0x40, "memcpy")]
    lines = []
    r = report(prof, syms, out=lines.append)
    assert r["switches"] == 200, r
    assert r["per"]["ours"] == (10.0, 2.0, 0.2), r["per"]
    assert r["pages"] == [1.0, 1.0, 0.0, 0.0], r["pages"]
    assert r["functions"][:2] == ["service", "memcpy"], r["functions"]
    assert r["callers"] == {"memcpy": {"service": 400}}, r["callers"]
    print("tcgprof report selftest: ok")


def main():
    if sys.argv[1:] == ["selftest"]:
        selftest()
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--prof", default="/tmp/tcgprof.txt")
    ap.add_argument("--elf", required=True)
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--watch-args", nargs="*", metavar="FUNCTION",
                    help="only print the plugin arguments (,watch=0x...) for these functions (demangled names)")
    a = ap.parse_args()
    if a.watch_args is not None:
        by_name = {n: addr for addr, _, n in symbols(a.elf)}
        print("".join(f",watch={by_name[f]:#x}" for f in a.watch_args if f in by_name))
        return
    report(a.prof, symbols(a.elf), a.top)


if __name__ == "__main__":
    main()
