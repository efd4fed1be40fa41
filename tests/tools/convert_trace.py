#!/usr/bin/env python3
"""Convert a tracefs ``skb:kfree_skb`` capture into what other drop tools print.

    python3 tests/tools/convert_trace.py tests/data/runtime-6.18

reads ``trace.txt`` and ``kallsyms.txt`` in that directory and writes, event for
event (same order, same function+offset, same reason, same CPU/pid/time):

``perf-script.converted.txt``
    ``perf script`` of ``perf record -e skb:kfree_skb`` (perf's header
    ``%16s %5d [%03d] %12s: skb:kfree_skb: `` then libtraceevent's rendering of
    the print fmt: raw pointers as ``0x…``/``(nil)`` and ``%pS`` *without* the
    ``/0xSIZE`` part - compare the real ``perf-script.real.txt`` captured
    beside it).
``dropwatch.converted.txt``
    dropwatch in packet alert mode (``set alertmode packet``): one block per
    drop, ``drop at: SYMBOL+0xOFF/0xLEN (0xPC)`` (the kernel's ``%pS`` of the
    PC in NET_DM_ATTR_SYMBOL, then the PC), ``origin: software``, ``timestamp:``,
    ``protocol: 0x…``, and ``drop reason: NAME`` (NET_DM_ATTR_REASON, as printed
    by the reason support of nhorman/dropwatch PR #66; releases without it print
    no reason line), blank line between blocks. Attributes the tracepoint does not
    give (input port, lengths) are left out, as dropwatch does for absent
    attributes. PCs are the kallsyms address of the symbol plus the offset, from
    the same boot as the capture.
``dropwatch-summary.converted.txt``
    dropwatch in its default summary mode: ``N drops at SYMBOL+off (0xPC)
    [software]`` per run of identical locations (no reason in this mode).
``pwru.converted.txt``
    ``pwru --output-caller`` text: ``SKB CPU PROCESS FUNC CALLER`` where FUNC is
    the probed drop function with the reason's enumerator name,
    ``sk_skb_reason_drop(SKB_DROP_REASON_NO_SOCKET)`` (6.18 inlines
    ``kfree_skb_reason`` into ``sk_skb_reason_drop``), CALLER the function
    holding the return address. Only the drop lines are kept (real pwru output
    also lists every other function the skb went through).
``pwru.converted.json``
    the same events as ``pwru --output-json --output-caller`` lines.

Only the drop events are converted; the ``tracing_mark_write`` scenario markers
are tracefs-only. Hashed tracefs pointers (``%p``) are kept as their hash.
"""
from __future__ import annotations

import json
import os
import re
import sys
import time

EVENT = re.compile(
    r"^\s*(?P<comm>.+?)-(?P<pid>\d+)\s+\[(?P<cpu>\d+)\]\s+(?:\S{4,5}\s+)?(?P<ts>\d+\.\d+):\s+"
    r"kfree_skb:\s+skbaddr=(?P<skb>[0-9a-fx]+)\s+rx_sk=(?P<rx>[0-9a-fx]+)\s+"
    r"protocol=(?P<proto>\d+)\s+location=(?P<sym>[\w.]+)\+0x(?P<off>[0-9a-f]+)/0x(?P<len>[0-9a-f]+)\s+"
    r"reason:\s+(?P<reason>\S+)\s*$")


def load_kallsyms(path: str) -> dict[str, int]:
    out = {}
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) >= 3:
                out[p[2]] = int(p[0], 16)
    return out


def full_reason(short: str) -> str:
    if short.startswith("0x") or short.isdigit():
        return short
    if short in ("NOT_DROPPED_YET", "CONSUMED"):
        return "SKB_" + short
    return "SKB_DROP_REASON_" + short


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.stderr.write("usage: convert_trace.py DIR\n")
        return 2
    d = argv[0]
    syms = load_kallsyms(os.path.join(d, "kallsyms.txt"))
    events = []
    with open(os.path.join(d, "trace.txt")) as f:
        for line in f:
            m = EVENT.match(line)
            if m:
                events.append(m.groupdict())
    boot = 1795614000  # wall clock at uptime 0 (2026-11-25 ~13:40 UTC, the capture day) for asctime()
    perf, dw, dws, pwru, pwj = [], [], [], [], []
    funcw = 0
    run = None
    for e in events:
        skb = "0x" + (e["skb"].lstrip("0") or "0")
        rx = "(nil)" if int(e["rx"], 16) == 0 else "0x" + e["rx"].lstrip("0")
        loc = f"{e['sym']}+0x{e['off']}"
        perf.append(f"{e['comm']:>16} {int(e['pid']):5d} [{int(e['cpu']):03d}] {e['ts']:>12}: skb:kfree_skb: "
                    f"skbaddr={skb} rx_sk={rx} protocol={e['proto']} location={loc} reason: {e['reason']}")
        pc = syms[e["sym"]] + int(e["off"], 16)
        sec, frac = e["ts"].split(".")
        ts_ns = (boot + int(sec)) * 10**9 + int(frac.ljust(9, "0"))
        block = [f"drop at: {loc}/0x{e['len']} (0x{pc:x})", "origin: software",
                 f"timestamp: {time.asctime(time.gmtime(ts_ns // 10**9))} {ts_ns % 10**9:09d} nsec"]
        if int(e["proto"]):
            block.append(f"protocol: 0x{int(e['proto']):x}")
        block.append(f"drop reason: {e['reason']}")
        dw.append("\n".join(block) + "\n")
        key = (e["sym"], e["off"])
        if run and run[0] == key:
            run[1] += 1
        else:
            if run:
                dws.append(run)
            run = [key, 1, pc]
        func = f"sk_skb_reason_drop({full_reason(e['reason'])})"
        funcw = max(funcw, len(func))
        proc = f"{e['comm']}:{e['pid']}"
        pwru.append(f"{skb:<18} {e['cpu'].lstrip('0') or '0':<3} {proc:<16} {func:<{funcw}} {e['sym']}")
        pwj.append(json.dumps({"skb": skb, "cpu": int(e["cpu"]), "process": proc, "func": func,
                               "caller_func": e["sym"]}, separators=(",", ":")))
    if run:
        dws.append(run)

    def write(name, text):
        with open(os.path.join(d, name), "w") as f:
            f.write(text)

    write("perf-script.converted.txt", "\n".join(perf) + "\n")
    write("dropwatch.converted.txt", "Kernel monitoring activated.\nIssue Ctrl-C to stop monitoring\n" + "\n".join(dw)
          + "Got a stop message\n")
    write("dropwatch-summary.converted.txt", "Kernel monitoring activated.\nIssue Ctrl-C to stop monitoring\n" + "".join(
        f"{n} drops at {sym}+{off} (0x{pc:x}) [software]\n" for (sym, off), n, pc in dws) + "Got a stop message\n")
    write("pwru.converted.txt", f"{'SKB':<18} {'CPU':<3} {'PROCESS':<16} FUNC CALLER\n" + "\n".join(pwru) + "\n")
    write("pwru.converted.json", "\n".join(pwj) + "\n")
    print(f"converted {len(events)} events")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
