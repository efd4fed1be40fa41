"""analyzer.events: the streaming readers, on the real 6.18.44 capture (trace.txt, perf-script.real.txt), on samples converted from it (*.converted.*: the same events in other tools' formats, made by tests/tools/convert_trace.py, not captures), and on bad input."""
from __future__ import annotations

import io
import os
import random
import tracemalloc

import pytest

from analyzer.events import readers as ev
from analyzer.events.readers import Aggregate, Reader, parse_location, read_events, read_text

from helpers import TESTS

DATA = os.path.join(TESTS, "data", "runtime-6.18")

# What the capture holds, counted from trace.txt's markers (see the README beside it).
EXPECTED = {
    ("__udp4_lib_rcv", "NO_SOCKET"): 3,
    ("__udp4_lib_rcv", "UDP_CSUM"): 2,
    ("__udp6_lib_rcv", "NO_SOCKET"): 3,
    ("udp_queue_rcv_one_skb", "SOCKET_RCVBUFF"): 199,
    ("udpv6_queue_rcv_one_skb", "SOCKET_RCVBUFF"): 199,
    ("udp_destruct_common", "NOT_SPECIFIED"): 2,
    ("udp_queue_rcv_one_skb", "SOCKET_FILTER"): 3,
    ("tcp_v4_rcv", "NO_SOCKET"): 1,
    ("tcp_v6_rcv", "NO_SOCKET"): 1,
    ("unix_release_sock", "SOCKET_CLOSE"): 8,
    ("ip_local_deliver_finish", "IP_NOPROTO"): 2,
}


def load(name: str) -> Aggregate:
    with open(os.path.join(DATA, name), "rb") as f:
        return read_events(f)


def normalized(agg: Aggregate) -> dict:
    out = {}
    for (fn, r), n in agg.counts.items():
        if r and r.startswith("SKB_DROP_REASON_"):
            r = r[len("SKB_DROP_REASON_"):]
        out[(fn, r)] = out.get((fn, r), 0) + n
    return out


def test_tracefs_capture():
    a = load("trace.txt")
    assert a.detected == "tracefs"
    assert a.events == 423
    assert normalized(a) == EXPECTED
    # 12 header comment lines and 13 scenario markers are skipped, not fatal
    assert a.skipped == {ev.COMMENT: 12, ev.NOT_EVENT: 13}
    assert a.offsets[("tcp_v4_rcv", "NO_SOCKET")] == ["+0x91/0x13f0"]


@pytest.mark.parametrize("name,fmt", [("perf-script.converted.txt", "perf"), ("dropwatch.converted.txt", "dropwatch"),
                                      ("pwru.converted.txt", "pwru"), ("pwru.converted.json", "pwru")])
def test_converted_formats_same_events(name, fmt):
    a = load(name)
    assert a.detected == fmt
    assert a.events == 423
    assert normalized(a) == EXPECTED


def test_dropwatch_summary_has_counts_but_no_reason():
    a = load("dropwatch-summary.converted.txt")
    assert a.events == 423
    per_fn = {}
    for (fn, r), n in a.counts.items():
        assert r is None
        per_fn[fn] = per_fn.get(fn, 0) + n
    assert per_fn["udp_queue_rcv_one_skb"] == 199 + 3
    assert per_fn["unix_release_sock"] == 8


def test_real_perf_script():
    """perf 6.1's own output of a second run: same kinds of events (offset without size)."""
    a = load("perf-script.real.txt")
    assert a.detected == "perf"
    assert a.events == 421
    got = normalized(a)
    assert set(got) <= set(EXPECTED)
    assert got[("tcp_v4_rcv", "NO_SOCKET")] == 1
    assert a.offsets[("tcp_v4_rcv", "NO_SOCKET")] == ["+0x91"]


@pytest.mark.parametrize("text,fn,off,size,mod", [
    ("tcp_v4_rcv+0x91/0x13f0", "tcp_v4_rcv", 0x91, 0x13f0, None),
    ("tcp_v4_rcv+0x91", "tcp_v4_rcv", 0x91, None, None),
    ("__udp4_lib_rcv", "__udp4_lib_rcv", None, None, None),
    ("ip_rcv_core.isra.0+0x1c/0x3a0", "ip_rcv_core", 0x1c, 0x3a0, None),
    ("skb_release_data.cold+0x5/0x10", "skb_release_data", 5, 0x10, None),
    ("nft_do_chain.constprop.0.llvm.123+0x1/0x2", "nft_do_chain", 1, 2, None),
    ("0xffffffff81ff8621", None, None, None, None),
    ("ffffffff81ff8621", None, None, None, None),
])
def test_parse_location(text, fn, off, size, mod):
    loc = parse_location(text)
    assert (loc.function, loc.offset, loc.size, loc.module) == (fn, off, size, mod)


def test_numeric_reasons_kept_as_printed():
    a = read_text("  ping-1 [000] ..s1. 1.000: kfree_skb: skbaddr=0 rx_sk=0 protocol=0 "
                  "location=ovs_dp_process_packet+0x1a/0x200 reason: 0x20001\n"
                  "0xffff 1 x sk_skb_reason_drop (65537) ieee80211_rx_handlers\n")
    assert a.counts == {("ovs_dp_process_packet", "0x20001"): 1, ("ieee80211_rx_handlers", "65537"): 1}


def test_pwru_without_caller_column():
    a = read_text("0xffff888102478e00 1   python3:7931     sk_skb_reason_drop(SKB_DROP_REASON_NO_SOCKET)\n"
                  "0xffff888102478e00 1   python3:7931     ip_rcv_core\n")
    assert a.counts == {(None, "SKB_DROP_REASON_NO_SOCKET"): 1}
    assert a.skipped == {ev.NOT_EVENT: 1}


def test_dropwatch_hardware_and_unresolved():
    a = read_text("drop at: ingress_flow_action_drop (acl_drops)\norigin: hardware\n\n"
                  "3 drops at location 0xffffffff81572ec8 [software]\n"
                  "2 drops at skb_queue_purge+18 (0xffffffff81572ec8)\n")
    assert a.skipped == {ev.HARDWARE: 1}
    assert a.counts[("skb_queue_purge", None)] == 2
    assert a.counts[(None, None)] == 3
    assert a.offsets[("skb_queue_purge", None)] == ["+0x18"]


def test_truncated_lines_counted():
    line = open(os.path.join(DATA, "trace.txt")).read().splitlines()[14]
    assert "kfree_skb:" in line
    cuts = [line[:n] for n in range(line.index("kfree_skb:") + 10, len(line) - 8, 7)]
    a = read_text("\n".join(cuts) + "\n" + line + "\n")
    assert a.events == 1
    assert a.skipped[ev.TRUNCATED] == len(cuts)


def test_binary_garbage_and_empty():
    rnd = random.Random(7)
    blob = bytes(rnd.randrange(256) for _ in range(200_000))
    a = read_events(io.BytesIO(blob))
    assert a.events == 0
    assert a.lines > 0 and sum(a.skipped.values()) == a.lines
    assert read_events(io.BytesIO(b"")).lines == 0
    # a gigantic line without a newline is skipped in chunks
    a = read_events(io.BytesIO(b"x" * (ev.MAX_LINE * 5) + b"\nkfree_skb: location=f+0x1/0x2 reason: NOMEM\n"))
    assert a.skipped == {ev.OVERLONG: 1}
    assert a.counts == {("f", "NOMEM"): 1}


def test_key_cap_bounds_memory():
    agg = Aggregate(max_keys=10)
    r = Reader(agg)
    for i in range(1000):
        r.feed(f"kfree_skb: location=fn{i}+0x1/0x2 reason: NOMEM\n")
    r.close()
    assert len(agg.counts) == 10
    assert agg.events == 1000 and agg.dropped_keys == 990


def test_stream_memory_is_flat():
    """60k events through the reader: the aggregate stays at a handful of keys and the
    traced allocation peak stays small (nothing per event is kept)."""
    lines = open(os.path.join(DATA, "trace.txt"), "rb").read().splitlines(keepends=True)
    body = [ln for ln in lines if b"kfree_skb:" in ln]

    blob = b"".join(body)

    class Stream(io.RawIOBase):             # replays the capture's event lines n times over
        def __init__(self, n):
            self.left, self.buf = n, memoryview(b"")

        def readable(self):
            return True

        def readinto(self, b):
            if not len(self.buf):
                if self.left <= 0:
                    return 0
                self.left -= 1
                self.buf = memoryview(blob)
            k = min(len(b), len(self.buf))
            b[:k] = self.buf[:k]
            self.buf = self.buf[k:]
            return k

    tracemalloc.start()
    reps = 60_000 // len(body) + 1
    a = read_events(io.BufferedReader(Stream(reps)))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert a.events == reps * len(body) > 60_000
    assert len(a.counts) == len(EXPECTED)
    assert peak < 2_000_000, peak


def test_perf_trace_lines():
    a = read_text("     0.000 python3/7931 skb:kfree_skb(skbaddr: 0xffff888102478e00, location: "
                  "tcp_v4_rcv+0x91, protocol: 2048, reason: NO_SOCKET)\n"
                  "     0.100 python3/7931 skb:kfree_skb(skbaddr: 0xffff888102478e00, location: tcp_v4_rcv+0x91\n")
    assert a.counts == {("tcp_v4_rcv", "NO_SOCKET"): 1}
    assert a.skipped == {ev.TRUNCATED: 1}


def test_tracefs_module_symbol():
    a = read_text("handler-1 [000] ..s1. 1.0: kfree_skb: skbaddr=00000000b37c92b1 rx_sk=0000000000000000 "
                  "protocol=2048 location=ovs_dp_process_packet+0x1a/0x200 [openvswitch] reason: 0x20001\n")
    assert a.counts == {("ovs_dp_process_packet", "0x20001"): 1}
    assert a.modules == {"ovs_dp_process_packet": "openvswitch"}


def test_lost_events_marker():
    a = read_text("CPU:1 [LOST 123 EVENTS]\n"
                  "x-1 [001] ..s1. 1.0: kfree_skb: skbaddr=0 rx_sk=0 protocol=0 location=f_g+0x1/0x2 reason: NOMEM\n")
    assert a.lost == 123 and a.skipped == {ev.LOST: 1} and a.events == 1


def test_mixed_stream():
    """Formats may follow each other in one stream; a dropwatch block without its blank line
    is closed by the next event."""
    a = read_text("drop at: tcp_v4_rcv+0x91/0x13f0 (0xffffffff82035bd1)\norigin: software\n"
                  "drop reason: NO_SOCKET\n"
                  "x-1 [001] ..s1. 1.0: kfree_skb: skbaddr=0 rx_sk=0 protocol=0 location=tcp_v4_rcv+0x91/0x13f0 reason: NO_SOCKET\n"
                  "drop at: tcp_v6_rcv+0x34f/0x13b0 (0xffffffff8211c7df)\n"
                  "0xffff 1 python3:7931 sk_skb_reason_drop(SKB_DROP_REASON_NO_SOCKET) __udp4_lib_rcv\n")
    assert a.counts == {("tcp_v4_rcv", "NO_SOCKET"): 2, ("tcp_v6_rcv", None): 1,
                        ("__udp4_lib_rcv", "SKB_DROP_REASON_NO_SOCKET"): 1}
    assert a.formats == {"dropwatch": 2, "tracefs": 1, "pwru": 1}


def test_dropwatch_as_released():
    """dropwatch output as posted in nhorman/dropwatch issue #77 (packet mode of a release
    without reason support, then summary mode): no reason, clone suffix dropped."""
    a = read_text("dropwatch> start\nEnabling monitoring..\n"
                  "drop at: ip_rcv_finish_core.isra.0+0x1de/0x440 (0xffffffff96b6294e)\norigin: software\n"
                  "input port ifindex: 3\ntimestamp: Thu Dec 22 13:14:21 2022 005165840 nsec\n"
                  "protocol: 0x800\nlength: 1358\noriginal length: 1358\n\n"
                  "drop at: ip_rcv_finish_core.isra.0+0x1de/0x440 (0xffffffff96b6294e)\norigin: software\n"
                  "input port ifindex: 3\ntimestamp: Thu Dec 22 13:14:21 2022 005166271 nsec\n"
                  "protocol: 0x800\nlength: 1358\noriginal length: 1358\n\n"
                  "Kernel monitoring activated.\nIssue Ctrl-C to stop monitoring\n"
                  "4 drops at net_tx_action+0 (0xffffffff9d5123d0) [software]\n"
                  "2 drops at net_tx_action+0 (0xffffffff9d5123d0) [software]\n")
    assert a.counts == {("ip_rcv_finish_core", None): 2, ("net_tx_action", None): 6}
    assert a.offsets[("ip_rcv_finish_core", None)] == ["+0x1de/0x440"]
    assert a.skipped == {ev.NOT_EVENT: 4}


def test_pwru_real_samples():
    """pwru lines as users posted them: with --output-meta/--output-tuple columns and a
    module-qualified caller, and the older bracketed-process layout without a caller."""
    a = read_text("0xffff9f0c9c08ff00 11  <empty>:2158561  4026532686 0            vxlan0:2     0x0800 1500  98"
                  "    10.0.0.1:0->10.0.0.2:0(icmp) kfree_skb_reason(SKB_DROP_REASON_NOT_SPECIFIED) vxlan_xmit[vxlan]\n"
                  "0xffff9f7827643600     24 [/usr/bin/docker-proxy:53608] kfree_skb_reason(SKB_DROP_REASON_NO_SOCKET)\n"
                  "0xffff9f7827643600     24 [/usr/bin/docker-proxy:53608]   skb_release_head_state\n")
    assert a.counts == {("vxlan_xmit", "SKB_DROP_REASON_NOT_SPECIFIED"): 1, (None, "SKB_DROP_REASON_NO_SOCKET"): 1}
    assert a.modules == {"vxlan_xmit": "vxlan"}
    assert a.skipped == {ev.NOT_EVENT: 1}
