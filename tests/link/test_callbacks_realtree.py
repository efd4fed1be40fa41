"""Issue 12, idiom 5 on Debian 6.12 (and 6.1): callbacks keep their drop as a site, a
"small wrapper" is small at every depth, and the reasons the code uses but no site
produces are listed with a cause (summary.reasons_unresolved).

Expected sites are read by hand from the 6.12.117 source:
  * net/ipv4/arp.c:297 `kfree_skb_reason(skb, SKB_DROP_REASON_NEIGH_FAILED)` in
    arp_error_report(), which is only reached through `arp_generic_ops.error_report`
    / `arp_hh_ops.error_report` (lines 133, 141): no call site names it;
  * net/ipv6/ndisc.c:736 `kfree_skb(skb)` in ndisc_error_report() (`.error_report`);
  * net/atm/clip.c:290 `kfree_skb(skb)` in clip_neigh_error() (`.error_report`, 296);
  * drivers/infiniband/hw/cxgb4/cm.c:478 `kfree_skb(skb)` in arp_failure_discard()
    (passed to t4_set_arp_err_handler());
  * drivers/net/wireless/ath/ath10k/htc.c:22 `kfree_skb(skb)` in
    ath10k_htc_control_tx_complete() (`conn_req.ep_ops.ep_tx_complete = …`, 1308);
  * net/llc/llc_station.c:115 `kfree_skb(skb)` in llc_station_rcv()
    (`llc_set_station_handler(llc_station_rcv)`);
  * net/lapb/lapb_in.c: lapb_state0/1/2/4_machine() are 55-70 line functions, a switch on
    the frame type then `kfree_skb(skb)` (lines 103, 179, 239, 527): not wrappers, their
    frees are sites and lapb_data_input()'s calls of them (544-552) are not.
"""
from __future__ import annotations

import os
import re

import pytest

pytestmark = pytest.mark.realtree

CALLBACK_SITES_612 = {
    ("net/ipv4/arp.c", 297, "arp_error_report", "kfree_skb_reason", ("NEIGH_FAILED",)),
    ("net/ipv6/ndisc.c", 736, "ndisc_error_report", "kfree_skb", ("NOT_SPECIFIED",)),
    ("net/atm/clip.c", 290, "clip_neigh_error", "kfree_skb", ("NOT_SPECIFIED",)),
    ("drivers/infiniband/hw/cxgb4/cm.c", 478, "arp_failure_discard", "kfree_skb", ("NOT_SPECIFIED",)),
    ("drivers/net/wireless/ath/ath10k/htc.c", 22, "ath10k_htc_control_tx_complete", "kfree_skb",
     ("NOT_SPECIFIED",)),
    ("net/llc/llc_station.c", 115, "llc_station_rcv", "kfree_skb", ("NOT_SPECIFIED",)),
}
LAPB_612 = {("net/lapb/lapb_in.c", 103, "lapb_state0_machine"),
            ("net/lapb/lapb_in.c", 179, "lapb_state1_machine"),
            ("net/lapb/lapb_in.c", 239, "lapb_state2_machine"),
            ("net/lapb/lapb_in.c", 527, "lapb_state4_machine")}


def test_callback_wrappers_keep_their_site_612(analysis_612):
    got = {(s.file, s.line, s.function, s.callee, s.reasons) for s in analysis_612.sites
           if s.kind == "drop" and s.complete}
    assert CALLBACK_SITES_612 <= got


def test_explain_neigh_failed_names_arp_error_report(analysis_612):
    from analyzer.commands.explain import Index, reason_report
    ix = Index(analysis_612)
    rep = reason_report(ix, ix.decode("NEIGH_FAILED"))
    assert ("net/ipv4/arp.c", 297, "arp_error_report") in {
        (s["file"], s["line"], s["function"]) for s in rep["sites"]}


def test_state_machines_are_not_wrappers_612(analysis_612):
    family = {m.name for m in analysis_612.family}
    assert not {"lapb_state0_machine", "lapb_state1_machine", "lapb_state2_machine",
                "lapb_state4_machine", "mt7915_mac_fill_rx_vector"} & family
    got = {(s.file, s.line, s.function) for s in analysis_612.sites
           if s.kind == "drop" and s.callee == "kfree_skb"}
    assert LAPB_612 <= got
    assert not [s for s in analysis_612.sites if s.callee.startswith("lapb_state")]
    # the small ones stay members (their callers are the sites)
    assert {"arp_error_report", "llc_station_rcv", "dev_kfree_skb_any", "kfree_skb",
            "ndisc_error_report", "tcp_drop_reason"} <= family


def test_rx_drop_monitor_is_in_the_catalogue_612(analysis_612):
    r = {r.name: r for r in analysis_612.reasons}["RX_DROP_MONITOR"]
    assert (r.value, r.subsystem) == (0x20000, "mac80211_monitor")


@pytest.mark.parametrize("version", ["6.1", "6.12"])
def test_reasons_unresolved_are_honest(request, version):
    """Every unresolved reason is produced by no site and named in the .c files it lists
    (checked with a plain text search of the tree); never_produced counts the rest of the
    unproduced reasons, which no .c file names."""
    a = request.getfixturevalue("analysis_" + version.replace(".", ""))
    root = request.getfixturevalue("root_" + version.replace(".", ""))
    real = {r.short: r for r in a.reasons
            if r.name not in ("SKB_NOT_DROPPED_YET", "SKB_CONSUMED", "SKB_DROP_REASON_MAX",
                              "SKB_DROP_REASON_SUBSYS_MASK")}
    produced = {r for s in a.sites for r in s.reasons}
    unproduced = set(real) - produced
    un = {u.reason: u for u in a.summary.reasons_unresolved}
    assert set(un) <= unproduced
    assert a.summary.reasons_never_produced == len(unproduced) - len(un)
    for short, u in un.items():
        assert u.cause and u.files and all(f.endswith(".c") for f in u.files)
        name = real[short].name
        text = open(os.path.join(root, u.files[0]), encoding="utf-8", errors="replace").read()
        tail = name[len("SKB_DROP_REASON_"):] if name.startswith("SKB_DROP_REASON_") else name
        # the enumerator, SKB_DR_SET's short name, or a pasting macro's argument
        # (sch_fq.c: `FQDR(BAND_LIMIT)` for SKB_DROP_REASON_FQ_BAND_LIMIT)
        pasted = "|".join(r"\w+\(\s*" + re.escape("_".join(name.split("_")[i:])) + r"\s*\)"
                          for i in range(1, name.count("_") + 1))
        assert re.search(r"\b(" + re.escape(name) + "|" + re.escape(tail) + ")\\b|" + pasted,
                         text), (short, u.files[0])


def test_pasted_reasons_count_as_used_612(analysis_612):
    """sch_fq.c names FQ_FLOW_LIMIT & co. through its own `#define FQDR(reason)
    SKB_DROP_REASON_FQ_##reason`: used in code, so produced or unresolved, never 'never
    produced'."""
    a = analysis_612
    produced = {r for s in a.sites for r in s.reasons}
    un = {u.reason for u in a.summary.reasons_unresolved}
    for short in ("FQ_FLOW_LIMIT", "FQ_HORIZON_LIMIT", "FQ_BAND_LIMIT", "TC_COOKIE_ERROR",
                  "QDISC_DROP", "RX_DROP_U_MIC_FAIL"):
        assert short in produced or short in un, short
