"""Wall time per stage of a run, printed by `scan --timings` (and `make bench`).

`stage(name)` is a context manager; nested stages are reported as `outer/inner`. Off
unless a command turns it on, when it costs one clock read per stage."""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager

_on = False
_stack: list[str] = []
_times: dict[str, float] = {}
_counts: dict[str, int] = {}


def enable() -> None:
    global _on
    _on = True


@contextmanager
def stage(name: str):
    if not _on:
        yield
        return
    _stack.append(name)
    key = "/".join(_stack)
    _times.setdefault(key, 0.0)
    t = time.perf_counter()
    try:
        yield
    finally:
        _times[key] += time.perf_counter() - t
        _stack.pop()


def count(name: str, n: int) -> None:
    """A number worth printing with the stages (files parsed, taken from the cache …)."""
    if _on:
        _counts[name] = _counts.get(name, 0) + n


def report(out=None) -> None:
    """One line per stage, in the order the stages began."""
    out = out or sys.stderr
    for key, t in _times.items():
        depth = key.count("/")
        out.write(f"skbdrop: stage {'  ' * depth}{key.rsplit('/', 1)[-1]:<{24 - 2 * depth}} {t:7.2f} s\n")
    for name, n in _counts.items():
        out.write(f"skbdrop: count {name:<24} {n:7d}\n")
