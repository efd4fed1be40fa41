"""`skbdrop header` on hand-made analyses (tests/data/diff/*.json).

The real-tree checks (Debian 6.1 / 6.12 against the compiler oracle) are in
tests/commands/test_header_realtree.py.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from analyzer import cli
from analyzer.commands.header import PREFIX, catalogue, render
from analyzer.model import Analysis

from helpers import TESTS

ROOT = os.path.dirname(TESTS)
DATA = os.path.join(TESTS, "data", "diff")
NEW = os.path.join(DATA, "new.json")
OLD = os.path.join(DATA, "old.json")
NOCAT = os.path.join(DATA, "nocatalogue.json")

STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]

# Prints every entry of the X-macro list, checks that the enumerator and the X-macro
# agree and that skbdrop_reason_name() maps the value back to the name.
PROGRAM = r"""
#include <stdio.h>
#include <string.h>
#include "%s"
static int bad;
#define SHOW(id, val, name) \
	printf("%%s %%u %%s\n", #id, (unsigned)(id), name); \
	if ((unsigned)(id) != (unsigned)(val)) bad++; \
	if (!skbdrop_reason_name((unsigned)(id)) || strcmp(skbdrop_reason_name((unsigned)(id)), name)) bad++;
int main(void)
{
	SKBDROP_REASON_LIST(SHOW)
	printf("version %%s\n", SKBDROP_REASON_KERNEL_VERSION);
	printf("max %%d\n", (int)SKBDROP_REASON_MAX);
	printf("count %%d\n", SKBDROP_REASON_COUNT);
	if (skbdrop_reason_name(0xfffffffeu)) bad++;
	return bad;
}
"""


def load(path: str) -> Analysis:
    with open(path, encoding="utf-8") as f:
        return Analysis.from_json(f.read())


def compile_run(header_text: str, tmp_path, cc: str, flags=STRICT) -> dict:
    """Compile PROGRAM against the header with `cc`, run it, parse its output."""
    hdr = tmp_path / "skbdrop_reasons.h"
    hdr.write_text(header_text)
    src = tmp_path / "prog.c"
    src.write_text(PROGRAM % hdr.name)
    exe = tmp_path / f"prog-{os.path.basename(cc)}"
    r = subprocess.run([cc, *flags, "-o", str(exe), str(src)], capture_output=True, text=True)
    assert r.returncode == 0, f"{cc} failed:\n{r.stderr}"
    r = subprocess.run([str(exe)], capture_output=True, text=True)
    assert r.returncode == 0, f"program found {r.returncode} inconsistencies"
    out = {"values": {}, "names": {}}
    for line in r.stdout.splitlines():
        parts = line.split()
        if parts[0] in ("version", "max", "count"):
            out[parts[0]] = parts[1]
        else:
            out["values"][parts[0]] = int(parts[1])
            out["names"][parts[0]] = parts[2]
    return out


def expected(a: Analysis) -> dict[str, int]:
    return {PREFIX + r.short: r.value for r in catalogue(a).reasons}


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_header_compiles_strict_and_prints_every_value(tmp_path, cc):
    if not shutil.which(cc):
        pytest.skip(f"{cc} not installed")
    a = load(NEW)
    out = compile_run(render(a), tmp_path, cc)
    # the hand-made catalogue: 9 core reasons (MAX and SUBSYS_MASK are bounds, not reasons)
    # and 2 openvswitch reasons (OVS_DROP_MAX is a bound)
    assert out["values"] == expected(a)
    assert len(out["values"]) == 11
    assert out["values"]["SKBDROP_REASON_NETFILTER_DROP"] == 7
    assert out["values"]["SKBDROP_REASON_OVS_DROP_ACTION_ERROR"] == (3 << 16) + 2
    assert out["names"]["SKBDROP_REASON_NO_SOCKET"] == "NO_SOCKET"
    assert out["names"]["SKBDROP_REASON_OVS_DROP_LAST_ACTION"] == "OVS_DROP_LAST_ACTION"
    assert out["version"] == "6.12.0-mini"
    assert out["max"] == "9"            # SKB_DROP_REASON_MAX of the catalogue
    assert out["count"] == "11"


def test_header_old_layout_without_subsystems(tmp_path):
    a = load(OLD)
    text = render(a)
    assert "SUBSYS" not in text.split("*/", 2)[-1].split("#ifndef SKBDROP_REASON_NO_HELPERS")[0] \
        .replace("SKBDROP_REASON_LIST", "")
    out = compile_run(text, tmp_path, "gcc")
    assert out["values"] == expected(a)
    assert out["max"] == "8"


def test_header_shape():
    a = load(NEW)
    text = render(a)
    lines = text.splitlines()
    assert lines[0] == "/* SPDX-License-Identifier: GPL-2.0-only */"
    assert "#ifndef SKBDROP_DROP_REASONS_H" in lines and "#define SKBDROP_DROP_REASONS_H" in lines
    assert lines[-1] == "#endif /* SKBDROP_DROP_REASONS_H */"
    assert "#include" not in text.replace("#include <stdio.h>", "")   # needs no header at all
    assert "Linux 6.12.0-mini" in text and "NOT A STABLE ABI" in text
    # subsystem id, shift and mask as the kernel defines them
    assert "#define SKBDROP_REASON_SUBSYS_SHIFT 16" in lines
    assert "#define SKBDROP_REASON_SUBSYS_MASK 0xffff0000u" in lines
    assert "\tSKBDROP_REASON_SUBSYS_OPENVSWITCH = 3," in lines
    assert "\tSKBDROP_REASON_SUBSYS_NUM = 4" in lines
    # kernel-doc carried over, with the kernel's own name
    assert "\t/** @SKBDROP_REASON_TCP_CSUM: TCP checksum error (SKB_DROP_REASON_TCP_CSUM) */" in lines
    # a doc spanning lines is joined and wrapped; no comment terminator or trigraph leaks
    i = lines.index("\tSKBDROP_REASON_SOCKET_CLOSE = 4,")
    comment = "\n".join(lines[i - 4:i])
    assert "close()d * / ?\\?/ odd" in comment
    assert "*/ ??/" not in text
    # every identifier outside comments carries the prefix (no clash with the kernel's names)
    code = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    code = re.sub(r'"[^"]*"', "", code)
    idents = set(re.findall(r"\b[A-Za-z_][A-Za-z0-9_]*\b", code))
    kernel_like = {i for i in idents if i.startswith(("SKB_", "OVS_", "RX_", "__"))}
    assert kernel_like == set()


def test_header_is_deterministic():
    a = load(NEW)
    assert render(a) == render(Analysis.from_json(a.to_json()))


def test_header_with_kernel_names_in_one_translation_unit(tmp_path):
    """Our header beside enumerators spelled as the kernel spells them: no clash."""
    a = load(NEW)
    (tmp_path / "skbdrop_reasons.h").write_text(render(a))
    kernel_like = "enum skb_drop_reason {\n" + "".join(
        f"\t{r.name} = {r.value},\n" for r in catalogue(a).core) + "\tSKB_DROP_REASON_MAX = 9\n};\n"
    asserts = "".join(f"typedef char check_{r.short}[((int){PREFIX}{r.short} == (int){r.name}) ? 1 : -1];\n"
                      for r in catalogue(a).core)
    (tmp_path / "tu.c").write_text(kernel_like + '#include "skbdrop_reasons.h"\n' + asserts +
                                   "int main(void) { return 0; }\n")
    r = subprocess.run(["gcc", *STRICT, "-Wno-unused-local-typedefs", "-o", str(tmp_path / "tu"),
                        str(tmp_path / "tu.c")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_header_for_bpf_target(tmp_path):
    if not shutil.which("clang"):
        pytest.skip("clang not installed")
    (tmp_path / "skbdrop_reasons.h").write_text(render(load(NEW)))
    (tmp_path / "prog.bpf.c").write_text(
        '#include "skbdrop_reasons.h"\n'
        "int reason_known(unsigned int v);\n"
        "int reason_known(unsigned int v) { return skbdrop_reason_name(v) != 0; }\n")
    r = subprocess.run(["clang", "-target", "bpf", "-O2", "-Wall", "-Werror", "-c",
                        str(tmp_path / "prog.bpf.c"), "-o", str(tmp_path / "prog.bpf.o")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_cli_header_to_file(tmp_path, capsys):
    out = tmp_path / "reasons.h"
    assert cli.main(["header", NEW, "-o", str(out)]) == 0
    assert out.read_text() == render(load(NEW))
    assert [p.name for p in tmp_path.iterdir()] == ["reasons.h"]   # no temporary left behind


def test_cli_header_no_catalogue(capsys):
    assert cli.main(["header", NOCAT]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no drop-reason catalogue" in err and "4.19.0" in err


def test_cli_header_bad_inputs(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert cli.main(["header", str(bad)]) == 2
    assert cli.main(["header", NEW, "-o", str(tmp_path)]) == 2      # a directory
    assert cli.main(["header", NEW, "-o", str(tmp_path / "no" / "x.h")]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 3 and "Traceback" not in err


def test_cli_header_subprocess_no_traceback():
    r = subprocess.run([sys.executable, "-m", "analyzer.cli", "header", NOCAT],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2
    assert r.stdout == "" and len(r.stderr.splitlines()) == 1 and "Traceback" not in r.stderr


def test_bounds_bases_and_aliases_are_not_reasons():
    """What a scanner may list from mac80211's and openvswitch's enums but is no reason:
    RX_CONTINUE / RX_QUEUED (= SKB_CONSUMED / SKB_NOT_DROPPED_YET), __OVS_DROP_REASON
    (an internal slot-0 base, id << 16), ___RX_* twins, OVS_DROP_MAX. RX_DROP_MONITOR,
    the public slot-0 name ([0] of mac80211's name table), is a reason."""
    from dataclasses import replace

    from analyzer.model import Reason, Subsystem
    a = load(NEW)
    f = "net/mac80211/drop.h"
    extra = (Reason("RX_CONTINUE", "RX_CONTINUE", 1, "mac80211_monitor", "", f, 90),
             Reason("RX_QUEUED", "RX_QUEUED", 0, "mac80211_monitor", "", f, 91),
             Reason("RX_DROP_MONITOR", "RX_DROP_MONITOR", 2 << 16, "mac80211_monitor", "", f, 92),
             Reason("___RX_DROP_M_BAD_BCN_KEYIDX", "___RX_DROP_M_BAD_BCN_KEYIDX", (2 << 16) + 2,
                    "mac80211_monitor", "", f, 80),
             Reason("RX_DROP_M_BAD_BCN_KEYIDX", "RX_DROP_M_BAD_BCN_KEYIDX", (2 << 16) + 2,
                    "mac80211_monitor", "", f, 94),
             Reason("__OVS_DROP_REASON", "__OVS_DROP_REASON", 3 << 16, "openvswitch", "",
                    "net/openvswitch/drop.h", 27))
    a = replace(a, reasons=a.reasons + extra, subsystems=a.subsystems + (
        Subsystem("mac80211_monitor", "SKB_DROP_REASON_SUBSYS_MAC80211_MONITOR", 2,
                  "include/net/dropreason.h", 20),))
    names = {r.name for r in catalogue(a).reasons}
    assert names == {r.name for r in catalogue(load(NEW)).reasons} | {"RX_DROP_M_BAD_BCN_KEYIDX",
                                                                       "RX_DROP_MONITOR"}
    assert "\tSKBDROP_REASON_RX_DROP_M_BAD_BCN_KEYIDX = 131074," in render(a).splitlines()
