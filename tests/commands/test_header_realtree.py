"""`skbdrop header` for Debian's 6.1 and 6.12 trees, checked against the compiler.

Expectations come from the tree's own headers compiled with gcc (tests/helpers/oracle.py), not
from the scanner: every reason enumerator the kernel declares must appear in the
generated header at the value gcc gives it, and nothing else may (both ways).

Which kernel enumerators are reasons (read from the headers):
  * include/net/dropreason{,-core}.h, enum skb_drop_reason: all but SKB_DROP_REASON_MAX
    (the bound after the DEFINE_DROP_REASON list) and SKB_DROP_REASON_SUBSYS_MASK (6.4+);
    names lose SKB_DROP_REASON_ (or SKB_ for SKB_NOT_DROPPED_YET / SKB_CONSUMED).
  * subsystem headers (net/openvswitch/drop.h, net/mac80211/drop.h in 6.12): the
    enumerators at (id << 16) + 1 + index, and RX_DROP_MONITOR = 2 << 16, the public
    slot-0 name ([0] of mac80211's name table).  Not reasons: the internal slot-0 bases
    (__OVS_DROP_REASON, ___RX_DROP_UNUSABLE), OVS_DROP_MAX, and
    mac80211's RX_CONTINUE / RX_QUEUED, which alias SKB_CONSUMED / SKB_NOT_DROPPED_YET;
    mac80211's ___RX_DROP_* twins are the internal names of its RX_DROP_* reasons.
"""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from analyzer.commands.header import PREFIX, render

from helpers import oracle
from test_header import STRICT, compile_run

pytestmark = pytest.mark.realtree

FIXTURES = {"6.1": ("analysis_61", "root_61"), "6.12": ("analysis_612", "root_612")}


def short_of(kernel_name: str) -> str:
    for p in ("SKB_DROP_REASON_", "SKB_"):
        if kernel_name.startswith(p):
            return kernel_name[len(p):]
    return kernel_name


def kernel_reasons(res: oracle.OracleResult) -> dict[str, tuple[str, int]]:
    """header identifier -> (kernel enumerator, value), from the compiled headers."""
    out: dict[str, tuple[str, int]] = {}
    core = res.enum(oracle.CORE_ENUM)
    for n, v in zip(core.enumerators, core.values):
        if n not in ("SKB_DROP_REASON_MAX", "SKB_DROP_REASON_SUBSYS_MASK"):
            out[PREFIX + short_of(n)] = (n, v)
    for e in res.enums:
        if e.file not in res.subsystem_files:
            continue
        for n, v in zip(e.enumerators, e.values):
            # a public base slot (RX_DROP_MONITOR = 2 << 16, [0] of mac80211's name table)
            # is a reason; the internal ones start with "_"
            if n.startswith("_") or n.endswith("_MAX") or v >> 16 == 0:
                continue
            out[PREFIX + n] = (n, v)
    return out


@pytest.fixture(scope="module", params=["6.1", "6.12"])
def case(request):
    version = request.param
    analysis_fixture, root_fixture = FIXTURES[version]
    root = request.getfixturevalue(root_fixture)      # tests/conftest.py: the Debian tree
    res = oracle.compiler_enums(root)
    analysis = request.getfixturevalue(analysis_fixture)
    return version, root, res, analysis, render(analysis, f"debian:{version}")


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_header_values_equal_the_kernel_compiled(case, tmp_path, cc):
    version, _root, res, analysis, text = case
    if not shutil.which(cc):
        pytest.skip(f"{cc} not installed")
    out = compile_run(text, tmp_path, cc, STRICT)
    want = {ident: v for ident, (_n, v) in kernel_reasons(res).items()}
    got = out["values"]
    assert sorted(set(want) - set(got)) == []      # no kernel reason missing from the header
    assert sorted(set(got) - set(want)) == []      # no header entry the kernel lacks
    assert got == want
    # names printed through the X-macro and skbdrop_reason_name() are the kernel's strings
    assert all(out["names"][i] == i[len(PREFIX):] for i in got)
    assert int(out["max"]) == dict(zip(res.enum(oracle.CORE_ENUM).enumerators,
                                       res.enum(oracle.CORE_ENUM).values))["SKB_DROP_REASON_MAX"]
    assert out["version"] == analysis.kernel.version and out["version"].startswith(version + ".")
    # 6.1.192 has 67 enumerators in enum skb_drop_reason (66 reasons + MAX); 6.12.117 has
    # 106 (104 reasons + MAX + SUBSYS_MASK), RX_DROP_MONITOR + 3 mac80211 monitor + 46
    # unusable + 11 ovs reasons
    assert len(got) == {"6.1": 66, "6.12": 104 + 1 + 3 + 46 + 11}[version]


def test_header_and_kernel_header_in_one_translation_unit(case, tmp_path):
    """The kernel's own catalogue headers and ours, together, every pair equal at compile time."""
    version, root, res, _analysis, text = case
    (tmp_path / "skbdrop_reasons.h").write_text(text)
    pairs = kernel_reasons(res)
    lines = [oracle.PREAMBLE, "#define _LINUX_SKBUFF_H 1", "#include <net/dropreason.h>",
             "struct sk_buff;",
             "void kfree_skb_reason(struct sk_buff *skb, enum skb_drop_reason reason);"]
    lines += [f'#include "{h}"' for h in res.subsystem_files]
    lines += ['#include "skbdrop_reasons.h"']
    for ident, (kname, _v) in sorted(pairs.items()):
        lines.append(f'_Static_assert((long long){ident} == (long long){kname}, "{ident}");')
    lines.append('_Static_assert(SKBDROP_REASON_MAX == (int)SKB_DROP_REASON_MAX, "MAX");')
    sub = res.enum(oracle.SUBSYS_ENUM)
    if sub is not None:
        for n in sub.enumerators:
            ours = PREFIX + n[len("SKB_DROP_REASON_"):]
            lines.append(f'_Static_assert((int){ours} == (int){n}, "{n}");')
        lines.append("_Static_assert(SKBDROP_REASON_SUBSYS_SHIFT == SKB_DROP_REASON_SUBSYS_SHIFT, "
                     '"shift");')
        lines.append("_Static_assert(SKBDROP_REASON_SUBSYS_MASK == "
                     '(unsigned int)SKB_DROP_REASON_SUBSYS_MASK, "mask");')
    else:
        assert "SUBSYS" not in text.split("#define SKBDROP_REASON_LIST")[0].split("*/", 1)[1]
    lines.append("int main(void) { return 0; }")
    (tmp_path / "tu.c").write_text("\n".join(lines) + "\n")
    r = subprocess.run(["gcc", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-Wno-unused-function",
                        "-I", os.path.join(root, "include"), "-I", root, "-o", str(tmp_path / "tu"),
                        str(tmp_path / "tu.c")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[:3000]
    assert len(pairs) > 60
