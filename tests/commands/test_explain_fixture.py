"""The hand-made 6.12 Analysis of the explain tests (tests/helpers/explain_fixture.py) is
read from the code: every site, node and edge names a real line of Debian's 6.12.117 tree.
"""
from __future__ import annotations

import os

from helpers.explain_fixture import EDGES, NODES, SITES


# --- the fixture is checked against the real 6.12 source ---------------------------------
def test_fixture_sites_are_real_612_lines(root_612):
    """Each hand-made site names a line of Debian's 6.12.117 tree that really calls its
    drop function (so the expectations below are read from the code, not invented)."""
    for s in SITES:
        with open(os.path.join(root_612, s.file), encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
        text = lines[s.line - 1]
        assert s.callee + "(" in text, (s.file, s.line, text)
        assert text.strip() == s.source, (s.file, s.line, text)


def test_fixture_nodes_are_real_612_functions(root_612):
    """Each node's line is its definition in 6.12.117, static exactly when the node says so;
    each edge's line really calls the callee."""
    def line(file, n):
        with open(os.path.join(root_612, file), encoding="utf-8", errors="replace") as f:
            return f.read().splitlines()[n - 1]
    for n in NODES:
        text = line(n.file, n.line)
        assert n.name + "(" in text and not text.startswith((" ", "\t")), (n, text)
        assert text.startswith("static ") == n.static, (n, text)
    for e in EDGES:
        callee = e.callee.rsplit(":", 1)[-1]
        assert callee in line(e.file, e.line), (e, line(e.file, e.line))
