"""The hand-made Analysis of tests/fixtures/report/ and build(), for the report tests
(tests/commands/test_report.py, tests/formats/test_report_browser.py).

The Analysis is written by hand from reading the fixture (the scanner is tested
elsewhere); line numbers are looked up in the fixture text, not typed in.
"""
from __future__ import annotations

import re
from pathlib import Path

from analyzer.commands.report import ReportInput, build_report
from analyzer.formats.html.source import DirReader, SourceReader
from analyzer.model import (Analysis, CallGraph, Edge, FamilyMember, KernelInfo, Node, Reason,
                            Site, Summary)

from helpers import FIXTURES

FIXTURE = Path(FIXTURES) / "report"
CORE_H = "include/net/dropreason-core.h"


def _line(path: str, needle: str) -> tuple[int, int, str]:
    """(line, column, stripped text) of the first line of ``path`` containing ``needle``."""
    for i, text in enumerate((FIXTURE / path).read_text().splitlines(), 1):
        if needle in text:
            return i, text.index(needle) + 1, text.strip()
    raise AssertionError(f"{needle!r} not in {path}")


def _reasons(values: dict[str, int] | None = None) -> tuple[Reason, ...]:
    text = (FIXTURE / CORE_H).read_text().splitlines()
    out, value = [], 0
    for i, ln in enumerate(text, 1):
        m = re.match(r"\s*(SKB_\w+)(?: = (\d+))?,", ln)
        if not m or m.group(1).endswith("_MAX"):
            continue
        value = int(m.group(2)) if m.group(2) else value + 1
        name = m.group(1)
        short = name.replace("SKB_DROP_REASON_", "").replace("SKB_", "")
        doc = re.search(r"@%s: (.*) \*/" % name, text[i - 2])
        out.append(Reason(name, short, (values or {}).get(short, value), "core",
                          doc.group(1) if doc else "", CORE_H, i))
    return tuple(out)


def _site(path, needle, function, callee, kind, arg, reasons, resolution, complete=True):
    line, col, src = _line(path, needle)
    return Site(path, line, col, function, callee, kind, arg, tuple(reasons), resolution,
                complete, None if complete else "parameter from unknown callers", src)


def fixture_analysis(version="6.12.0-report", source=str(FIXTURE), values=None,
                     convert_bar=False) -> Analysis:
    """The analysis of tests/fixtures/report/ as read by hand (see the expect: comments)."""
    foo, bar = "net/ipv4/foo.c", "drivers/net/bar/bar.c"
    sites = [
        _site(foo, "kfree_skb(skb);", "foo_check", "kfree_skb", "drop", None,
              ["NOT_SPECIFIED"], "unspecified"),
        _site(foo, "consume_skb(skb);", "foo_rcv", "consume_skb", "consume", None, ["CONSUMED"], "constant"),
        _site(foo, "kfree_skb_reason(skb, drop_reason)", "foo_rcv", "kfree_skb_reason", "drop",
              "drop_reason", ["NO_SOCKET", "TCP_CSUM"], "variable"),
        _site(foo, "kfree_skb_reason(skb, SKB_DROP_REASON_PKT_TOO_SMALL)", "foo_len_check",
              "kfree_skb_reason", "drop", "SKB_DROP_REASON_PKT_TOO_SMALL", ["PKT_TOO_SMALL"],
              "constant"),
        _site(bar, "consume_skb(skb);", "bar_tx_done", "consume_skb", "consume", None, ["CONSUMED"], "constant"),
        (_site(bar, "kfree_skb(skb);", "bar_tx_done", "kfree_skb", "drop", None,
               ["NO_SOCKET"], "parameter", complete=False) if convert_bar else
         _site(bar, "kfree_skb(skb);", "bar_tx_done", "kfree_skb", "drop", None,
               ["NOT_SPECIFIED"], "unspecified")),
    ]
    sites.sort(key=lambda s: (s.file, s.line, s.column))

    def node(name, path, static, has_sites, entry):
        return Node(f"{path}:{name}" if static else name, name, path,
                    _line(path, f"{name}(struct sk_buff *skb")[0], static, has_sites, entry)
    nodes = (node("foo_check", foo, True, True, False), node("foo_rcv", foo, False, True, False),
             node("foo_len_check", foo, True, True, False), node("foo_input", foo, False, False, False),
             node("bar_tx_done", bar, True, True, False), node("bar_xmit", bar, False, False, True))

    def edge(a, b, path, needle):
        return Edge(a, b, path, _line(path, needle)[0], "call")
    edges = (edge("foo_rcv", f"{foo}:foo_check", foo, "if (foo_check(skb))"),
             edge("foo_input", f"{foo}:foo_len_check", foo, "if (foo_len_check(skb))"),
             edge("foo_input", "foo_rcv", foo, "foo_rcv(skb);"),
             edge("bar_xmit", "foo_input", bar, "foo_input(skb);"),
             edge("bar_xmit", f"{bar}:bar_tx_done", bar, "bar_tx_done(skb, 0);"))
    reasons = _reasons(values)
    family = (FamilyMember("kfree_skb", "drop", "NOT_SPECIFIED", None, 0, "include/linux/skbuff.h",
                           _line("include/linux/skbuff.h", "kfree_skb(struct")[0], "wrapper"),
              FamilyMember("kfree_skb_reason", "drop", None, 1, 0, "include/linux/skbuff.h",
                           _line("include/linux/skbuff.h", "kfree_skb_reason(struct")[0], "wrapper"),
              FamilyMember("consume_skb", "consume", "CONSUMED", None, 0, "net/core/skbuff.c",
                           _line("net/core/skbuff.c", "void consume_skb")[0], "tracepoint"))
    # the summary as the scanner defines it (analyzer/link.py): unspecified = no reason
    # but NOT_SPECIFIED; sentinels (NOT_DROPPED_YET, CONSUMED, MAX) are not reasons
    drops = [s for s in sites if s.kind == "drop"]
    unspec = [s for s in drops if not set(s.reasons) - {"NOT_SPECIFIED"}]
    produced = {r for s in sites for r in s.reasons}
    real = [r for r in reasons if r.short not in ("NOT_DROPPED_YET", "CONSUMED", "MAX")]
    summary = Summary(drop_sites=len(drops), with_reason=len(drops) - len(unspec),
                      unspecified=len(unspec), consume_sites=len(sites) - len(drops),
                      incomplete=sum(not s.complete for s in sites), reasons_defined=len(real),
                      reasons_never_produced=sum(r.short not in produced for r in real))
    return Analysis(KernelInfo(version, source, "dropreason-core"), reasons, (), family,
                    tuple(sites), CallGraph(nodes, edges), summary=summary)


def build(tmp_path, analyses, source=True, name="out"):
    out = tmp_path / name
    out.mkdir()
    reader = SourceReader(DirReader(str(FIXTURE))) if source else None
    res = build_report([ReportInput("fixture", a, reader) for a in analyses], str(out))
    return out, res
