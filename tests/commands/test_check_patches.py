"""skbdrop check on hand-written patches against Debian's 6.12 tree (real scanner).

The patches are in tests/data/check/ (written by make_patches.py); each says in its
message what must be reported ("Expect: CODE FILE:LINE FUNCTION"; "-" for no function;
"EXIT 2" for a patch that must not apply; no Expect line for a clean patch). The
reasoning behind every expectation is in make_patches.py, next to the edit.
"""
from __future__ import annotations

import glob
import json
import os
import re
import subprocess
import sys
from types import SimpleNamespace

import jsonschema
import pytest

from analyzer.commands import check
from analyzer.cli import main
from analyzer.formats.sarif import to_sarif

from helpers import DEB612, TESTS, patch_base

pytestmark = pytest.mark.realtree

DATA = os.path.join(TESTS, "data", "check")
SCHEMA = os.path.join(DATA, "sarif-schema-2.1.0.json")
PATCHES = sorted(glob.glob(os.path.join(DATA, "*.patch")))


@pytest.fixture(scope="module")
def engine612(engines):
    return engines(DEB612)


def expectations(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return re.findall(r"^Expect: (.*)$", f.read(), re.M)


def args_for(patch: str, **kw) -> SimpleNamespace:
    d = dict(base=DEB612, patch=patch, git=None, squash=False, format="text",
             fail_on="warning", paths=",".join(check.DEFAULT_PATHS), terse=False, output="-",
             jobs=None, no_cache=False)
    d.update(kw)
    return SimpleNamespace(**d)


def found(rep) -> list[str]:
    return sorted(f"{f.code} {f.file}:{f.line} {f.function or '-'}" for f in rep.findings())


@pytest.mark.parametrize("path", [p for p in PATCHES if "does-not-apply" not in p],
                         ids=lambda p: os.path.basename(p)[:-6])
def test_patch(path, engines):
    base = patch_base(path)
    rep = check.run(args_for(path, base=base), engine_factory=engines)
    assert rep.kernel is None or rep.kernel.version == base.split(":")[1].split("-")[0]
    assert found(rep) == sorted(expectations(path)), check.to_text(rep)
    assert rep.exit_code() == (1 if any(
        f.severity != "info" for f in rep.findings()) else 0)
    # every format renders; SARIF validates against the 2.1.0 schema
    with open(SCHEMA) as f:
        jsonschema.Draft7Validator(json.load(f)).validate(to_sarif(rep))
    d = json.loads(check.to_json(rep))
    assert sum(len(p["findings"]) for p in d["patches"]) == len(rep.findings())


def test_new_unspecified_message_and_suggestions(engine612):
    path = os.path.join(DATA, "new-unspecified-udp.patch")
    rep = check.run(args_for(path), engine_factory=lambda spec: engine612)
    [f] = rep.findings()
    # __udp4_lib_rcv() sets drop_reason to these on its other paths (read in udp.c:
    # short_packet -> PKT_TOO_SMALL, csum_error -> UDP_CSUM, no socket -> NO_SOCKET)
    assert {"PKT_TOO_SMALL", "UDP_CSUM", "NO_SOCKET"} <= set(f.suggestions)
    assert f.fix.startswith("use kfree_skb_reason(")
    text = check.to_text(rep)
    assert text.startswith("WARNING:SKBDROP_NEW_UNSPECIFIED: ")
    # checkpatch's "#LINE: FILE: path:line:" with the line number in the patch file
    with open(path) as fh:
        lines = fh.read().split("\n")
    assert lines[f.patch_line - 1] == "+\t\tkfree_skb(skb);\t/* looped back */"
    assert f"#{f.patch_line}: FILE: net/ipv4/udp.c:{f.line}:" in text


def test_driver_fix_uses_reason_variant(engine612):
    rep = check.run(args_for(os.path.join(DATA, "new-unspecified-driver.patch")),
                    engine_factory=lambda spec: engine612)
    [f] = rep.findings()
    # 6.12's netdevice.h has dev_kfree_skb_any_reason(); dummy_xmit() has no other drop
    assert f.fix.startswith("use dev_kfree_skb_any_reason(") and f.suggestions == ()


def test_series_is_read_in_order(tmp_path, engine612):
    path = os.path.join(DATA, "series-reason-then-user.patch")
    rep = check.run(args_for(path), engine_factory=lambda spec: engine612)
    assert [r.patch.subject for r in rep.results] == [
        "[PATCH] net: add drop reason UDP_LOOPBACK", "[PATCH] udp: use SKB_DROP_REASON_UDP_LOOPBACK"]
    assert rep.findings() == ()
    # the first patch alone: its reason is produced by nothing (yet)
    first = tmp_path / "first.patch"
    first.write_text(open(path).read().split("\nFrom 0000")[0] + "\n")
    rep = check.run(args_for(str(first)), engine_factory=lambda spec: engine612)
    assert [f.code for f in rep.findings()] == ["SKBDROP_UNUSED_REASON"]


def test_directory_series_and_squash(tmp_path, engine612):
    text = open(os.path.join(DATA, "series-reason-then-user.patch")).read()
    a, b = text.split("\nFrom 0000", 1)
    (tmp_path / "0001-reason.patch").write_text(a + "\n")
    (tmp_path / "0002-user.patch").write_text("From 0000" + b)
    rep = check.run(args_for(str(tmp_path)), engine_factory=lambda spec: engine612)
    assert len(rep.results) == 2 and rep.findings() == ()
    rep = check.run(args_for(str(tmp_path), squash=True), engine_factory=lambda spec: engine612)
    assert len(rep.results) == 1 and rep.findings() == ()


def test_does_not_apply_cli(capsys):
    rc = main(["check", "--base", DEB612, "--patch",
               os.path.join(DATA, "does-not-apply.patch")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert "net/ipv4/udp.c: hunk #1 (@@ -" in err and "does not apply" in err


def test_docs_only_patch_opens_no_tree(monkeypatch, capsys):
    def boom(*a, **k):
        raise AssertionError("the tree must not be opened")
    monkeypatch.setattr(check, "ScanEngine", boom)
    rc = main(["check", "--base", DEB612, "--patch",
               os.path.join(DATA, "clean-docs-only.patch")])
    out = capsys.readouterr().out
    assert rc == 0 and "judged without parsing the tree" in out


def test_cli_formats(tmp_path):
    path = os.path.join(DATA, "new-reason-undocumented-unused.patch")
    outs = {}
    for fmt in ("text", "json", "sarif"):
        o = tmp_path / f"out.{fmt}"
        r = subprocess.run([sys.executable, "-m", "analyzer.cli", "check", "--base", DEB612,
                            "--patch", path, "--format", fmt, "-o", str(o)],
                           capture_output=True, text=True, cwd=os.path.dirname(TESTS))
        assert r.returncode == 1, r.stderr
        outs[fmt] = o.read_text()
    assert "WARNING:SKBDROP_UNDOCUMENTED_REASON:" in outs["text"]
    assert json.loads(outs["json"])["summary"]["warning"] == 2
    log = json.loads(outs["sarif"])
    jsonschema.Draft7Validator(json.load(open(SCHEMA))).validate(log)
    [res1, res2] = log["runs"][0]["results"]
    assert res1["relatedLocations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith(
        "new-reason-undocumented-unused.patch")
    # --fail-on error: warnings do not fail
    r = subprocess.run([sys.executable, "-m", "analyzer.cli", "check", "--base", DEB612,
                        "--patch", path, "--fail-on", "error", "--terse"],
                       capture_output=True, text=True, cwd=os.path.dirname(TESTS))
    assert r.returncode == 0
    assert r.stdout.count("\n") == 2 and ": WARNING:SKBDROP_" in r.stdout
