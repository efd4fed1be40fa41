"""Reasons carried as values the kernel computes with (issue 12, idioms 1, 3 and 6), on
Debian's 6.12.117 and 6.1.192 trees. Expected sets are read by hand from the sources
(the lines quoted are 6.12.117's)."""
from __future__ import annotations

import os
import re


def _sites(analysis, function, callee):
    return [s for s in analysis.sites if s.function.split(":")[-1] == function and s.callee == callee]


# --- idiom 1: negated reasons --------------------------------------------------------------

def test_tcp_rcv_established_negated_reasons(analysis_612):
    # tcp_ack() (int) returns -SKB_DROP_REASON_TCP_TOO_OLD_ACK, -..._TCP_ACK_UNSENT_DATA, 0
    # or 1; tcp_rcv_established() keeps the negative part (`if ((int)reason < 0) { reason =
    # -reason; goto discard; }`); discard: is also reached with PKT_TOO_SMALL (short
    # header), TCP_FLAGS (no ack/rst/syn) and TCP_CSUM (csum_error falls into discard).
    (site,) = _sites(analysis_612, "tcp_rcv_established", "tcp_drop_reason")
    assert set(site.reasons) == {"PKT_TOO_SMALL", "TCP_FLAGS", "TCP_CSUM", "TCP_TOO_OLD_ACK",
                                 "TCP_ACK_UNSENT_DATA"}
    assert site.complete, site.cause


def test_tcp_rcv_state_process_negated_reasons(analysis_612):
    # discard: TCP_CLOSE, TCP_RESET, TCP_FLAGS, TCP_FASTOPEN (SKB_DR_SET), the negated
    # tcp_ack() reasons (`if ((int)reason < 0) { ...; reason = -reason; goto discard; }`)
    # and NOT_SPECIFIED (SKB_DR_SET(reason, NOT_SPECIFIED) before the state switch).
    (site,) = _sites(analysis_612, "tcp_rcv_state_process", "tcp_drop_reason")
    assert set(site.reasons) == {"TCP_CLOSE", "TCP_RESET", "TCP_FLAGS", "TCP_FASTOPEN",
                                 "TCP_TOO_OLD_ACK", "TCP_ACK_UNSENT_DATA", "NOT_SPECIFIED"}
    assert site.complete, site.cause


def test_tcp_v4_do_rcv_gets_returned_negation(analysis_612):
    # tcp_v4_do_rcv(): reason = tcp_child_process() (tcp_rcv_state_process() of the child)
    # or tcp_rcv_state_process(), which returns TCP_FLAGS (LISTEN with ack), `queued` when
    # tcp_rcv_synsent_state_process() returned >= 0 (its `return reason;` after
    # TCP_INVALID_ACK_SEQUENCE or TCP_RFC7323_PAWS; 0), TCP_OLD_ACK, `-reason` for a
    # negative tcp_ack() (TCP_TOO_OLD_ACK, TCP_ACK_UNSENT_DATA) and TCP_ABORT_ON_DATA;
    # csum_err: TCP_CSUM.
    (site,) = _sites(analysis_612, "tcp_v4_do_rcv", "sk_skb_reason_drop")
    assert set(site.reasons) == {"TCP_CSUM", "TCP_FLAGS", "TCP_INVALID_ACK_SEQUENCE",
                                 "TCP_RFC7323_PAWS", "TCP_OLD_ACK", "TCP_TOO_OLD_ACK",
                                 "TCP_ACK_UNSENT_DATA", "TCP_ABORT_ON_DATA"}
    assert site.complete, site.cause


def test_tcp_negated_reasons_61(analysis_61):
    # 6.1.192: the same tcp_ack()/tcp_rcv_established() shape
    (site,) = _sites(analysis_61, "tcp_rcv_established", "tcp_drop_reason")
    assert {"TCP_TOO_OLD_ACK", "TCP_ACK_UNSENT_DATA"} <= set(site.reasons)
    assert site.complete, site.cause
    produced = {r for s in analysis_61.sites for r in s.reasons}
    assert {"TCP_TOO_OLD_ACK", "TCP_ACK_UNSENT_DATA"} <= produced


# --- idiom 3: a subsystem's result type (mac80211) -----------------------------------------

def _drop_h_names(root, prefix):
    with open(os.path.join(root, "net/mac80211/drop.h"), encoding="utf-8") as f:
        return set(re.findall(r"\bR\((" + prefix + r"\w+)\)", f.read()))


def test_mac80211_rx_handlers_result(analysis_612, root_612):
    # ieee80211_rx_handlers() / ieee80211_invoke_rx_handlers(): `res = rxh(rx)` through
    # CALL_RXH (a same-file do-while macro) for every handler, `goto rxh_next` unless
    # RX_CONTINUE, then ieee80211_rx_handlers_result(rx, res) frees with
    # kfree_skb_reason(rx->skb, (__force u32)res) exactly when the value is in the
    # MAC80211_UNUSABLE subsystem (u32_get_bits(res, SKB_DROP_REASON_SUBSYS_MASK) == ...).
    # Every RX_DROP_U_* of drop.h is returned by a handler or by a function a handler
    # returns from (rx.c, wpa.c, wep.c).
    (site,) = _sites(analysis_612, "ieee80211_rx_handlers_result", "kfree_skb_reason")
    unusable = _drop_h_names(root_612, "RX_DROP_U_")
    assert len(unusable) == 46
    assert set(site.reasons) == unusable
    assert "RX_DROP_U_MIC_FAIL" in site.reasons


def test_mac80211_cooked_monitor(analysis_612, root_612):
    # the other values go on to ieee80211_rx_cooked_monitor(rx, rate, res), which frees
    # with them: RX_CONTINUE (= SKB_CONSUMED), RX_DROP_MONITOR and the RX_DROP_M_* ones;
    # RX_QUEUED returned early.
    (site,) = _sites(analysis_612, "ieee80211_rx_cooked_monitor", "kfree_skb_reason")
    monitor = _drop_h_names(root_612, "RX_DROP_M_")
    assert len(monitor) == 3
    assert {r for r in site.reasons if r.startswith("RX_DROP_")} - {"RX_DROP_MONITOR"} == monitor
    assert "CONSUMED" in site.reasons and "NOT_DROPPED_YET" not in site.reasons


def test_mac80211_reasons_all_have_sites(analysis_612, root_612):
    produced = {r for s in analysis_612.sites for r in s.reasons}
    assert _drop_h_names(root_612, "RX_DROP_") <= produced


# --- idiom 6: out-parameters through calls -------------------------------------------------

def test_sch_handle_ingress_out_parameter(analysis_612):
    # drop_reason = SKB_DROP_REASON_TC_INGRESS, then tc_run(..., &drop_reason), which on
    # TC_ACT_SHOT writes `*drop_reason = tcf_get_drop_reason(skb)` (the skb's cb: a field,
    # followed by the field idiom, not here)
    for fn, default in (("sch_handle_ingress", "TC_INGRESS"), ("sch_handle_egress", "TC_EGRESS")):
        (site,) = _sites(analysis_612, fn, "kfree_skb_reason")
        assert default in site.reasons
        assert "out-parameter" not in (site.cause or "")
