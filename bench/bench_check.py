#!/usr/bin/env python3
"""Benchmark: `skbdrop check` of a one-file patch against Debian 6.12, warm cache.

Targets (issue 6): under 2 s, and under 20 % of a warm full scan.

    python3 bench/bench_check.py [--kernel debian:6.12] [--repeat 3]

Prints one line per measurement and a verdict; exits 1 when a target is missed.
The cache is warmed first (a full scan if it is cold: that run is not measured).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
PATCH = os.path.join(ROOT, "tests", "data", "check", "new-unspecified-udp.patch")


def timed(cmd: list[str]) -> tuple[float, int]:
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t
    if r.returncode not in (0, 1):
        sys.stderr.write(r.stderr.decode(errors="replace"))
        raise SystemExit(f"failed: {' '.join(cmd)} (exit {r.returncode})")
    return dt, r.returncode


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", default="debian:6.12")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--patch", default=PATCH)
    a = ap.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "analysis.json")
        scan = [py, "-m", "analyzer.cli", "scan", a.kernel, "-o", out]
        check = [py, "-m", "analyzer.cli", "check", "--base", a.kernel, "--patch", a.patch,
                 "--format", "json", "-o", os.path.join(tmp, "check.json")]
        warm, _ = timed(scan)                         # warms the facts cache if it was cold
        print(f"warm-up scan: {warm:.2f} s")
        first, _ = timed(check)                       # builds check's tree index if needed
        print(f"first check on this tree (index build if cold): {first:.2f} s")
        scans = [timed(scan)[0] for _ in range(a.repeat)]
        checks = [timed(check) for _ in range(a.repeat)]
    s = min(scans)
    c = min(dt for dt, _ in checks)
    print(f"warm full scan ({a.kernel}): best {s:.2f} s of {a.repeat}")
    print(f"check one-file patch ({os.path.basename(a.patch)}): best {c:.2f} s of {a.repeat} "
          f"(exit {checks[0][1]})")
    ratio = c / s if s else float("inf")
    ok_abs, ok_rel = c < 2.0, ratio < 0.20
    print(f"check/scan = {ratio:.1%}  target < 2 s: {'ok' if ok_abs else 'MISSED'}, "
          f"< 20 % of scan: {'ok' if ok_rel else 'MISSED'}")
    return 0 if ok_abs and ok_rel else 1


if __name__ == "__main__":
    raise SystemExit(main())
