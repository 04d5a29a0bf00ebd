#!/usr/bin/env python3
"""The import graph between the top-level modules of src/ (non-test code) and its cycles.

An arrow a -> b is any `crate::b` path in a's files: `use crate::b::…`, `use crate::{b, …}` and
fully qualified `crate::b::x` in code. `#[cfg(test)]` items and comments are skipped.
Exit status 1 when a cycle exists; `--edges` also prints every module's imports.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
# Test-only files (declared `#[cfg(test)] mod …;` in their parent).
TEST_FILES = {os.path.join("ca", "tests.rs"), os.path.join("ca", "test_support.rs")}


def strip_tests(text):
    """Drops each `#[cfg(test)]` item: a `mod x { … }` block or the next item."""
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):
        if lines[i].strip() != "#[cfg(test)]":
            out.append(lines[i])
            i += 1
            continue
        k, depth = i + 1, 0
        while k < len(lines):
            depth += lines[k].count("{") - lines[k].count("}")
            end = lines[k].rstrip()
            if depth <= 0 and (end.endswith(";") or end.endswith("}")):
                break
            k += 1
        i = k + 1
    return "\n".join(out)


def graph():
    mods = set()
    for name in os.listdir(ROOT):
        if name in ("main.rs", "lib.rs"):
            continue
        if name.endswith(".rs"):
            mods.add(name[:-3])
        elif os.path.isdir(os.path.join(ROOT, name)):
            mods.add(name)
    edges = {}
    for folder, _, files in os.walk(ROOT):
        for f in files:
            rel = os.path.relpath(os.path.join(folder, f), ROOT)
            if not f.endswith(".rs") or rel in ("main.rs", "lib.rs") or rel in TEST_FILES:
                continue
            me = rel.split(os.sep)[0].removesuffix(".rs")
            with open(os.path.join(folder, f), encoding="utf-8") as fh:
                src = re.sub(r"//.*", "", strip_tests(fh.read()))
            targets = set(re.findall(r"crate::(\w+)", src))
            for group in re.findall(r"crate::\{([^}]*)\}", src, re.S):
                targets |= {p.strip().split("::")[0].strip() for p in group.split(",")}
            for t in targets & mods - {me}:
                edges.setdefault(me, {}).setdefault(t, set()).add(rel)
    return mods, edges


def cycles(mods, edges):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
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
                found.append(sorted(comp))

    for m in sorted(mods):
        if m not in index:
            visit(m)
    return found


def main():
    mods, edges = graph()
    found = cycles(mods, edges)
    print(f"{len(mods)} top-level modules, {sum(len(v) for v in edges.values())} arrows")
    for comp in found:
        print("cycle among:", ", ".join(comp))
        for a in comp:
            for b in comp:
                if b in edges.get(a, {}):
                    print(f"  {a} -> {b}: {', '.join(sorted(edges[a][b]))}")
    if not found:
        print("no cycles between top-level modules")
    if "--edges" in sys.argv:
        for a in sorted(edges):
            print(a, "->", " ".join(sorted(edges[a])))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
