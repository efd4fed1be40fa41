"""A small hand-made Analysis for the explain tests, modelled on Linux 6.12.117.

Every site, line and reason set below was read from the Debian 6.12.117 tree
(~/.cache/skbdrop/debian/tree-6.12/linux-source-6.12); the reason sets are what a
path-insensitive reason analysis gives (the union of the assignments that reach the
call). It lets the explain tests run without a scan; the real-tree tests check the
same expectations against the scanner's own Analysis, and
tests/commands/test_explain_fixture.py checks every site and node against the 6.12 source.
"""
from __future__ import annotations

import json
import os

from analyzer.model import (Analysis, CallGraph, Edge, KernelInfo, Node, Reason, Site,
                            Subsystem)

from helpers import FIXTURES

EXPECTED_618 = os.path.join(FIXTURES, "layouts", "6.18", "expected.json")


def catalogue(version: str = "6.18") -> tuple[tuple[Reason, ...], tuple[Subsystem, ...]]:
    """Reasons and subsystems of the 6.18.44 fixture (gcc values, see its expected.json)."""
    with open(EXPECTED_618) as f:
        exp = json.load(f)
    subs = []
    short_of = {}
    for enum, sid in exp["subsystems"].items():
        if enum.endswith("_NUM"):
            continue
        short = enum[len("SKB_DROP_REASON_SUBSYS_"):].lower()
        short = {"mac80211_unusable": "mac80211_unusable", "openvswitch": "openvswitch"}.get(short, short)
        short_of[sid] = short
        subs.append(Subsystem(short, enum, sid, "include/net/dropreason.h", 0))
    reasons = []
    for name, v in exp["reasons"].items():
        if name.endswith("_MAX") or name.endswith("SUBSYS_MASK"):
            continue
        if name.startswith("SKB_DROP_REASON_"):
            short = name[len("SKB_DROP_REASON_"):]
        elif name.startswith("SKB_"):
            short = name[4:]
        else:
            short = name
        sub = short_of.get(v >> 16, "core")
        reasons.append(Reason(name, short, v, sub, "", "include/net/dropreason-core.h", 0))
    return tuple(sorted(reasons, key=lambda r: r.value)), tuple(sorted(subs, key=lambda s: s.id))


def _site(file, line, function, callee, arg, reasons, resolution="variable", complete=True, source=""):
    return Site(file=file, line=line, column=2, function=function, callee=callee, kind="drop",
                reason_arg=arg, reasons=tuple(reasons), resolution=resolution, complete=complete,
                source=source)


UDP4 = "net/ipv4/udp.c"
UDP6 = "net/ipv6/udp.c"

SITES = (
    # net/ipv4/udp.c
    _site(UDP4, 1660, "udp_destruct_common", "kfree_skb", None, ["NOT_SPECIFIED"], "unspecified",
          source="kfree_skb(skb);"),
    _site(UDP4, 2153, "__udp_queue_rcv_skb", "sk_skb_reason_drop", "drop_reason",
          ["SOCKET_RCVBUFF", "PROTO_MEM"], source="sk_skb_reason_drop(sk, skb, drop_reason);"),
    _site(UDP4, 2275, "udp_queue_rcv_one_skb", "sk_skb_reason_drop", "drop_reason",
          ["NOT_SPECIFIED", "SOCKET_FILTER", "UDP_CSUM", "XFRM_POLICY"],
          source="sk_skb_reason_drop(sk, skb, drop_reason);"),
    _site(UDP4, 2539, "__udp4_lib_rcv", "sk_skb_reason_drop", "drop_reason", ["NO_SOCKET"],
          source="sk_skb_reason_drop(sk, skb, drop_reason);"),
    _site(UDP4, 2564, "__udp4_lib_rcv", "sk_skb_reason_drop", "drop_reason",
          ["NOT_SPECIFIED", "PKT_TOO_SMALL", "UDP_CSUM"], source="sk_skb_reason_drop(sk, skb, drop_reason);"),
    # net/ipv6/udp.c
    _site(UDP6, 739, "__udpv6_queue_rcv_skb", "sk_skb_reason_drop", "drop_reason",
          ["SOCKET_RCVBUFF", "PROTO_MEM"], source="sk_skb_reason_drop(sk, skb, drop_reason);"),
    _site(UDP6, 842, "udpv6_queue_rcv_one_skb", "sk_skb_reason_drop", "drop_reason",
          ["NOT_SPECIFIED", "SOCKET_FILTER", "UDP_CSUM", "XFRM_POLICY"],
          source="sk_skb_reason_drop(sk, skb, drop_reason);"),
    _site(UDP6, 1099, "__udp6_lib_rcv", "sk_skb_reason_drop", "reason", ["NO_SOCKET"],
          source="sk_skb_reason_drop(sk, skb, reason);"),
    _site(UDP6, 1120, "__udp6_lib_rcv", "sk_skb_reason_drop", "reason",
          ["NOT_SPECIFIED", "PKT_TOO_SMALL", "UDP_CSUM", "NO_SOCKET"],
          source="sk_skb_reason_drop(sk, skb, reason);"),
    # TCP
    _site("net/ipv4/tcp_ipv4.c", 2393, "tcp_v4_rcv", "sk_skb_reason_drop", "drop_reason",
          ["NOT_SPECIFIED", "NO_SOCKET", "PKT_TOO_SMALL", "TCP_CSUM", "XFRM_POLICY", "TCP_MINTTL"],
          complete=False, source="sk_skb_reason_drop(sk, skb, drop_reason);"),
    _site("net/ipv6/tcp_ipv6.c", 1932, "tcp_v6_rcv", "sk_skb_reason_drop", "drop_reason",
          ["NOT_SPECIFIED", "NO_SOCKET", "PKT_TOO_SMALL", "TCP_CSUM", "XFRM_POLICY"],
          complete=False, source="sk_skb_reason_drop(sk, skb, drop_reason);"),
    # unix
    _site("net/unix/af_unix.c", 735, "unix_release_sock", "kfree_skb_reason", "SKB_DROP_REASON_SOCKET_CLOSE",
          ["SOCKET_CLOSE"], "constant", source="kfree_skb_reason(skb, SKB_DROP_REASON_SOCKET_CLOSE);"),
    # ip_input.c: ip_protocol_deliver_rcu is global, gcc inlines it into ip_local_deliver_finish
    _site("net/ipv4/ip_input.c", 219, "ip_protocol_deliver_rcu", "kfree_skb_reason",
          "SKB_DROP_REASON_IP_NOPROTO", ["IP_NOPROTO"], "constant",
          source="kfree_skb_reason(skb, SKB_DROP_REASON_IP_NOPROTO);"),
)


def _node(file, name, line, static, entry=False):
    nid = f"{file}:{name}" if static else name
    return Node(id=nid, name=name, file=file, line=line, static=static, has_sites=True, entry=entry)


NODES = (
    _node(UDP4, "udp_destruct_common", 1650, False, entry=True),
    _node(UDP4, "__udp_queue_rcv_skb", 2124, True),
    _node(UDP4, "udp_queue_rcv_one_skb", 2168, True),
    _node(UDP4, "udp_queue_rcv_skb", 2279, True),
    _node(UDP4, "udp_unicast_rcv_skb", 2437, True),
    _node(UDP4, "__udp4_lib_rcv", 2459, False),
    _node(UDP4, "udp_rcv", 2702, False, entry=True),
    _node(UDP6, "__udpv6_queue_rcv_skb", 710, True),
    _node(UDP6, "udpv6_queue_rcv_one_skb", 754, True),
    _node(UDP6, "__udp6_lib_rcv", 1000, False, entry=True),
    _node("net/ipv4/tcp_ipv4.c", "tcp_v4_rcv", 2183, False, entry=True),
    _node("net/ipv6/tcp_ipv6.c", "tcp_v6_rcv", 1730, False, entry=True),
    _node("net/unix/af_unix.c", "unix_release_sock", 674, True),
    _node("net/unix/af_unix.c", "unix_release", 1112, True, entry=True),
    _node("net/ipv4/ip_input.c", "ip_protocol_deliver_rcu", 187, False),
    _node("net/ipv4/ip_input.c", "ip_local_deliver_finish", 227, True),
    _node("net/ipv4/ip_input.c", "ip_local_deliver", 242, False, entry=True),
)

EDGES = (
    Edge(f"{UDP4}:udp_queue_rcv_one_skb", f"{UDP4}:__udp_queue_rcv_skb", UDP4, 2267, "call"),
    Edge(f"{UDP4}:udp_queue_rcv_skb", f"{UDP4}:udp_queue_rcv_one_skb", UDP4, 2285, "call"),
    Edge(f"{UDP4}:udp_unicast_rcv_skb", f"{UDP4}:udp_queue_rcv_skb", UDP4, 2445, "call"),
    Edge("__udp4_lib_rcv", f"{UDP4}:udp_unicast_rcv_skb", UDP4, 2521, "call"),
    Edge("udp_rcv", "__udp4_lib_rcv", UDP4, 2704, "call"),
    Edge(f"{UDP6}:udpv6_queue_rcv_one_skb", f"{UDP6}:__udpv6_queue_rcv_skb", UDP6, 834, "call"),
    Edge("net/unix/af_unix.c:unix_release", "net/unix/af_unix.c:unix_release_sock", "net/unix/af_unix.c",
         1120, "call"),
    Edge("net/ipv4/ip_input.c:ip_local_deliver_finish", "ip_protocol_deliver_rcu", "net/ipv4/ip_input.c",
         233, "call"),
    Edge("ip_local_deliver", "net/ipv4/ip_input.c:ip_local_deliver_finish", "net/ipv4/ip_input.c", 256, "ops"),
)


def analysis() -> Analysis:
    reasons, subs = catalogue()
    return Analysis(kernel=KernelInfo("6.12.117-fixture", "tests/helpers/explain_fixture.py", "dropreason-core"),
                    reasons=reasons, subsystems=subs, sites=SITES,
                    callgraph=CallGraph(nodes=NODES, edges=EDGES))
