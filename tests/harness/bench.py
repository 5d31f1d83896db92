#!/usr/bin/env python3
"""`make bench`: ours against a Linux PV domU, side by side in one nested
boot (docs/bench.md).

    bench.py run --kernel IMG --full IMG --min IMG --cfg CFG --dom0 DIR --build DIR
                 --linux-runner BIN --dom0-tool BIN [--quick]
    bench.py report --results build/bench/results.json   (report.md and chart.svg again)
    bench.py readme --results build/bench/results.json --readme README.md
    bench.py selftest                                    (the parser on a canned run; make test)

`run` boots QEMU + Xen + dom0 once; dom0 starts every guest with
`bench_guest` (tests/harness/dom0-init.sh), which times `xl create -p` and
hands the domain to `xsbench-dom0 serve` (tests/bench/dom0-tool): it
unpauses it, times the ready marker, samples both domains' CPU time at the
workload's marks and answers its pings. The workload is the xs-bench crate
on both hosts. Output: build/bench/results.json (schema in docs/bench.md),
build/bench/report.md, build/bench/chart.svg, and the serial log
build/logs/bench.log.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xenrun  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

# What the guests run (xs-bench's spec grammar, docs/bench.md).
# One round per workload guest; the rounds are separate guests, ours and
# Linux's interleaved, so that a slow stretch of the host hits both.
WORK_SPEC = "rounds:1,read:2000:1/4/16/64,write:2000:1,watch:200,client:2000,idle:10"
QUICK_SPEC = "rounds:1,read:100:1/4/16/64,write:100:1,watch:10,client:100,idle:1"
BOOT_MEMORIES = (10, 64, 256, 1024)
PROBE_MEMORIES = (3, 4)
PROBE_SPEC = "rounds:1,read:200:1/16,write:100:1,watch:10"
LINUX_MEMORY = 160
OURS_MEMORY = 10
ROUNDS = 3
# Our boot is cheap to measure and noisier (dom0's answers at boot): more rounds.
BOOT_ROUNDS = 5
# In-guest micro-measurements of the test image (METRIC lines).
METRIC_TESTS = "events::upcall_round_trip_cost,sched::switch_cost,sched::token_ring_up_to_1000"
DEPTHS = (1, 4, 16, 64)

# Metric catalogue: id -> (unit, better, what). `better` is "lower" or
# "higher"; ratios in the report are always "times better for ours".
CATALOGUE = {
    "create_to_ready_ms": ("ms", "lower", "`xl create` → ready"),
    "unpause_to_ready_ms": ("ms", "lower", "unpause → ready"),
    "create_to_gone_ms": ("ms", "lower", "`xl create` → domain gone on poweroff"),
    "watch_rt_us": ("µs", "lower", "watch round trip through dom0"),
    "idle_guest_cpu_ms_per_10s": ("ms", "lower", "idle guest CPU per 10 s"),
    "idle_dom0_cpu_ms_per_10s": ("ms", "lower", "dom0 CPU per 10 s while the guest idles"),
    "guest_image_bytes": ("bytes", "lower", "guest image (Linux: kernel + initrd)"),
    "min_memory_mib": ("MiB", "lower", "least `memory=` that runs the workload"),
}
for _p in [f"read_d{d}" for d in DEPTHS] + ["write_d1", "watch"]:
    _what = {"watch": "watch round trips"}.get(_p, _p.replace("_d", " at ").replace("read", "READ").replace("write", "WRITE")
                                                  + " in flight")
    if _p != "watch":
        CATALOGUE[f"{_p}_ops_per_s"] = ("ops/s", "higher", _what)
    CATALOGUE[f"{_p}_guest_cpu_us_per_op"] = ("µs", "lower", f"guest CPU per request, {_what}")
    CATALOGUE[f"{_p}_dom0_cpu_us_per_op"] = ("µs", "lower", f"dom0 CPU per request, {_what}")
for _m in BOOT_MEMORIES:
    CATALOGUE[f"boot_ms_mem{_m}"] = ("ms", "lower", f"guest boot (start of day → boot complete), memory={_m}")
    CATALOGUE[f"boot_cpu_ms_mem{_m}"] = ("ms", "lower", f"guest boot, our vCPU running (its own work), memory={_m}")
    CATALOGUE[f"unpause_to_ready_ms_mem{_m}"] = ("ms", "lower", f"unpause → ready, memory={_m}")
for _k in ("hypercalls", "evtchn_op", "sched_op", "vcpu_op", "xen_version", "multicall", "upcalls", "poll_wakes", "switches", "idle_blocks", "clock_reads"):
    CATALOGUE[f"read_d1_{_k}_per_op"] = ("1/op", "lower", f"kernel {_k} per sequential READ")
    CATALOGUE[f"read_d64_{_k}_per_op"] = ("1/op", "lower", f"kernel {_k} per READ at 64 in flight")
for _k in ("image_stripped_bytes", "image_loaded_bytes", "image_kernel_bytes", "image_initrd_bytes"):
    CATALOGUE[_k] = ("bytes", "lower", _k.replace("_", " "))

# Hosts of results.json.
OURS, LINUX, CLIENT, FULL, MIN = "ours", "linux", "ours-kernel-client", "ours-full", "ours-min"


# --------------------------------------------------------------------------
# Parsing

def kv(text):
    """`a=1 b=x` -> {"a": "1", "b": "x"} (words without '=' are skipped)."""
    return dict(w.split("=", 1) for w in text.split() if "=" in w)


class GuestRecord:
    """What one bench guest produced: dom0's lines about it and its console."""

    def __init__(self, name):
        self.name = name
        self.create_ns = None
        self.ready_ns = None
        self.shutdown_ns = None
        self.gone_ns = None
        self.marks = {}      # (label, edge) -> (t_ns, guest_ns, dom0_ns)
        self.results = []    # dicts from "BENCH result"
        self.kstats = {}     # label -> dict
        self.errors = []     # "BENCH error" lines and dom0 errors
        self.notes = []
        self.boot_us = None
        self.boot_running_us = None
        self.metrics = []    # (name, value, unit) from METRIC lines
        self.ended = None
        self.done = False


def parse_dom0_line(recs, line):
    """One dom0 serial line (`HARNESS: ...`) into the records."""
    if not line.startswith("HARNESS: "):
        return
    msg = line[len("HARNESS: "):]
    m = re.match(r"^bench (\S+) (\w+)(.*)$", msg)
    if m:
        name, what, rest = m.groups()
        r = recs.setdefault(name, GuestRecord(name))
        f = kv(rest)
        if what == "created":
            r.create_ns = int(f["create_ns"])
        elif what == "ready":
            r.ready_ns = int(f["unpause_to_ready_ns"])
        elif what == "shutdown":
            r.shutdown_ns = int(f["unpause_to_shutdown_ns"])
        elif what == "gone":
            r.gone_ns = int(f["unpause_to_gone_ns"])
        elif what == "mark":
            words = rest.split()
            # mark <seq> <label> <edge> t_ns=.. guest_ns=.. dom0_ns=..
            label, edge = words[1], words[2]
            r.marks[(label, edge)] = (int(f["t_ns"]), int(f["guest_ns"]), int(f["dom0_ns"]))
        elif what == "timeout":
            r.errors.append("timed out: " + rest.strip())
        return
    m = re.match(r"^error bench (\S+): (.*)$", msg)
    if m:
        recs.setdefault(m.group(1), GuestRecord(m.group(1))).errors.append("dom0 tool: " + m.group(2))
        return
    m = re.match(r"^guest (\S+) ended reason=(\S+)", msg)
    if m and m.group(1) in recs:
        recs[m.group(1)].ended = m.group(2)


def parse_guest_line(r, line):
    """One console line of guest `r`."""
    if line.startswith("BENCH "):
        what, _, rest = line[len("BENCH "):].partition(" ")
        if what == "result":
            f = kv(rest)
            r.results.append({k: (v if k == "phase" else int(v)) for k, v in f.items()})
        elif what == "kstats":
            f = kv(rest)
            label = f.pop("phase")
            r.kstats[label] = {k: int(v) for k, v in f.items()}
        elif what == "error":
            r.errors.append(rest)
        elif what == "note":
            r.notes.append(rest)
        elif what == "done":
            r.done = True
        return
    m = re.search(r"boot complete in (\d+) us(?: \((\d+) us running)?", line)
    if m:
        r.boot_us = int(m.group(1))
        if m.group(2) is not None:
            r.boot_running_us = int(m.group(2))
        return
    m = re.match(r"^METRIC (\S+)=(\d+) (.*)$", line)
    if m:
        r.metrics.append((m.group(1), int(m.group(2)), m.group(3)))


# --------------------------------------------------------------------------
# Aggregation

def agg(metric, host, values, unit=None):
    """One results.json row: min, median and max over the rounds."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    unit = unit or CATALOGUE.get(metric, ("",))[0]
    rnd = (lambda x: round(x, 3)) if any(isinstance(v, float) for v in values) else (lambda x: x)
    return {"metric": metric, "unit": unit, "host": host, "min": rnd(min(values)),
            "median": rnd(statistics.median(values)), "max": rnd(max(values)), "rounds": len(values)}


def workload_rows(recs, host, client_host=None):
    """Rows of the workload guests of one host (each round's figures from
    its guest): ops/s, CPU per request, watch latency, idle CPU, kernel
    counters per request."""
    per = {}  # metric -> [values]

    def add(metric, v, h=host):
        per.setdefault((metric, h), []).append(v)

    for r, res in [(r, res) for r in recs for res in r.results]:
        phase, rnd, ops, ns = res["phase"], res["round"], res["ops"], res["ns"]
        label = f"{phase}.{rnd}"
        h = host
        key = phase.replace("-", "_")
        if phase == "client-read":
            if client_host is None:
                continue
            h, key = client_host, "read_d1"
        s, e = r.marks.get((label, "start")), r.marks.get((label, "end"))
        if phase == "idle":
            if s and e:
                wall = max(e[0] - s[0], 1)
                add("idle_guest_cpu_ms_per_10s", (e[1] - s[1]) / wall * 10e9 / 1e6, h)
                add("idle_dom0_cpu_ms_per_10s", (e[2] - s[2]) / wall * 10e9 / 1e6, h)
            continue
        if phase == "watch":
            add("watch_rt_us", res["lat_med_ns"] / 1e3, h)
        elif ns > 0:
            add(f"{key}_ops_per_s", ops / ns * 1e9, h)
        if s and e and ops:
            add(f"{key}_guest_cpu_us_per_op", (e[1] - s[1]) / ops / 1e3, h)
            add(f"{key}_dom0_cpu_us_per_op", (e[2] - s[2]) / ops / 1e3, h)
        ks = r.kstats.get(label)
        if ks and ops and key in ("read_d1", "read_d64") and h == host:
            for k, v in ks.items():
                if k != "ops":
                    add(f"{key}_{k}_per_op", v / ops, h)
    return [agg(m, h, v) for (m, h), v in sorted(per.items())]


def lifecycle_rows(recs, host, names):
    out = []
    rs = [recs[n] for n in names if n in recs]
    ready = [r.ready_ns / 1e6 for r in rs if r.ready_ns is not None]
    out.append(agg("unpause_to_ready_ms", host, ready))
    out.append(agg("create_to_ready_ms", host, [(r.create_ns + r.ready_ns) / 1e6 for r in rs
                                                if r.create_ns is not None and r.ready_ns is not None]))
    out.append(agg("create_to_gone_ms", host, [(r.create_ns + r.gone_ns) / 1e6 for r in rs
                                               if r.create_ns is not None and r.gone_ns is not None]))
    return out


def elf_sizes(path):
    """(stripped file bytes, loaded text+rodata+data+bss+note bytes) of an ELF."""
    if not path or not os.path.exists(path):
        return None, None
    stripped = path + ".bench-stripped"
    subprocess.run(["strip", "-o", stripped, path], check=True)
    size = os.path.getsize(stripped)
    os.unlink(stripped)
    out = subprocess.run(["size", "-A", path], capture_output=True, text=True, check=True).stdout
    loaded = sum(int(l.split()[1]) for l in out.splitlines() if l.startswith((".text", ".rodata", ".data", ".bss", ".note")))
    return size, loaded


def image_rows(images, linux_kernel, linux_initrd_bytes):
    out = []
    for host, path in images.items():
        s, l = elf_sizes(path)
        out.append(agg("image_stripped_bytes", host, [s]))
        out.append(agg("image_loaded_bytes", host, [l]))
        if host == OURS:
            out.append(agg("guest_image_bytes", OURS, [s]))
    if linux_kernel and os.path.exists(linux_kernel):
        k = os.path.getsize(linux_kernel)
        out.append(agg("image_kernel_bytes", LINUX, [k]))
        out.append(agg("image_initrd_bytes", LINUX, [linux_initrd_bytes]))
        out.append(agg("guest_image_bytes", LINUX, [k + linux_initrd_bytes]))
    return out


def collect(recs, plan, images, linux_kernel, linux_initrd_bytes):
    """All rows of results.json, and the problems found."""
    rows, problems = [], []
    for name, r in sorted(recs.items()):
        for e in r.errors:
            problems.append(f"{name}: {e}")
    rows += lifecycle_rows(recs, OURS, plan["ours_life"])
    rows += lifecycle_rows(recs, LINUX, plan["linux_life"])
    for m in BOOT_MEMORIES:
        names = [n for n in plan["ours_boot"] if n.startswith(f"o-boot-m{m}-")]
        rows.append(agg(f"boot_ms_mem{m}", OURS, [recs[n].boot_us / 1e3 for n in names
                                                  if n in recs and recs[n].boot_us is not None]))
        rows.append(agg(f"boot_cpu_ms_mem{m}", OURS, [recs[n].boot_running_us / 1e3 for n in names
                                                      if n in recs and recs[n].boot_running_us is not None]))
        rows.append(agg(f"unpause_to_ready_ms_mem{m}", OURS, [recs[n].ready_ns / 1e6 for n in names
                                                             if n in recs and recs[n].ready_ns is not None]))
    ok_mem = [m for m, n in plan["probe"] if n in recs and recs[n].done and not recs[n].errors
              and recs[n].ended == "poweroff"]
    rows.append(agg("min_memory_mib", OURS, [min(ok_mem)] if ok_mem else []))
    for m, n in plan["probe"]:
        if n in recs and m not in ok_mem:
            r = recs[n]
            problems.append(f"note: memory={m}: {r.ended or 'no end'}" + (f" ({r.errors[0]})" if r.errors else ""))
    rows += workload_rows([recs[n] for n in plan["ours_work"] if n in recs], OURS, client_host=CLIENT)
    rows += workload_rows([recs[n] for n in plan["linux_work"] if n in recs], LINUX)
    rows += image_rows(images, linux_kernel, linux_initrd_bytes)
    if plan.get("metrics") in recs:
        for name, value, unit in recs[plan["metrics"]].metrics:
            rows.append(agg(f"guest.{name}", OURS, [value], unit=unit))
    for name in plan["all"]:
        if name not in recs or recs[name].ended is None:
            problems.append(f"{name}: did not run to its end")
        elif recs[name].ended not in ("poweroff",) and name not in [n for _, n in plan["probe"]]:
            problems.append(f"{name}: ended {recs[name].ended}")
    return [r for r in rows if r], problems


# --------------------------------------------------------------------------
# Report and chart

def index(rows):
    return {(r["metric"], r["host"]): r for r in rows}


def fmt(v, unit=""):
    if v is None:
        return "–"
    if v == 0:
        return "0"
    if unit == "bytes":
        return f"{v:,.0f}"
    a = abs(v)
    if a >= 100:
        s = f"{v:,.0f}"
    elif a >= 10:
        s = f"{v:.1f}"
    elif a >= 1:
        s = f"{v:.2f}"
    else:
        s = f"{v:.3f}"
    return s


def better_ratio(metric, ours, other):
    """How many times better ours is (>1: ours better)."""
    better = CATALOGUE.get(metric, ("", "lower"))[1]
    if not ours or not other:
        return None
    return other / ours if better == "lower" else ours / other


def targets(rows):
    """The issue's four targets: (what, figure, limit, met)."""
    ix = index(rows)
    med = lambda m, h: ix.get((m, h), {}).get("median")  # noqa: E731
    out = []
    # The guest's own boot: its vCPU's running time up to "boot complete".
    # The wall time also holds dom0's answers and dom0's turns on the one
    # CPU, which vary by tens of ms from guest to guest whatever the memory.
    b10, b1024 = med("boot_cpu_ms_mem10", OURS), med("boot_cpu_ms_mem1024", OURS)
    if b10 and b1024:
        out.append(("guest's own boot (vCPU running) at memory=1024 / at memory=10", b1024 / b10, "≤ 1.25",
                    b1024 / b10 <= 1.25))
    g_o, g_l = med("read_d1_guest_cpu_us_per_op", OURS), med("read_d1_guest_cpu_us_per_op", LINUX)
    if g_o and g_l:
        out.append(("guest CPU per sequential READ, ours / Linux", g_o / g_l, "≤ 0.2", g_o / g_l <= 0.2))
    o_o, o_l = med("read_d64_ops_per_s", OURS), med("read_d64_ops_per_s", LINUX)
    if o_o and o_l:
        out.append(("READ ops/s at 64 in flight, ours / Linux", o_o / o_l, "≥ 1.3", o_o / o_l >= 1.3))
    u_o, u_l = med("unpause_to_ready_ms", OURS), med("unpause_to_ready_ms", LINUX)
    if u_o and u_l:
        out.append(("unpause → ready, Linux / ours", u_l / u_o, "≥ 20", u_l / u_o >= 20))
    return out


def cell(r):
    if not r:
        return "–"
    u = r["unit"]
    if r["rounds"] > 1 and r["min"] != r["max"]:
        return f"{fmt(r['median'], u)} ({fmt(r['min'], u)}–{fmt(r['max'], u)})"
    return fmt(r["median"], u)


COMPARE_ORDER = ["create_to_ready_ms", "unpause_to_ready_ms", "create_to_gone_ms",
                 "read_d1_ops_per_s", "write_d1_ops_per_s", "read_d4_ops_per_s", "read_d16_ops_per_s",
                 "read_d64_ops_per_s", "watch_rt_us",
                 "read_d1_guest_cpu_us_per_op", "read_d1_dom0_cpu_us_per_op",
                 "write_d1_guest_cpu_us_per_op", "write_d1_dom0_cpu_us_per_op",
                 "read_d64_guest_cpu_us_per_op", "read_d64_dom0_cpu_us_per_op",
                 "watch_guest_cpu_us_per_op", "watch_dom0_cpu_us_per_op",
                 "idle_guest_cpu_ms_per_10s", "idle_dom0_cpu_ms_per_10s", "guest_image_bytes"]


def comparison_table(rows, hosts=(OURS, LINUX), head=("ours", "Linux PV domU")):
    ix = index(rows)
    lines = [f"| what | unit | {head[0]} | {head[1]} | ours better by |", "|---|---|---|---|---|"]
    for m in COMPARE_ORDER:
        a, b = ix.get((m, hosts[0])), ix.get((m, hosts[1]))
        if not a and not b:
            continue
        ratio = better_ratio(m, a and a["median"], b and b["median"])
        unit = CATALOGUE[m][0]
        lines.append(f"| {CATALOGUE[m][2]} | {unit} | {cell(a)} | {cell(b)} | "
                     f"{'–' if ratio is None else f'{ratio:.2f}×'} |")
    return lines


def markdown(rows, problems, meta):
    ix = index(rows)
    out = ["# make bench", "",
           f"One nested boot ({meta.get('date', '')}; {meta.get('seconds', 0):.0f} s), medians of "
           f"{ROUNDS} rounds with (min–max). Ours: `{meta.get('ours_image', '')}` at memory={OURS_MEMORY}; Linux: "
           f"Debian {meta.get('linux_version', '6.1')} PV domU at memory={LINUX_MEMORY}, the same workload (xs-bench) "
           "as a static program. Definitions: docs/bench.md.", ""]
    out += ["## Ours against Linux", ""] + comparison_table(rows) + [""]
    out += ["## Targets (issue 14)", "", "| target | figure | limit | met |", "|---|---|---|---|"]
    for what, fig, lim, met in targets(rows):
        out.append(f"| {what} | {fig:.2f} | {lim} | {'yes' if met else '**no**'} |")
    out += ["", "## Scaling: READ ops/s against requests in flight", "",
            "| in flight | ours | Linux | ours / Linux |", "|---|---|---|---|"]
    for d in DEPTHS:
        a, b = ix.get((f"read_d{d}_ops_per_s", OURS)), ix.get((f"read_d{d}_ops_per_s", LINUX))
        ratio = (a["median"] / b["median"]) if a and b else None
        out.append(f"| {d} | {cell(a)} | {cell(b)} | {'–' if ratio is None else f'{ratio:.2f}×'} |")
    out += ["", f"## Scaling: our boot against memory (medians of {BOOT_ROUNDS} rounds)", "",
            "| memory= (MiB) | own boot (ms, vCPU running until boot complete) | boot (ms, start of day → boot "
            "complete, wall) | unpause → ready (ms) |", "|---|---|---|---|"]
    for m in BOOT_MEMORIES:
        out.append(f"| {m} | {cell(ix.get((f'boot_cpu_ms_mem{m}', OURS)))} | {cell(ix.get((f'boot_ms_mem{m}', OURS)))} | "
                   f"{cell(ix.get((f'unpause_to_ready_ms_mem{m}', OURS)))} |")
    out += ["", "## Our node against our in-kernel client (sequential READ)", "",
            "| what | unit | node (a program's view) | in-kernel client | node / client |", "|---|---|---|---|---|"]
    for m in ("read_d1_ops_per_s", "read_d1_guest_cpu_us_per_op", "read_d1_dom0_cpu_us_per_op"):
        a, b = ix.get((m, OURS)), ix.get((m, CLIENT))
        ratio = (a["median"] / b["median"]) if a and b else None
        out.append(f"| {CATALOGUE[m][2]} | {CATALOGUE[m][0]} | {cell(a)} | {cell(b)} | "
                   f"{'–' if ratio is None else f'{ratio:.2f}'} |")
    out += ["", "## What our kernel does per request", "",
            "| per request | sequential READ | READ at 64 in flight |", "|---|---|---|"]
    for k in ("hypercalls", "evtchn_op", "sched_op", "vcpu_op", "xen_version", "multicall", "upcalls", "poll_wakes", "switches", "idle_blocks", "clock_reads"):
        a, b = ix.get((f"read_d1_{k}_per_op", OURS)), ix.get((f"read_d64_{k}_per_op", OURS))
        if a or b:
            out.append(f"| {k} | {cell(a)} | {cell(b)} |")
    out += ["", "## Images", "", "| image | stripped / file bytes | loaded bytes |", "|---|---|---|"]
    for h, what in ((OURS, "ours, as benched (`make kernel-bench`)"), (FULL, "ours, full (`make kernel`)"),
                    (MIN, "ours, kernel alone (`make kernel-min`)")):
        out.append(f"| {what} | {cell(ix.get(('image_stripped_bytes', h)))} | "
                   f"{cell(ix.get(('image_loaded_bytes', h)))} |")
    out.append(f"| Linux guest kernel (vmlinux as booted) + initrd | "
               f"{cell(ix.get(('image_kernel_bytes', LINUX)))} + {cell(ix.get(('image_initrd_bytes', LINUX)))} | |")
    mm = ix.get(("min_memory_mib", OURS))
    out += ["", "## Memory", "", f"Least `memory=` (MiB) at which our guest ran the probe workload: "
            f"{cell(mm)} (tried {', '.join(str(m) for m in PROBE_MEMORIES)})."]
    metrics = [r for r in rows if r["metric"].startswith("guest.")]
    if metrics:
        out += ["", "## In-guest micro-measurements (test image, METRIC lines)", "", "| metric | value | unit |",
                "|---|---|---|"]
        out += [f"| {r['metric'][6:]} | {fmt(r['median'])} | {r['unit']} |" for r in metrics]
    if problems:
        out += ["", "## Problems and notes", ""] + [f"- {p}" for p in problems]
    return "\n".join(out) + "\n"


def esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def chart_svg(rows):
    """Three panels, hand-made SVG: bars ours vs Linux per metric
    (normalised to the larger, values printed), READ ops/s against depth
    for both, our boot against memory."""
    ix = index(rows)
    W = 960
    C_OURS, C_LIN, C_CPU = "#1f77b4", "#d62728", "#2ca02c"
    parts = []
    y = 20
    parts.append(f'<text x="20" y="{y + 14}" font-size="18" font-weight="bold">make bench: ours against a Linux '
                 f'PV domU (medians; whiskers: min–max over the rounds)</text>')
    y += 40
    # Panel 1: bars, each metric's name on its own line above its two bars.
    bar_metrics = [m for m in COMPARE_ORDER if (m, OURS) in ix and (m, LINUX) in ix]
    bar_x, bar_w = 40, 700
    parts.append(f'<text x="20" y="{y}" font-size="14" font-weight="bold">Per metric (bar length relative to the '
                 f'larger of the two; right: how many times better ours is)</text>')
    y += 12
    parts.append(f'<rect x="{bar_x}" y="{y}" width="12" height="10" fill="{C_OURS}"/>'
                 f'<text x="{bar_x + 16}" y="{y + 9}" font-size="11">ours</text>'
                 f'<rect x="{bar_x + 60}" y="{y}" width="12" height="10" fill="{C_LIN}"/>'
                 f'<text x="{bar_x + 76}" y="{y + 9}" font-size="11">Linux</text>')
    y += 22
    for m in bar_metrics:
        a, b = ix[(m, OURS)], ix[(m, LINUX)]
        top = max(a["max"], b["max"], 1e-12)
        unit, better, what = CATALOGUE[m]
        ratio = better_ratio(m, a["median"], b["median"])
        parts.append(f'<text x="{bar_x}" y="{y + 10}" font-size="12">{esc(what)} ({esc(unit)}, {better} is '
                     f'better)</text>')
        for i, (r, c) in enumerate(((a, C_OURS), (b, C_LIN))):
            yy = y + 15 + i * 12
            w = max(r["median"] / top * bar_w, 1)
            parts.append(f'<rect x="{bar_x}" y="{yy}" width="{w:.1f}" height="10" fill="{c}"/>')
            x0, x1 = bar_x + r["min"] / top * bar_w, bar_x + r["max"] / top * bar_w
            parts.append(f'<line x1="{x0:.1f}" y1="{yy + 5}" x2="{x1:.1f}" y2="{yy + 5}" stroke="black" '
                         f'stroke-width="1"/>')
            parts.append(f'<text x="{bar_x + max(w, x1 - bar_x) + 4:.1f}" y="{yy + 9}" font-size="10">'
                         f'{esc(fmt(r["median"], unit))}</text>')
        if ratio is not None:
            parts.append(f'<text x="{W - 20}" y="{y + 30}" font-size="13" text-anchor="end" font-weight="bold" '
                         f'fill="{"#2a7d2a" if ratio >= 1 else "#b22222"}">{ratio:.2f}×</text>')
        y += 46
    y += 20
    # Panel 2 and 3 side by side.
    ph = 240

    def panel(x0, y0, w, title, xs, series, xlabel, ylabel):
        out = [f'<text x="{x0}" y="{y0}" font-size="14" font-weight="bold">{esc(title)}</text>']
        px, py, pw, phh = x0 + 60, y0 + 30, w - 80, ph - 80
        vals = [v for _, _, pts in series for p in pts if p for v in (p["min"], p["max"])]
        top = max(vals) * 1.1 if vals else 1
        out.append(f'<rect x="{px}" y="{py}" width="{pw}" height="{phh}" fill="none" stroke="#888"/>')
        for k in range(5):
            v = top * k / 4
            yy = py + phh - phh * k / 4
            out.append(f'<line x1="{px}" y1="{yy:.1f}" x2="{px + pw}" y2="{yy:.1f}" stroke="#ddd"/>'
                       f'<text x="{px - 4}" y="{yy + 4:.1f}" font-size="10" text-anchor="end">{esc(fmt(v))}</text>')
        step = pw / max(len(xs), 1)
        for i, xv in enumerate(xs):
            out.append(f'<text x="{px + step * (i + 0.5):.1f}" y="{py + phh + 14}" font-size="11" '
                       f'text-anchor="middle">{esc(xv)}</text>')
        out.append(f'<text x="{px + pw / 2:.1f}" y="{py + phh + 30}" font-size="11" text-anchor="middle">'
                   f'{esc(xlabel)}</text>')
        out.append(f'<text x="{x0 + 12}" y="{py + phh / 2:.1f}" font-size="11" text-anchor="middle" '
                   f'transform="rotate(-90 {x0 + 12} {py + phh / 2:.1f})">{esc(ylabel)}</text>')
        for si, (name, color, pts) in enumerate(series):
            coords = []
            for i, p in enumerate(pts):
                if not p:
                    continue
                cx = px + step * (i + 0.5)
                cy = py + phh - p["median"] / top * phh
                coords.append((cx, cy))
                y_lo, y_hi = py + phh - p["min"] / top * phh, py + phh - p["max"] / top * phh
                out.append(f'<line x1="{cx:.1f}" y1="{y_lo:.1f}" x2="{cx:.1f}" y2="{y_hi:.1f}" stroke="{color}"/>')
                out.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3.5" fill="{color}"/>')
                out.append(f'<text x="{cx + 6:.1f}" y="{cy - 6 + si * 14:.1f}" font-size="10" fill="{color}">'
                           f'{esc(fmt(p["median"]))}</text>')
            if len(coords) > 1:
                d = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in coords)
                out.append(f'<polyline points="{d}" fill="none" stroke="{color}" stroke-width="2"/>')
            out.append(f'<rect x="{px + si * 70}" y="{y0 + 8}" width="12" height="10" fill="{color}"/>'
                       f'<text x="{px + 16 + si * 70}" y="{y0 + 17}" font-size="11">{esc(name)}</text>')
        return out

    pw = (W - 60) / 2
    parts += panel(20, y, pw, "READ ops/s against requests in flight", [str(d) for d in DEPTHS],
                   [("ours", C_OURS, [ix.get((f"read_d{d}_ops_per_s", OURS)) for d in DEPTHS]),
                    ("Linux", C_LIN, [ix.get((f"read_d{d}_ops_per_s", LINUX)) for d in DEPTHS])],
                   "requests in flight", "ops/s")
    parts += panel(40 + pw, y, pw, "Our guest boot against memory", [str(m) for m in BOOT_MEMORIES],
                   [("ours, wall", C_OURS, [ix.get((f"boot_ms_mem{m}", OURS)) for m in BOOT_MEMORIES]),
                    ("ours, vCPU running", C_CPU, [ix.get((f"boot_cpu_ms_mem{m}", OURS)) for m in BOOT_MEMORIES])],
                   "memory= (MiB)", "ms (start of day → boot complete)")
    y += ph + 10
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{y}" viewBox="0 0 {W} {y}" '
            f'font-family="DejaVu Sans, Arial, sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n'
            + "\n".join(parts) + "\n</svg>\n")


def write_outputs(out_dir, rows, problems, meta):
    os.makedirs(out_dir, exist_ok=True)
    doc = {"schema": "xenfs-unikernel bench results v1 (docs/bench.md)", "meta": meta, "results": rows,
           "problems": problems}
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write(markdown(rows, problems, meta))
    with open(os.path.join(out_dir, "chart.svg"), "w") as f:
        f.write(chart_svg(rows))


# --------------------------------------------------------------------------
# README

BEGIN, END = "<!-- bench-table:begin (generated by make bench-readme from build/bench/results.json) -->", \
    "<!-- bench-table:end -->"


def readme_block(doc):
    rows, meta = doc["results"], doc["meta"]
    ix = index(rows)
    lines = [BEGIN, "", f"From `make bench` ({meta.get('date', '')}, {meta.get('seconds', 0):.0f} s; "
             "medians of 3 rounds, (min–max); ours and a Debian 6.1 Linux PV domU in the same nested boot, "
             "the same workload; definitions in docs/bench.md):", ""]
    lines += comparison_table(rows)
    lines += ["", "| scaling | " + " | ".join(str(d) for d in DEPTHS) + " in flight |",
              "|---|" + "---|" * len(DEPTHS)]
    for h, name in ((OURS, "READ ops/s, ours"), (LINUX, "READ ops/s, Linux")):
        lines.append(f"| {name} | " + " | ".join(cell(ix.get((f"read_d{d}_ops_per_s", h))) for d in DEPTHS) + " |")
    lines += ["", "| our guest | " + " | ".join(f"memory={m}" for m in BOOT_MEMORIES) + " |",
              "|---|" + "---|" * len(BOOT_MEMORIES)]
    lines.append("| boot, start of day → boot complete (ms) | "
                 + " | ".join(cell(ix.get((f"boot_ms_mem{m}", OURS))) for m in BOOT_MEMORIES) + " |")
    lines.append("| own boot: our vCPU running until boot complete (ms) | "
                 + " | ".join(cell(ix.get((f"boot_cpu_ms_mem{m}", OURS))) for m in BOOT_MEMORIES) + " |")
    lines.append("| unpause → ready (ms) | "
                 + " | ".join(cell(ix.get((f"unpause_to_ready_ms_mem{m}", OURS))) for m in BOOT_MEMORIES) + " |")
    s = ix.get(("image_stripped_bytes", FULL)), ix.get(("image_loaded_bytes", FULL))
    mn = ix.get(("image_stripped_bytes", MIN)), ix.get(("image_loaded_bytes", MIN))
    lines += ["", "| more | measured |", "|---|---|",
              f"| image, full (`make kernel`, with the in-guest suites) | {cell(s[0])} bytes stripped, "
              f"{cell(s[1])} loaded |",
              f"| image, kernel alone (`make kernel-min`) | {cell(mn[0])} bytes stripped, {cell(mn[1])} loaded |",
              f"| Linux guest: vmlinux as booted + initrd | {cell(ix.get(('image_kernel_bytes', LINUX)))} + "
              f"{cell(ix.get(('image_initrd_bytes', LINUX)))} bytes |",
              f"| memory: least `memory=` (MiB) running the workload | **{cell(ix.get(('min_memory_mib', OURS)))}** "
              f"(tried {', '.join(str(m) for m in PROBE_MEMORIES)}) |",
              f"| node vs in-kernel client, sequential READ ops/s | {cell(ix.get(('read_d1_ops_per_s', OURS)))} vs "
              f"{cell(ix.get(('read_d1_ops_per_s', CLIENT)))} |"]
    for r in rows:
        if r["metric"].startswith("guest."):
            lines.append(f"| {r['metric'][6:]} (in-guest METRIC, test image) | {fmt(r['median'])} {r['unit']} |")
    lines += ["", END]
    return "\n".join(lines)


def update_readme(results_path, readme_path):
    doc = json.load(open(results_path))
    text = open(readme_path).read()
    block = readme_block(doc)
    if BEGIN in text and END in text:
        pre, rest = text.split(BEGIN, 1)
        _, post = rest.split(END, 1)
        text = pre + block + post
    else:
        raise SystemExit(f"bench-readme: no markers in {readme_path} ({BEGIN} ... {END})")
    with open(readme_path, "w") as f:
        f.write(text)
    print(f"bench-readme: {readme_path} updated from {results_path}")


# --------------------------------------------------------------------------
# The run

def plan_guests(quick):
    """Names and order of the guests of one bench run."""
    rounds = 1 if quick else ROUNDS
    mems = (10,) if quick else BOOT_MEMORIES
    boot_rounds = 1 if quick else BOOT_ROUNDS
    ours_boot = [f"o-boot-m{m}-{r}" for r in range(1, boot_rounds + 1) for m in mems]
    linux_life = [f"l-life-{r}" for r in range(1, rounds + 1)]
    # The first guest of a boot finds dom0 cold (its first xl create,
    # xenstored's first new domain): a warm-up guest takes that, unmeasured.
    order = ["o-warmup"]
    for r in range(1, boot_rounds + 1):
        order += [n for n in ours_boot if n.endswith(f"-{r}")]
        if r <= rounds:
            order.append(f"l-life-{r}")
    probe = [] if quick else [(m, f"o-probe-m{m}") for m in PROBE_MEMORIES]
    order += [n for _, n in probe]
    ours_work = [f"o-work-{r}" for r in range(1, rounds + 1)]
    linux_work = [f"l-work-{r}" for r in range(1, rounds + 1)]
    # BENCH_AB=<image>: each round also runs the workload on that image
    # ("b-work-N", right after "o-work-N"), for back-to-back comparisons of
    # two builds in one boot (see docs/bench.md); it is not in the results.
    ab = os.environ.get("BENCH_AB")
    for r, (o, li) in enumerate(zip(ours_work, linux_work), 1):
        order += [o, f"b-work-{r}", li] if ab else [o, li]
    metrics = None if quick else "o-metrics"
    if metrics:
        order.append(metrics)
    return {"ours_boot": ours_boot, "ours_life": [n for n in ours_boot if n.startswith("o-boot-m10-")][:rounds],
            "linux_life": linux_life, "probe": probe, "ours_work": ours_work, "linux_work": linux_work,
            "metrics": metrics, "all": order}



def run(a):
    t0 = time.monotonic()
    plan = plan_guests(a.quick)
    if a.only:
        keep = set(a.only.split(","))
        plan["all"] = [n for n in plan["all"] if n in keep]
    work_spec = a.spec or (QUICK_SPEC if a.quick else WORK_SPEC)
    out_dir = os.path.join(a.build, "bench")
    linux_initrd = xenrun.cpio_newc([
        ("bin", 0o040755, b""), ("dev", 0o040755, b""), ("proc", 0o040755, b""),
        ("bin/busybox", 0o100755, open("/bin/busybox", "rb").read()),
        ("init", 0o100755, open(os.path.join(HERE, "linux-bench-init.sh"), "rb").read()),
        ("xsbench", 0o100755, open(a.linux_runner, "rb").read())])
    vmlinux = os.path.join(a.dom0, "vmlinux")

    def ours_cfg(name, spec, memory, kernel=None, cmdline=None):
        text = xenrun.guest_cfg(a.cfg, name, cmdline or f"bench={spec}", memory=memory, kernel=kernel)
        return re.sub(r'^\s*on_crash\s*=.*$', 'on_crash = "destroy"', text, flags=re.M)

    def linux_cfg(name, spec):
        return (f'name = "{name}"\ntype = "pv"\nkernel = "/guest/linux-vmlinux"\nramdisk = "/guest/linux-bench.cpio"\n'
                f'memory = {LINUX_MEMORY}\nvcpus = 1\nextra = "console=hvc0 quiet loglevel=3 panic=-1 bench={spec}"\n'
                'on_poweroff = "destroy"\non_reboot = "destroy"\non_crash = "destroy"\n')

    guests, limits = [], {}
    for name in plan["all"]:
        if name == "o-warmup":
            cfg, limit = ours_cfg(name, "ready", OURS_MEMORY), 120
        elif name.startswith("o-boot-m"):
            mem = int(name[len("o-boot-m"):].split("-")[0])
            cfg, limit = ours_cfg(name, "ready", mem), 120
        elif name.startswith("o-probe-m"):
            cfg, limit = ours_cfg(name, PROBE_SPEC, int(name[len("o-probe-m"):])), 120
        elif name.startswith("l-life-"):
            cfg, limit = linux_cfg(name, "ready"), 120
        elif name.startswith("o-work-"):
            cfg, limit = ours_cfg(name, work_spec, OURS_MEMORY), 300
        elif name.startswith("l-work-"):
            cfg, limit = linux_cfg(name, work_spec), 300
        elif name.startswith("b-work-"):
            cfg, limit = ours_cfg(name, work_spec, OURS_MEMORY, kernel="/guest/unikernel-b.elf"), 300
        else:  # o-metrics
            cfg, limit = ours_cfg(name, "", OURS_MEMORY, kernel="/guest/unikernel-test.elf",
                                  cmdline=f"tests={METRIC_TESTS}"), 180
        limits[name] = limit
        guests.append(xenrun.Guest(name, cfg, limit + 60))
    job = "".join(f"bench_guest {g.name} /guest/{g.name}.cfg {limits[g.name]}\n" for g in guests)

    def progress(g, line):
        if line.startswith(("BENCH result", "BENCH error", "BENCH note", "*** CRASH", "METRIC ")):
            print(f"    [{g.name}] {line}", flush=True)

    extra = [("guest/linux-vmlinux", 0o100644, open(vmlinux, "rb").read() if any(n.startswith("l-") for n in plan["all"])
              else b""),
             ("guest/linux-bench.cpio", 0o100644, linux_initrd),
             ("harness/xsbench-dom0", 0o100755, open(a.dom0_tool, "rb").read())]
    if os.environ.get("BENCH_AB"):
        extra.append(("guest/unikernel-b.elf", 0o100644, open(os.environ["BENCH_AB"], "rb").read()))
    if plan["metrics"] in plan["all"]:
        extra.append(("guest/unikernel-test.elf", 0o100644, open(a.full, "rb").read()))
    xenrun.log(f"bench: {len(guests)} guests in one boot ({'quick' if a.quick else 'full'} run)")
    r = xenrun.Run(a.kernel, a.dom0, os.path.join(a.build, "logs"), guests, job, verbose=a.verbose,
                   log_name="bench", quiet_guests=not a.verbose, on_guest_line=progress, extra_files=extra,
                   dom0_mem=640, machine_mem=2560)
    rc = r.run()
    recs = {g.name: GuestRecord(g.name) for g in guests}
    for line in r.dom0_lines:
        parse_dom0_line(recs, line)
    for g in guests:
        for line in g.lines:
            parse_guest_line(recs[g.name], line)
        if recs[g.name].ended is None:
            recs[g.name].ended = g.reason
    images = {OURS: a.kernel, FULL: a.full, MIN: a.min}
    rows, problems = collect(recs, plan, images, vmlinux, len(linux_initrd))
    if rc != xenrun.EXIT_OK:
        problems.append(f"the nested boot ended with harness code {rc} (see {r.log_path})")
    meta = {"date": time.strftime("%Y-%m-%d %H:%M"), "seconds": round(time.monotonic() - t0, 1),
            "ours_image": os.path.relpath(a.kernel), "quick": a.quick, "work_spec": work_spec,
            "linux_version": linux_version(a.dom0), "log": r.log_path,
            "qemu": f"TCG, {os.environ.get('XENRUN_SMP', '1')} vCPU, dom0_mem=640M, {os.cpu_count()} host cores"}
    write_outputs(out_dir, rows, problems, meta)
    xenrun.log(f"bench: results in {out_dir}/results.json, report.md, chart.svg ({meta['seconds']:.0f} s)")
    print(open(os.path.join(out_dir, "report.md")).read())
    hard = [p for p in problems if not p.startswith("note:")]
    return 0 if rc == xenrun.EXIT_OK and not hard else 1


def linux_version(dom0):
    try:
        data = open(os.path.join(dom0, "vmlinux"), "rb").read()
        m = re.search(rb"Linux version (\S+)", data)
        return m.group(1).decode() if m else "6.1"
    except OSError:
        return "6.1"


# --------------------------------------------------------------------------
# Self-test: the parser and the aggregation on a canned two-guest run.

SELFTEST_DOM0 = """HARNESS: bench o-work created domid=5 create_ns=400000000
HARNESS: stage guest-run o-work
HARNESS: bench o-work ready unpause_to_ready_ns=20000000
HARNESS: bench o-work mark 1 read-d1.1 start t_ns=100 guest_ns=1000000 dom0_ns=5000000
HARNESS: bench o-work mark 2 read-d1.1 end t_ns=200 guest_ns=3000000 dom0_ns=9000000
HARNESS: bench o-work mark 3 idle.1 start t_ns=1000000000 guest_ns=3000000 dom0_ns=9000000
HARNESS: bench o-work mark 4 idle.1 end t_ns=6000000000 guest_ns=3500000 dom0_ns=10000000
HARNESS: bench o-work mark 5 client-read.1 start t_ns=7000000000 guest_ns=4000000 dom0_ns=11000000
HARNESS: bench o-work mark 6 client-read.1 end t_ns=8000000000 guest_ns=4500000 dom0_ns=12000000
HARNESS: bench o-work shutdown unpause_to_shutdown_ns=9000000000
HARNESS: bench o-work gone unpause_to_gone_ns=9100000000
HARNESS: guest o-work ended reason=poweroff
HARNESS: error bench l-work: cannot reach xenstored (nothing)"""
SELFTEST_GUEST = """INFO  boot complete in 1234 us (567 us running, 600 us blocked, 67 us runnable)
BENCH start host=ours spec=rounds:1,read:1000:1,idle:5,client:1000
BENCH ready
BENCH kstats phase=read-d1.1 ops=1000 hypercalls=3000 evtchn_op=1000 sched_op=1000 vcpu_op=500 xen_version=0 upcalls=1000 switches=2000 idle_blocks=1000
BENCH result phase=read-d1 round=1 ops=1000 ns=500000000
BENCH result phase=idle round=1 ops=0 ns=5000000000
BENCH result phase=client-read round=1 ops=1000 ns=250000000
METRIC sched.thread_switch_cycles=4000 TSC cycles per switch
BENCH done results=3 errors=0"""


def selftest():
    recs = {"o-work": GuestRecord("o-work")}
    for line in SELFTEST_DOM0.splitlines():
        parse_dom0_line(recs, line)
    for line in SELFTEST_GUEST.splitlines():
        parse_guest_line(recs["o-work"], line)
    r = recs["o-work"]
    assert (r.create_ns, r.ready_ns, r.shutdown_ns, r.gone_ns, r.ended, r.boot_us, r.done) == \
        (400000000, 20000000, 9000000000, 9100000000, "poweroff", 1234, True), vars(r)
    assert r.boot_running_us == 567, vars(r)
    assert r.marks[("read-d1.1", "end")] == (200, 3000000, 9000000)
    assert recs["l-work"].errors == ["dom0 tool: cannot reach xenstored (nothing)"]
    rows = {(x["metric"], x["host"]): x for x in workload_rows([r], OURS, client_host=CLIENT)}
    want = {("read_d1_ops_per_s", OURS): 2000.0, ("read_d1_guest_cpu_us_per_op", OURS): 2.0,
            ("read_d1_dom0_cpu_us_per_op", OURS): 4.0, ("read_d1_hypercalls_per_op", OURS): 3.0,
            ("read_d1_switches_per_op", OURS): 2.0, ("idle_guest_cpu_ms_per_10s", OURS): 1.0,
            ("idle_dom0_cpu_ms_per_10s", OURS): 2.0, ("read_d1_ops_per_s", CLIENT): 4000.0,
            ("read_d1_guest_cpu_us_per_op", CLIENT): 0.5, ("read_d1_dom0_cpu_us_per_op", CLIENT): 1.0}
    for k, v in want.items():
        assert rows[k]["median"] == v and rows[k]["rounds"] == 1, (k, rows.get(k))
    assert ("read_d1_hypercalls_per_op", CLIENT) not in rows
    a = agg("unpause_to_ready_ms", LINUX, [3.0, 1.0, 2.0])
    assert a == {"metric": "unpause_to_ready_ms", "unit": "ms", "host": LINUX, "min": 1.0, "median": 2.0,
                 "max": 3.0, "rounds": 3}, a
    plan = {"ours_life": ["o-work"], "linux_life": [], "ours_boot": [], "probe": [], "ours_work": ["o-work"],
            "linux_work": ["l-work"], "metrics": None, "all": ["o-work"]}
    allrows, problems = collect(recs, plan, {}, None, 0)
    ix = index(allrows)
    assert ix[("create_to_ready_ms", OURS)]["median"] == 420.0
    assert ix[("create_to_gone_ms", OURS)]["median"] == 9500.0
    assert problems == ["l-work: dom0 tool: cannot reach xenstored (nothing)"], problems
    md = markdown(allrows, problems, {"date": "x", "seconds": 1})
    assert "| READ at 1 in flight | ops/s | 2,000 | – | – |" in md, md
    svg = chart_svg(allrows + [dict(x, host=LINUX, median=x["median"] * 2, min=x["min"] * 2, max=x["max"] * 2)
                               for x in allrows])
    assert svg.startswith("<svg") and svg.count("<rect") > 10 and "2.00×" in svg
    block = readme_block({"results": allrows, "meta": {"date": "x", "seconds": 1}})
    assert block.startswith(BEGIN) and block.endswith(END)
    print("bench selftest: ok (parser, aggregation, report, chart, README block)")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    for opt in ("kernel", "full", "min", "cfg", "dom0", "build", "linux-runner", "dom0-tool"):
        r.add_argument(f"--{opt}", required=True)
    r.add_argument("--quick", action="store_true", help="one round of everything, small counts (a smoke test)")
    r.add_argument("--only", default="", help="comma-separated guest names (o-work, l-work, o-boot-m10-1, ...): "
                   "a partial run, for development")
    r.add_argument("--spec", default="", help="the workload guests' spec instead of the default")
    r.add_argument("--verbose", action="store_true")
    p = sub.add_parser("report")
    p.add_argument("--results", required=True)
    m = sub.add_parser("readme")
    m.add_argument("--results", required=True)
    m.add_argument("--readme", required=True)
    sub.add_parser("selftest")
    a = ap.parse_args()
    if a.cmd == "run":
        return run(a)
    if a.cmd == "report":
        doc = json.load(open(a.results))
        write_outputs(os.path.dirname(a.results), doc["results"], doc["problems"], doc["meta"])
        return 0
    if a.cmd == "readme":
        update_readme(a.results, a.readme)
        return 0
    return selftest()


if __name__ == "__main__":
    sys.exit(main())
