#!/usr/bin/env python3
"""An independent inventory of the kfree_skb family's call sites, made by Coccinelle.

    python3 tests/tools/coccinelle_inventory.py TREE 6.12 [--jobs 2] [DIR ...]

runs `spatch` with tests/tools/coccinelle/family-VERSION.cocci (the family's callee names
for that tree, written out by hand from the kernel's own definitions: see the comment at
the top of each .cocci) over the .c and .h files of TREE (or only its top-level DIRs)
that mention one of those names before a "(" (a text prefilter; spatch parses the rest),
in chunks of files, JOBS spatch processes at a time, and writes tests/data/coccinelle/sites-VERSION.txt.gz: sorted, unique lines

    FILE:LINE:COLUMN:FUNCTION:CALLEE

(COLUMN 1-based; FUNCTION is Coccinelle's enclosing element, `something_else` for a
macro body). tests/test_coccinelle.py compares skbdrop's sites with it. spatch is
Debian's package `coccinelle` (1.1.1 here).
"""
from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import re
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(os.path.dirname(HERE), "data", "coccinelle")
CHUNK = 16
LINE = re.compile(r"[^:\s]+:\d+:\d+:[^:]*:\w+")


def family_names(cocci: str) -> list[str]:
    """The callee names written in the .cocci (its `identifier fn = {...}` set)."""
    with open(cocci, encoding="utf-8") as f:
        text = f.read()
    body = re.search(r"identifier\s+fn\s*=\s*\{(.*?)\}", text, re.S).group(1)
    return [n.strip() for n in body.split(",") if n.strip()]


def candidate_files(tree: str, names: list[str], dirs: list[str]) -> list[str]:
    """.c/.h files that mention a family name followed by "(" (`grep -rlE`, a plain text
    filter, so spatch parses only those: it cannot skip files by itself when the rule
    matches an identifier set)."""
    pat = r"\b(" + "|".join(names) + r")[[:space:]]*\("
    p = subprocess.run(["grep", "-rlE", "--include=*.c", "--include=*.h", pat, *(dirs or ["."])],
                       cwd=tree, capture_output=True, text=True, check=False)
    return sorted(ln[2:] if ln.startswith("./") else ln for ln in p.stdout.splitlines())


def run(tree: str, version: str, jobs: int, dirs: list[str]) -> list[str]:
    cocci = os.path.join(HERE, "coccinelle", f"family-{version}.cocci")
    files = candidate_files(tree, family_names(cocci), dirs)
    print(f"{len(files)} candidate files", file=sys.stderr)
    chunks = [files[i:i + CHUNK] for i in range(0, len(files), CHUNK)]
    out: set[str] = set()
    t0 = time.monotonic()

    def one(chunk: list[str]) -> list[str]:
        p = subprocess.run(["spatch", "--very-quiet", "--no-includes", "--no-show-diff",
                            "--timeout", "120", "--cocci-file", cocci, *chunk],
                           cwd=tree, capture_output=True, text=True, check=False)
        return [ln for ln in p.stdout.splitlines() if LINE.fullmatch(ln)]

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for i, lines in enumerate(pool.map(one, chunks), 1):
            out.update(lines)
            if i % 20 == 0:
                print(f"{i}/{len(chunks)} chunks, {len(out)} calls, "
                      f"{time.monotonic() - t0:.0f} s", file=sys.stderr)
    return sorted(out, key=lambda ln: (ln.split(":")[0], int(ln.split(":")[1]),
                                       int(ln.split(":")[2]), ln))


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
