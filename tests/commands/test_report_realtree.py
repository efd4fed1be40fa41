"""skbdrop report on Debian's 6.12 (and 6.1 with it): the real report, in chromium too.

Expectations come from reading the kernel source:
- 6.12.117 net/ipv4/tcp_ipv4.c, tcp_v4_rcv(): every path ends at `discard_it:` in
  `sk_skb_reason_drop(sk, skb, drop_reason)`, with drop_reason set on the way to
  NO_SOCKET (label no_tcp_socket), PKT_TOO_SMALL, TCP_CSUM, XFRM_POLICY, SOCKET_FILTER,
  TCP_MINTTL ... so its site can report NO_SOCKET and TCP_CSUM.
- include/net/dropreason.h (6.1.192) and include/net/dropreason-core.h (6.12.117):
  SKB_CONSUMED does not exist in 6.1 (added in 6.2), and NETFILTER_DROP is the 8th
  enumerator (7) in 6.1 and 11 in 6.12 (see ../shared/docs/kernel-layouts.md, checked
  with gcc over the headers) — so the diff page shows CONSUMED added and NETFILTER_DROP
  renumbered 7 -> 11.
"""
from __future__ import annotations

import os
import re
import time

import pytest

from analyzer.commands.report import OutputDir, ReportInput, build_report
from analyzer.formats.html.views import KernelView
from analyzer.formats.html.source import open_source
from helpers import DEB61, DEB612

pytestmark = pytest.mark.realtree

SIZE_LIMIT = 200e6


def _build(tmp_path_factory, pairs):
    out = str(tmp_path_factory.mktemp("real") / "report")
    od = OutputDir(out)
    t = time.perf_counter()
    res = build_report([ReportInput(spec, a, open_source(spec, a.kernel.source)) for spec, a in pairs],
                       od.staging)
    od.commit()
    res.seconds = time.perf_counter() - t
    return out, res


@pytest.fixture(scope="module")
def report_612(tmp_path_factory, analysis_612):
    out, res = _build(tmp_path_factory, [(DEB612, analysis_612)])
    return analysis_612, out, res


def _text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def test_612_totals_and_size(report_612):
    a, out, res = report_612
    print(f"6.12 report: {res.pages} pages, {res.bytes / 1e6:.1f} MB, {res.seconds:.1f} s")
    idx = _text(os.path.join(out, "index.html"))
    from helpers.counts import counted_totals
    want = counted_totals(a)                  # from the sites, not from a.summary
    for key in ("drop_sites", "with_reason", "unspecified", "consume_sites",
                "reasons_defined", "reasons_never_produced"):
        m = re.search(rf'id="t-{key}">(?:<a [^>]*>)?([\d,]+)<', idx)
        assert m and int(m.group(1).replace(",", "")) == want[key], key
    v = KernelView(a)
    # the directory tree is the same sites
    assert v.totals.drop == want["drop_sites"]
    assert v.totals.consume == want["consume_sites"]
    assert v.totals.unspecified == want["unspecified"]
    assert len(v.never_produced()) == want["reasons_never_produced"]
    # one page per file with sites; the whole report stays under the size target
    assert len(os.listdir(os.path.join(out, "f"))) > 0
    assert res.bytes < SIZE_LIMIT


def test_612_tcp_v4_rcv(report_612):
    a, out, _ = report_612
    v = KernelView(a)
    fv = v.files["net/ipv4/tcp_ipv4.c"]
    page = _text(os.path.join(out, fv.page))
    assert "only the lines holding sites" not in page       # the whole file is shown
    sites = [s for s in fv.sites if s.function == "tcp_v4_rcv" and s.kind == "drop"
             and {"NO_SOCKET", "TCP_CSUM"} <= set(s.reasons)]
    assert sites, [(s.line, s.callee, s.reasons) for s in fv.sites if s.function == "tcp_v4_rcv"]
    s = sites[0]
    assert s.callee == "sk_skb_reason_drop"
    line = re.search(rf'<i id="L{s.line}" class="site s-(\w+)">(.*?)</i>', page)
    assert line and "sk_skb_reason_drop(sk, skb, drop_reason);" in line.group(2)
    # the NO_SOCKET page lists that site
    rp = _text(os.path.join(out, v.reasons["NO_SOCKET"].page))
    assert f"#L{s.line}" in rp and "tcp_v4_rcv" in rp


def test_612_callers_of_udp4_lib_rcv(report_612):
    """net/ipv4/udp.c:2704 udp_rcv() and net/ipv4/udplite.c:31 udplite_rcv() call
    __udp4_lib_rcv(), the function holding UDP's drop sites: its page lists both."""
    a, out, _ = report_612
    v = KernelView(a)
    fv = [f for f in v.functions.values() if f.name == "__udp4_lib_rcv"][0]
    page = _text(os.path.join(out, fv.page))
    callers = re.sub(r"<[^>]+>", " ", page[page.index('id="callers"'):])
    assert " udp_rcv " in callers and " udplite_rcv " in callers


def test_612_in_chromium(report_612):
    from helpers.browser import available
    why = available()
    if why:
        pytest.fail(f"browser check cannot run: {why}")
    from pathlib import Path

    from helpers.browser import chromium
    from helpers.report_walk import walk
    a, out, _ = report_612
    with chromium() as b:
        walk(b, Path(out), a, "tcp_v4_rcv", "debian-6.12")


def test_61_and_612_trend_and_diff(tmp_path_factory, analysis_61, analysis_612):
    out, res = _build(tmp_path_factory, [(DEB61, analysis_61), (DEB612, analysis_612)])
    v61, v612 = analysis_61.kernel.version, analysis_612.kernel.version
    assert res.kernels == [v61, v612]
    trend = _text(os.path.join(out, "trend.html"))
    assert trend.count('<svg xmlns="http://www.w3.org/2000/svg"') == 3
    diff = _text(os.path.join(out, f"diff-{v61}-{v612}.html"))
    added = diff[diff.index('id="added"'):diff.index('id="removed"')]
    assert ">CONSUMED<" in added
    renum = diff[diff.index('id="renumbered"'):diff.index('id="converted"')]
    m = re.search(r">NETFILTER_DROP</a></th><td class=\"num\">(\d+)</td><td class=\"num\">(\d+)</td>", renum)
    assert m and (int(m.group(1)), int(m.group(2))) == (7, 11)
    from helpers.browser import available
    if available() is None:
        from pathlib import Path

        from helpers.browser import chromium, console_errors, screenshot
        with chromium() as b:
            for page, shot in (("index.html", "debian-overview"), ("trend.html", "debian-trend"),
                               (f"diff-{v61}-{v612}.html", "debian-diff")):
                b.get((Path(out) / page).as_uri())
                assert console_errors(b) == [], page
                screenshot(b, shot)


def test_json_input_finds_the_cached_debian_tree(tmp_path, analysis_612):
    """An analysis.json of debian:6.12 records `debian:6.12 (...)` as its source: the
    report reads the files from the cache (no download), and they match the sites."""
    from analyzer.formats.html.source import matches_sites, split_lines
    j = tmp_path / "a.json"
    j.write_text(analysis_612.to_json())
    reader = open_source(str(j), analysis_612.kernel.source)
    assert reader is not None
    sites = [s for s in analysis_612.sites if s.file == "net/ipv4/tcp_ipv4.c"]
    assert matches_sites(split_lines(reader.text("net/ipv4/tcp_ipv4.c")), sites)
