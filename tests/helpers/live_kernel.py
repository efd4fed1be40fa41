"""Is the running kernel the one whose drop reasons tests/data/runtime-6.18 captured, and
if it is a local build of it, what does that build add or change?

Not by its build name (the same 6.18.44 sources run here under several local build
tags, some with a reason of their own: -v1045 appends SKB_DROP_REASON_SKB_RX_HEADROOM):
by its BTF, the reason enums (`skb_drop_reason` and the subsystem enums captured beside
it) read from /sys/kernel/btf/vmlinux with bpftool and compared name for name, value for
value, with the captured btf-drop-reasons.json, by the json module alone."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from functools import lru_cache

from helpers import TESTS

RUNTIME = os.path.join(TESTS, "data", "runtime-6.18")
VMLINUX = "/sys/kernel/btf/vmlinux"
BOUNDS = {"SKB_DROP_REASON_MAX", "SKB_DROP_REASON_SUBSYS_MASK", "SKB_DROP_REASON_SUBSYS_NUM"}
# more differences than this: another kernel, not a local build of the captured one
MOST_DRIFT = 8


def _enums(doc: dict) -> dict[str, dict[str, int]]:
    return {t["name"]: {v["name"]: v["val"] for v in t.get("values", [])}
            for t in doc["types"] if t["kind"] in ("ENUM", "ENUM64") and t.get("name")}


def captured() -> dict[str, dict[str, int]]:
    with open(os.path.join(RUNTIME, "btf-drop-reasons.json"), encoding="utf-8") as f:
        return _enums(json.load(f))


@lru_cache(maxsize=1)
def live() -> dict[str, dict[str, int]] | str:
    """The running kernel's enums, or why they cannot be read."""
    if not os.access(VMLINUX, os.R_OK):
        return f"{VMLINUX} not readable"
    exe = shutil.which("bpftool")
    if exe is None:
        return "bpftool not installed"
    r = subprocess.run([exe, "btf", "dump", "file", VMLINUX, "-j"], capture_output=True, text=True)
    if r.returncode != 0:
        return f"bpftool cannot read {VMLINUX}: {r.stderr.strip()[:200]}"
    return _enums(json.loads(r.stdout))


def differences(enum: str, cat: dict[str, int], run: dict[str, int]
                ) -> set[tuple[str, str, str, int | None, int | None]]:
    """(ENUM, kind, name, value in CAT, value in RUN) for each name (bounds left out) the
    two have otherwise: kind "missing" (only in CAT), "extra" (only in RUN) or "value"."""
    cat = {n: v for n, v in cat.items() if n not in BOUNDS}
    rt = {n: v for n, v in run.items() if n not in BOUNDS}
    return ({(enum, "missing", n, cat[n], None) for n in cat.keys() - rt.keys()}
            | {(enum, "extra", n, None, rt[n]) for n in rt.keys() - cat.keys()}
            | {(enum, "value", n, cat[n], rt[n]) for n in cat.keys() & rt.keys() if cat[n] != rt[n]})


@lru_cache(maxsize=1)
def drift() -> frozenset[tuple[str, str, str, int | None, int | None]]:
    """The differences of the running kernel's reason enums from the capture's. Empty
    for the captured kernel itself."""
    run = live()
    assert not isinstance(run, str), run
    out = set()
    for enum, cap in captured().items():
        out |= differences(enum, cap, run.get(enum, {}))
    return frozenset(out)


def max_shift() -> int:
    """How far the running kernel's SKB_DROP_REASON_MAX is from the captured one."""
    run = live()
    assert not isinstance(run, str), run
    return run["skb_drop_reason"]["SKB_DROP_REASON_MAX"] - \
        captured()["skb_drop_reason"]["SKB_DROP_REASON_MAX"]


@lru_cache(maxsize=1)
def unlike_capture() -> str | None:
    """None when the running kernel is the captured one or a local build of it (at most
    MOST_DRIFT reason names differ, and it has every captured enum), else why not."""
    run = live()
    if isinstance(run, str):
        return run
    gone = sorted(captured().keys() - run.keys())
    if gone or len(drift()) > MOST_DRIFT:
        return (f"the running kernel ({os.uname().release}) is not the 6.18.44 captured in "
                f"tests/data/runtime-6.18 ({len(drift())} reason names differ"
                + (f"; no enum {', '.join(gone)}" if gone else "") + ")")
    return None
