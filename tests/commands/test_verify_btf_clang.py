"""`skbdrop verify` against BTF made independently of skbdrop: the tree's own catalogue
headers compiled by clang (`-target bpf -g`, so the compiler computes every value) and
read back by bpftool. Nothing here comes from the analysis being verified."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from analyzer.cli import main

pytestmark = pytest.mark.realtree

PRELUDE = """typedef unsigned long size_t;
#define __rcu
#define __bitwise
#define __force
"""
SKBUFF_STUB = """typedef unsigned int u32;
struct sk_buff;
void kfree_skb_reason(struct sk_buff *skb, u32 reason);
"""
# the headers that hold the catalogue in each layout, and the enums they define
HEADERS = {
    "61": (["net/dropreason.h"], ["skb_drop_reason"]),
    "612": (["net/dropreason.h", "net/openvswitch/drop.h", "net/mac80211/drop.h"],
            ["skb_drop_reason", "skb_drop_reason_subsys", "ovs_drop_reason",
             "mac80211_drop_reason"]),
}


def _tools():
    missing = [t for t in ("clang", "bpftool") if not shutil.which(t)]
    if missing:
        pytest.fail(f"{' and '.join(missing)} missing (the Makefile installs them)")


def compile_btf(tmp_path, root: str, which: str, edit=None) -> str:
    """An ELF object whose .BTF holds the catalogue enums as clang compiled them."""
    _tools()
    headers, enums = HEADERS[which]
    inc = tmp_path / "inc"
    (inc / "linux").mkdir(parents=True)
    (inc / "linux" / "skbuff.h").write_text(SKBUFF_STUB)
    src = tmp_path / "e.c"
    lines = [PRELUDE] + [f'#include "{h}"' if not h.startswith("net/dropreason") else
                         f"#include <{h}>" for h in headers]
    lines += [f"enum {e} keep_{e};" for e in enums]
    src.write_text("\n".join(lines) + "\n")
    args = ["clang", "-g", "-target", "bpf", "-nostdinc", "-w", f"-I{inc}"]
    if edit is not None:
        over = tmp_path / "over"
        edit(over)                               # a changed copy of a header, found first
        args.append(f"-I{over}")
    args += [f"-I{os.path.join(root, 'include')}", f"-I{root}", "-c", str(src), "-o",
             str(tmp_path / "e.o")]
    subprocess.run(args, check=True, capture_output=True)
    dump = subprocess.run(["bpftool", "btf", "dump", "file", str(tmp_path / "e.o"), "-j"],
                          check=True, capture_output=True, text=True).stdout
    got = {t["name"] for t in json.loads(dump)["types"] if t["kind"] in ("ENUM", "ENUM64")}
    assert set(enums) <= got
    return str(tmp_path / "e.o")


# compared: 6.1, the 67 enumerators of skb_drop_reason less SKB_DROP_REASON_MAX; 6.12,
# 104 core (106 less MAX and SUBSYS_MASK) + 4 subsystem ids (5 less NUM) + 12 openvswitch
# + 48 mac80211 reasons (the enums' own bounds left out)
@pytest.mark.parametrize("which,compared", [("61", 66), ("612", 169)])
def test_verify_against_clang_btf(which, compared, request, tmp_path, capsys):
    root = request.getfixturevalue(f"root_{which}")
    analysis = request.getfixturevalue(f"analysis_{which}")
    j = tmp_path / "a.json"
    j.write_text(analysis.to_json())
    obj = compile_btf(tmp_path, root, which)
    assert main(["verify", str(j), "--btf", obj, "--format", "json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["mismatches"] == [] and res["compared"] == compared, res


def test_verify_finds_a_renumbering_clang_made(root_612, analysis_612, tmp_path, capsys):
    """One enumerator inserted before NO_SOCKET in a copy of the header: every later core
    value moves up by one in the compiled BTF, and verify says so."""
    core = os.path.join(root_612, "include", "net", "dropreason-core.h")

    def edit(over):
        (over / "net").mkdir(parents=True)
        text = open(core, encoding="utf-8").read()
        new, n = re.subn(r"(\n\s*)(SKB_DROP_REASON_NO_SOCKET,)",
                         r"\1SKB_DROP_REASON_INSERTED_BY_TEST,\1\2", text, count=1)
        assert n == 1
        (over / "net" / "dropreason-core.h").write_text(new)
    j = tmp_path / "a.json"
    j.write_text(analysis_612.to_json())
    obj = compile_btf(tmp_path, root_612, "612", edit=edit)
    assert main(["verify", str(j), "--btf", obj, "--format", "json"]) == 1
    res = json.loads(capsys.readouterr().out)
    kinds = {(m["kind"], m["name"]) for m in res["mismatches"]}
    assert ("extra", "SKB_DROP_REASON_INSERTED_BY_TEST") in kinds
    moved = [m for m in res["mismatches"] if m["kind"] == "value"]
    assert moved and all(m["delta"] == 1 for m in moved)
    assert "SKB_DROP_REASON_NO_SOCKET" in {m["name"] for m in moved}
    assert "SKB_DROP_REASON_NOT_SPECIFIED" not in {m["name"] for m in moved}
