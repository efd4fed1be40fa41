"""skbdrop report: the HTML report, on a hand-made Analysis of tests/fixtures/report/.

The Analysis is written by hand from reading the fixture (tests/helpers/report_fixture.py:
the scanner is tested elsewhere). Real-tree tests are in test_report_realtree.py, the
browser tests in tests/formats/test_report_browser.py.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from analyzer.cli import main
from analyzer.commands.report import MARKER
from analyzer.formats.html.views import KernelView
from analyzer.model.rules import site_class
from analyzer.formats.html.diff import compare
from analyzer.model import Analysis, KernelInfo, Site

from helpers import REPO
from helpers.counts import counted_totals
from helpers.report_fixture import FIXTURE, build, fixture_analysis


def pre_children(page: str) -> list[str]:
    """The class attribute of each direct child of <pre class="src">."""
    from html.parser import HTMLParser

    class P(HTMLParser):
        depth, kids = -1, []

        def handle_starttag(self, tag, attrs):
            if tag == "pre":
                self.depth = 0
            elif self.depth >= 0:
                if self.depth == 0:
                    self.kids.append(dict(attrs).get("class") or "")
                self.depth += 1

        def handle_endtag(self, tag):
            if tag == "pre":
                self.depth = -1
            elif self.depth > 0:
                self.depth -= 1
    p = P()
    p.feed(page)
    return p.kids


def read(p: Path) -> str:
    return p.read_text(encoding="utf-8")


# --- pages -----------------------------------------------------------------------------
def test_report_pages_and_totals(tmp_path):
    a = fixture_analysis()
    out, res = build(tmp_path, [a])
    assert res.index == str(out / "index.html")
    v = KernelView(a)
    # one page per file with sites, per function with sites, per reason, per directory
    assert sorted(p.relative_to(out).as_posix() for p in (out / "f").rglob("*.c.html")) == \
        ["f/drivers/net/bar/bar.c.html", "f/net/ipv4/foo.c.html"]
    assert len(list((out / "fn").rglob("*.html"))) == len(v.functions) == 4
    assert len(list((out / "r").glob("*.html"))) == len(a.reasons)
    for d in ("f/net/index.html", "f/net/ipv4/index.html", "f/drivers/net/bar/index.html"):
        assert (out / d).is_file(), d
    idx = read(out / "index.html")
    s = a.summary
    want = counted_totals(a)
    for key in ("drop_sites", "with_reason", "unspecified", "consume_sites",
                "reasons_defined", "reasons_never_produced"):
        m = re.search(rf'id="t-{key}">(?:<a [^>]*>)?([\d,]+)<', idx)
        assert m and int(m.group(1).replace(",", "")) == want[key], key
    # 4 drops, 2 unspecified (foo_check, bar_tx_done): coverage 50%
    assert 'id="t-coverage">50.0%<' in idx
    # the directory table sums to the same totals as the summary
    assert v.totals.drop == want["drop_sites"] and v.totals.unspecified == want["unspecified"]
    assert (s.drop_sites, s.unspecified) == (want["drop_sites"], want["unspecified"])
    assert (out / MARKER).is_file()
    # the files with unspecified drops, most first (one each here: by path)
    worst = idx[idx.index('id="worst-h"'):idx.index('id="never"')]
    assert worst.index("drivers/net/bar/bar.c") < worst.index("net/ipv4/foo.c")
    # never produced: NEVER_USED only (NOT_DROPPED_YET and CONSUMED are not reasons)
    never = idx[idx.index('id="never"'):]
    assert "NEVER_USED" in never and "NOT_DROPPED_YET" not in never
    assert s.reasons_never_produced == len(v.never_produced()) == 1


def test_file_page_source_and_sites(tmp_path):
    a = fixture_analysis()
    out, _ = build(tmp_path, [a])
    page = read(out / "f/net/ipv4/foo.c.html")
    n_lines = len((FIXTURE / "net/ipv4/foo.c").read_text().splitlines())
    # every source line is one child span of the <pre> (site notes are spans of class ann)
    kids = pre_children(page)
    assert len([k for k in kids if "ann" not in k]) == n_lines
    for s in a.sites:
        if s.file != "net/ipv4/foo.c":
            continue
        m = re.search(rf'<i id="L{s.line}" class="site s-(\w+)">', page)
        assert m and m.group(1) == site_class(s), s
    # the reasoned site links to its reason pages and to its function's callers
    assert 'href="../../../r/NO_SOCKET.html"' in page
    assert 'href="../../../fn/foo_rcv.html#callers"' in page
    # the static foo_check lives under its file
    assert 'href="../../../fn/net/ipv4/foo.c.foo_check.html"' in page


def test_kernel_text_is_escaped(tmp_path):
    a = fixture_analysis()
    out, _ = build(tmp_path, [a])
    for p in out.rglob("*.html"):
        text = read(p)
        assert "<script>alert" not in text, p
        assert "<b>bold" not in text, p
    foo = read(out / "f/net/ipv4/foo.c.html")
    # source text: < and & escaped (enough for text content; > and quotes stay as they are)
    assert "&lt;script>alert(\"comment\")&lt;/script> &amp; &lt;b>bold&lt;/b>" in foo
    assert "&lt;script>alert('string')&lt;/script>" in foo
    doc = read(out / "r/NO_SOCKET.html")
    assert "&lt;script&gt;alert(&#34;doc&#34;)&lt;/script&gt;" in doc
    # the search index is a script: names are JSON strings, with < escaped as \u003c? no:
    # json.dumps keeps '<', so the index must not be able to close a script element
    js = read(out / "search.js")
    assert js.startswith("window.SKBDROP_SEARCH=") and "</script" not in js.lower()


def test_reason_page_sites_chains_graph(tmp_path):
    a = fixture_analysis()
    out, _ = build(tmp_path, [a])
    page = read(out / "r/NO_SOCKET.html")
    v = KernelView(a)
    # value as the catalogue has it, the one site that can produce it
    assert f'id="value">{v.reasons["NO_SOCKET"].reason.value}<' in page
    assert page.count('<tr class="r-') == 1 and "foo_rcv" in page
    # the chain from the entry point bar_xmit down to foo_rcv, as text
    chain = re.search(r'<ol class="chains">(.*?)</ol>', page, re.S).group(1)
    items = [" ".join(re.sub(r"<[^>]+>", "", li).split())
             for li in re.findall(r"<li>(.*?)</li>", chain, re.S)]
    assert items == ["bar_xmit → foo_input → foo_rcv"]  # the one function with a NO_SOCKET site
    # the picture: dot is required (the Makefile installs graphviz); its absence fails
    import shutil
    assert shutil.which("dot"), "graphviz `dot` is missing (make deps installs it)"
    assert '<svg role="img" class="callgraph"' in page and "bar_xmit" in page
    # NOT_SPECIFIED: one chain per function holding such a site, entry point first
    page = read(out / "r/NOT_SPECIFIED.html")
    chain = re.search(r'<ol class="chains">(.*?)</ol>', page, re.S).group(1)
    items = [" ".join(re.sub(r"<[^>]+>", "", li).split())
             for li in re.findall(r"<li>(.*?)</li>", chain, re.S)]
    assert items == ["bar_xmit → bar_tx_done", "bar_xmit → foo_input → foo_rcv → foo_check"]
    never = read(out / "r/NEVER_USED.html")
    assert "No drop site in this tree can report this reason." in never


def test_function_page_callers(tmp_path):
    a = fixture_analysis()
    out, _ = build(tmp_path, [a])
    page = read(out / "fn/net/ipv4/foo.c.foo_check.html")
    callers = page[page.index('id="callers"'):]
    # foo_check <- foo_rcv <- foo_input <- bar_xmit (entry point)
    for name in ("foo_rcv", "foo_input", "bar_xmit"):
        assert name in callers
    assert callers.index("foo_rcv") < callers.index("foo_input") < callers.index("bar_xmit")
    assert re.search(r'>bar_xmit</a> <span class="tag entry">entry point</span>', callers)
    assert "3 callers, 1 entry point among them" in callers
    assert "kfree_skb" in page[page.index('id="callees"'):page.index('id="callers"')]


def test_function_pointer_pseudo_nodes_end_caller_paths():
    """`.handler` stands for every call through a ->handler field: shown, not followed."""
    from analyzer.model.graph import Graph
    g = Graph((), [("a", ".handler", "call"), ("b", ".handler", "call"), (".handler", "f", "ops"),
                   ("c", "f", "call"), ("d", "c", "call")])
    t = g.callers_tree(["f"], 100)
    assert t.order == ["f", ".handler", "c", "d"]
    assert g.chain_to_entry("f") == ([".handler", "f"], True)


def test_without_source_shows_site_lines(tmp_path):
    a = fixture_analysis()
    out, _ = build(tmp_path, [a], source=False)
    page = read(out / "f/net/ipv4/foo.c.html")
    assert "only the lines holding sites are shown" in page
    for s in a.sites:
        if s.file == "net/ipv4/foo.c":
            assert f'data-n="{s.line}"' in page


def test_stale_source_falls_back(tmp_path):
    a = fixture_analysis()
    shifted = Analysis(a.kernel, a.reasons, a.subsystems, a.family,
                       tuple(Site(**{**s.__dict__, "line": s.line + 1}) for s in a.sites),
                       a.callgraph, a.files, a.summary)
    out, _ = build(tmp_path, [shifted])
    assert "does not match the scanned one" in read(out / "f/net/ipv4/foo.c.html")


def test_output_is_deterministic(tmp_path):
    a = fixture_analysis()
    o1, _ = build(tmp_path, [a], name="a")
    o2, _ = build(tmp_path, [a], name="b")
    f1 = sorted(p.relative_to(o1) for p in o1.rglob("*") if p.is_file())
    f2 = sorted(p.relative_to(o2) for p in o2.rglob("*") if p.is_file())
    assert f1 == f2
    for rel in f1:
        assert (o1 / rel).read_bytes() == (o2 / rel).read_bytes(), rel


# --- several kernels -----------------------------------------------------------------------
def test_trend_and_diff(tmp_path):
    old = fixture_analysis("6.11.0-old", values={"NO_SOCKET": 3, "TCP_CSUM": 9})
    new = fixture_analysis("6.12.0-new", convert_bar=True)
    out, res = build(tmp_path, [old, new])
    assert res.kernels == ["6.11.0-old", "6.12.0-new"]
    idx = read(out / "index.html")
    assert "k/6.11.0-old/index.html" in idx and "k/6.12.0-new/index.html" in idx
    trend = read(out / "trend.html")
    assert trend.count('<svg xmlns="http://www.w3.org/2000/svg"') == 3
    diff = read(out / "diff-6.11.0-old-6.12.0-new.html")
    cmp = compare(old, new)
    # TCP_CSUM moved from 9 to its place in the fixture; bar_tx_done's kfree_skb now has a reason
    assert [x.name for x in cmp.diff.reasons_renumbered] == ["SKB_DROP_REASON_TCP_CSUM"]
    assert cmp.converted_sites == 1 and cmp.by_function[0].function == "bar_tx_done"
    assert "Reasons renumbered (1)" in diff and "bar_tx_done" in diff
    assert "Sites converted to a specific reason (1 in 1 functions)" in diff
    # per-kernel pages sit in their own tree and reach the shared assets
    page = read(out / "k/6.12.0-new/f/net/ipv4/foo.c.html")
    assert 'href="../../../../../assets/report.css"' in page


def test_empty_analysis_and_same_kernel_twice(tmp_path):
    """A tree without a catalogue or sites still gets a report; one kernel given twice
    gets two trees (k/V and k/V-2) and a diff page saying nothing changed."""
    empty = Analysis(KernelInfo("5.10.0", "", "none"))
    out, res = build(tmp_path, [empty], name="empty")
    idx = read(out / "index.html")
    assert 'id="t-drop_sites">0<' in idx and 'id="t-coverage">n/a<' in idx
    a = fixture_analysis()
    out, res = build(tmp_path, [a, a], name="twice")
    assert (out / "k/6.12.0-report/index.html").is_file()
    assert (out / "k/6.12.0-report-2/index.html").is_file()
    diff = read(out / "diff-6.12.0-report-6.12.0-report.html")
    assert "Reasons added (0)" in diff and "Reasons renumbered (0)" in diff


def test_diff_page_when_not_comparable(tmp_path):
    """A version without a catalogue still gets its diff page, saying why there is no diff."""
    old = fixture_analysis("a")
    empty = Analysis(KernelInfo("b", "", "none"))
    out, _ = build(tmp_path, [old, empty])
    page = read(out / "diff-a-b.html")
    assert "cannot be compared" in page and "no drop-reason catalogue" in page


# --- the command ---------------------------------------------------------------------------
def _json(tmp_path, a, name="analysis.json") -> str:
    p = tmp_path / name
    p.write_text(a.to_json())
    return str(p)


def test_cli_from_json(tmp_path, capsys):
    j = _json(tmp_path, fixture_analysis())
    out = tmp_path / "rep"
    assert main(["report", j, "-o", str(out)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.endswith(str(out / "index.html")) and "\n" not in line
    # kernel.source is the fixture directory, which exists: the full source is shown
    assert "only the lines holding sites" not in read(out / "f/net/ipv4/foo.c.html")
    # rerun over our own output: replaced
    (out / "index.html").write_text("old")
    assert main(["report", j, "-o", str(out)]) == 0
    assert read(out / "index.html") != "old"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".rep.")]


def test_cli_json_without_tree(tmp_path):
    j = _json(tmp_path, fixture_analysis(source=str(tmp_path / "gone")))
    out = tmp_path / "rep"
    assert main(["report", j, "-o", str(out)]) == 0
    assert "only the lines holding sites" in read(out / "f/net/ipv4/foo.c.html")


def test_refuses_foreign_directory(tmp_path, capsys):
    j = _json(tmp_path, fixture_analysis())
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert main(["report", j, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not made by skbdrop" in err
    assert sorted(os.listdir(out)) == ["notes.txt"] and read(out / "notes.txt") == "keep me"


@pytest.mark.parametrize("where", ["file", "proc"])
def test_unwritable_output(tmp_path, capsys, where):
    j = _json(tmp_path, fixture_analysis())
    if where == "file":
        f = tmp_path / "afile"
        f.write_text("x")
        out = f / "rep"          # parent is a regular file
    else:
        out = Path("/proc/skbdrop-no/rep")   # nobody, not even root, can create this
    assert main(["report", j, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not writable" in err
    if where == "file":
        assert (tmp_path / "afile").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["analysis.json"] + (["afile"] if where == "file" else []))


def test_output_through_a_symlink(tmp_path):
    j = _json(tmp_path, fixture_analysis())
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert main(["report", j, "-o", str(tmp_path / "link")]) == 0
    assert main(["report", j, "-o", str(tmp_path / "link")]) == 0     # and again, over it
    assert (tmp_path / "link").is_symlink() and (tmp_path / "real" / "index.html").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["analysis.json", "link", "real"]


def test_output_is_a_file(tmp_path, capsys):
    j = _json(tmp_path, fixture_analysis())
    f = tmp_path / "afile"
    f.write_text("x")
    assert main(["report", j, "-o", str(f)]) == 2
    assert "not a directory" in capsys.readouterr().err and f.read_text() == "x"


def test_bad_input_json(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    out = tmp_path / "rep"
    assert main(["report", str(bad), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".rep.")]


def test_cli_subprocess_one_line(tmp_path):
    """As a user runs it: one summary line on stdout, nothing on stderr when not a tty."""
    j = _json(tmp_path, fixture_analysis())
    out = tmp_path / "rep"
    p = subprocess.run([sys.executable, "-m", "analyzer.cli", "report", j, "-o", str(out)],
                       capture_output=True, text=True, cwd=REPO)
    assert p.returncode == 0, p.stderr
    assert p.stderr == "" and p.stdout.count("\n") == 1
    assert json.loads((out / MARKER).read_text())["kernels"] == ["6.12.0-report"]


def test_svg_charts_are_wellformed_and_escaped():
    import xml.etree.ElementTree as ET

    from analyzer.formats.html.svg import bar_chart, line_chart
    labels = ["6.1.192", "<b>6.12</b>"]
    for svg in (line_chart("cov & <x>", labels, [("coverage", [12.5, 40.0])], y_max=100, unit="%"),
                bar_chart("sites", labels, [("drop", [3, 7]), ("<i>", [1, 2])])):
        root = ET.fromstring(svg)               # well-formed XML
        texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
        assert "<b>6.12</b>" in texts           # escaped in the markup, intact as text
        assert "<b>" not in svg
    # y ticks: 0 .. 8 in steps of 2 for a maximum of 7 (no fractional counts)
    ticks = [t.text for t in ET.fromstring(bar_chart("s", ["a"], [("n", [7])])).iter(
        "{http://www.w3.org/2000/svg}text") if t.get("class") == "tick"]
    assert ticks == ["0", "2", "4", "6", "8"]


def test_report_of_the_fixture_tree_scanned(tmp_path, capsys):
    """End to end: `skbdrop report DIR` scans the fixture tree itself. Each site line of
    the file pages carries the reasons its `expect:` comment names (read from the C)."""
    out = tmp_path / "rep"
    assert main(["report", str(FIXTURE), "-o", str(out), "--no-cache"]) == 0
    assert capsys.readouterr().out.strip().endswith(str(out / "index.html"))
    checked = 0
    for c in sorted(FIXTURE.rglob("*.c")):
        rel = c.relative_to(FIXTURE).as_posix()
        page = None
        for i, text in enumerate(c.read_text().splitlines(), 1):
            m = re.search(r"expect: ([A-Z_, ]+) \*/", text)
            if not m:
                continue
            page = page or read(out / "f" / (rel + ".html"))
            want = sorted(x.strip() for x in m.group(1).split(","))
            line = re.search(rf'<i id="L{i}" class="site s-(\w+)">.*?</i><span class="ann">(.*?)</span>(?=<i|$)',
                             page, re.S)
            assert line, (rel, i)
            got = sorted(re.findall(r'<a class="reason" href="[^"]*">(\w+)</a>', line.group(2)))
            assert got == want, (rel, i)
            assert line.group(1) == ("unspecified" if want == ["NOT_SPECIFIED"] else "reasoned")
            checked += 1
    assert checked == 4
    for p in out.rglob("*.html"):
        assert "<script>alert" not in read(p), p


def test_progress_on_a_terminal(tmp_path):
    """With stderr a terminal, the report shows progress there; stdout keeps its one line."""
    import pty
    j = _json(tmp_path, fixture_analysis())
    out = tmp_path / "rep"
    import fcntl
    import struct
    import termios
    master, slave = pty.openpty()
    # a terminal of 24 x 100 (a fresh pty has 0 columns: progress bars draw nothing)
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    p = subprocess.Popen([sys.executable, "-m", "analyzer.cli", "report", j, "-o", str(out)],
                         stdout=subprocess.PIPE, stderr=slave, cwd=REPO)
    os.close(slave)
    err = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        err += chunk
    stdout, _ = p.communicate(timeout=60)
    os.close(master)
    assert p.returncode == 0
    assert b"loading" in err and b"report: " in err and b"page" in err
    assert stdout.decode().count("\n") == 1


def test_colours_meet_wcag_aa():
    """Text colours of the stylesheet against their backgrounds: contrast >= 4.5:1."""
    from analyzer.formats.jinja import ASSETS
    css = (ASSETS / "report.css").read_text()
    var = dict(re.findall(r"--([\w-]+):(#[0-9a-fA-F]{6})", css))

    def lum(hexc):
        rgb = [int(hexc[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    def ratio(a, b):
        la, lb = sorted((lum(a), lum(b)), reverse=True)
        return (la + 0.05) / (lb + 0.05)
    pairs = {"fg/white": (var["fg"], "#ffffff"), "muted/white": (var["muted"], "#ffffff"),
             "muted/panel": (var["muted"], var["bg2"]), "link/white": (var["link"], "#ffffff"),
             "reasoned badge": (var["ok"], var["ok-bg"]), "incomplete badge": (var["warn"], var["warn-bg"]),
             "unspecified badge": (var["bad"], var["bad-bg"]), "consume badge": (var["con"], var["con-bg"]),
             "code on a reasoned line": (var["fg"], var["ok-bg"]),
             "code on an unspecified line": (var["fg"], var["bad-bg"])}
    low = {k: round(ratio(*v), 2) for k, v in pairs.items() if ratio(*v) < 4.5}
    assert not low, low


def test_unresolved_reasons_are_not_called_never_produced(tmp_path):
    """A reason the code names but no site produces (summary.reasons_unresolved) is listed
    with its cause in its own index section and on its reason page, not as 'never
    produced'."""
    from dataclasses import replace

    from analyzer.model import UnresolvedReason
    a = fixture_analysis()
    u = UnresolvedReason(reason="NEVER_USED", cause="incomplete sites: foo_rcv(): struct field x",
                         files=("net/ipv4/foo.c",))
    a = replace(a, summary=replace(a.summary, reasons_unresolved=(u,),
                                   reasons_never_produced=a.summary.reasons_never_produced - 1))
    out, _ = build(tmp_path, [a])
    v = KernelView(a)
    assert [rv.reason.short for rv, _ in v.unresolved()] == ["NEVER_USED"]
    assert v.never_produced() == [] and a.summary.reasons_never_produced == 0
    idx = read(out / "index.html")
    unresolved = idx[idx.index('id="unresolved"'):idx.index('id="never"')]
    assert "NEVER_USED" in unresolved and "struct field x" in unresolved
    assert "NEVER_USED" not in idx[idx.index('id="never"'):]
    assert 'id="t-reasons_unresolved"><a href="#unresolved">1<' in idx
    page = read(out / "r/NEVER_USED.html")
    assert "no drop site was found to produce it" in page and "struct field x" in page
    # and the JSON keeps it (schema 1)
    back = Analysis.from_json(a.to_json())
    assert back.summary.reasons_unresolved == (u,)
