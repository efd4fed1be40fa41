"""Issue 12, idioms 2 and 4 on Debian's real trees: reasons stored in an object and read
back at the free, and reasons returned through function pointers. Every expected set
below was read by hand from the Debian sources (6.12.117 and 6.1.192)."""
from __future__ import annotations


def _sites(analysis, function, callee=None):
    return sorted((s for s in analysis.sites if s.function == function
                   and (callee is None or s.callee == callee)), key=lambda s: s.line)


# tc_skb_cb(skb)->drop_reason in 6.12 (include/net/sch_generic.h): written only by
# tcf_set_drop_reason(skb, r), whose callers are
#   net/core/dev.c      __dev_xmit_skb: QDISC_DROP; tc_run: *drop_reason, i.e. what
#                       sch_handle_ingress/egress pointed it at (TC_INGRESS, TC_EGRESS)
#   net/sched/cls_api.c TC_COOKIE_ERROR (4x), TC_RECLASSIFY_LOOP, TC_CHAIN_NOTFOUND, NOMEM
#   net/sched/act_api.c TC_CHAIN_NOTFOUND
#   qdisc_drop_reason(skb, sch, to_free, r) (sch_generic.h), whose only callers are in
#   net/sched/sch_fq.c: FQDR(BAND_LIMIT), FQDR(HORIZON_LIMIT), FQDR(FLOW_LIMIT), with
#   `#define FQDR(reason) SKB_DROP_REASON_FQ_##reason`
TC_CB_612 = {"QDISC_DROP", "TC_INGRESS", "TC_EGRESS", "TC_COOKIE_ERROR", "TC_RECLASSIFY_LOOP",
             "TC_CHAIN_NOTFOUND", "NOMEM", "FQ_BAND_LIMIT", "FQ_HORIZON_LIMIT", "FQ_FLOW_LIMIT"}


def test_dev_xmit_skb_reads_the_tc_cb(analysis_612):
    # both `kfree_skb_list_reason(to_free, tcf_get_drop_reason(to_free))` of __dev_xmit_skb
    sites = _sites(analysis_612, "__dev_xmit_skb", "kfree_skb_list_reason")
    assert [s.file for s in sites] == ["net/core/dev.c"] * 2
    for s in sites:
        assert (set(s.reasons), s.complete) == (TC_CB_612, True), s


def test_sch_handle_ingress_egress_612(analysis_612):
    # drop_reason = TC_INGRESS (TC_EGRESS); tc_run() overwrites it with
    # tcf_get_drop_reason(skb) on TC_ACT_SHOT: the variable's own default plus the field
    for func in ("sch_handle_ingress", "sch_handle_egress"):
        (s,) = _sites(analysis_612, func, "kfree_skb_reason")
        assert (set(s.reasons), s.complete) == (TC_CB_612, True), s


def test_sch_handle_ingress_egress_61(analysis_61):
    # 6.1: kfree_skb_reason(skb, tcf_get_drop_reason(skb) ?: SKB_DROP_REASON_TC_EGRESS);
    # tcf_set_drop_reason() (include/net/pkt_cls.h) is called with TC_EGRESS and
    # TC_INGRESS in net/core/dev.c and TC_CHAIN_NOTFOUND in net/sched/act_api.c
    for func in ("sch_handle_ingress", "sch_handle_egress"):
        (s,) = _sites(analysis_61, func, "kfree_skb_reason")
        assert (set(s.reasons), s.complete) == ({"TC_INGRESS", "TC_EGRESS", "TC_CHAIN_NOTFOUND"},
                                                True), s


def test_deferred_free_stays_right(analysis_612):
    # dev_kfree_skb_irq_reason() stores its reason in get_kfree_skb_cb(skb)->reason
    # (struct dev_kfree_skb_cb) and queues the skb; it stays a "deferred" member whose
    # callers are the sites, and the one reader outside the family, net_tx_action ->
    # __napi_kfree_skb -> skb_release_data's frag-list free, now sees what the callers
    # store (dev_kfree_skb_irq(): NOT_SPECIFIED, dev_consume_skb_irq(): CONSUMED,
    # dev_kfree_skb_any_reason()'s callers) and is complete.
    fam = {m.name: m for m in analysis_612.family}
    m = fam["dev_kfree_skb_irq_reason"]
    assert (m.via, m.reason_param, m.skb_param) == ("deferred", 1, 0)
    assert not _sites(analysis_612, "dev_kfree_skb_irq_reason")
    assert not _sites(analysis_612, "net_tx_action")
    (s,) = _sites(analysis_612, "skb_release_data", "kfree_skb_list_reason")
    assert s.complete and {"NOT_SPECIFIED", "CONSUMED", "QDISC_DROP"} <= set(s.reasons)


def test_icmp_rcv_through_the_handler_table(analysis_612, analysis_61):
    # icmp_rcv (net/ipv4/icmp.c): reason = NOT_SPECIFIED; XFRM_POLICY; ICMP_CSUM;
    # UNHANDLED_PROTO; INVALID_PROTO; icmp_echo() (EXT_ECHO: never a drop) and ping_rcv()
    # (NO_SOCKET, NOMEM, and __ping_queue_rcv_skb -> sock_queue_rcv_skb_reason:
    # SOCKET_FILTER, SOCKET_RCVBUFF, PROTO_MEM); then
    # `reason = icmp_pointers[icmph->type].handler(skb)`, .handler of struct icmp_control
    # being `enum skb_drop_reason (*handler)(struct sk_buff *)`, assigned ping_rcv,
    # icmp_discard (nothing), icmp_unreach (IP_INHDR, NOT_SPECIFIED), icmp_redirect
    # (PKT_TOO_SMALL, NOMEM), icmp_echo, icmp_timestamp (PKT_TOO_SMALL). Same in 6.1.
    want = {"NOT_SPECIFIED", "XFRM_POLICY", "ICMP_CSUM", "UNHANDLED_PROTO", "INVALID_PROTO",
            "NO_SOCKET", "NOMEM", "SOCKET_FILTER", "SOCKET_RCVBUFF", "PROTO_MEM",
            "IP_INHDR", "PKT_TOO_SMALL"}
    for analysis in (analysis_612, analysis_61):
        (s,) = _sites(analysis, "icmp_rcv", "kfree_skb_reason")
        assert (set(s.reasons), s.complete) == (want, True), s
