"""skbdrop's drop-site inventory against an independent one made by Coccinelle
(tests/data/coccinelle/, see its RULES.md): every difference is one of the documented
rules, and every function of the real drops captured on 6.18 (tests/data/runtime-6.18)
has a site on both sides.
"""
from __future__ import annotations

import json
import os
import re
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data", "coccinelle")
RUNTIME = os.path.join(HERE, "data", "runtime-6.18")
sys.path.insert(0, os.path.join(HERE, "tools"))
import coccinelle_inventory as ci  # noqa: E402

pytestmark = pytest.mark.realtree

MARKERS = (b"skb", b"sk_buff", b"drop_reason", b"SKB_")


def documented_rules() -> set[str]:
    with open(os.path.join(DATA, "RULES.md"), encoding="utf-8") as f:
        return set(re.findall(r"^\| `([\w-]+)` \|", f.read(), re.M))


def test_rules_are_documented():
    assert documented_rules() == {"wiring", "macro", "spatch-parse", "if0", "prefilter",
                                  "userspace"}


def _sites(a) -> dict[tuple[str, int, str], tuple[str, str]]:
    return {(s.file, s.line, s.callee): (s.function or "", s.source) for s in a.sites}


@pytest.mark.parametrize("version", ["6.1", "6.12"])
def test_every_difference_is_a_documented_rule(request, version):
    tag = version.replace(".", "")
    a = request.getfixturevalue("analysis_" + tag)
    root = request.getfixturevalue("root_" + tag)
    with open(os.path.join(DATA, f"differences-{version}.json"), encoding="utf-8") as f:
        doc = json.load(f)
    cocci = ci.read_inventory(version)
    sites = _sites(a)
    got = {("coccinelle",) + k for k in set(cocci) - set(sites)} | \
          {("skbdrop",) + k for k in set(sites) - set(cocci)}
    listed = {(d["side"], d["file"], d["line"], d["callee"]): d for d in doc["differences"]}
    assert got == set(listed), "differences changed: rerun coccinelle_inventory.py --differences"
    rules = documented_rules()
    names = set(ci.family_names(os.path.join(HERE, "tools", "coccinelle", f"family-{version}.cocci")))
    for key, d in listed.items():
        assert d["rule"] in rules, key
        path = os.path.join(root, d["file"])
        if d["rule"] == "wiring":
            with open(path, encoding="utf-8", errors="replace") as f:
                line = f.read().split("\n")[d["line"] - 1]
            macro = re.match(r"\s*#\s*define\s+(\w+)", line)
            assert d["function"] in names or (macro and macro.group(1) in names), key
        elif d["rule"] in ("prefilter", "userspace"):
            with open(path, "rb") as f:
                data = f.read()
            assert not any(m in data for m in MARKERS), key
            assert d["file"].startswith("tools/") == (d["rule"] == "userspace"), key
        elif d["rule"] == "if0":
            assert ci.in_if0(path, d["line"]), key
        elif d["rule"] == "macro":
            assert sites[key[1:]][1].startswith("#define"), key
        elif d["rule"] == "spatch-parse":
            assert d["evidence"].startswith("spatch --parse-c: badcount"), key
    # agreement: nearly every site is on both sides
    both = len(set(sites) & set(cocci))
    assert both >= 0.99 * len(sites) and both >= 0.99 * len(cocci)


def _runtime_functions() -> set[str]:
    out = set()
    for name in ("trace.txt", "background-trace.txt"):
        with open(os.path.join(RUNTIME, name), encoding="utf-8") as f:
            out |= set(re.findall(r"kfree_skb: .*?location=(\w+)\+", f.read()))
    return out


def test_runtime_drops_have_sites_on_both_sides(analysis_612):
    """Every function the 6.18 capture saw dropping has a drop site in 6.12 (in it, or in
    a function the compiler inlines into it, as `explain` ranks them), and Coccinelle's
    inventory has a family call there too."""
    from analyzer.commands.explain import Index, explain_events
    from analyzer.events.readers import read_text
    funcs = _runtime_functions()
    assert {"unix_release_sock", "tcp_v4_rcv", "udp_queue_rcv_one_skb",
            "tcp_rcv_established"} <= funcs
    ix = Index(analysis_612)
    rows = []
    for name in ("trace.txt", "background-trace.txt"):
        with open(os.path.join(RUNTIME, name), encoding="utf-8") as f:
            rows += explain_events(ix, read_text(f.read()))
    missing = sorted({r.function for r in rows if not r.candidates})
    assert missing == []
    cocci_funcs = set(ci.read_inventory("6.12").values())
    sites_of = {}
    for r in rows:
        sites_of.setdefault(r.function, set()).update(c.site.function for c in r.candidates)
    for fn, where in sorted(sites_of.items()):
        assert where & cocci_funcs, (fn, where)
