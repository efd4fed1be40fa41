"""`skbdrop diff debian:6.1 debian:6.12` on the real trees.

Expectations read from the trees:
* enum skb_drop_reason: 6.1.192's include/net/dropreason.h declares 67 enumerators,
  6.12.117's include/net/dropreason-core.h 106; every 6.1 name is still there, and the 39
  new ones are SKB_DROP_REASON_SUBSYS_MASK (a bound) and 38 reasons, among them
  SKB_CONSUMED, SOCKET_CLOSE, TCP_AOFAILURE, VXLAN_INVALID_HDR, QUEUE_PURGE, IP_TUNNEL_ECN
  and DUP_FRAG.  6.1 has no subsystems; 6.12 adds MAC80211_UNUSABLE (46 reasons in
  net/mac80211/drop.h), MAC80211_MONITOR (3) and OPENVSWITCH (11, net/openvswitch/drop.h).
* NETFILTER_DROP is 7 in 6.1.192 and 11 in 6.12.117 (docs/kernel-layouts.md, gcc).
* Conversions, by reading both files:
  drivers/net/vxlan/vxlan_core.c vxlan_xmit(): 6.1 line 2882 `kfree_skb(skb)` is
  `kfree_skb_reason(skb, SKB_DROP_REASON_TUNNEL_TXINFO)` at 6.12 line 2778;
  net/ipv6/netfilter/nf_conntrack_reasm.c: 6.1 line 260 `kfree_skb(skb)` is
  `kfree_skb_reason(skb, SKB_DROP_REASON_DUP_FRAG)` at 6.12 line 262.
"""
from __future__ import annotations

import json
import os
import re

import pytest

from analyzer import cli
from analyzer.commands.diff import diff, to_text
from helpers import DEB61, DEB612

pytestmark = pytest.mark.realtree


@pytest.fixture(scope="module")
def d(analysis_61, analysis_612):
    return diff(analysis_61, analysis_612, DEB61, DEB612)


def test_reasons_added(d):
    added = {r.name for r in d.reasons_added}
    for name in ("SKB_CONSUMED", "SKB_DROP_REASON_SOCKET_CLOSE", "SKB_DROP_REASON_TCP_AOFAILURE",
                 "SKB_DROP_REASON_VXLAN_INVALID_HDR", "SKB_DROP_REASON_QUEUE_PURGE",
                 "SKB_DROP_REASON_IP_TUNNEL_ECN", "SKB_DROP_REASON_DUP_FRAG",
                 "OVS_DROP_LAST_ACTION", "RX_DROP_U_MIC_FAIL"):
        assert name in added, name
    core = [r for r in d.reasons_added if r.subsystem == "core"]
    assert len(core) == 38
    assert len(d.reasons_added) - len(core) == 46 + 1 + 3 + 11   # + RX_DROP_MONITOR
    assert d.reasons_removed == () and d.reasons_renamed == ()
    assert "SKB_DROP_REASON_SUBSYS_MASK" not in added and "SKB_DROP_REASON_MAX" not in added


def test_renumbered_and_subsystems(d):
    ren = {x.name: (x.old, x.new, x.delta) for x in d.reasons_renumbered}
    assert ren["SKB_DROP_REASON_NETFILTER_DROP"] == (7, 11, 4)
    assert "SKB_NOT_DROPPED_YET" not in ren            # 0 in both
    assert {s.enumerator for s in d.subsystems_added} == {
        "SKB_DROP_REASON_SUBSYS_MAC80211_UNUSABLE", "SKB_DROP_REASON_SUBSYS_MAC80211_MONITOR",
        "SKB_DROP_REASON_SUBSYS_OPENVSWITCH"}


def test_sites_converted(d):
    conv = {(c.new.file, c.new.line): c for c in d.sites_converted}
    c = conv[("drivers/net/vxlan/vxlan_core.c", 2778)]
    assert (c.old.line, c.old.callee) == (2882, "kfree_skb")
    assert c.old.function == c.new.function == "vxlan_xmit"
    assert c.new.reasons == ("TUNNEL_TXINFO",)
    c = conv[("net/ipv6/netfilter/nf_conntrack_reasm.c", 262)]
    assert (c.old.file, c.old.line, c.old.callee) == ("net/ipv6/netfilter/nf_conntrack_reasm.c",
                                                      260, "kfree_skb")
    assert c.new.reasons == ("DUP_FRAG",)
    for c in d.sites_converted:
        assert any(r != "NOT_SPECIFIED" for r in c.new.reasons)
    text = to_text(d)
    assert f"{len(d.sites_converted)} converted from unspecified to a reason" in text.splitlines()[3]


CONVERTED = [  # (file, 6.1 line, 6.1 callee, 6.12 line, 6.12 callee)
    ('drivers/net/vxlan/vxlan_core.c', 1875, 'kfree_skb', 1846, 'kfree_skb_reason'),
    ('drivers/net/vxlan/vxlan_core.c', 2882, 'kfree_skb', 2778, 'kfree_skb_reason'),
    ('drivers/net/vxlan/vxlan_core.c', 2928, 'kfree_skb', 2843, 'kfree_skb_reason'),
    ('drivers/net/vxlan/vxlan_core.c', 2951, 'kfree_skb', 2866, 'kfree_skb_reason'),
    ('include/net/ipv6_frag.h', 104, 'kfree_skb', 109, 'kfree_skb_reason'),
    ('net/core/skbuff.c', 789, 'kfree_skb_list', 1118, 'kfree_skb_list_reason'),
    ('net/ipv4/inet_fragment.c', 280, 'kfree_skb', 322, 'kfree_skb_reason'),
    ('net/ipv4/ip_fragment.c', 202, 'kfree_skb', 191, 'kfree_skb_reason'),
    ('net/ipv4/ip_fragment.c', 391, 'kfree_skb', 388, 'kfree_skb_reason'),
    ('net/ipv6/ndisc.c', 1802, 'kfree_skb', 1815, 'kfree_skb_reason'),  # pndisc_redo, a callback
    ('net/ipv6/netfilter/nf_conntrack_reasm.c', 260, 'kfree_skb', 262, 'kfree_skb_reason'),
    ('net/ipv6/raw.c', 357, 'kfree_skb', 365, 'sk_skb_reason_drop'),
    ('net/ipv6/raw.c', 364, 'kfree_skb', 372, 'sk_skb_reason_drop'),
    ('net/ipv6/raw.c', 385, 'kfree_skb', 393, 'sk_skb_reason_drop'),
    ('net/ipv6/raw.c', 410, 'kfree_skb', 418, 'sk_skb_reason_drop'),
    ('net/ipv6/reassembly.c', 229, 'kfree_skb', 247, 'kfree_skb_reason'),
    ('net/openvswitch/actions.c', 725, 'kfree_skb', 743, 'kfree_skb_reason'),
    ('net/openvswitch/actions.c', 850, 'kfree_skb', 871, 'ovs_kfree_skb_reason'),
    ('net/openvswitch/actions.c', 875, 'kfree_skb', 896, 'kfree_skb_reason'),
    ('net/openvswitch/actions.c', 878, 'kfree_skb', 899, 'kfree_skb_reason'),
    ('net/openvswitch/actions.c', 1131, 'kfree_skb', 1170, 'ovs_kfree_skb_reason'),
    ('net/openvswitch/actions.c', 1416, 'kfree_skb', 1459, 'ovs_kfree_skb_reason'),
    ('net/openvswitch/actions.c', 1483, 'kfree_skb', 1578, 'ovs_kfree_skb_reason'),
    ('net/openvswitch/actions.c', 1535, 'kfree_skb', 1630, 'ovs_kfree_skb_reason'),
    ('net/packet/af_packet.c', 2306, 'kfree_skb', 2298, 'sk_skb_reason_drop'),
    ('net/packet/af_packet.c', 2582, 'kfree_skb', 2573, 'sk_skb_reason_drop'),
    ('net/packet/af_packet.c', 2591, 'kfree_skb', 2582, 'sk_skb_reason_drop'),
    ('net/unix/af_unix.c', 646, 'kfree_skb', 735, 'kfree_skb_reason'),
    ('net/unix/af_unix.c', 2719, 'kfree_skb', 2735, 'kfree_skb_reason'),
    ('net/unix/af_unix.c', 2754, 'kfree_skb', 2771, 'kfree_skb_reason'),
]


def test_sites_converted_exactly(d, root_61, root_612):
    """All 30, each checked in the text of both trees (not by the product's matching): the
    6.1 line calls the old, unspecified free and the 6.12 line the reason-taking one, in a
    function of the same name. A new conversion found, or one lost, fails here."""
    got = sorted((c.new.file, c.old.line, c.old.callee, c.new.line, c.new.callee)
                 for c in d.sites_converted)
    assert got == sorted(CONVERTED)

    def line(root, f, n):
        with open(os.path.join(root, f), encoding="utf-8", errors="replace") as fh:
            return fh.read().split("\n")[n - 1]
    for f, old, old_callee, new, new_callee in CONVERTED:
        assert re.search(rf"\b{old_callee}\s*\(", line(root_61, f, old)), (f, old)
        assert re.search(rf"\b{new_callee}\s*\(", line(root_612, f, new)), (f, new)
    for c in d.sites_converted:
        assert c.old.function == c.new.function and c.old.reasons == ("NOT_SPECIFIED",)


def test_cli_json(d, analysis_61, analysis_612, capsys, tmp_path):
    old, new = tmp_path / "a61.json", tmp_path / "a612.json"   # saved analyses: no rescans
    old.write_text(analysis_61.to_json())
    new.write_text(analysis_612.to_json())
    assert cli.main(["diff", str(old), str(new), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["old"]["version"].startswith("6.1.") and doc["new"]["version"].startswith("6.12.")
    assert doc["summary"]["reasons_added"] == len(d.reasons_added) == 99
    assert doc["summary"]["sites_converted"] == len(d.sites_converted)
