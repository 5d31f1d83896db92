#!/usr/bin/env python3
"""Module import cycles inside each crate (make lint).

For every crate of the workspace (its `src/` directory), each top-level
module (`src/<m>.rs` or `src/<m>/`) gets an edge to every other top-level
module it names through `crate::<other>` or `super::<other>` from its top
level. A cycle among top-level modules is reported and fails the check.
Test-only modules (`tests`, `sim`, `testelf`, `host`) are left out: they may
use everything. Prints one line per crate; exits 1 on any cycle.
"""
import os
import re
import sys

TEST_ONLY = {"tests", "sim", "testelf", "host"}


def modules(src):
    mods = {}
    for name in os.listdir(src):
        p = os.path.join(src, name)
        if name.endswith(".rs") and name not in ("lib.rs", "main.rs"):
            mods[name[:-3]] = [p]
        elif os.path.isdir(p):
            files = []
            for root, _, fs in os.walk(p):
                files += [os.path.join(root, f) for f in fs if f.endswith(".rs")]
            mods[name] = files
    return {m: fs for m, fs in mods.items() if m not in TEST_ONLY}


def strip_comments(text):
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def edges(mods):
    g = {m: set() for m in mods}
    for m, files in mods.items():
        for f in files:
            text = strip_comments(open(f).read())
            # `#[cfg(test)] mod tests { ... }` blocks are test-only too.
            text = re.split(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text)[0]
            for other in re.findall(r"\bcrate::(\w+)", text):
                if other in mods and other != m:
                    g[m].add(other)
            # `super::x` from a top-level module file means the crate root's x.
            if len(files) == 1:
                for other in re.findall(r"\bsuper::(\w+)", text):
                    if other in mods and other != m:
                        g[m].add(other)
            # `use crate::{a, b::c}` groups.
            for grp in re.findall(r"\bcrate::\{([^}]*)\}", text):
                for item in re.findall(r"(\w+)", grp):
                    if item in mods and item != m:
                        g[m].add(item)
    return g


def cycles(g):
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in g[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            strong(v)
    return out


def main():
    top = sys.argv[1] if len(sys.argv) > 1 else "."
    srcs = []
    for root, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d not in ("target", ".git", "build")]
        if "Cargo.toml" in files and os.path.isdir(os.path.join(root, "src")):
            srcs.append(os.path.join(root, "src"))
    bad = 0
    for src in sorted(srcs):
        mods = modules(src)
        cs = cycles(edges(mods))
        name = os.path.relpath(os.path.dirname(src), top)
        if cs:
            bad += 1
            for c in cs:
                print(f"modcycles: {name}: cycle among {', '.join(c)}")
        else:
            print(f"modcycles: {name}: {len(mods)} modules, no cycle")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
