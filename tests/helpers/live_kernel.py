"""Is the running kernel the one whose drop reasons tests/data/runtime-6.18 captured?

Not by its build name (the same 6.18.44 sources run here under several local build
tags): by its BTF, the reason enums (`skb_drop_reason` and the subsystem enums captured
beside it) read from /sys/kernel/btf/vmlinux with bpftool and compared name for name,
value for value, with the captured btf-drop-reasons.json."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from functools import lru_cache

from helpers import TESTS

RUNTIME = os.path.join(TESTS, "data", "runtime-6.18")
VMLINUX = "/sys/kernel/btf/vmlinux"


def _enums(doc: dict) -> dict[str, dict[str, int]]:
    return {t["name"]: {v["name"]: v["val"] for v in t.get("values", [])}
            for t in doc["types"] if t["kind"] in ("ENUM", "ENUM64") and t.get("name")}


@lru_cache(maxsize=1)
def differs_from_capture() -> str | None:
    """None when the live kernel's reason enums equal the captured ones, else why not."""
    if not os.access(VMLINUX, os.R_OK):
        return f"{VMLINUX} not readable"
    exe = shutil.which("bpftool")
    if exe is None:
        return "bpftool not installed"
    with open(os.path.join(RUNTIME, "btf-drop-reasons.json"), encoding="utf-8") as f:
        captured = _enums(json.load(f))
    r = subprocess.run([exe, "btf", "dump", "file", VMLINUX, "-j"], capture_output=True, text=True)
    if r.returncode != 0:
        return f"bpftool cannot read {VMLINUX}: {r.stderr.strip()[:200]}"
    live = _enums(json.loads(r.stdout))
    for name, values in sorted(captured.items()):
        if live.get(name) != values:
            return (f"the running kernel ({os.uname().release}) has another enum {name} "
                    "than the one captured in tests/data/runtime-6.18")
    return None
