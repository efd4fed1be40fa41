#!/usr/bin/env python3
"""`make bench`: the scan of a real tree (default Debian 6.12), measured in one run.

Prints: scan time with an empty cache and with a warm cache, the time of
`grep -rn` for the family names over the same tree, the two ratios, and the peak RSS
of the scan processes; then runs the report, check and explain benchmarks.
Targets (issue 3, 2 cores): cold <= 15x grep, warm <= 3x grep, peak RSS < 2 GB.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

NAMES = ("kfree_skb", "kfree_skb_reason", "sk_skb_reason_drop", "tcp_drop_reason",
         "dev_kfree_skb_any", "dev_kfree_skb", "dev_kfree_skb_irq", "consume_skb")


def timed(cmd: list[str], env=None) -> tuple[float, int]:
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t
    if r.returncode not in (0, 1):
        sys.stderr.write(r.stderr)
        raise SystemExit(f"bench: {' '.join(cmd[:4])} failed ({r.returncode})")
    return dt, r.returncode


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", default="debian:6.12")
    ap.add_argument("--only-scan", action="store_true")
    a = ap.parse_args()
    from analyzer.source.tree import open_tree
    tree = open_tree(a.kernel)
    root = tree.root
    print(f"kernel {a.kernel}: {tree.version} at {root}")
    # drop the tree into the page cache first so that grep and scans read alike
    subprocess.run(["grep", "-rqc", "--include=*.[ch]", "zzzz_nothing", root], check=False)
    pattern = r"\b(" + "|".join(NAMES) + r")\s*\("
    g, _ = timed(["grep", "-rnE", "--include=*.c", "--include=*.h", pattern, root])
    print(f"grep -rn (family names, *.c/*.h): {g:.2f} s")
    cache = tempfile.mkdtemp(prefix="skbdrop-bench-cache-")
    out = os.path.join(cache, "a.json")
    env = dict(os.environ, SKBDROP_CACHE=cache)
    try:
        # the unpacked tree itself, so that the empty cache is the facts cache only
        cold, _ = timed([sys.executable, "-m", "analyzer.cli", "scan", root, "-o", out], env)
        warm, _ = timed([sys.executable, "-m", "analyzer.cli", "scan", root, "-o", out], env)
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        size = os.path.getsize(out)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    print(f"scan, empty cache: {cold:.1f} s  ({cold / g:.1f}x grep; target <= 15x)")
    print(f"scan, warm cache:  {warm:.1f} s  ({warm / g:.1f}x grep; target <= 3x)")
    print(f"peak RSS (largest scan process): {rss:.0f} MB (target < 2048 MB); analysis.json {size / 1e6:.1f} MB")
    ok = cold / g <= 15 and warm / g <= 3 and rss < 2048
    if a.only_scan:
        return 0 if ok else 1
    for script in ("bench_report.py", "bench_check.py", "bench_explain.py"):
        path = os.path.join(ROOT, "bench", script)
        if os.path.isfile(path):
            print(f"--- {script}", flush=True)
            r = subprocess.run([sys.executable, path, "--kernel", a.kernel])
            ok = ok and r.returncode == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
