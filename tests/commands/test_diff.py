"""`skbdrop diff` on the hand-made analyses tests/data/diff/{old,new}.json.

Expectations, read off the two files:
  reasons   added   SKB_CONSUMED, SKB_DROP_REASON_SOCKET_CLOSE, OVS_DROP_LAST_ACTION,
                    OVS_DROP_ACTION_ERROR
            removed SKB_DROP_REASON_GONE
            renamed SKB_DROP_REASON_TCP_OFOMERGE -> SKB_DROP_REASON_TCP_OFO_DROP_DUP (same doc)
            renumbered NOT_SPECIFIED 1->2, NO_SOCKET 2->3, PKT_TOO_SMALL 3->5, TCP_CSUM 4->6,
                    NETFILTER_DROP 5->7 (NOT_DROPPED_YET stays 0; bounds are not compared)
  subsystems added openvswitch (id 3)
  sites     net/a.c f_rcv kfree_skb -> kfree_skb_reason(NO_SOCKET): converted
            net/c.c k_rcv tcp_drop_reason(reason) NOT_SPECIFIED -> TCP_CSUM: converted
            net/b.c h_old: removed; net/d.c m_rcv and the two openvswitch sites: added
            net/a.c g_rcv, net/c.c k_rcv, net/d.c m_xmit: matched despite moved lines;
            net/a.c g_rcv: reasons NO_SOCKET,TCP_CSUM -> NO_SOCKET (other reasons); the
            consume site in net/d.c m_xmit naming SKB_CONSUMED is no change
"""
from __future__ import annotations

import json

from analyzer import cli
from analyzer.commands.diff import diff, fails, to_dict, to_text

from helpers.diff_data import NEW, NOCAT, OLD, load


def test_reasons():
    d = diff(load(OLD), load(NEW))
    assert [r.name for r in d.reasons_added] == [
        "SKB_CONSUMED", "SKB_DROP_REASON_SOCKET_CLOSE", "OVS_DROP_LAST_ACTION", "OVS_DROP_ACTION_ERROR"]
    assert [r.name for r in d.reasons_removed] == ["SKB_DROP_REASON_GONE"]
    assert [(x.old.name, x.new.name) for x in d.reasons_renamed] == [
        ("SKB_DROP_REASON_TCP_OFOMERGE", "SKB_DROP_REASON_TCP_OFO_DROP_DUP")]
    assert [(x.name, x.old, x.new, x.delta) for x in d.reasons_renumbered] == [
        ("SKB_DROP_REASON_NOT_SPECIFIED", 1, 2, 1), ("SKB_DROP_REASON_NO_SOCKET", 2, 3, 1),
        ("SKB_DROP_REASON_PKT_TOO_SMALL", 3, 5, 2), ("SKB_DROP_REASON_TCP_CSUM", 4, 6, 2),
        ("SKB_DROP_REASON_NETFILTER_DROP", 5, 7, 2)]
    assert [(s.name, s.id) for s in d.subsystems_added] == [("openvswitch", 3)]
    assert d.subsystems_removed == () and d.subsystems_renumbered == ()


def test_sites():
    d = diff(load(OLD), load(NEW))
    conv = [(c.old.file, c.old.line, c.old.callee, c.new.line, c.new.callee, c.new.reasons)
            for c in d.sites_converted]
    assert conv == [("net/a.c", 10, "kfree_skb", 12, "kfree_skb_reason", ("NO_SOCKET",)),
                    ("net/c.c", 7, "tcp_drop_reason", 9, "tcp_drop_reason", ("TCP_CSUM",))]
    assert [(s.file, s.line) for s in d.sites_removed] == [("net/b.c", 5)]
    assert [(s.file, s.line) for s in d.sites_added] == [
        ("net/d.c", 30), ("net/openvswitch/actions.c", 40), ("net/openvswitch/actions.c", 50)]
    assert d.sites_matched == 3


def test_reverse_direction_is_symmetric():
    d = diff(load(NEW), load(OLD))
    assert [r.name for r in d.reasons_removed] == [
        "SKB_CONSUMED", "SKB_DROP_REASON_SOCKET_CLOSE", "OVS_DROP_LAST_ACTION", "OVS_DROP_ACTION_ERROR"]
    assert [(s.name, s.id) for s in d.subsystems_removed] == [("openvswitch", 3)]
    assert d.sites_converted == ()        # a reason back to unspecified is not a conversion
    assert sorted((s.file, s.line) for s in d.sites_removed) == [
        ("net/a.c", 12), ("net/d.c", 30), ("net/openvswitch/actions.c", 40),
        ("net/openvswitch/actions.c", 50)]


def test_same_analysis_has_no_changes():
    a = load(NEW)
    d = diff(a, a)
    assert not d.changed()
    assert d.sites_matched == len(a.sites)
    assert not fails(d, "any")


def test_fail_on():
    d = diff(load(OLD), load(NEW))
    assert fails(d, "renumbered") and fails(d, "removed") and fails(d, "any")
    assert not fails(d, "never")


def test_text_and_json(capsys):
    d = diff(load(OLD), load(NEW))
    text = to_text(d)
    assert text.splitlines()[1] == "reasons: 4 added, 1 removed, 1 renamed, 5 renumbered"
    assert ("sites: 3 added, 1 removed, 2 converted from unspecified to a reason, "
            "1 with other reasons (3 matched)") in text
    assert [(c.old.line, c.new.line, c.new.reasons) for c in d.sites_changed] == [
        (20, 25, ("NO_SOCKET",))]
    assert "  SKB_DROP_REASON_NETFILTER_DROP: 5 -> 7 (+2)" in text
    assert "  ~ SKB_DROP_REASON_TCP_OFOMERGE = 6 -> SKB_DROP_REASON_TCP_OFO_DROP_DUP = 8" in text
    assert cli.main(["diff", OLD, NEW, "--format", "json"]) == 0
    out = capsys.readouterr().out
    doc = json.loads(out)
    assert doc == json.loads(json.dumps(to_dict(d)))
    assert doc["summary"]["sites_converted"] == 2 and doc["summary"]["sites_changed"] == 1
    assert doc["reasons"]["renumbered"][0] == {"name": "SKB_DROP_REASON_NOT_SPECIFIED",
                                               "old": 1, "new": 2, "delta": 1}
    assert out == json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def test_cli_exit_codes(capsys):
    assert cli.main(["diff", OLD, NEW]) == 0
    assert cli.main(["diff", OLD, NEW, "--fail-on", "removed"]) == 1
    assert cli.main(["diff", NEW, NEW, "--fail-on", "any"]) == 0
    capsys.readouterr()
    assert cli.main(["diff", NOCAT, NEW]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "no drop-reason catalogue" in err


def test_against_btf_module_reasons_and_sites_are_not_compared(capsys):
    """The 6.18.44 headers against the BTF of that kernel (captured with bpftool): vmlinux's
    BTF names the mac80211 and openvswitch subsystems but their reason enums live in the
    modules' BTF, so those reasons are unknown there, not removed; and BTF holds no sites,
    so none is 'removed'. Everything else is equal."""
    import os
    from analyzer.pipeline import load_analysis
    from helpers import TESTS
    tree = os.path.join(TESTS, "fixtures", "layouts", "6.18")
    btf = "btf:" + os.path.join(TESTS, "data", "runtime-6.18", "btf-drop-reasons.json")
    old, new = load_analysis(tree, use_cache=False, sources=False), load_analysis(btf, sources=False)
    d = diff(old, new)
    module = [r for r in old.reasons if r.subsystem in ("mac80211_unusable", "openvswitch")]
    assert module and set(d.reasons_not_compared) == set(module)
    assert (d.reasons_added, d.reasons_removed, d.reasons_renumbered, d.subsystems_removed) == ((), (), (), ())
    assert not d.sites_compared and d.sites_removed == () and not d.changed()
    assert not fails(d, "removed")
    text = to_text(d)
    assert "sites: not compared" in text and f"reasons not compared: {len(module)}" in text
    j = to_dict(d)
    assert j["summary"]["reasons_removed"] == 0 and len(j["reasons"]["not_compared"]) == len(module)
    assert cli.main(["diff", tree, btf, "--fail-on", "removed", "--no-cache"]) == 0
    capsys.readouterr()
