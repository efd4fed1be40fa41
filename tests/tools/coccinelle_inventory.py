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
macro body). tests/test_coccinelle.py compares skbdrop's sites with it.

    python3 tests/tools/coccinelle_inventory.py --differences TREE 6.12 ANALYSIS.json

writes tests/data/coccinelle/differences-VERSION.json: every (file, line, callee) on one
side only, with the rule of tests/data/coccinelle/RULES.md that explains it and its
evidence (spatch --parse-c is run on the files of skbdrop-only sites). spatch is
Debian's package `coccinelle` (1.1.1 here).
"""
from __future__ import annotations

import argparse
import gzip
import json
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


def read_inventory(version: str) -> dict[tuple[str, int, str], str]:
    """(file, line, callee) -> enclosing function, from sites-VERSION.txt.gz."""
    with gzip.open(os.path.join(DATA, f"sites-{version}.txt.gz"), "rt", encoding="utf-8") as f:
        rows = [ln.split(":") for ln in f.read().splitlines() if ln]
    return {(fl, int(line), callee): fn for fl, line, _col, fn, callee in rows}


NOT_PARSED_MARKERS = (b"skb", b"sk_buff", b"drop_reason", b"SKB_")   # skbdrop's facts prefilter


def classify(tree: str, version: str, sites: dict[tuple[str, int, str], tuple[str, str]],
             cocci: dict[tuple[str, int, str], str]) -> list[dict]:
    """Every difference between skbdrop's sites ((file, line, callee) -> (function,
    source)) and the Coccinelle inventory, with the rule that explains it (RULES.md)."""
    names = set(family_names(os.path.join(HERE, "coccinelle", f"family-{version}.cocci")))
    out = []
    parse_bad: dict[str, int] = {}
    for key in sorted(set(cocci) - set(sites)):
        fl, line, callee = key
        fn = cocci[key]
        with open(os.path.join(tree, fl), "rb") as f:
            data = f.read()
        text_line = data.split(b"\n")[line - 1].decode("utf-8", "replace").strip()
        if fn in names:
            rule, ev = "wiring", f"inside {fn}(), a family member"
        elif fn == "something_else" and text_line.startswith("#define") and \
                re.match(r"#define\s+(\w+)", text_line).group(1) in names:
            rule, ev = "wiring", "the body of " + re.match(r"#define\s+(\w+)", text_line).group(1) + "()"
        elif not any(m in data for m in NOT_PARSED_MARKERS):
            rule = "userspace" if fl.startswith("tools/") else "prefilter"
            ev = "the file names no skb, sk_buff, SKB_ or drop_reason"
        else:
            rule, ev = "unexplained", text_line[:80]
        out.append({"side": "coccinelle", "file": fl, "line": line, "callee": callee,
                    "function": fn, "rule": rule, "evidence": ev})
    for key in sorted(set(sites) - set(cocci)):
        fl, line, callee = key
        fn, source = sites[key]
        if source.startswith("#define"):
            rule, ev = "macro", "a call in a macro body, reported on its #define line"
        elif in_if0(os.path.join(tree, fl), line):
            rule, ev = "if0", "inside #if 0"
        else:
            if fl not in parse_bad:
                p = subprocess.run(["spatch", "--parse-c", fl], cwd=tree, capture_output=True,
                                   text=True, check=False)
                m = re.search(r"badcount: (\d+)", p.stdout + p.stderr)
                parse_bad[fl] = int(m.group(1)) if m else 0
            if parse_bad[fl]:
                rule, ev = "spatch-parse", f"spatch --parse-c: badcount {parse_bad[fl]} in the file"
            else:
                rule, ev = "unexplained", source[:80]
        out.append({"side": "skbdrop", "file": fl, "line": line, "callee": callee,
                    "function": fn, "rule": rule, "evidence": ev})
    return out


def in_if0(path: str, line: int) -> bool:
    """Is LINE inside an `#if 0` block (spatch leaves those out; skbdrop reads them)?"""
    stack: list[bool] = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for i, ln in enumerate(f, 1):
            if i == line:
                return any(stack)
            t = ln.strip()
            if re.match(r"#\s*if", t):
                stack.append(bool(re.match(r"#\s*if\s+0\b", t)))
            elif re.match(r"#\s*(elif|else)\b", t) and stack:
                stack[-1] = False
            elif re.match(r"#\s*endif", t) and stack:
                stack.pop()
    return False


def differences(tree: str, version: str, analysis: str) -> int:
    with open(analysis, encoding="utf-8") as f:
        a = json.load(f)
    sites = {(s["file"], s["line"], s["callee"]): (s["function"] or "", s["source"]) for s in a["sites"]}
    cocci = read_inventory(version)
    # a file spatch gave up on inside a chunk (its per-file --timeout, on a busy machine):
    # run it alone, without a timeout, and keep what it finds
    cocci_file = os.path.join(HERE, "coccinelle", f"family-{version}.cocci")
    missing = sorted({k[0] for k in set(sites) - set(cocci)})
    redone = []
    for fl in missing:
        p = subprocess.run(["spatch", "--very-quiet", "--no-includes", "--no-show-diff",
                            "--cocci-file", cocci_file, fl], cwd=tree, capture_output=True,
                           text=True, check=False)
        new = [ln for ln in p.stdout.splitlines() if LINE.fullmatch(ln)]
        got = {(x[0], int(x[1]), x[4]) for x in (ln.split(":") for ln in new)}
        if got - set(cocci):
            redone += new
    if redone:
        path = os.path.join(DATA, f"sites-{version}.txt.gz")
        with gzip.open(path, "rt", encoding="utf-8") as f:
            lines = set(f.read().splitlines()) | set(redone)
        lines.discard("")
        lines = sorted(lines, key=lambda ln: (ln.split(":")[0], int(ln.split(":")[1]),
                                             int(ln.split(":")[2]), ln))
        with gzip.GzipFile(path, "wb", mtime=0) as f:
            f.write(("\n".join(lines) + "\n").encode())
        print(f"{len(redone)} calls added from files spatch had left out", file=sys.stderr)
        cocci = read_inventory(version)
    diffs = classify(tree, version, sites, cocci)
    both = len(set(sites) & set(cocci))
    doc = {"version": version, "kernel": a["kernel"]["version"], "skbdrop_sites": len(sites),
           "coccinelle_calls": len(cocci), "both": both, "differences": diffs}
    path = os.path.join(DATA, f"differences-{version}.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    from collections import Counter
    print(f"{both} in both, {len(diffs)} differences: "
          f"{dict(Counter((d['side'], d['rule']) for d in diffs))} -> {path}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] == "--differences":     # --differences TREE VERSION ANALYSIS.json
        return differences(argv[1], argv[2], argv[3])
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
