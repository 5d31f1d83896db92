#!/usr/bin/env python3
"""Summarises a tcgprof run (tcgprof.c, `make profile`, docs/bench.md).

    report.py --prof FILE --elf KERNEL.elf [--top N]

The steady part of the run is the snapshots in which our kernel was
switched in more than 100 times per 0.5 s (the request loop); figures are
per switch-in, which for sequential requests is per request. Blocks and
callers cover the whole run (boot included, a few per cent)."""
import argparse
import bisect
import collections
import re
import subprocess

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


def main():
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
    rows = []
    for line in open(a.prof):
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
        print("no steady request loop found in", a.prof)
        return
    print(f"steady request loop: {sw} switches into our kernel; per switch-in (≈ per sequential request):")
    print(f"  {'class':10s} {'instructions':>12s} {'blocks':>8s} {'kcycles':>8s}")
    for c in CLASSES:
        print(f"  {c:10s} {acc[(c, 0)] / sw:12.0f} {acc[(c, 1)] / sw:8.0f} {acc[(c, 2)] / sw / 1e3:8.1f}")
    p = [acc[("pages", j)] / sw for j in range(4)]
    print(f"  distinct pages while ours is current: our code {p[0]:.1f}, our data {p[1]:.1f}, "
          f"Xen code {p[2]:.1f}, Xen data {p[3]:.1f}")
    syms = symbols(a.elf)
    starts = [s[0] for s in syms]

    def name(va):
        i = bisect.bisect_right(starts, va) - 1
        return syms[i][2] if i >= 0 and va < syms[i][0] + max(syms[i][1], 1) else f"{va:#x}"

    n_blocks, cyc = collections.Counter(), collections.Counter()
    for line in open(a.prof + ".blocks"):
        va, c, n = (int(x, 16) if i == 0 else int(x) for i, x in enumerate(line.split()))
        k = name(va) if va >= 0xffffffff80000000 else "(Xen)"
        n_blocks[k] += n
        cyc[k] += c
    print(f"\nfunctions by cycles (per switch-in; blocks executed, kcycles):")
    for k, n in sorted(n_blocks.items(), key=lambda x: -cyc[x[0]])[:a.top]:
        print(f"  {n / sw:7.1f} {cyc[k] / sw / 1e3:7.1f}  {k[:140]}")
    try:
        lines = open(a.prof + ".callers").read().split("\n")
    except FileNotFoundError:
        lines = []
    by = collections.defaultdict(collections.Counter)
    for line in lines:
        if line.strip():
            t, f, n = line.split()
            by[name(int(t, 16))][name(int(f, 16))] += int(n)
    for t, cs in by.items():
        print(f"\ncallers of {t[:120]} ({sum(cs.values()) / sw:.1f} per switch-in):")
        for f, n in cs.most_common(8):
            print(f"  {n / sw:6.1f}  {f[:130]}")


if __name__ == "__main__":
    main()
