"""The compiler oracle (tests/helpers/oracle.py): gcc's values for a tree's drop-reason enums.

Real-tree expectations were read from Debian's 6.1.192 and 6.12.117 sources by hand; the
reasoning is next to each number.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from helpers import FIXTURES
from helpers.oracle import (OracleError, catalogue_gold, compiler_enums, compiler_values,
                            extract_enum_text)

HERE = os.path.dirname(os.path.abspath(__file__))


# --- real trees -----------------------------------------------------------------------------

def test_61_counts_and_values(root_61):
    res = compiler_enums(root_61)
    assert res.layout == "dropreason-xmacro"
    core = res.enum("skb_drop_reason")
    assert core.file == "include/net/dropreason.h"
    assert len(core.enumerators) == 67          # kernel-layouts.md, and counted in the file
    assert res.enum("skb_drop_reason_subsys") is None
    assert res.subsystem_files == ()
    v = res.values()
    # include/net/dropreason.h (6.1.192): "SKB_NOT_DROPPED_YET = 0," then
    # NOT_SPECIFIED, NO_SOCKET, PKT_TOO_SMALL, TCP_CSUM, SOCKET_FILTER, UDP_CSUM,
    # NETFILTER_DROP: no SKB_CONSUMED in 6.1, so NOT_SPECIFIED = 1 and NETFILTER_DROP = 7
    assert v["SKB_NOT_DROPPED_YET"] == 0
    assert v["SKB_DROP_REASON_NOT_SPECIFIED"] == 1
    assert v["SKB_DROP_REASON_NETFILTER_DROP"] == 7
    assert "SKB_CONSUMED" not in v
    # MAX is the last of the 67 enumerators
    assert v["SKB_DROP_REASON_MAX"] == 66
    assert core.enumerators[-1] == "SKB_DROP_REASON_MAX"


def test_612_counts_and_values(root_612):
    res = compiler_enums(root_612)
    assert res.layout == "dropreason-core"
    assert res.subsystem_files == ("net/mac80211/drop.h", "net/openvswitch/drop.h")
    assert res.shift == 16                       # "#define SKB_DROP_REASON_SUBSYS_SHIFT 16"
    counts = {e.name: len(e.enumerators) for e in res.enums}
    assert counts == {"skb_drop_reason": 106, "skb_drop_reason_subsys": 5,
                      "___mac80211_drop_reason": 53, "mac80211_drop_reason": 52,
                      "ovs_drop_reason": 13}
    v = res.values()
    # dropreason-core.h (6.12.117): NOT_DROPPED_YET = 0, CONSUMED, NOT_SPECIFIED,
    # NO_SOCKET, SOCKET_CLOSE, SOCKET_FILTER, SOCKET_RCVBUFF, UNIX_SKIP_OOB,
    # PKT_TOO_SMALL, TCP_CSUM, UDP_CSUM, NETFILTER_DROP -> 0, 1, 2, ..., 11
    assert (v["SKB_CONSUMED"], v["SKB_DROP_REASON_NOT_SPECIFIED"]) == (1, 2)
    assert v["SKB_DROP_REASON_NETFILTER_DROP"] == 11
    # written out in the header; does not fit an int, gcc makes the enum unsigned
    assert v["SKB_DROP_REASON_SUBSYS_MASK"] == 0xFFFF0000
    # dropreason.h: CORE, MAC80211_UNUSABLE, MAC80211_MONITOR, OPENVSWITCH, NUM
    assert [v[f"SKB_DROP_REASON_SUBSYS_{n}"] for n in
            ("CORE", "MAC80211_UNUSABLE", "MAC80211_MONITOR", "OPENVSWITCH", "NUM")] == [0, 1, 2, 3, 4]
    # openvswitch/drop.h: __OVS_DROP_REASON = OPENVSWITCH << SHIFT = 3 << 16, then the list
    assert v["__OVS_DROP_REASON"] == 3 << 16
    assert v["OVS_DROP_LAST_ACTION"] == 196609
    assert v["OVS_DROP_IP_TTL"] == (3 << 16) + 11  # the 11th entry of OVS_DROP_REASONS
    # mac80211/drop.h: ___RX_DROP_UNUSABLE = 1 << 16, RX_DROP_U_MIC_FAIL the first after it;
    # RX_DROP_M_* after ___RX_DROP_MONITOR = 2 << 16; RX_CONTINUE = SKB_CONSUMED (cast)
    assert v["RX_DROP_U_MIC_FAIL"] == 65537
    assert v["RX_DROP_M_UNEXPECTED_4ADDR_FRAME"] == (2 << 16) + 1
    assert v["RX_DROP_MONITOR"] == 2 << 16
    assert (v["RX_CONTINUE"], v["RX_QUEUED"]) == (1, 0)


def test_612_gold_selection(root_612):
    """What the gold calls reasons: core minus the mask, subsystem reasons minus
    internal base slots, *_MAX and ___ twins; RX_DROP_MONITOR, the public base slot of
    MAC80211_MONITOR ([0] of mac80211's name table), is one."""
    g = catalogue_gold(root_612)
    r = g["reasons"]
    assert len([n for n in r if n.startswith("SKB_")]) == 105      # 106 minus SUBSYS_MASK
    assert "SKB_DROP_REASON_MAX" in r and "SKB_DROP_REASON_SUBSYS_MASK" not in r
    # RX_DROP_MONITOR + 3 monitor + 46 unusable public mac80211 names, 11 openvswitch names
    assert len([n for n in r if n.startswith("RX_DROP_")]) == 50
    assert r["RX_DROP_MONITOR"] == 0x20000
    assert len([n for n in r if n.startswith("OVS_DROP_")]) == 11
    assert not any(n.startswith("_") or n in ("OVS_DROP_MAX", "RX_CONTINUE")
                   for n in r)
    assert g["subsystems"] == {"SKB_DROP_REASON_SUBSYS_CORE": 0,
                               "SKB_DROP_REASON_SUBSYS_MAC80211_UNUSABLE": 1,
                               "SKB_DROP_REASON_SUBSYS_MAC80211_MONITOR": 2,
                               "SKB_DROP_REASON_SUBSYS_OPENVSWITCH": 3}


@pytest.mark.parametrize("version", ["6.1", "6.12"])
def test_scanner_catalogue_equals_gcc(request, version):
    """The scanner's catalogue of the real tree is gcc's, value for value (cached scan)."""
    root = request.getfixturevalue("root_61" if version == "6.1" else "root_612")
    analysis = request.getfixturevalue("analysis_61" if version == "6.1" else "analysis_612")
    gold = catalogue_gold(root)
    assert analysis.kernel.layout == gold["layout"]
    assert {r.name: r.value for r in analysis.reasons} == gold["reasons"]
    assert {s.enumerator: s.id for s in analysis.subsystems} == gold["subsystems"]


# --- synthetic trees ---------------------------------------------------------------------

def _tree(tmp_path, files: dict[str, str]) -> str:
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return str(tmp_path)


CORE_H = """\
    #ifndef _LINUX_DROPREASON_CORE_H
    #define _LINUX_DROPREASON_CORE_H
    #include <linux/bits.h>
    #define DEFINE_DROP_REASON(FN, FNe) FN(NOT_SPECIFIED) FN(NO_SOCKET) FNe(MAX)
    enum skb_drop_reason {
    \t/** @SKB_NOT_DROPPED_YET: not dropped {yet} */
    \tSKB_NOT_DROPPED_YET = 0,
    \tSKB_CONSUMED,
    #define FN(x) SKB_DROP_REASON_##x,
    #define FNe(x) SKB_DROP_REASON_##x,
    \tDEFINE_DROP_REASON(FN, FNe)
    #undef FN
    #undef FNe
    \tSKB_DROP_REASON_SUBSYS_MASK = 0xffff0000,
    };
    #define SKB_DROP_REASON_SUBSYS_SHIFT 8
    #endif
"""
SUBSYS_H = """\
    #include <net/dropreason-core.h>
    enum skb_drop_reason_subsys { SKB_DROP_REASON_SUBSYS_CORE, SKB_DROP_REASON_SUBSYS_FOO,
    \tSKB_DROP_REASON_SUBSYS_NUM };
    extern const struct drop_reason_list __rcu *x[SKB_DROP_REASON_SUBSYS_NUM];
"""
FOO_H = """\
    #include <linux/skbuff.h>
    #include <net/dropreason.h>
    #define FOO_REASONS(R) R(FOO_A) R(FOO_B)
    enum foo_drop_reason {
    \t__FOO_BASE = SKB_DROP_REASON_SUBSYS_FOO << SKB_DROP_REASON_SUBSYS_SHIFT,
    #define ENUM(x) x,
    \tFOO_REASONS(ENUM)
    #undef ENUM
    \tFOO_MAX,
    };
    static inline void foo_drop(struct sk_buff *skb, enum foo_drop_reason r)
    {
    \tkfree_skb_reason(skb, (__force u32)r);
    }
"""


def test_expands_xmacros_and_finds_subsystems_by_shift(tmp_path):
    root = _tree(tmp_path, {"include/net/dropreason-core.h": CORE_H,
                            "include/net/dropreason.h": SUBSYS_H,
                            "drivers/foo/foo_drop.h": FOO_H})
    res = compiler_enums(root)
    assert res.layout == "dropreason-core"
    assert res.subsystem_files == ("drivers/foo/foo_drop.h",)
    assert res.shift == 8
    v = res.values()
    assert v["SKB_DROP_REASON_NO_SOCKET"] == 3 and v["SKB_DROP_REASON_MAX"] == 4
    assert v["FOO_A"] == (1 << 8) + 1 and v["FOO_MAX"] == (1 << 8) + 3
    g = catalogue_gold(root)
    assert {k: g["reasons"][k] for k in ("FOO_A", "FOO_B")} == {"FOO_A": 257, "FOO_B": 258}
    assert "FOO_MAX" not in g["reasons"] and "__FOO_BASE" not in g["reasons"]
    assert g["subsystems"] == {"SKB_DROP_REASON_SUBSYS_CORE": 0, "SKB_DROP_REASON_SUBSYS_FOO": 1}


def test_skbuff_enum_is_cut_out_of_the_heavy_header(tmp_path):
    root = _tree(tmp_path, {"include/linux/skbuff.h": """\
        #include <linux/this_does_not_exist.h>
        struct sk_buff { int x; };
        /* enum skb_drop_reason { FAKE } in a comment */
        enum skb_drop_reason {
        \tSKB_NOT_DROPPED_YET = 0,
        \tSKB_DROP_REASON_NOT_SPECIFIED,\t/* {braces} in a comment */
        \tSKB_DROP_REASON_MAX,
        };
        static inline int not_c_at_all(void) { return NOPE; }
        """})
    res = compiler_enums(root)
    assert res.layout == "skbuff-enum"
    assert compiler_values(root) == {"SKB_NOT_DROPPED_YET": 0,
                                     "SKB_DROP_REASON_NOT_SPECIFIED": 1,
                                     "SKB_DROP_REASON_MAX": 2}


def test_extract_enum_text():
    text = "enum other { A };\nenum skb_drop_reason {\n\tX, /* } */\n\tY = (1 << 2),\n};\nint z;"
    assert extract_enum_text(text, "skb_drop_reason") == \
        "enum skb_drop_reason {\n\tX, /* } */\n\tY = (1 << 2),\n};"
    with pytest.raises(OracleError):
        extract_enum_text(text, "nope")


def test_no_catalogue_is_an_error(tmp_path):
    root = _tree(tmp_path, {"Makefile": "VERSION = 5\n", "include/linux/skbuff.h": "int x;\n"})
    with pytest.raises(OracleError, match="no enum skb_drop_reason"):
        compiler_values(root)
    with pytest.raises(OracleError, match="not a directory"):
        compiler_values(str(tmp_path / "missing"))


def test_compile_error_is_one_line(tmp_path):
    root = _tree(tmp_path, {"include/net/dropreason.h": """\
        enum skb_drop_reason { SKB_DROP_REASON_NOT_SPECIFIED = UNDEFINED_THING };
        """})
    with pytest.raises(OracleError) as exc:
        compiler_values(root)
    assert "\n" not in str(exc.value) and "UNDEFINED_THING" in str(exc.value)


def test_command_line(tmp_path):
    tool = os.path.join(HERE, "oracle.py")
    p = subprocess.run([sys.executable, tool, str(tmp_path / "nope")], capture_output=True,
                       text=True)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr
    fixture = os.path.join(FIXTURES, "layouts", "v5.17")
    p = subprocess.run([sys.executable, tool, fixture], capture_output=True, text=True)
    assert p.returncode == 0
    assert p.stdout.splitlines() == [
        "layout skbuff-enum",
        "include/linux/skbuff.h skb_drop_reason SKB_DROP_REASON_NOT_SPECIFIED 0",
        "include/linux/skbuff.h skb_drop_reason SKB_DROP_REASON_MAX 1"]
