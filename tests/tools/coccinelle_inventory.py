#!/usr/bin/env python3
"""An independent inventory of the kfree_skb family's call sites, made by Coccinelle.

    python3 tests/tools/coccinelle_inventory.py TREE 6.12 [--jobs 2] [DIR ...]

runs `spatch` with tests/tools/coccinelle/family-VERSION.cocci (the family's callee names
for that tree, written out by hand from the kernel's own definitions: see the comment at
the top of each .cocci) over TREE (or only its top-level DIRs), .c and .h files, and
writes tests/data/coccinelle/sites-VERSION.txt.gz: sorted, unique lines

    FILE:LINE:COLUMN:FUNCTION:CALLEE

(COLUMN 1-based; FUNCTION is Coccinelle's enclosing element, `something_else` for a
macro body). tests/test_coccinelle.py compares skbdrop's sites with it. spatch is
Debian's package `coccinelle` (1.1.1 here); the whole 6.12 tree takes about two minutes
with --jobs 2.
"""
from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(os.path.dirname(HERE), "data", "coccinelle")


def run(tree: str, version: str, jobs: int, dirs: list[str]) -> list[str]:
    cocci = os.path.join(HERE, "coccinelle", f"family-{version}.cocci")
    dirs = dirs or sorted(d for d in os.listdir(tree)
                          if os.path.isdir(os.path.join(tree, d)) and not d.startswith("."))
    out: set[str] = set()
    for d in dirs:
        t0 = time.monotonic()
        p = subprocess.run(
            ["spatch", "--very-quiet", "--no-includes", "--include-headers", "--no-show-diff",
             "--jobs", str(jobs), "--timeout", "120", "--cocci-file", cocci, "--dir", d],
            cwd=tree, capture_output=True, text=True, check=False)
        lines = [ln for ln in p.stdout.splitlines() if ln.count(":") >= 4 and not ln.startswith(" ")]
        out.update(lines)
        print(f"{d}: {len(lines)} calls, {time.monotonic() - t0:.0f} s (rc {p.returncode})",
              file=sys.stderr)
    return sorted(out, key=lambda ln: (ln.split(":")[0], int(ln.split(":")[1]), int(ln.split(":")[2]), ln))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tree")
    ap.add_argument("version", choices=["6.1", "6.12"])
    ap.add_argument("dirs", nargs="*")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("-o", default=None)
    a = ap.parse_args(argv)
    lines = run(a.tree, a.version, a.jobs, a.dirs)
    path = a.o or os.path.join(DATA, f"sites-{a.version}.txt.gz")
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        f.write(("\n".join(lines) + "\n").encode())
    print(f"{len(lines)} calls -> {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
