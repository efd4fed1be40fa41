#!/usr/bin/env python3
"""Rebuild tests/fixtures/layouts/6.18/ - the catalogue headers of the 6.18.44 kernel
this project's capture came from - and check them with gcc against its BTF.

    python3 tests/tools/make_618_fixture.py [--base DEBIAN_6.12_TREE]

Why reconstructed, not copied: no full copy of the 6.18 catalogue headers is
reachable offline here (the search corpus stores only older full versions of
include/net/dropreason-core.h plus patch mails; Debian no longer ships
linux-source-6.18). The running kernel's BTF, however, is the ground truth
for what 6.18.44 compiled: every enumerator of ``enum skb_drop_reason`` and
``enum skb_drop_reason_subsys`` in order, with its value. So:

* ``include/net/dropreason-core.h``: the layout of the 6.12 file (X-macro
  ``DEFINE_DROP_REASON(FN, FNe)``, kernel-doc enum, ``SUBSYS_MASK``,
  ``SUBSYS_SHIFT``, ``SKB_DR*`` helpers) with the enumerators, in order, of
  6.18.44's BTF; doc comments are the 6.12.117 ones where the enumerator
  already existed, else marked as not available.
* ``include/net/dropreason.h``: 6.12.117's file with the subsystem enum of
  6.18.44's BTF (MAC80211_MONITOR is gone since 6.15, OPENVSWITCH is 2).
* ``net/openvswitch/drop.h``: 6.12.117's file (its base follows the subsystem id).
* ``net/mac80211/drop.h``: 6.12.117's file with the MONITOR part removed (as
  6.15 did). Its unusable list is 6.12's - mac80211 is not loaded on the
  capture machine, so there is no BTF to check it against.
* ``Makefile``: VERSION/PATCHLEVEL/SUBLEVEL of the running kernel.

Mainline v6.18 itself differs from 6.18.44: SKB_DROP_REASON_RECURSION_LIMIT
(127 here) was added upstream after v6.18 ("Dead loop on virtual device") and
backported to 6.18.y, so v6.18's core list ends at PSP_OUTPUT (126).

Then ``expected.json`` is written from gcc (tests/helpers/oracle.py) and compared with
``tests/data/runtime-6.18/btf-drop-reasons.json``: every core enumerator and
every subsystem id must be equal, or this script fails.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "tests/fixtures/layouts/6.18")
BTF = os.path.join(ROOT, "tests/data/runtime-6.18/btf-drop-reasons.json")
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]
from analyzer.source.tree import open_tree  # noqa: E402
from helpers import DEB612  # noqa: E402  the pinned 6.12 test tree (tests/kernels)
VERSION = (6, 18, 44)


def btf_enum(name: str) -> list[tuple[str, int]]:
    with open(BTF) as f:
        for t in json.load(f)["types"]:
            if t.get("name") == name:
                return [(v["name"], v["val"]) for v in t["values"]]
    raise SystemExit(f"no enum {name} in {BTF}")


def docs_612(text: str) -> dict[str, str]:
    """enumerator -> its kernel-doc comment block (verbatim, tab-indented) in 6.12."""
    body = text[text.index("enum skb_drop_reason {"):]
    out = {}
    for m in re.finditer(r"(\t/\*\*.*?\*/\n)\t(SKB_\w+)", body, re.S):
        out[m.group(2)] = m.group(1)
    return out


def core_header(base: str, names: list[tuple[str, int]]) -> str:
    with open(os.path.join(base, "include/net/dropreason-core.h")) as f:
        old = f.read()
    docs = docs_612(old)
    short = [n[len("SKB_DROP_REASON_"):] for n, _ in names
             if n.startswith("SKB_DROP_REASON_") and n not in ("SKB_DROP_REASON_MAX", "SKB_DROP_REASON_SUBSYS_MASK")]
    xm = "#define DEFINE_DROP_REASON(FN, FNe)\t\\\n" + "".join(f"\tFN({s})\\\n" for s in short) + "\tFNe(MAX)\n"
    # keep 6.12's alignment style: pad to the backslash column with tabs
    lines = []
    for ln in xm.splitlines():
        if ln.endswith("\\") and ln.startswith("\tFN("):
            txt = ln[:-1]
            width = len(txt.expandtabs(8))
            tabs = max(1, (32 - width + 7) // 8)
            ln = txt + "\t" * tabs + "\\"
        lines.append(ln)
    xm = "\n".join(lines) + "\n"
    enum = ["/**", " * enum skb_drop_reason - the reasons of skb drops", " *",
            " * The reason of skb drop, which is used in kfree_skb_reason().", " */",
            "enum skb_drop_reason {"]
    for i, (n, v) in enumerate(names):
        doc = docs.get(n) or (f"\t/** @{n}: (doc comment not available offline; "
                              f"enumerator and position from 6.18.44 BTF) */\n")
        if n == "SKB_DROP_REASON_SUBSYS_MASK":
            enum.append("")
        enum.append(doc.rstrip("\n"))
        if n == "SKB_NOT_DROPPED_YET":
            enum.append(f"\t{n} = 0,")
        elif n == "SKB_DROP_REASON_SUBSYS_MASK":
            enum.append(f"\t{n} = 0x{v & 0xffffffff:x},")
        else:
            enum.append(f"\t{n},")
    enum.append("};")
    tail = old[old.index("#define SKB_DROP_REASON_SUBSYS_SHIFT"):]
    head = ("/* SPDX-License-Identifier: GPL-2.0-or-later */\n"
            "/* skbdrop test fixture: 6.18.44 catalogue reconstructed by tests/tools/make_618_fixture.py\n"
            " * (6.12.117 layout and doc comments, 6.18.44 BTF enumerators). */\n\n"
            "#ifndef _LINUX_DROPREASON_CORE_H\n#define _LINUX_DROPREASON_CORE_H\n\n")
    return head + xm + "\n" + "\n".join(enum) + "\n\n" + tail


def subsys_header(base: str, subs: list[tuple[str, int]]) -> str:
    with open(os.path.join(base, "include/net/dropreason.h")) as f:
        old = f.read()
    have = [n for n, _ in subs]
    if "SKB_DROP_REASON_SUBSYS_MAC80211_MONITOR" not in have:
        old = re.sub(r"\n\t/\*\*\n\t \* @SKB_DROP_REASON_SUBSYS_MAC80211_MONITOR:.*?"
                     r"SKB_DROP_REASON_SUBSYS_MAC80211_MONITOR,\n", "\n", old, flags=re.S)
    body = old[old.index("enum skb_drop_reason_subsys {"):old.index("};")]
    got = re.findall(r"^\t(SKB_DROP_REASON_SUBSYS_\w+)", body, re.M)
    if got != have:
        raise SystemExit(f"subsystem enum mismatch: header {got} vs BTF {have}")
    return old


def mac80211_header(base: str, have_monitor: bool) -> str:
    with open(os.path.join(base, "net/mac80211/drop.h")) as f:
        t = f.read()
    if have_monitor:
        return t
    t = re.sub(r"#define MAC80211_DROP_REASONS_MONITOR\(R\).*?/\* this line for the trailing \\ - add before this \*/\n\n",
               "", t, flags=re.S)
    t = re.sub(r"\t___RX_DROP_MONITOR = SKB_DROP_REASON_SUBSYS_MAC80211_MONITOR <<\n\t\tSKB_DROP_REASON_SUBSYS_SHIFT,\n"
               r"\tMAC80211_DROP_REASONS_MONITOR\(ENUM\)\n\n", "", t)
    t = t.replace("\tRX_DROP_MONITOR\t = (__force ieee80211_rx_result)___RX_DROP_MONITOR,\n", "")
    t = t.replace("\tMAC80211_DROP_REASONS_MONITOR(DEF)\n", "")
    if "MONITOR" in t:
        raise SystemExit("mac80211/drop.h: MONITOR removal incomplete")
    return t


def write(rel: str, text: str) -> None:
    p = os.path.join(OUT, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w") as f:
        f.write(text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default=None, help="Debian linux-source-6.12 tree (layout and doc comments)")
    a = ap.parse_args(argv)
    core = btf_enum("skb_drop_reason")
    subs = btf_enum("skb_drop_reason_subsys")
    write("Makefile", f"# SPDX-License-Identifier: GPL-2.0\nVERSION = {VERSION[0]}\nPATCHLEVEL = {VERSION[1]}\n"
                      f"SUBLEVEL = {VERSION[2]}\nEXTRAVERSION =\nNAME = Baby Opossum Posse\n")
    a.base = a.base or open_tree(DEB612).root
    write("include/net/dropreason-core.h", core_header(a.base, core))
    write("include/net/dropreason.h", subsys_header(a.base, subs))
    with open(os.path.join(a.base, "net/openvswitch/drop.h")) as f:
        write("net/openvswitch/drop.h", f.read())
    write("net/mac80211/drop.h", mac80211_header(a.base, any(n.endswith("MAC80211_MONITOR") for n, _ in subs)))

    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from helpers import oracle  # the project's gcc oracle
    values = oracle.compiler_values(OUT)
    # BTF stores the 0xffff0000 mask as a 64-bit value; compare as the 32-bit enum it is
    bad = [(n, v, values.get(n)) for n, v in core + subs
           if values.get(n) is None or (values[n] - v) % (1 << 32) != 0]
    if bad:
        for b in bad[:20]:
            print("MISMATCH", b, file=sys.stderr)
        return 1
    reasons = {n: values[n] for n, _ in core if n != "SKB_DROP_REASON_SUBSYS_MASK"}
    for n, v in values.items():
        if n.startswith(("OVS_DROP_", "RX_DROP_")) and n not in ("OVS_DROP_MAX",):
            reasons[n] = v
    exp = {"layout": "dropreason-core",
           "version": ".".join(map(str, VERSION)),
           "source": "reconstructed: tests/tools/make_618_fixture.py (6.18.44 BTF + 6.12.117 layout)",
           "reasons": dict(sorted(reasons.items(), key=lambda kv: (kv[1], kv[0]))),
           "subsystems": {n: v for n, v in subs}}
    write("expected.json", json.dumps(exp, indent=1) + "\n")
    print(f"{OUT}: {len(core)} core enumerators and {len(subs)} subsystem ids equal to BTF; "
          f"{len(reasons)} reasons in expected.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
