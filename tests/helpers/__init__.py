"""Code the tests share, importable from every folder of tests/ as ``helpers``
(pyproject: ``[tool.pytest.ini_options] pythonpath = ["tests"]``; the tools in tests/tools
and bench/ put tests/ on sys.path themselves).

    oracle          gcc's values of a tree's drop-reason enums (independent of the scanner)
    browser         headless Debian chromium for the report tests
    report_walk     the walk through one kernel's report in chromium (fixture and 6.12)
    report_fixture  the hand-made Analysis of tests/fixtures/report/ and build()
    explain_fixture the hand-made 6.12 Analysis the explain tests and bench_explain use
    counts          the report's totals counted from an analysis's sites (README rules)

A test module imports shared code from here; a real-tree test may also import the
expectations of its hand-made twin in the same folder (``from test_header import …``:
pytest puts each test file's folder on sys.path, and test basenames are unique).
"""
from __future__ import annotations

import os
import re

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # tests/
REPO = os.path.dirname(TESTS)
DATA = os.path.join(TESTS, "data")
FIXTURES = os.path.join(TESTS, "fixtures")


def _pinned() -> dict[str, str]:
    """tests/kernels: series spec -> the exact Debian version the tests read."""
    out = {}
    with open(os.path.join(TESTS, "kernels"), encoding="utf-8") as f:
        for line in f:
            spec = line.split("#", 1)[0].strip()
            if spec:
                out[re.match(r"debian:\d+\.\d+", spec).group(0)] = spec
    return out


KERNELS = _pinned()
DEB61 = KERNELS["debian:6.1"]        # debian:6.1.192-3
DEB612 = KERNELS["debian:6.12"]      # debian:6.12.117-1~deb12u1


def patch_base(path: str) -> str:
    """The base tree of the test patch PATH: its `Base: debian:6.12` line as the pinned
    test tree of that series, DEB612 when it has none."""
    with open(path, encoding="utf-8") as f:
        m = re.search(r"^Base: (\S+)$", f.read(), re.M)
    return KERNELS.get(m.group(1), m.group(1)) if m else DEB612
