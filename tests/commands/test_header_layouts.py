"""`skbdrop header` for every catalogue layout fixture (tests/fixtures/layouts/*: 5.17's
enum in skbuff.h, the 6.x X-macro dropreason.h, dropreason-core.h with subsystems).

Each fixture's expected.json is gcc's answer for its own headers (tests/helpers/oracle.py, see
tests/fixtures/layouts/README.md); the scanner reads the fixture, the header is
generated from that analysis, compiled strictly, and must print exactly those reasons
(bounds MAX / SUBSYS_MASK aside) at those values; it must also compile in one
translation unit with the fixture's own headers, every pair equal at compile time.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from analyzer.commands.header import PREFIX, render
from analyzer.pipeline import scan

from helpers import TESTS, oracle
from test_header import STRICT, compile_run

LAYOUTS = os.path.join(TESTS, "fixtures", "layouts")
DIRS = sorted(d for d in os.listdir(LAYOUTS)
              if os.path.isfile(os.path.join(LAYOUTS, d, "expected.json")))
BOUNDS = ("SKB_DROP_REASON_MAX", "SKB_DROP_REASON_SUBSYS_MASK")


def short_of(name: str) -> str:
    for p in ("SKB_DROP_REASON_", "SKB_"):
        if name.startswith(p):
            return name[len(p):]
    return name


@pytest.fixture(scope="module", params=DIRS)
def layout(request):
    root = os.path.join(LAYOUTS, request.param)
    with open(os.path.join(root, "expected.json"), encoding="utf-8") as f:
        gold = json.load(f)
    a = scan(root, use_cache=False)
    return root, gold, a, render(a, root)


def test_layouts_found():
    assert {"v5.17", "6.1.192", "v6.2", "v6.4", "6.12.117"} <= set(DIRS)


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_header_prints_the_gold(layout, tmp_path, cc):
    _root, gold, a, text = layout
    if not shutil.which(cc):
        pytest.skip(f"{cc} not installed")
    out = compile_run(text, tmp_path, cc, STRICT)
    want = {PREFIX + short_of(n): v for n, v in gold["reasons"].items() if n not in BOUNDS}
    assert out["values"] == want
    assert int(out["max"]) == gold["reasons"]["SKB_DROP_REASON_MAX"]
    assert out["version"] == a.kernel.version


def test_header_with_the_fixture_headers_in_one_translation_unit(layout, tmp_path):
    root, gold, _a, text = layout
    (tmp_path / "skbdrop_reasons.h").write_text(text)
    lay = oracle.detect_layout(root)
    lines = [oracle.PREAMBLE]
    if lay == "skbuff-enum":
        lines.append("#include <linux/skbuff.h>")
    else:
        lines += ["#define _LINUX_SKBUFF_H 1", "#include <net/dropreason.h>", "struct sk_buff;",
                  "void kfree_skb_reason(struct sk_buff *skb, enum skb_drop_reason reason);"]
        lines += [f'#include "{h}"' for h in oracle.subsystem_headers(root, lay)]
    lines.append('#include "skbdrop_reasons.h"')
    for n in sorted(gold["reasons"]):
        if n not in BOUNDS:
            lines.append(f"_Static_assert((long long){PREFIX}{short_of(n)} == (long long){n}, \"{n}\");")
    lines.append('_Static_assert(SKBDROP_REASON_MAX == (int)SKB_DROP_REASON_MAX, "MAX");')
    for n in sorted(gold["subsystems"]):
        if not n.endswith("_NUM"):
            lines.append(f"_Static_assert((int){PREFIX}{n[len('SKB_DROP_REASON_'):]} == (int){n}, \"{n}\");")
    lines.append("int main(void) { return 0; }")
    (tmp_path / "tu.c").write_text("\n".join(lines) + "\n")
    # the fixtures carry only catalogue headers: an empty linux/skbuff.h for the
    # subsystem headers that include it (its guard is defined above anyway)
    (tmp_path / "stub" / "linux").mkdir(parents=True)
    (tmp_path / "stub" / "linux" / "skbuff.h").write_text("")
    r = subprocess.run(["gcc", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-Wno-unused-function",
                        "-I", os.path.join(root, "include"), "-I", root,
                        "-idirafter", str(tmp_path / "stub"), "-o", str(tmp_path / "tu"),
                        str(tmp_path / "tu.c")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[:3000]
