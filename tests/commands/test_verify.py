"""`skbdrop verify` and the BTF / tracefs readers, on hand-made inputs.

The checks against the running 6.18 kernel's captured BTF and tracepoint (with the
vendored 6.18 catalogue, and with Debian 6.12) are in test_verify_runtime.py.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from analyzer.source import btf

from analyzer import cli
from analyzer.errors import InputError
from analyzer.commands.header import require_catalogue
from analyzer.model import Analysis
from analyzer.commands.verify import verify

from helpers import TESTS

ROOT = os.path.dirname(TESTS)
DATA = os.path.join(TESTS, "data", "diff")
NEW = os.path.join(DATA, "new.json")
NOCAT = os.path.join(DATA, "nocatalogue.json")
RUNTIME = os.path.join(TESTS, "data", "runtime-6.18")


def load(path: str) -> Analysis:
    with open(path, encoding="utf-8") as f:
        return Analysis.from_json(f.read())


def btf_json(enums: dict[str, list[tuple[str, int]]]) -> dict:
    """A document in the shape `bpftool btf dump file F -j` writes."""
    return {"types": [{"id": i + 1, "kind": "ENUM", "name": name, "encoding": "UNSIGNED",
                       "size": 4, "vlen": len(vals),
                       "values": [{"name": n, "val": v} for n, v in vals]}
                      for i, (name, vals) in enumerate(enums.items())]}


def kernel_enums_of(a: Analysis) -> dict[str, list[tuple[str, int]]]:
    """The enums a kernel built from this catalogue would have in its BTF, with bounds."""
    core = [(r.name, r.value) for r in a.reasons if r.subsystem == "core"
            and r.name != "SKB_DROP_REASON_SUBSYS_MASK"]
    subsys = [(s.enumerator, s.id) for s in a.subsystems] + [("SKB_DROP_REASON_SUBSYS_NUM", 4)]
    ovs = [("__OVS_DROP_REASON", 3 << 16)] + [(r.name, r.value) for r in a.reasons
                                              if r.subsystem == "openvswitch"]
    return {"skb_drop_reason": core, "skb_drop_reason_subsys": subsys, "ovs_drop_reason": ovs}


def write(tmp_path, name, doc) -> str:
    p = tmp_path / name
    p.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return str(p)


def test_matching_btf_has_no_mismatch(tmp_path):
    a = load(NEW)
    path = write(tmp_path, "btf.json", btf_json(kernel_enums_of(a)))
    res = verify(a, NEW, btf=path)
    assert res.ok and res.mismatches == () and res.unchecked == ()
    # 9 core reasons + 2 subsystem ids (core, openvswitch) + 2 openvswitch reasons
    assert res.compared == 13


def test_every_kind_of_mismatch(tmp_path):
    a = load(NEW)
    e = kernel_enums_of(a)
    e["skb_drop_reason"] = [(n, v + 1 if n == "SKB_DROP_REASON_NETFILTER_DROP" else v)
                            for n, v in e["skb_drop_reason"] if n != "SKB_DROP_REASON_TCP_CSUM"]
    e["skb_drop_reason"].append(("SKB_DROP_REASON_BRAND_NEW", 42))
    e["ovs_drop_reason"].append(("OVS_DROP_EXPLICIT", (3 << 16) + 3))
    e["ovs_drop_reason"].append(("RX_DROP_U_ELSEWHERE", (1 << 16) + 1))   # not this subsystem
    res = verify(a, NEW, btf=write(tmp_path, "btf.json", btf_json(e)))
    got = {(m.enum, m.kind, m.name, m.catalogue, m.runtime) for m in res.mismatches}
    assert got == {
        ("skb_drop_reason", "missing", "SKB_DROP_REASON_TCP_CSUM", 6, None),
        ("skb_drop_reason", "value", "SKB_DROP_REASON_NETFILTER_DROP", 7, 8),
        ("skb_drop_reason", "extra", "SKB_DROP_REASON_BRAND_NEW", None, 42),
        ("ovs_drop_reason", "extra", "OVS_DROP_EXPLICIT", None, (3 << 16) + 3),
    }
    assert [m.delta for m in res.mismatches if m.kind == "value"] == [1]


def test_renumbered_subsystem(tmp_path):
    """openvswitch moved from id 3 to 2 (as upstream did in 2025): its id and reasons move."""
    a = load(NEW)
    e = kernel_enums_of(a)
    e["skb_drop_reason_subsys"] = [(n, 2 if n.endswith("OPENVSWITCH") else v)
                                   for n, v in e["skb_drop_reason_subsys"]]
    e["ovs_drop_reason"] = [(n, v - (1 << 16)) for n, v in e["ovs_drop_reason"]]
    res = verify(a, NEW, btf=write(tmp_path, "btf.json", btf_json(e)))
    assert [(m.enum, m.kind, m.name, m.delta) for m in res.mismatches] == [
        ("skb_drop_reason_subsys", "value", "SKB_DROP_REASON_SUBSYS_OPENVSWITCH", -1),
        ("ovs_drop_reason", "value", "OVS_DROP_LAST_ACTION", -(1 << 16)),
        ("ovs_drop_reason", "value", "OVS_DROP_ACTION_ERROR", -(1 << 16)),
    ]


def test_subsystem_enum_absent_is_unchecked(tmp_path):
    a = load(NEW)
    e = kernel_enums_of(a)
    del e["ovs_drop_reason"]            # openvswitch.ko not loaded: only vmlinux's BTF
    res = verify(a, NEW, btf=write(tmp_path, "btf.json", btf_json(e)))
    assert res.ok
    assert [u.subsystem for u in res.unchecked] == ["openvswitch"]


def test_cli_verify_exit_codes(tmp_path, capsys):
    a = load(NEW)
    good = write(tmp_path, "good.json", btf_json(kernel_enums_of(a)))
    assert cli.main(["verify", NEW, "--btf", good]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "ok: 13 names compared, no mismatch"
    e = kernel_enums_of(a)
    e["skb_drop_reason"] = [(n, v) for n, v in e["skb_drop_reason"] if n != "SKB_CONSUMED"]
    bad = write(tmp_path, "bad.json", btf_json(e))
    assert cli.main(["verify", NEW, "--btf", bad]) == 1
    out = capsys.readouterr().out
    assert "missing  skb_drop_reason: SKB_CONSUMED = 1 in the catalogue, not in the running kernel" in out
    assert cli.main(["verify", NEW, "--btf", bad, "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and doc["mismatches"] == [
        {"enum": "skb_drop_reason", "kind": "missing", "name": "SKB_CONSUMED", "catalogue": 1,
         "runtime": None, "delta": None}]


def tracefs_format(pairs: list[tuple[object, str]], event="kfree_skb") -> str:
    table = ", ".join(f'{{ {v}, "{n}" }}' for v, n in pairs)
    return (f"name: {event}\nID: 1\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;"
            f"\tsigned:0;\n\nprint fmt: \"skbaddr=%p reason: %s\", REC->skbaddr, "
            f"__print_symbolic(REC->reason, {table})\n")


def test_tracefs_compare(tmp_path):
    a = load(NEW)
    # core reasons of the X-macro list (NOT_DROPPED_YET and CONSUMED are declared before it)
    pairs = [(r.value, r.short) for r in a.reasons if r.subsystem == "core"
             and r.short not in ("NOT_DROPPED_YET", "CONSUMED", "SUBSYS_MASK")]
    res = verify(a, NEW, tracefs_format=write(tmp_path, "format", tracefs_format(pairs)))
    assert res.ok and res.compared == 7
    assert [u.subsystem for u in res.unchecked] == ["openvswitch"]
    pairs = [(v + (1 if n == "TCP_CSUM" else 0), n) for v, n in pairs] + [(99, "NEWER")]
    res = verify(a, NEW, tracefs_format=write(tmp_path, "format2", tracefs_format(pairs)))
    assert {(m.kind, m.name, m.catalogue, m.runtime) for m in res.mismatches} == {
        ("value", "TCP_CSUM", 6, 7), ("extra", "NEWER", None, 99)}


def test_tracefs_symbolic_values_are_not_compared(tmp_path):
    a = load(NEW)
    pairs = [(2, "NOT_SPECIFIED"), ("SKB_DROP_REASON_NO_SOCKET", "NO_SOCKET")]
    res = verify(a, NEW, tracefs_format=write(tmp_path, "format", tracefs_format(pairs)))
    assert any("symbolic" in n for n in res.notes)
    assert all(m.kind == "missing" for m in res.mismatches)   # the reasons not listed at all
    assert "NO_SOCKET" not in {m.name for m in res.mismatches}


def test_read_trace_format_of_the_running_kernel_capture():
    tf = btf.read_trace_format(os.path.join(RUNTIME, "kfree_skb.format"))
    vals, symbolic = tf.numeric()
    assert symbolic == [] and tf.system in (None, "skb")
    # the live 6.18 tracepoint lists NOT_SPECIFIED = 2 first (docs: kernel-layouts.md)
    assert tf.symbols[0] == ("2", "NOT_SPECIFIED") and vals["NO_SOCKET"] == 3


# --- bad input: one line, exit 2 ----------------------------------------------------------

def one_line_exit_2(capsys, argv, needle):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and needle in err, err


def test_bad_inputs(tmp_path, capsys):
    notbtf = write(tmp_path, "notbtf.bin", "hello, I am not BTF\n")
    one_line_exit_2(capsys, ["verify", NEW, "--btf", notbtf], "not BTF")
    one_line_exit_2(capsys, ["verify", NEW, "--btf", str(tmp_path / "absent")], "no such file")
    other = write(tmp_path, "other.json", {"types": [{"kind": "ENUM", "name": "x", "values": []}]})
    one_line_exit_2(capsys, ["verify", NEW, "--btf", other], "no enum skb_drop_reason")
    one_line_exit_2(capsys, ["verify", NEW, "--btf", write(tmp_path, "l.json", '{"a": 1}')],
                    "not a bpftool BTF JSON dump")
    consume = os.path.join(RUNTIME, "consume_skb.format")
    one_line_exit_2(capsys, ["verify", NEW, "--tracefs-format", consume], "'consume_skb'")
    one_line_exit_2(capsys, ["verify", NEW, "--tracefs-format", notbtf], "not a tracefs event format")
    one_line_exit_2(capsys, ["verify", NOCAT, "--tracefs-format", consume], "no drop-reason catalogue")


def raw_btf(tmp_path, source: str) -> tuple[str, str]:
    """A raw BTF blob and the ELF object it came from: the .BTF section of a clang -g BPF
    object (llvm-objcopy), or else of a gcc -gbtf object (GNU objcopy)."""
    (tmp_path / "e.c").write_text(source)
    obj, blob = str(tmp_path / "e.o"), str(tmp_path / "e.btf")
    if shutil.which("clang") and shutil.which("llvm-objcopy"):
        steps = [["clang", "-g", "-target", "bpf", "-c", str(tmp_path / "e.c"), "-o", obj],
                 ["llvm-objcopy", "--dump-section", f".BTF={blob}", obj]]
    elif shutil.which("gcc") and shutil.which("objcopy"):
        steps = [["gcc", "-gbtf", "-c", str(tmp_path / "e.c"), "-o", obj],
                 ["objcopy", "--dump-section", f".BTF={blob}", obj]]
    else:
        pytest.skip("neither clang+llvm-objcopy nor gcc+objcopy to build a raw BTF blob")
    for cmd in steps:
        subprocess.run(cmd, check=True)
    return blob, obj


def test_raw_btf_is_read_through_bpftool(tmp_path, capsys):
    if not shutil.which("bpftool") and not any(os.access(p, os.X_OK) for p in btf.BPFTOOL_FALLBACKS):
        pytest.skip("bpftool not installed")
    a = load(NEW)
    e = kernel_enums_of(a)
    src = "".join(f"enum {name} {{ " + ", ".join(f"{n} = {v}" for n, v in vals) + f" }} keep_{name};\n"
                  for name, vals in e.items())
    path, obj = raw_btf(tmp_path, src)
    with open(path, "rb") as f:
        assert f.read(2) == b"\x9f\xeb"
    enums = btf.read_enums(path)
    assert enums["skb_drop_reason"].as_dict()["SKB_DROP_REASON_NETFILTER_DROP"] == 7
    assert cli.main(["verify", NEW, "--btf", path]) == 0
    assert cli.main(["verify", NEW, "--btf", obj]) == 0    # an ELF file with a .BTF section
    capsys.readouterr()


def test_bpftool_missing(tmp_path, capsys, monkeypatch):
    path = write(tmp_path, "blob.btf", "")
    with open(path, "wb") as f:
        f.write(b"\x9f\xeb\x01\x00" + b"\x00" * 20)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(btf, "BPFTOOL_FALLBACKS", ())
    one_line_exit_2(capsys, ["verify", NEW, "--btf", path], "bpftool not found")
    with pytest.raises(InputError):
        btf.read_enums(path)


def test_truncated_raw_btf(tmp_path, capsys):
    if not shutil.which("bpftool"):
        pytest.skip("bpftool not installed")
    path = str(tmp_path / "trunc.btf")
    with open(path, "wb") as f:
        f.write(b"\x9f\xeb\x01\x00" + b"\x00" * 20)
    one_line_exit_2(capsys, ["verify", NEW, "--btf", path], "bpftool cannot read it as BTF")


def test_subprocess_no_traceback(tmp_path):
    notbtf = write(tmp_path, "x", "garbage")
    r = subprocess.run([sys.executable, "-m", "analyzer.cli", "verify", NEW, "--btf", notbtf],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1 and "Traceback" not in r.stderr


def test_require_catalogue_message():
    with pytest.raises(InputError, match="no drop-reason catalogue"):
        require_catalogue(load(NOCAT), "x")


def test_module_btf_checks_its_subsystem_only(tmp_path):
    """A module's BTF (e.g. /sys/kernel/btf/openvswitch dumped with vmlinux as base) has
    its own enum only: that subsystem is compared, the core is listed as unchecked."""
    a = load(NEW)
    e = kernel_enums_of(a)
    ovs = {"ovs_drop_reason": e["ovs_drop_reason"]}
    res = verify(a, NEW, btf=write(tmp_path, "ovs.json", btf_json(ovs)))
    assert res.ok and res.compared == 2
    assert [u.subsystem for u in res.unchecked] == ["core"]
    ovs["ovs_drop_reason"] = [(n, v + 1) for n, v in ovs["ovs_drop_reason"]]
    res = verify(a, NEW, btf=write(tmp_path, "ovs2.json", btf_json(ovs)))
    assert [(m.kind, m.name, m.delta) for m in res.mismatches] == [
        ("value", "OVS_DROP_LAST_ACTION", 1), ("value", "OVS_DROP_ACTION_ERROR", 1)]
