"""skbdrop explain on real trees: the 6.18.44 capture against the scanner's analysis of
Debian's 6.12.117 tree (the closest tree we scan), and against the 6.18.44 catalogue fixture.

Expectations are the ones of test_explain.py (EXPECTED_612), read from the 6.12 code; see
the comments there for the reasoning per event kind.
"""
from __future__ import annotations

import json
import os
import re

import pytest

from analyzer.events.readers import read_text
from analyzer.commands.explain import CERTAIN, Index, explain_events, reason_report, run_trace

from helpers import DEB612, TESTS
from test_explain import DATA, EXPECTED_612, FORMATS, answer

LAYOUT_618 = os.path.join(TESTS, "fixtures", "layouts", "6.18")

# event kinds whose expected site is the only drop call in the function and the callees
# it can inline that can produce the reason: rank 1 whatever the precision of reason sets
UNAMBIGUOUS = {("unix_release_sock", "SOCKET_CLOSE"), ("ip_local_deliver_finish", "IP_NOPROTO"),
               ("udp_destruct_common", "NOT_SPECIFIED"), ("udp_queue_rcv_one_skb", "SOCKET_RCVBUFF"),
               ("udpv6_queue_rcv_one_skb", "SOCKET_RCVBUFF")}


def _scan(spec):
    from analyzer.pipeline import scan
    return scan(spec)


@pytest.fixture(scope="module")
def a612(request):
    """The scanner's analysis of debian:6.12: a saved analysis.json named by
    SKBDROP_ANALYSIS_612, else the shared session fixture of conftest, else a (cached) scan."""
    saved = os.environ.get("SKBDROP_ANALYSIS_612")
    if saved:
        from analyzer.pipeline import load_analysis
        return load_analysis(saved)
    try:
        return request.getfixturevalue("analysis_612")
    except pytest.FixtureLookupError:
        return _scan(DEB612)


@pytest.fixture(scope="module")
def a618():
    """An Analysis holding only the 6.18.44 fixture's catalogue, built by the scanner's own
    catalogue stage from the fixture headers (the fixture has no .c files: no sites)."""
    from analyzer.link import catalogue
    from analyzer.model import Analysis, KernelInfo
    texts = {}
    for d, _, files in os.walk(LAYOUT_618):
        for f in files:
            if f.endswith(".h"):
                p = os.path.join(d, f)
                with open(p, encoding="utf-8") as fh:
                    texts[os.path.relpath(p, LAYOUT_618)] = fh.read()
    c = catalogue.build(texts)
    return Analysis(kernel=KernelInfo("6.18.44", LAYOUT_618, c.layout), reasons=c.reasons,
                    subsystems=c.subsystems)


@pytest.fixture(scope="module")
def rep612(a612):
    with open(os.path.join(DATA, "trace.txt"), "rb") as f:
        return run_trace(a612, f, "trace.txt")


def test_capture_against_612(rep612):
    got = answer(rep612)
    for key, (file, line) in EXPECTED_612.items():
        assert key in got, key
        count, cands = got[key]
        where = [(f, ln) for f, ln, _ in cands]
        # the site the 6.12 code shows for the event ranks first (not just in the top 3)
        assert where[0] == (file, line), (key, cands)
        if key in UNAMBIGUOUS:
            assert len(where) == 1, (key, cands)
    assert got[("unix_release_sock", "SOCKET_CLOSE")][1][0][2] == CERTAIN
    assert rep612["summary"]["unmatched_events"] == 0, [
        (r["function"], r["reason"]["label"], r["cause"]) for r in rep612["rows"] if not r["candidates"]]


@pytest.mark.parametrize("name", FORMATS[1:])
def test_formats_agree_on_612(a612, rep612, name):
    with open(os.path.join(DATA, name), "rb") as f:
        assert answer(run_trace(a612, f, name)) == answer(rep612)


def test_reason_mode_612(a612):
    ix = Index(a612)
    rep = reason_report(ix, ix.decode("SOCKET_CLOSE"))
    where = {(s["file"], s["line"]) for s in rep["sites"]}
    assert ("net/unix/af_unix.c", 735) in where
    s = next(s for s in rep["sites"] if (s["file"], s["line"]) == ("net/unix/af_unix.c", 735))
    assert s["certainty"] == CERTAIN
    assert s["chains"], "unix_release_sock has callers (unix_release, the ops)"


def test_capture_against_618_catalogue(a618):
    """The 6.18.44 catalogue decodes every reason of the capture - by name and by the number
    the running kernel's tracepoint gives it - and the values equal the gcc/BTF ones."""
    exp = json.load(open(os.path.join(LAYOUT_618, "expected.json")))
    by_name = {r.name: r.value for r in a618.reasons}
    for name, v in exp["reasons"].items():
        if name.endswith("_MAX") or name in ("SKB_NOT_DROPPED_YET", "SKB_CONSUMED"):
            continue
        assert by_name.get(name) == v, name
    ix = Index(a618)
    fmt = open(os.path.join(DATA, "kfree_skb.format")).read()
    table = {name: int(v) for v, name in re.findall(r'\{ (\d+), "(\w+)" \}', fmt)}
    for name, v in table.items():
        if name == "MAX":
            continue
        assert ix.decode(name).value == v, name
        assert ix.decode(str(v)).short == name, name
    text = open(os.path.join(DATA, "trace.txt")).read()
    rows = explain_events(ix, read_text(text))
    assert {r.reason.short for r in rows} == {k[1] for k in EXPECTED_612}
    assert all(r.reason.problem is None for r in rows)
    # no sites in a catalogue-only tree: every row says why
    assert all(not r.candidates and "not in this tree" in r.cause for r in rows)
    # subsystem numbers decode by id and index
    assert ix.decode("0x20001").short == "OVS_DROP_LAST_ACTION"
    assert ix.decode("65537").short == "RX_DROP_U_MIC_FAIL"
    assert "reason 4095 of subsystem openvswitch" in ix.decode(str((2 << 16) + 4095)).problem


# --- background drops of the capture machine (tests/data/runtime-6.18/background-trace.txt) ---
def _bg(a):
    with open(os.path.join(DATA, "background-trace.txt"), "rb") as f:
        return answer(run_trace(a, f, "background-trace.txt"))


def test_background_trace_612(a612):
    got = _bg(a612)
    # af_unix.c:735, constant SOCKET_CLOSE (see test_explain.py)
    assert got[("unix_release_sock", "SOCKET_CLOSE")][1][0][:2] == ("net/unix/af_unix.c", 735)
    # net/core/stream.c:199 __skb_queue_purge(&sk->sk_receive_queue) is a static inline of
    # include/linux/skbuff.h passing QUEUE_PURGE to __skb_queue_purge_reason, whose loop frees with
    # kfree_skb_reason(skb, reason) at skbuff.h:3380: either is the site, depending on whether the
    # family lists the purge helpers as drop wrappers
    first = got[("sk_stream_kill_queues", "QUEUE_PURGE")][1][0][:2]
    assert first in {("include/linux/skbuff.h", 3380), ("net/core/stream.c", 199)}, first
    # tcp_v4_rcv+0x91 is the same return address for NO_SOCKET and NOT_SPECIFIED: the one
    # discard_it drop at tcp_ipv4.c:2393
    assert got[("tcp_v4_rcv", "NOT_SPECIFIED")][1][0][:2] == ("net/ipv4/tcp_ipv4.c", 2393)


def test_background_tcp_old_data_612(a612):
    # tcp_input.c 6.12: tcp_rcv_established → tcp_data_queue (static, inlined), which sets
    # TCP_OLD_DATA at 5377 and drops with tcp_drop_reason(sk, skb, reason) at 5385
    got = _bg(a612)
    cands = got[("tcp_rcv_established", "TCP_OLD_DATA")][1]
    assert cands and cands[0][:2] == ("net/ipv4/tcp_input.c", 5385), cands
