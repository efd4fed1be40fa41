"""skbdrop check on real changes: whole files of Debian's 6.12 applied to Debian's 6.1.

Each test takes one file that changed drop behaviour between linux-source-6.1 (6.1.192)
and linux-source-6.12 (6.12.117), makes a unified diff of the whole file, and checks it
with ``--base debian:6.1``. The expected findings were written after reading each diff
(comments below); line numbers are lines of the 6.12 file (the patched file), or of the
6.1 file for what the patch removes.

A general effect in all four: 6.12 frees with sk_skb_reason_drop(), which 6.1 does not
have, so those calls are not drops in the patched 6.1 tree and are simply gone (the
patch would not build; that is not a drop-reason finding).
"""
from __future__ import annotations

import difflib
import json
import os

import jsonschema
import pytest

from analyzer.commands import check
from analyzer.source.patch import parse_patch
from analyzer.formats.sarif import to_sarif
from analyzer.source.tree import open_tree

from helpers import DEB61, DEB612, TESTS

SCHEMA = os.path.join(TESTS, "data", "check", "sarif-schema-2.1.0.json")

pytestmark = pytest.mark.realtree


@pytest.fixture(scope="module")
def engine61():
    return check.ScanEngine(DEB61)


@pytest.fixture(scope="module")
def tree612():
    return open_tree(DEB612)


def whole_file(engine61, tree612, path):
    old = engine61.read(path)
    new = tree612.read(path).decode("utf-8", "surrogateescape")
    text = f"diff --git a/{path} b/{path}\n" + "".join(difflib.unified_diff(
        old.splitlines(True), new.splitlines(True), f"a/{path}", f"b/{path}"))
    patch = parse_patch(text, f"{path} 6.1->6.12")
    return check.check_series(lambda: engine61, DEB61, [patch])


def found(rep):
    return sorted((f.code, f.file, f.line, f.function) for f in rep.findings())


def test_udp(engine61, tree612):
    # udp.c: the four drops that change (__udp_queue_rcv_skb, udp_queue_rcv_one_skb,
    # and two in __udp4_lib_rcv) keep their drop_reason variables and only change
    # kfree_skb_reason() -> sk_skb_reason_drop(); the reasons they set
    # (UDP_CSUM, PKT_TOO_SMALL, NO_SOCKET, PROTO_MEM, SOCKET_RCVBUFF, ...) are all
    # still produced by net/ipv6/udp.c, so nothing is orphaned; every reason 6.12's
    # udp.c names exists in 6.1; no plain kfree_skb() is added.
    rep = whole_file(engine61, tree612, "net/ipv4/udp.c")
    assert found(rep) == []
    assert rep.exit_code() == 0


def test_tcp_ipv4(engine61, tree612):
    # tcp_ipv4.c: tcp_v4_rcv() gains "drop_reason = SKB_DROP_REASON_TCP_MINTTL;" in the
    # min_ttl check (6.12 line 2320): TCP_MINTTL is not in 6.1's enum. The other
    # changes (tcp_inbound_hash, tcp_child_process returning a reason, the resets
    # taking a reason) assign reasons that 6.1 has, and the drops move to
    # sk_skb_reason_drop() (see the module comment).
    rep = whole_file(engine61, tree612, "net/ipv4/tcp_ipv4.c")
    assert found(rep) == [("SKBDROP_UNKNOWN_REASON", "net/ipv4/tcp_ipv4.c", 2320, "tcp_v4_rcv")]
    assert rep.exit_code() == 1


def test_af_unix(engine61, tree612):
    # af_unix.c:
    # - unix_release_sock(): kfree_skb(skb) becomes kfree_skb_reason(skb,
    #   SKB_DROP_REASON_SOCKET_CLOSE) (line 735): SOCKET_CLOSE is new in 6.12;
    # - unix_stream_sendmsg(): the copy path keeps its kfree_skb(skb) (now indented in
    #   an else branch) and the new MSG_SPLICE_PAGES branch adds another plain
    #   kfree_skb(skb) (line 2343): a new drop without a reason;
    # - manage_oob() and unix_stream_read_skb() drop the OOB skb with
    #   SKB_DROP_REASON_UNIX_SKIP_OOB (lines 2735, 2771), new in 6.12;
    # - unix_stream_sendpage() is removed with its drops: no finding for removals.
    rep = whole_file(engine61, tree612, "net/unix/af_unix.c")
    assert found(rep) == [
        ("SKBDROP_NEW_UNSPECIFIED", "net/unix/af_unix.c", 2343, "unix_stream_sendmsg"),
        ("SKBDROP_UNKNOWN_REASON", "net/unix/af_unix.c", 735, "unix_release_sock"),
        ("SKBDROP_UNKNOWN_REASON", "net/unix/af_unix.c", 2735, "manage_oob"),
        ("SKBDROP_UNKNOWN_REASON", "net/unix/af_unix.c", 2771, "unix_stream_read_skb"),
    ]
    f = next(f for f in rep.findings() if f.code == "SKBDROP_NEW_UNSPECIFIED")
    assert f.source.strip() == "kfree_skb(skb);" and f.marker == "+"
    text = check.to_text(rep)
    assert f"#{f.patch_line}: FILE: net/unix/af_unix.c:2343:" in text
    assert "total: 3 errors, 1 warnings, 0 infos" in text


def test_dev(engine61, tree612):
    # dev.c:
    # - qdisc_pkt_len_init() (new in 6.12, returns enum skb_drop_reason) returns
    #   SKB_DROP_REASON_SKB_BAD_GSO five times (lines 3894 3899 3902 3905 3916): not in 6.1;
    # - __dev_xmit_skb(): the reclassify-loop drop changes TC_EGRESS to
    #   TC_RECLASSIFY_LOOP (line 3982), not in 6.1;
    # - net_tx_action() compares the deferred reason with SKB_CONSUMED (line 5460),
    #   which 6.1 does not have (6.1 has enum skb_free_reason);
    # - __dev_xmit_skb()'s qdisc drops now pass tcf_get_drop_reason(to_free), set through
    #   tcf_set_drop_reason(skb, SKB_DROP_REASON_QDISC_DROP) at its top: the reason is
    #   stored in tc_skb_cb(skb)->drop_reason and read back (issue 12, idiom 2), and 6.1's
    #   own tcf_set_drop_reason() (include/net/pkt_cls.h) stores into the same field:
    #   QDISC_DROP, produced only by these two drops in 6.1, is still produced by them
    #   (no "orphaned"), and nothing is lost (their new sets hold QDISC_DROP).
    rep = whole_file(engine61, tree612, "net/core/dev.c")
    assert found(rep) == sorted(
        [("SKBDROP_UNKNOWN_REASON", "net/core/dev.c", n, "qdisc_pkt_len_init")
         for n in (3894, 3899, 3902, 3905, 3916)]
        + [("SKBDROP_UNKNOWN_REASON", "net/core/dev.c", 3982, "__dev_xmit_skb"),
           ("SKBDROP_UNKNOWN_REASON", "net/core/dev.c", 5460, "net_tx_action")])
    # SARIF of a real report validates, with patch line numbers
    log = to_sarif(rep)
    with open(SCHEMA) as fh:
        jsonschema.Draft7Validator(json.load(fh)).validate(log)
    assert len(log["runs"][0]["results"]) == 7
    assert all(r["properties"]["patchLine"] > 0 for r in log["runs"][0]["results"])
