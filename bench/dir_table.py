#!/usr/bin/env python3
"""Per top-level directory, before -> after: drop sites, sites with a specific reason,
incomplete sites, coverage (with_reason / drop_sites), from two analysis JSONs.

    python3 bench/dir_table.py BEFORE.json AFTER.json [--depth 1] [--format md|tsv]

A site "with a specific reason" is a drop site that can give a reason other than
NOT_SPECIFIED (summary.with_reason); "incomplete" counts drop and consume sites whose set
is not fully known (summary.incomplete). Rows: every directory holding a drop site in
either analysis, then the total. Reads only the JSON (schema 1).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict


def counts(path: str, depth: int) -> dict[str, list[int]]:
    with open(path, encoding="utf-8") as f:
        a = json.load(f)
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])   # drops, with_reason, incomplete
    for s in a["sites"]:
        parts = s["file"].split("/")
        d = "/".join(parts[:depth]) + "/" if len(parts) > depth else s["file"]
        for key in (d, "total"):
            c = out[key]
            if s["kind"] == "drop":
                c[0] += 1
                if set(s["reasons"]) - {"NOT_SPECIFIED"}:
                    c[1] += 1
            if not s["complete"]:
                c[2] += 1
    return out


def cov(c: list[int]) -> str:
    return f"{100 * c[1] / c[0]:.1f}%" if c[0] else "n/a"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--depth", type=int, default=1, help="path components per row (1: net/)")
    ap.add_argument("--format", choices=("md", "tsv"), default="md")
    a = ap.parse_args(argv)
    b, n = counts(a.before, a.depth), counts(a.after, a.depth)
    dirs = sorted(d for d in set(b) | set(n) if d != "total" and (b[d][0] or n[d][0]))
    head = ["directory", "drop sites", "with a specific reason", "incomplete", "coverage"]
    rows = []
    for d in dirs + ["total"]:
        x, y = b[d], n[d]
        rows.append([f"**{d}**" if d == "total" and a.format == "md" else d,
                     f"{x[0]} → {y[0]}", f"{x[1]} → {y[1]}", f"{x[2]} → {y[2]}",
                     f"{cov(x)} → {cov(y)}"])
    if a.format == "tsv":
        print("\t".join(head))
        for r in rows:
            print("\t".join(r))
    else:
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
