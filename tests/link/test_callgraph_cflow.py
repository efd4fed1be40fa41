"""Direct call edges of net/ipv4 on Debian 6.12 against GNU cflow, an independent C
front end (tests/data/cflow/: its output, the script that regenerates it, and every
difference with its explanation)."""
from __future__ import annotations

import os

import pytest

from helpers import TESTS

pytestmark = pytest.mark.realtree

DATA = os.path.join(TESTS, "data", "cflow")


def _tsv(name: str) -> list[list[str]]:
    with open(os.path.join(DATA, name), encoding="utf-8") as f:
        return [ln.rstrip("\n").split("\t") for ln in f if ln.strip() and not ln.startswith("#")]


def _name(node_id: str) -> str:
    return node_id.rsplit(":", 1)[-1]          # static functions are "file.c:name"


def test_net_ipv4_call_edges_match_cflow(analysis_612):
    cflow = {tuple(r) for r in _tsv("net-ipv4-6.12.tsv")}
    assert len(cflow) > 15000
    mine = set()
    for e in analysis_612.callgraph.edges:
        f = e.file
        if e.kind != "call" or not (f.startswith("net/ipv4/") and f.count("/") == 2 and f.endswith(".c")):
            continue
        if e.callee.startswith("."):
            continue                            # a call through an ops member: cflow has no such edge
        mine.add((f, _name(e.caller), _name(e.callee)))
    cflow_callers = {(f, c) for f, c, _ in cflow}
    compared = {e for e in mine if e[:2] in cflow_callers}
    assert len(compared) > 1800 and len(mine) - len(compared) < 100
    callees = {c for _, _, c in mine}
    found = {("skbdrop", *e) for e in compared - cflow}
    found |= {("cflow", *e) for e in cflow if e[2] in callees and e not in mine}
    listed = {tuple(r[:4]): r[4] for r in _tsv("differences.tsv")}
    assert all(listed.values())
    assert sorted(found - set(listed)) == [], "new differences: explain them in differences.tsv"
    assert sorted(set(listed) - found) == [], "listed differences that are gone: remove them"
    assert len(compared & cflow) > 1800
