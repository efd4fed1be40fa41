"""One rule, one count: the JSON summary, the HTML report, diff, check and export count
the same sites as reasoned, incomplete, unspecified and consume on Debian 6.12 (the
classes of analyzer/model/rules.py, counted here from the analysis sites)."""
from __future__ import annotations

from dataclasses import replace

import pytest

from analyzer.commands import export
from analyzer.commands.diff import diff
from analyzer.formats.html.views import KernelView
from analyzer.link.check.judge import judge
from analyzer.model import NOT_SPECIFIED, Site
from analyzer.model.rules import class_counts, has_reason, is_unspecified, shown_unspecified
from analyzer.source.patch import Patch

pytestmark = pytest.mark.realtree


def _expected(sites) -> dict[str, int]:
    return class_counts(sites)


def _with_unknowns(a):
    """The analysis with every 97th drop site of net/, drivers/ and include/ (where check
    judges) made incomplete. Since the indirect idioms
    are followed, Debian 6.12 has no incomplete drop left; the classes must still be told
    apart the same way everywhere, so some sites with a reason and some unspecified ones
    are marked as not fully known (a cause says so) to give every class members."""
    drops = [i for i, s in enumerate(a.sites)
             if s.kind == "drop" and s.file.startswith(("net/", "drivers/", "include/"))]
    mark = set(drops[::97])
    sites = tuple(replace(s, complete=False, cause="marked by the test") if i in mark else s
                  for i, s in enumerate(a.sites))
    return replace(a, sites=sites)


def test_summary_and_report_count_the_classes(analysis_612):
    a = analysis_612
    c = _expected(a.sites)
    sm = a.summary
    assert (sm.drop_sites, sm.with_reason, sm.unspecified, sm.consume_sites, sm.incomplete) == (
        c["reasoned"] + c["incomplete"] + c["unspecified"], c["reasoned"] + c["incomplete"],
        c["unspecified"], c["consume"], c["incomplete"])
    root = KernelView(a).root.counts
    assert (root.reasoned, root.incomplete, root.unspecified, root.consume, root.drop) == (
        c["reasoned"], c["incomplete"], c["unspecified"], c["consume"], sm.drop_sites)
    # the single definition matters where sets are not fully known: incomplete sites whose
    # set holds no specific reason are unspecified
    u = _with_unknowns(a)
    assert any(is_unspecified(s) and not s.complete for s in u.sites)
    c = _expected(u.sites)
    assert c["incomplete"] > 0
    root = KernelView(u).root.counts
    assert (root.reasoned, root.incomplete, root.unspecified, root.consume, root.drop) == (
        c["reasoned"], c["incomplete"], c["unspecified"], c["consume"], sm.drop_sites)


def test_export_rows_count_the_classes(analysis_612):
    a = analysis_612
    rows = export.site_rows(a)
    back = [Site(r["file"], r["line"], r["column"], r["function"], r["callee"], r["kind"],
                 r["reason_arg"], tuple(r["reasons"]), r["resolution"], r["complete"], r["cause"])
            for r in rows]
    assert class_counts(back) == _expected(a.sites)


def _plain(s: Site) -> Site:
    """The site as a plain kfree_skb() would be: NOT_SPECIFIED, known."""
    return replace(s, reasons=(NOT_SPECIFIED,), complete=True, cause=None, resolution="unspecified")


def test_diff_converts_exactly_the_sites_with_a_reason(analysis_612):
    a = analysis_612
    c = _expected(a.sites)
    plain = replace(a, sites=tuple(_plain(s) if s.kind == "drop" else s for s in a.sites))
    d = diff(plain, a)
    assert len(d.sites_converted) == c["reasoned"] + c["incomplete"]
    assert all(has_reason(x.new) for x in d.sites_converted)
    # the other way round no drop is converted, and the unspecified ones do not change
    back = diff(a, plain)
    assert not back.sites_converted
    assert len(back.sites_changed) == c["reasoned"] + c["incomplete"] + sum(
        1 for s in a.sites if is_unspecified(s) and tuple(s.reasons) != (NOT_SPECIFIED,))


def test_check_flags_exactly_the_unspecified_sites(analysis_612):
    a = _with_unknowns(analysis_612)
    # every file holding an incomplete site, and net/ipv4/ (check suggests reasons from
    # the same function, quadratic in the sites: a part of the tree is enough)
    files = {s.file for s in a.sites if not s.complete} | {
        s.file for s in a.sites if s.file.startswith("net/ipv4/")}
    sub = replace(a, sites=tuple(s for s in a.sites if s.file in files))
    before = replace(sub, sites=())
    found = judge(before, sub, {}, Patch("all.patch", "every site is new", ()),
                  paths=("net/", "drivers/", "include/"))
    new_unspec = [f for f in found if f.code == "SKBDROP_NEW_UNSPECIFIED"]
    c = _expected(sub.sites)
    assert c["unspecified"] > 0 and c["incomplete"] > 0
    # a finding is a claim: made for every unspecified drop whose set is complete, and
    # for no other (the unspecified ones with an incomplete set are counted, not claimed)
    unclaimed = [s for s in sub.sites if is_unspecified(s) and not s.complete]
    assert unclaimed
    assert len(new_unspec) == c["unspecified"] - len(unclaimed)
    assert {(f.file, f.line, f.column) for f in new_unspec} == {
        (s.file, s.line, s.column) for s in sub.sites if shown_unspecified(s)}

