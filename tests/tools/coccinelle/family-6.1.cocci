// Every call of the kfree_skb family of Debian linux-source-6.1 (6.1.192).
// The names are read from the kernel's own definitions (not from skbdrop's output):
//   roots, which fire the skb:kfree_skb / skb:consume_skb tracepoints on an skb they
//   are given (net/core/skbuff.c): kfree_skb_reason, consume_skb,
//   __consume_stateless_skb, napi_consume_skb;
//   the generic API: kfree_skb, kfree_skb_list_reason, kfree_skb_list
//   (include/linux/skbuff.h, net/core/skbuff.c), __dev_kfree_skb_irq,
//   __dev_kfree_skb_any (take enum skb_free_reason: SKB_REASON_CONSUMED/DROPPED),
//   dev_kfree_skb (#define -> consume_skb), dev_kfree_skb_any, dev_kfree_skb_irq,
//   dev_consume_skb_any, dev_consume_skb_irq (include/linux/netdevice.h, net/core/dev.c);
//   subsystem wrappers: tcp_drop_reason (net/ipv4/tcp_input.c), NF_DROP_REASON
//   (include/linux/netfilter.h, a macro), nlmsg_free (include/net/netlink.h),
//   skb_free_datagram (net/core/datagram.c), sock_drop (include/linux/skmsg.h),
//   icmpv6_param_prob(_reason), netlink_detachskb;
//   small void functions of a few statements, no loop or switch, that end in one of
//   the above on their skb parameter: arp_error_report, ndisc_error_report, pndisc_redo,
//   clip_neigh_error, arp_failure_discard, arp_failure_skb_discard,
//   cxgbit_arp_failure_skb_discard, pass_open_abort, bl_pass_open_abort,
//   handle_excess_rx, ath9k/10k/11k HTC/WMI completion handlers, llc_station_rcv,
//   vrf_tx_error, ipoib_cm_skb_too_long, mlxsw_sp{1,2}_ptp_transmitted,
//   hns_nic_drop_rx_fetch, free_rxbuf_skb, rx_free_skb, tx_free_skb,
//   batadv_send_bcast_packet, ipc_trace_port_rx.
// Not in the family (large bodies with a switch: their kfree_skb calls are the sites):
// lapb_state0..4_machine (net/lapb/lapb_in.c), mt7915_mac_fill_rx_vector (a loop),
// mlx5e_consume_skb (nine statements: a timestamp branch before napi_consume_skb).
// Output: one line per call, FILE:LINE:COLUMN(1-based):FUNCTION:CALLEE.
@r@
identifier fn = {
  kfree_skb_reason, consume_skb, __consume_stateless_skb, napi_consume_skb,
  kfree_skb, kfree_skb_list_reason, kfree_skb_list,
  __dev_kfree_skb_irq, __dev_kfree_skb_any,
  dev_kfree_skb, dev_kfree_skb_any, dev_kfree_skb_irq, dev_consume_skb_any, dev_consume_skb_irq,
  tcp_drop_reason, NF_DROP_REASON, nlmsg_free, skb_free_datagram, sock_drop,
  icmpv6_param_prob, icmpv6_param_prob_reason, netlink_detachskb,
  arp_error_report, ndisc_error_report, pndisc_redo, clip_neigh_error, arp_failure_discard,
  arp_failure_skb_discard, cxgbit_arp_failure_skb_discard, pass_open_abort,
  bl_pass_open_abort, handle_excess_rx,
  ath9k_htc_beaconep, ath9k_wmi_ctrl_tx,
  ath10k_htc_control_tx_complete, ath10k_htc_pktlog_process_rx, ath10k_htt_hif_tx_complete,
  ath10k_htt_rx_pktlog_completion_handler, ath10k_wmi_htc_tx_complete,
  ath11k_dp_htt_htc_tx_complete, ath11k_htc_control_rx_complete, ath11k_htc_control_tx_complete,
  llc_station_rcv, vrf_tx_error, ipoib_cm_skb_too_long, mlxsw_sp1_ptp_transmitted,
  mlxsw_sp2_ptp_transmitted, hns_nic_drop_rx_fetch, free_rxbuf_skb, rx_free_skb, tx_free_skb,
  batadv_send_bcast_packet, ipc_trace_port_rx
};
position p;
@@
fn@p(...)

@script:python@
fn << r.fn;
p << r.p;
@@
for q in p:
    print("%s:%s:%d:%s:%s" % (q.file, q.line, int(q.column) + 1, q.current_element, fn))
