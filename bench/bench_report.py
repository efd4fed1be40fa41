#!/usr/bin/env python3
"""Benchmark: render the HTML report of Debian 6.12 after the scan, and its size on disk.

Targets (issue 5): under 30 s and under 200 MB for the full tree.

    python3 bench/bench_report.py [--kernel debian:6.12] [--out DIR] [--keep]

The scan runs first (warm cache after the first run) and is timed apart; the render is
timed on the Analysis in memory, as `skbdrop report` does it after loading. Prints one
line per measurement and a verdict; exits 1 when a target is missed.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

TIME_TARGET = 30.0
SIZE_TARGET = 200e6


def disk_usage(path: str) -> tuple[int, int, int]:
    """(bytes of content, bytes allocated on disk, files)."""
    size = alloc = files = 0
    for d, _, names in os.walk(path):
        for n in names:
            st = os.lstat(os.path.join(d, n))
            size += st.st_size
            alloc += st.st_blocks * 512
            files += 1
    return size, alloc, files


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", default="debian:6.12")
    ap.add_argument("--out", help="report directory (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary report")
    a = ap.parse_args()
    from analyzer.pipeline import load_analysis
    from analyzer.commands.report import OutputDir, ReportInput, build_report
    from analyzer.formats.html.source import open_source

    t = time.perf_counter()
    an = load_analysis(a.kernel)
    print(f"scan {a.kernel}: {time.perf_counter() - t:.2f} s "
          f"({len(an.sites):,} sites, {len(an.callgraph.nodes):,} functions in the call graph)")
    tmp = None
    if a.out:
        out = a.out
    else:
        tmp = tempfile.mkdtemp(prefix="skbdrop-bench-report-")
        out = os.path.join(tmp, "report")
    od = OutputDir(out)
    t = time.perf_counter()
    res = build_report([ReportInput(a.kernel, an, open_source(a.kernel, an.kernel.source))],
                       od.staging)
    od.commit()
    dt = time.perf_counter() - t
    size, alloc, files = disk_usage(out)
    print(f"render report: {dt:.2f} s, {res.pages:,} pages")
    print(f"size: {size / 1e6:.1f} MB content, {alloc / 1e6:.1f} MB on disk, {files:,} files: {out}")
    ok_t, ok_s = dt < TIME_TARGET, alloc < SIZE_TARGET
    print(f"target < {TIME_TARGET:.0f} s: {'ok' if ok_t else 'MISSED'}, "
          f"< {SIZE_TARGET / 1e6:.0f} MB: {'ok' if ok_s else 'MISSED'}")
    if tmp and not a.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok_t and ok_s else 1


if __name__ == "__main__":
    raise SystemExit(main())
