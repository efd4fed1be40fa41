#!/usr/bin/env python3
"""Keep only the drop-reason enums of a BTF dump, in bpftool's ``-j`` format.

    python3 tests/tools/extract_btf_enums.py [--btf /sys/kernel/btf/vmlinux] [--module-dir /sys/kernel/btf] OUT.json
    python3 tests/tools/extract_btf_enums.py --dump saved-bpftool-j.json OUT.json

``bpftool btf dump file /sys/kernel/btf/vmlinux -j`` is ~17 MB; this keeps the
objects of ``enum skb_drop_reason`` and ``enum skb_drop_reason_subsys`` (and,
for loaded modules such as openvswitch / mac80211, their ``ovs_drop_reason`` /
``mac80211_drop_reason`` enums), unchanged, as ``{"types": [...]}`` - the same
shape bpftool writes, so ``skbdrop verify --btf`` reads it like a full dump.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

WANTED = {"skb_drop_reason", "skb_drop_reason_subsys", "ovs_drop_reason", "mac80211_drop_reason"}
MODULES = ("openvswitch", "mac80211")


def bpftool_dump(path: str, base: str | None = None) -> dict:
    cmd = ["bpftool"] + (["-B", base] if base else []) + ["btf", "dump", "file", path, "-j"]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def keep(dump: dict, source: str) -> list[dict]:
    out = []
    for t in dump.get("types", []):
        if t.get("kind") in ("ENUM", "ENUM64") and t.get("name") in WANTED:
            out.append(dict(t, source=source) if source != "vmlinux" else t)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--btf", default="/sys/kernel/btf/vmlinux")
    ap.add_argument("--module-dir", default="/sys/kernel/btf")
    ap.add_argument("--dump", help="a saved `bpftool btf dump ... -j` file instead of running bpftool")
    a = ap.parse_args(argv)
    if a.dump:
        with open(a.dump) as f:
            types = keep(json.load(f), "vmlinux")
    else:
        types = keep(bpftool_dump(a.btf), "vmlinux")
        for m in MODULES:
            p = os.path.join(a.module_dir, m)
            if os.path.exists(p):
                types += keep(bpftool_dump(p, a.btf), m)
    if not any(t.get("name") == "skb_drop_reason" for t in types):
        sys.stderr.write("extract_btf_enums: no enum skb_drop_reason in the BTF\n")
        return 1
    with open(a.out, "w") as f:
        json.dump({"types": types}, f, indent=1)
        f.write("\n")
    print(f"{a.out}: {', '.join(t['name'] + '(' + str(len(t.get('values', []))) + ')' for t in types)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
