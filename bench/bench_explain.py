#!/usr/bin/env python3
"""Benchmark ``skbdrop explain --trace``: one million drop events after the scan.

    python3 bench/bench_explain.py [--kernel debian:6.12|analysis.json] [--events 1000000]
                                   [--format trace|perf|dropwatch|pwru] [--limit 10]

The events replicate the real 6.18.44 capture (tests/data/runtime-6.18/) line by line,
streamed from memory (so disk speed does not count). The analysis is loaded first (a
cached scan, or the hand-made 6.12 fixture with ``--kernel fixture``); only reading,
aggregating, matching and formatting are timed. Memory: peak RSS is read after loading
the analysis, after a tenth of the events and after all of them - flat memory means the
last two are (nearly) equal. Exit 1 when the run takes longer than ``--limit`` seconds.
"""
from __future__ import annotations

import argparse
import io
import os
import resource
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

from analyzer.events.readers import Aggregate, read_events  # noqa: E402
from analyzer.commands.explain import Index, explain_events, text_trace, trace_report  # noqa: E402
from helpers import DEB612  # noqa: E402  the pinned tree (tests/kernels)

DATA = os.path.join(ROOT, "tests", "data", "runtime-6.18")
FILES = {"trace": "trace.txt", "perf": "perf-script.converted.txt", "dropwatch": "dropwatch.converted.txt",
         "pwru": "pwru.converted.txt"}


class Replay(io.RawIOBase):
    """A raw byte stream replaying the capture's event lines (dropwatch: whole blocks)
    until ``n_events`` events have been sent; wrapped in io.BufferedReader it reads like
    a file or a pipe (C-level readline)."""

    def __init__(self, lines: list[bytes], start: bytes | None, n_events: int):
        starts = [i for i, ln in enumerate(lines) if start is None or ln.startswith(start)]
        per_cycle = len(starts)
        self.cycle = b"".join(lines)
        full, rest = divmod(n_events, per_cycle)
        self.tail = b"".join(lines[:starts[rest]]) if rest else b""
        self.chunks_left = full
        self.buf = memoryview(b"")

    def readable(self):
        return True

    def readinto(self, b):
        if not len(self.buf):
            if self.chunks_left > 0:
                self.chunks_left -= 1
                self.buf = memoryview(self.cycle)
            elif self.tail:
                self.buf, self.tail = memoryview(self.tail), b""
            else:
                return 0
        n = min(len(b), len(self.buf))
        b[:n] = self.buf[:n]
        self.buf = self.buf[n:]
        return n


def replay(lines, start, n):
    return io.BufferedReader(Replay(lines, start, n), buffer_size=1 << 16)


def event_lines(fmt: str) -> tuple[list[bytes], bytes | None]:
    with open(os.path.join(DATA, FILES[fmt]), "rb") as f:
        lines = f.read().splitlines(keepends=True)
    if fmt == "trace":
        return [ln for ln in lines if b"kfree_skb:" in ln], None
    if fmt == "dropwatch":                 # whole packet blocks
        first = next(i for i, ln in enumerate(lines) if ln.startswith(b"drop at:"))
        last = max(i for i, ln in enumerate(lines) if ln == b"\n")
        return lines[first:last + 1], b"drop at:"
    if fmt == "pwru":
        return lines[1:], None
    return lines, None


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel", default=DEB612, help="KERNEL spec, analysis.json, or 'fixture'")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--format", choices=sorted(FILES), default="trace")
    ap.add_argument("--limit", type=float, default=10.0, help="seconds allowed (exit 1 above)")
    a = ap.parse_args(argv)

    t0 = time.perf_counter()
    if a.kernel == "fixture":
        from helpers.explain_fixture import analysis
        an = analysis()
    else:
        from analyzer.pipeline import load_analysis
        an = load_analysis(a.kernel)
    t_load = time.perf_counter() - t0
    rss_loaded = rss_mb()

    lines, start = event_lines(a.format)
    # a tenth first, to show that memory does not grow with the number of events
    agg = read_events(replay(lines, start, a.events // 10), Aggregate())
    rss_tenth = rss_mb()

    t1 = time.perf_counter()
    agg = read_events(replay(lines, start, a.events), Aggregate())
    t_read = time.perf_counter() - t1
    t2 = time.perf_counter()
    ix = Index(an)
    rows = explain_events(ix, agg)
    rep = trace_report(an, agg, rows, "replay", False)
    out = text_trace(rep)
    t_explain = time.perf_counter() - t2
    total = t_read + t_explain
    rss_all = rss_mb()

    print(f"kernel {an.kernel.version}: {len(an.sites)} sites, loaded in {t_load:.1f} s")
    print(f"explain --trace ({a.format}): {agg.events} events, {len(rows)} (function, reason) rows, "
          f"{rep['summary']['matched_events']} matched")
    print(f"  read+aggregate {t_read:.2f} s, match+format {t_explain:.3f} s, total {total:.2f} s "
          f"({agg.events / total:,.0f} events/s; limit {a.limit:.0f} s)")
    print(f"  peak RSS: {rss_loaded:.0f} MB after loading, {rss_tenth:.0f} MB after {a.events // 10} events, "
          f"{rss_all:.0f} MB after {agg.events} events")
    print(f"  output: {len(out.splitlines())} lines of text")
    if agg.events != a.events:
        print("FAIL: event count differs", file=sys.stderr)
        return 1
    if total > a.limit:
        print(f"FAIL: {total:.2f} s > {a.limit} s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
