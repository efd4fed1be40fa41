"""The domain rules (analyzer/model/rules.py), one definition each."""
from __future__ import annotations

from analyzer.model import Reason, Site
from analyzer.model.rules import (CONSUME, INCOMPLETE, REASONED, UNSPECIFIED, class_counts,
                                  has_reason, index_in_subsystem, is_bound, is_bound_name,
                                  is_sentinel, shown_unspecified, site_class, subsystem_of)


def site(reasons=(), complete=True, kind="drop", cause=None):
    return Site("net/x.c", 1, 1, "f", "kfree_skb_reason", kind, "r", tuple(reasons), "variable",
                complete, cause)


def test_site_classes_partition_the_drops():
    cases = {
        site(("NO_SOCKET",)): REASONED,
        site(("NOT_SPECIFIED", "NO_SOCKET")): REASONED,
        site(("NO_SOCKET",), complete=False, cause="struct field"): INCOMPLETE,
        site(("NOT_SPECIFIED",)): UNSPECIFIED,
        site(()): UNSPECIFIED,
        # an incomplete, empty set: no specific reason can be shown -> unspecified
        site((), complete=False, cause="struct field x->reason"): UNSPECIFIED,
        site(("NOT_SPECIFIED",), complete=False, cause="param"): UNSPECIFIED,
        site(("CONSUMED",), kind="consume"): CONSUME,
    }
    for s, cls in cases.items():
        assert site_class(s) == cls, s
    c = class_counts(cases)
    assert c == {REASONED: 2, INCOMPLETE: 1, UNSPECIFIED: 4, CONSUME: 1}
    assert sum(has_reason(s) for s in cases) == c[REASONED] + c[INCOMPLETE]
    # check claims NOT_SPECIFIED only where the set is complete
    assert [shown_unspecified(s) for s in cases].count(True) == 2


def test_sentinels_and_bounds():
    def r(name, value, sub="core"):
        return Reason(name, name, value, sub, "", "h", 1)
    assert is_sentinel(r("SKB_DROP_REASON_MAX", 80)) and is_bound(r("SKB_DROP_REASON_MAX", 80))
    assert is_sentinel(r("SKB_CONSUMED", 1)) and not is_bound(r("SKB_CONSUMED", 1))
    assert is_sentinel(r("SKB_NOT_DROPPED_YET", 0))
    assert not is_sentinel(r("SKB_DROP_REASON_NO_SOCKET", 3))
    assert is_bound(r("__OVS_DROP_REASON", 3 << 16, "openvswitch"))
    assert is_bound(r("OVS_DROP_MAX", (3 << 16) + 9, "openvswitch"))
    # a public base slot is a reason ([0] of the kernel's MAC80211_MONITOR name table);
    # a private one (leading underscore) is a bound
    assert not is_bound(r("RX_DROP_MONITOR", 2 << 16, "mac80211"))
    assert is_bound(r("___RX_DROP_UNUSABLE", 1 << 16, "mac80211"))
    assert is_bound(r("RX_CONTINUE", 1, "mac80211"))                     # subsystem 0
    assert not is_bound(r("OVS_DROP_LAST_ACTION", (3 << 16) + 1, "openvswitch"))
    # the tree's shift decides
    assert is_bound(r("_FOO_BASE", 2 << 8, "foo"), shift=8)
    assert not is_bound(r("FOO_A", (2 << 8) + 1, "foo"), shift=8)
    assert is_bound_name("SKB_DROP_REASON_SUBSYS_NUM")


def test_subsystem_of_uses_the_shift():
    assert subsystem_of((3 << 16) + 2) == 3 and index_in_subsystem((3 << 16) + 2) == 2
    assert subsystem_of((3 << 8) + 2, 8) == 3 and index_in_subsystem((3 << 8) + 2, 8) == 2
