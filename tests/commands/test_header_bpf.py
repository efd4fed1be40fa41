"""A BPF program includes the running kernel's vmlinux.h (bpftool, from its BTF) and the
header generated for that kernel's catalogue (tests/fixtures/layouts/6.18, the
6.18.44 headers): no clash, and every reason equal at compile time."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from analyzer.source import btf
from analyzer.commands.header import PREFIX, catalogue, render
from analyzer.pipeline import scan

from helpers import TESTS, live_kernel

TREE_618 = os.path.join(TESTS, "fixtures", "layouts", "6.18")
RUNTIME = os.path.join(TESTS, "data", "runtime-6.18")
VMLINUX = "/sys/kernel/btf/vmlinux"


def _ready() -> str | None:
    why = live_kernel.unlike_capture()
    if why:
        return why
    if not shutil.which("clang"):
        return "clang not installed"
    if not shutil.which("bpftool") and not any(os.access(p, os.X_OK) for p in btf.BPFTOOL_FALLBACKS):
        return "bpftool not installed"
    return None


@pytest.mark.skipif(_ready() is not None, reason=str(_ready()))
def test_bpf_program_with_vmlinux_h_and_our_header(tmp_path):
    exe = shutil.which("bpftool") or next(p for p in btf.BPFTOOL_FALLBACKS if os.access(p, os.X_OK))
    vmlinux_h = subprocess.run([exe, "btf", "dump", "file", VMLINUX, "format", "c"],
                               capture_output=True, text=True, check=True).stdout
    (tmp_path / "vmlinux.h").write_text(vmlinux_h)
    a = scan(TREE_618, use_cache=False)
    (tmp_path / "skbdrop_reasons.h").write_text(render(a))
    # vmlinux.h holds the core enum only (mac80211 / openvswitch are modules)
    core = [r for r in catalogue(a).core]
    # a local build of the captured kernel may add or move a few reasons: those are
    # asserted from its BTF instead (helpers/live_kernel.py)
    drift = {name for enum, _k, name, _c, _r in live_kernel.drift() if enum == "skb_drop_reason"}
    src = ['#include "vmlinux.h"', '#include "skbdrop_reasons.h"']
    src += [f'_Static_assert((long long){PREFIX}{r.short} == (long long){r.name}, "{r.name}");'
            for r in core if r.name not in drift]
    src += [f'_Static_assert((long long){n} == {v}, "{n}");'
            for e, k, n, _c, v in sorted(live_kernel.drift(), key=str)
            if e == "skb_drop_reason" and k != "missing"]
    src += [f'_Static_assert(SKBDROP_REASON_MAX + {live_kernel.max_shift()} == (int)SKB_DROP_REASON_MAX, "MAX");',
            "int reason_known(unsigned int v);",
            "int reason_known(unsigned int v) { return skbdrop_reason_name(v) != 0; }"]
    (tmp_path / "prog.bpf.c").write_text("\n".join(src) + "\n")
    r = subprocess.run(["clang", "-target", "bpf", "-O2", "-g", "-Wall", "-Werror", "-c",
                        str(tmp_path / "prog.bpf.c"), "-o", str(tmp_path / "prog.bpf.o")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[:3000]
    assert len(core) == 128       # 130 enumerators of the 6.18.44 enum less MAX and SUBSYS_MASK
