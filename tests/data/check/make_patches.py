#!/usr/bin/env python3
"""Write the hand-made test patches of tests/commands/test_check_patches.py.

Each patch is a small edit of a real file of Debian's linux-source-6.12 (6.12.117)
or linux-source-6.1 (6.1.192, the "61-" patches),
written as a ``git format-patch`` mail whose message says what ``skbdrop check`` must
report ("Expect: CODE FILE:LINE FUNCTION", no Expect line for a clean patch). The
expectations come from reading the code around each edit (see the notes); the line
numbers are computed here from the edited text. Rerun after changing an edit:

    python3 tests/data/check/make_patches.py [ROOT-6.12 [ROOT-6.1]]
"""
from __future__ import annotations

import difflib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def edit(root: str, path: str, changes: list[tuple[str, str]]) -> tuple[str, str]:
    with open(os.path.join(root, path), encoding="utf-8") as f:
        old = f.read()
    new = old
    for a, b in changes:
        n = new.count(a)
        if n != 1:
            raise SystemExit(f"{path}: {a[:50]!r} found {n} times")
        new = new.replace(a, b)
    return old, new


def line_of(text: str, marker: str) -> int:
    hits = [i for i, ln in enumerate(text.split("\n"), 1) if marker in ln]
    if len(hits) != 1:
        raise SystemExit(f"marker {marker!r} found on {len(hits)} lines")
    return hits[0]


def line_eq(text: str, line: str) -> int:
    hits = [i for i, ln in enumerate(text.split("\n"), 1) if ln == line]
    if len(hits) != 1:
        raise SystemExit(f"line {line!r} found {len(hits)} times")
    return hits[0]


def diff(path: str, old: str, new: str) -> str:
    body = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                        f"a/{path}", f"b/{path}", n=3))
    return f"diff --git a/{path} b/{path}\n{body}"


def mail(subject: str, note: str, expect: list[str], diffs: list[str],
         base: str = "debian:6.12") -> str:
    lines = ["From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001",
             "From: skbdrop tests <tests@skbdrop.invalid>",
             f"Subject: [PATCH] {subject}", "", note.strip(), "", f"Base: {base}"]
    lines += [f"Expect: {e}" for e in expect]
    lines += ["---", ""]
    return "\n".join(lines) + "".join(diffs) + "-- \n2.39.5\n\n"


def main(root: str, root61: str) -> None:
    out: dict[str, str] = {}
    UDP, ARP, EXT = "net/ipv4/udp.c", "net/ipv4/arp.c", "net/ipv6/exthdrs.c"
    CORE, SUB, DUMMY = "include/net/dropreason-core.h", "include/net/dropreason.h", "drivers/net/dummy.c"
    VX = "drivers/net/vxlan/vxlan_core.c"

    # 1. a plain kfree_skb() added to __udp4_lib_rcv, which sets drop_reason on its
    #    other paths (UDP_CSUM, PKT_TOO_SMALL, NO_SOCKET at its labels)
    o, n = edit(root, UDP, [("\tif (udp4_csum_init(skb, uh, proto))\n\t\tgoto csum_error;\n",
                             "\tif (udp4_csum_init(skb, uh, proto))\n\t\tgoto csum_error;\n\n"
                             "\tif (unlikely(skb->pkt_type == PACKET_LOOPBACK)) {\n"
                             "\t\tkfree_skb(skb);\t/* looped back */\n\t\treturn 0;\n\t}\n")])
    out["new-unspecified-udp"] = mail(
        "udp: drop looped-back packets early",
        "A new drop in __udp4_lib_rcv() with plain kfree_skb(): NOT_SPECIFIED.",
        [f"SKBDROP_NEW_UNSPECIFIED {UDP}:{line_of(n, 'looped back */')} __udp4_lib_rcv"],
        [diff(UDP, o, n)])

    # 2. dev_kfree_skb_any() in a driver's xmit: a NOT_SPECIFIED drop (dev_kfree_skb()
    #    just below is a consume in 6.x and is not a finding)
    o, n = edit(root, DUMMY, [("\tdev_lstats_add(dev, skb->len);\n",
                               "\tif (unlikely(!skb->len)) {\n\t\tdev_kfree_skb_any(skb);\t/* empty */\n"
                               "\t\treturn NETDEV_TX_OK;\n\t}\n\tdev_lstats_add(dev, skb->len);\n")])
    out["new-unspecified-driver"] = mail(
        "dummy: drop empty frames",
        "dev_kfree_skb_any() reports NOT_SPECIFIED; dummy_xmit() has no other drop.",
        [f"SKBDROP_NEW_UNSPECIFIED {DUMMY}:{line_of(n, '/* empty */')} dummy_xmit"],
        [diff(DUMMY, o, n)])

    # 3. an explicit NOT_SPECIFIED is as unspecific as kfree_skb()
    o, n = edit(root, EXT, [("disabled:\n\tkfree_skb_reason(skb, SKB_DROP_REASON_IPV6DISABLED);\n",
                             "disabled:\n\tkfree_skb_reason(skb, SKB_DROP_REASON_IPV6DISABLED);\n"
                             "\treturn -1;\n\nunused:\n"
                             "\tkfree_skb_reason(skb, SKB_DROP_REASON_NOT_SPECIFIED);\n")])
    out["new-not-specified"] = mail(
        "ipv6: exthdrs: add an unused drop label",
        "A second drop in ipv6_rthdr_rcv() passing SKB_DROP_REASON_NOT_SPECIFIED.",
        [f"SKBDROP_NEW_UNSPECIFIED {EXT}:{line_of(n, 'SKB_DROP_REASON_NOT_SPECIFIED')} "
         "ipv6_rthdr_rcv"],
        [diff(EXT, o, n)])

    # 4. arp_error_report() drops with NEIGH_FAILED; the patch makes it plain kfree_skb()
    #    (NEIGH_FAILED stays produced by __neigh_event_send, so nothing is orphaned)
    o, n = edit(root, ARP, [("\tkfree_skb_reason(skb, SKB_DROP_REASON_NEIGH_FAILED);\n}",
                             "\tkfree_skb(skb);\n}")])
    out["became-unspecified"] = mail(
        "arp: simplify arp_error_report",
        "The drop loses its reason NEIGH_FAILED.",
        [f"SKBDROP_BECAME_UNSPECIFIED {ARP}:{line_eq(n, 'static void arp_error_report(struct neighbour *neigh, struct sk_buff *skb)') + 3} "
         "arp_error_report"],
        [diff(ARP, o, n)])

    # 5. ipv6_rthdr_rcv()'s "disabled" drop changes IPV6DISABLED to IP_INHDR
    #    (IPV6DISABLED is still produced in ip6_output.c: not orphaned)
    o, n = edit(root, EXT, [("disabled:\n\tkfree_skb_reason(skb, SKB_DROP_REASON_IPV6DISABLED);\n",
                             "disabled:\n\tkfree_skb_reason(skb, SKB_DROP_REASON_IP_INHDR);\n")])
    out["reasons-lost"] = mail(
        "ipv6: exthdrs: report disabled routing headers as bad headers",
        "The site loses IPV6DISABLED.",
        [f"SKBDROP_REASONS_LOST {EXT}:{line_of(n, 'disabled:') + 1} ipv6_rthdr_rcv"],
        [diff(EXT, o, n)])

    # 5b. ping_rcv() (ping.c) starts from NOT_SPECIFIED instead of NO_SOCKET; icmp_rcv()
    #     (icmp.c, not in the patch) drops what ping_rcv() returns, directly on its
    #     ICMP_EXT_ECHOREPLY path and through the icmp_pointers[] handler table
    #     (.handler = ping_rcv), and NO_SOCKET reached its drop only that way; so does
    #     icmpv6_rcv() (net/ipv6/icmp.c), whose two ping_rcv() calls were its only NO_SOCKET.
    #     (NOMEM would not do: icmp_redirect() returns it too, through the table.)
    PING, ICMP, ICMP6 = "net/ipv4/ping.c", "net/ipv4/icmp.c", "net/ipv6/icmp.c"
    o, n = edit(root, PING, [("\tenum skb_drop_reason reason = SKB_DROP_REASON_NO_SOCKET;\n",
                              "\tenum skb_drop_reason reason = SKB_DROP_REASON_NOT_SPECIFIED;\n")])
    with open(os.path.join(root, ICMP), encoding="utf-8") as f:
        icmp = f.read()
    drop = line_eq(icmp, "\tkfree_skb_reason(skb, reason);")
    with open(os.path.join(root, ICMP6), encoding="utf-8") as f:
        icmp6 = f.read()
    drop6 = line_eq(icmp6, "\t\tkfree_skb_reason(skb, reason);")
    out["reasons-lost-through-callee"] = mail(
        "ping: do not report NO_SOCKET",
        "The drops in icmp_rcv() and icmpv6_rcv(), outside the patch, lose NO_SOCKET.",
        [f"SKBDROP_REASONS_LOST {ICMP}:{drop} icmp_rcv",
         f"SKBDROP_REASONS_LOST {ICMP6}:{drop6} icmpv6_rcv"],
        [diff(PING, o, n)])

    # 6. a new reason at the end of the core list, no kernel-doc, no user
    o, n = edit(root, CORE, [("\tFN(LOCAL_MAC)\t\t\t\\\n", "\tFN(LOCAL_MAC)\t\t\t\\\n\tFN(FOO_BAR)\t\t\t\\\n"),
                             ("\tSKB_DROP_REASON_LOCAL_MAC,\n",
                              "\tSKB_DROP_REASON_LOCAL_MAC,\n\tSKB_DROP_REASON_FOO_BAR,\n")])
    ln = line_of(n, "SKB_DROP_REASON_FOO_BAR,")
    out["new-reason-undocumented-unused"] = mail(
        "net: add drop reason FOO_BAR",
        "No kernel-doc comment, and no site produces it.",
        [f"SKBDROP_UNDOCUMENTED_REASON {CORE}:{ln} -", f"SKBDROP_UNUSED_REASON {CORE}:{ln} -"],
        [diff(CORE, o, n)])
    core_new_doc = edit(root, CORE, [
        ("\tFN(LOCAL_MAC)\t\t\t\\\n", "\tFN(LOCAL_MAC)\t\t\t\\\n\tFN(UDP_LOOPBACK)\t\t\\\n"),
        ("\tSKB_DROP_REASON_LOCAL_MAC,\n",
         "\tSKB_DROP_REASON_LOCAL_MAC,\n\t/** @SKB_DROP_REASON_UDP_LOOPBACK: looped back UDP packet */\n"
         "\tSKB_DROP_REASON_UDP_LOOPBACK,\n")])

    # 7. clean: the same reason documented, and used by the new drop in udp.c
    uo, un = edit(root, UDP, [("\tif (udp4_csum_init(skb, uh, proto))\n\t\tgoto csum_error;\n",
                               "\tif (udp4_csum_init(skb, uh, proto))\n\t\tgoto csum_error;\n\n"
                               "\tif (unlikely(skb->pkt_type == PACKET_LOOPBACK)) {\n"
                               "\t\tkfree_skb_reason(skb, SKB_DROP_REASON_UDP_LOOPBACK);\n"
                               "\t\treturn 0;\n\t}\n")])
    out["clean-new-reason-used"] = mail(
        "udp: drop looped-back packets with their own reason",
        "A documented reason at the end of the list, used by the new drop.",
        [], [diff(CORE, *core_new_doc), diff(UDP, uo, un)])

    # 8. the same as a series of two: reason first, user second (clean as a series)
    out["series-reason-then-user"] = (
        mail("net: add drop reason UDP_LOOPBACK", "Patch 1/2.", [], [diff(CORE, *core_new_doc)])
        + mail("udp: use SKB_DROP_REASON_UDP_LOOPBACK", "Patch 2/2.", [], [diff(UDP, uo, un)]))

    # 9. removing LOCAL_MAC (and its one producer in vxlan) changes what user space sees
    o, n = edit(root, CORE, [("\tFN(LOCAL_MAC)\t\t\t\\\n", ""),
                             ("\t/**\n\t * @SKB_DROP_REASON_LOCAL_MAC: the source MAC address is equal to\n"
                              "\t * the MAC address of the local netdev.\n\t */\n"
                              "\tSKB_DROP_REASON_LOCAL_MAC,\n", "")])
    vo, vn = edit(root, VX, [("\t\treturn SKB_DROP_REASON_LOCAL_MAC;\n",
                              "\t\treturn SKB_DROP_REASON_VXLAN_INVALID_HDR;\n")])
    out["reason-removed"] = mail(
        "net: remove drop reason LOCAL_MAC",
        "REMOVED is reported at the removed enumerator (old file's line).",
        [f"SKBDROP_REASON_REMOVED {CORE}:{line_of(o, 'SKB_DROP_REASON_LOCAL_MAC,')} -"],
        [diff(CORE, o, n), diff(VX, vo, vn)])

    # 10. renaming TUNNEL_TXINFO (same value) and its user in vxlan
    o, n = edit(root, CORE, [("\tFN(TUNNEL_TXINFO)\t\t\\\n", "\tFN(TUNNEL_NO_TXINFO)\t\t\\\n"),
                             ("@SKB_DROP_REASON_TUNNEL_TXINFO:", "@SKB_DROP_REASON_TUNNEL_NO_TXINFO:"),
                             ("\tSKB_DROP_REASON_TUNNEL_TXINFO,\n", "\tSKB_DROP_REASON_TUNNEL_NO_TXINFO,\n")])
    vo, vn = edit(root, VX, [("SKB_DROP_REASON_TUNNEL_TXINFO);", "SKB_DROP_REASON_TUNNEL_NO_TXINFO);")])
    out["reason-renamed"] = mail(
        "net: rename TUNNEL_TXINFO",
        "Same value, new name: RENAMED at the new enumerator.",
        [f"SKBDROP_REASON_RENAMED {CORE}:{line_of(n, 'SKB_DROP_REASON_TUNNEL_NO_TXINFO,')} -"],
        [diff(CORE, o, n), diff(VX, vo, vn)])

    # 11. a documented reason inserted in the middle (after UDP_CSUM), used by udp.c:
    #     every later core reason moves by one
    o, n = edit(root, CORE, [("\tFN(UDP_CSUM)\t\t\t\\\n", "\tFN(UDP_CSUM)\t\t\t\\\n\tFN(UDP_LOOPBACK)\t\t\\\n"),
                             ("\tSKB_DROP_REASON_UDP_CSUM,\n",
                              "\tSKB_DROP_REASON_UDP_CSUM,\n"
                              "\t/** @SKB_DROP_REASON_UDP_LOOPBACK: looped back UDP packet */\n"
                              "\tSKB_DROP_REASON_UDP_LOOPBACK,\n")])
    out["reasons-renumbered"] = mail(
        "udp: add UDP_LOOPBACK next to UDP_CSUM",
        "One RENUMBERED finding for the core list, at the inserted enumerator.",
        [f"SKBDROP_REASON_RENUMBERED {CORE}:{line_of(n, 'SKB_DROP_REASON_UDP_LOOPBACK,')} -"],
        [diff(CORE, o, n), diff(UDP, uo, un)])

    # 12. a new subsystem id before the existing ones: mac80211 (two ids) and
    #     openvswitch move, and so do all their reasons
    o, n = edit(root, SUB, [("\tSKB_DROP_REASON_SUBSYS_CORE,\n",
                             "\tSKB_DROP_REASON_SUBSYS_CORE,\n\n"
                             "\t/** @SKB_DROP_REASON_SUBSYS_FOO: foo drop reasons */\n"
                             "\tSKB_DROP_REASON_SUBSYS_FOO,\n")])
    out["subsys-renumbered"] = mail(
        "net: add a FOO drop reason subsystem",
        "SUBSYS_CHANGED for each moved subsystem; their reasons are renumbered.",
        [f"SKBDROP_SUBSYS_CHANGED {SUB}:{line_of(n, x + ',')} -" for x in
         ("SKB_DROP_REASON_SUBSYS_MAC80211_UNUSABLE", "SKB_DROP_REASON_SUBSYS_MAC80211_MONITOR",
          "SKB_DROP_REASON_SUBSYS_OPENVSWITCH")],
        [diff(SUB, o, n)])

    # 13. the enum gains a documented reason the X-macro does not list
    o, n = edit(root, CORE, [("\tSKB_DROP_REASON_LOCAL_MAC,\n",
                              "\tSKB_DROP_REASON_LOCAL_MAC,\n"
                              "\t/** @SKB_DROP_REASON_UDP_LOOPBACK: looped back UDP packet */\n"
                              "\tSKB_DROP_REASON_UDP_LOOPBACK,\n")])
    out["catalogue-mismatch"] = mail(
        "net: add UDP_LOOPBACK (enum only)",
        "The tracepoint's name list (DEFINE_DROP_REASON) misses the new reason.",
        [f"SKBDROP_CATALOGUE_MISMATCH {CORE}:{line_of(n, 'SKB_DROP_REASON_UDP_LOOPBACK,')} -"],
        [diff(CORE, o, n), diff(UDP, uo, un)])

    # 14. clean: a comment
    o, n = edit(root, UDP, [("\tif (udp4_csum_init(skb, uh, proto))\n\t\tgoto csum_error;\n",
                             "\t/* checksum before the socket lookup */\n"
                             "\tif (udp4_csum_init(skb, uh, proto))\n\t\tgoto csum_error;\n")])
    out["clean-comment"] = mail("udp: comment", "Nothing changes.", [], [diff(UDP, o, n)])

    # 15. clean: arp_error_report() keeps its drop, now with a different comment line
    #     and an unchanged reason; plus a consume added in dummy_xmit's path
    o, n = edit(root, DUMMY, [("\tskb_tx_timestamp(skb);\n\tdev_kfree_skb(skb);\n",
                               "\tskb_tx_timestamp(skb);\n\tconsume_skb(skb);\n")])
    out["clean-consume"] = mail("dummy: consume_skb", "A consume is not a drop.", [],
                                [diff(DUMMY, o, n)])

    # 16. documentation only: judged without parsing the tree
    doc = "Documentation/networking/skbuff.rst"
    with open(os.path.join(root, doc), encoding="utf-8") as f:
        o = f.read()
    n = o + "\nDrop reasons: see include/net/dropreason-core.h.\n"
    out["clean-docs-only"] = mail("docs: skbuff: mention drop reasons", "No C file.", [],
                                  [diff(doc, o, n)])

    # 17. does not apply: the context of the hunk is not in the base
    o, n = edit(root, UDP, [("\tif (udp4_csum_init(skb, uh, proto))\n\t\tgoto csum_error;\n",
                             "\tif (udp4_csum_init(skb, uh, proto))\n\t\tgoto csum_error;\n\t/* x */\n")])
    stale = "\tif (udp4_csum_init(skb, uh, proto))\n\t\tgoto csum_error;\n"
    assert o.count(stale) == 1
    bad = diff(UDP, o.replace(stale, stale.replace("proto)", "IPPROTO_UDP)")),
               n.replace(stale, stale.replace("proto)", "IPPROTO_UDP)")))
    out["does-not-apply"] = mail("udp: stale patch", "Exit 2, naming the file and the hunk.",
                                 ["EXIT 2"], [bad])

    # --- against 6.1 (include/net/dropreason.h: enum and X-macro in one header) ---------
    DR61, IP6 = "include/net/dropreason.h", "net/ipv6/ip6_output.c"
    o, n = edit(root61, DR61, [("\tFN(TC_CHAIN_NOTFOUND)\t\t\\\n",
                                "\tFN(TC_CHAIN_NOTFOUND)\t\t\\\n\tFN(FOO_BAR)\t\t\t\\\n"),
                               ("\tSKB_DROP_REASON_TC_CHAIN_NOTFOUND,\n",
                                "\tSKB_DROP_REASON_TC_CHAIN_NOTFOUND,\n\tSKB_DROP_REASON_FOO_BAR,\n")])
    ln = line_of(n, "SKB_DROP_REASON_FOO_BAR,")
    out["61-new-reason-undocumented-unused"] = mail(
        "net: add drop reason FOO_BAR", "6.1 layout: the enum and the X-macro in dropreason.h.",
        [f"SKBDROP_UNDOCUMENTED_REASON {DR61}:{ln} -", f"SKBDROP_UNUSED_REASON {DR61}:{ln} -"],
        [diff(DR61, o, n)], base="debian:6.1")
    # ip6_forward() (6.1) drops with PKT_TOO_BIG and, through SKB_DR_SET/drop labels,
    # other reasons; a plain kfree_skb() added to it is a new unspecified drop
    o, n = edit(root61, IP6, [("\tif (mtu < IPV6_MIN_MTU)\n\t\tmtu = IPV6_MIN_MTU;\n",
                               "\tif (mtu < IPV6_MIN_MTU)\n\t\tmtu = IPV6_MIN_MTU;\n\n"
                               "\tif (unlikely(skb->mark == 0xdead)) {\n"
                               "\t\tkfree_skb(skb);\t/* dead mark */\n\t\treturn -EINVAL;\n\t}\n")])
    out["61-new-unspecified-ip6-forward"] = mail(
        "ipv6: drop dead-marked packets in forwarding", "A plain kfree_skb() in ip6_forward().",
        [f"SKBDROP_NEW_UNSPECIFIED {IP6}:{line_of(n, '/* dead mark */')} ip6_forward"],
        [diff(IP6, o, n)], base="debian:6.1")

    for name, text in out.items():
        with open(os.path.join(HERE, name + ".patch"), "w", encoding="utf-8") as f:
            f.write(text)
        print(name)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else
         os.path.expanduser("~/.cache/skbdrop/debian/tree-6.12/linux-source-6.12"),
         sys.argv[2] if len(sys.argv) > 2 else
         os.path.expanduser("~/.cache/skbdrop/debian/tree-6.1/linux-source-6.1"))
