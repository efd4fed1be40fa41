"""The shipped JSON Schemas (analyzer/schemas, draft 2020-12) against the JSON skbdrop writes.

* every schema is a valid draft 2020-12 schema; `skbdrop schema NAME` prints it, an
  unknown NAME is exit 2 with the list;
* fixture outputs (tests/fixtures/idioms, layouts/6.18 with the 6.18 runtime captures);
* the real Debian 6.1 and 6.12 runs: the analysis JSON, both export tables, explain for
  every reason that has sites and for a trace, and check --format json for every patch of
  tests/data/check (the runs tests/commands/test_check_patches.py makes).

The schemas allow additional properties (README, "JSON schemas": fields added keep the
number); the tests also check that a schema requires nothing the code does not write.
"""
from __future__ import annotations

import dataclasses
import difflib
import glob
import json
import os
import re
import subprocess
import sys
from types import SimpleNamespace

import jsonschema
import pytest

from analyzer import schemas
from analyzer.cli import main
from analyzer.commands import check, diff, explain, export, verify
from analyzer.model import data as model
from analyzer.source.patch import parse_patch
from helpers import DEB61, DEB612, patch_base

HERE = os.path.dirname(os.path.abspath(__file__))
IDIOMS = os.path.join(HERE, "fixtures", "idioms")
LAYOUT_618 = os.path.join(HERE, "fixtures", "layouts", "6.18")
RUNTIME = os.path.join(HERE, "data", "runtime-6.18")
CHECK_DATA = os.path.join(HERE, "data", "check")
NAMES = ["analysis", "check", "diff", "explain", "export-reasons", "export-sites", "verify"]


def validate(name: str, doc) -> None:
    if isinstance(doc, str):
        doc = json.loads(doc)
    v = jsonschema.Draft202012Validator(schemas.load(name))
    errors = sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, f"{name}: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in errors[:5])


# --- the schemas themselves -------------------------------------------------------------

def test_names():
    assert schemas.names() == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_valid_draft_2020_12(name):
    s = schemas.load(name)
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(s)


def test_schema_command(capsys):
    assert main(["schema", "analysis"]) == 0
    assert json.loads(capsys.readouterr().out) == schemas.load("analysis")
    assert main(["schema"]) == 0
    assert capsys.readouterr().out.split() == NAMES
    assert main(["schema", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown schema 'nope'" in err
    assert all(n in err for n in NAMES)


def _required(s: dict, path: str, out: dict) -> None:
    """(path -> required keys) of every object in a schema."""
    if isinstance(s, dict):
        if "required" in s:
            out.setdefault(path, set()).update(s["required"])
        for k, v in s.get("properties", {}).items():
            _required(v, f"{path}.{k}", out)
        if "items" in s:
            _required(s["items"], path + "[]", out)
        for k in ("oneOf", "anyOf", "allOf"):
            for sub in s.get(k, []):
                _required(sub, path, out)


def test_analysis_schema_matches_the_dataclasses():
    """A field the schema requires is one the model writes (a rename or removal is caught
    here: it takes the next schema number). Fields the model adds need not be in the
    schema (same number), though documenting them there is good practice."""
    req: dict = {}
    _required(schemas.load("analysis"), "", req)
    props = schemas.load("analysis")["properties"]
    pairs = {".kernel": model.KernelInfo, ".reasons[]": model.Reason,
             ".subsystems[]": model.Subsystem, ".family[]": model.FamilyMember,
             ".sites[]": model.Site, ".callgraph.nodes[]": model.Node,
             ".callgraph.edges[]": model.Edge, ".summary": model.Summary,
             ".files.skipped[]": model.Skipped}
    for path, klass in pairs.items():
        names = {f.name for f in dataclasses.fields(klass)}
        assert req[path] <= names, (path, req[path] - names)
        node = props
        for part in path.strip(".").replace("[]", "").split("."):
            node = node[part]
            node = node.get("items", node).get("properties", node)
        assert req[path] <= set(node), path


# --- fixture outputs ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def idioms_json(tmp_path_factory):
    out = tmp_path_factory.mktemp("idioms") / "a.json"
    assert main(["scan", IDIOMS, "-o", str(out)]) == 0
    return str(out)


def test_fixture_analysis(idioms_json):
    with open(idioms_json, encoding="utf-8") as f:
        validate("analysis", f.read())


@pytest.mark.parametrize("table", ["reasons", "sites"])
def test_fixture_export(idioms_json, table, capsys):
    assert main(["export", idioms_json, "--table", table, "--format", "json"]) == 0
    validate(f"export-{table}", capsys.readouterr().out)


def test_fixture_explain_reason(idioms_json, capsys):
    assert main(["explain", idioms_json, "HDR_TRUNC", "--format", "json"]) == 0
    validate("explain", capsys.readouterr().out)


@pytest.mark.parametrize("trace", ["trace.txt", "dropwatch.converted.txt", "perf-script.converted.txt", "pwru.converted.json"])
def test_fixture_explain_trace(trace, capsys, tmp_path):
    assert main(["explain", LAYOUT_618, "--trace", os.path.join(RUNTIME, trace),
                 "--format", "json"]) == 0
    validate("explain", capsys.readouterr().out)
    assert main(["explain", LAYOUT_618, "--trace", os.path.join(RUNTIME, trace),
                 "-o", str(tmp_path / "x")]) == 0
    with open(tmp_path / "x" / "explain.json", encoding="utf-8") as f:
        validate("explain", f.read())


def _unified(path: str, old: str, new: str) -> str:
    return f"diff --git a/{path} b/{path}\n" + "".join(difflib.unified_diff(
        old.splitlines(True), new.splitlines(True), f"a/{path}", f"b/{path}"))


def test_fixture_check(tmp_path, capsys):
    rel = "net/idioms/cast.c"
    with open(os.path.join(IDIOMS, rel), encoding="utf-8") as f:
        old = f.read()
    new = re.sub(r"kfree_skb_reason\(skb, \(__force u32\)SKB_DROP_REASON_TC_INGRESS\);.*",
                 "kfree_skb(skb);", old)
    assert new != old
    p = tmp_path / "fix.patch"
    p.write_text(_unified(rel, old, new))
    assert main(["check", "--base", IDIOMS, "--patch", str(p), "--paths", "net/",
                 "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    validate("check", doc)
    assert [f["code"] for f in doc["patches"][0]["findings"]] == ["SKBDROP_BECAME_UNSPECIFIED"]


def test_the_checks_bite():
    """A wrong type or a missing required key is an error (the schemas are not vacuous)."""
    good = {"schema": 1, "table": "reasons", "columns": list(export.REASON_COLUMNS),
            "kernel": {"version": "6.12", "source": "x", "layout": "dropreason-core"},
            "rows": [{"name": "SKB_DROP_REASON_X", "short": "X", "value": 2, "subsystem": "core",
                      "doc": "", "file": "f", "line": 1, "sites": 0, "kernel": "6.12"}]}
    validate("export-reasons", good)
    validate("export-reasons", {**good, "new_field": [1]})          # added: same number
    with pytest.raises(AssertionError):
        validate("export-reasons", {**good, "rows": [{**good["rows"][0], "value": "2"}]})
    with pytest.raises(AssertionError):
        bad = dict(good["rows"][0])
        del bad["short"]
        validate("export-reasons", {**good, "rows": [bad]})
    with pytest.raises(AssertionError):
        validate("export-reasons", {**good, "schema": 2})


def test_fixture_diff_and_verify(idioms_json, capsys):
    """diff of two kernels (sites too), diff and verify against a BTF capture and a
    tracepoint format file (mismatches, not-compared module reasons, no sites)."""
    btf = os.path.join(RUNTIME, "btf-drop-reasons.json")
    for args, code in ((["diff", idioms_json, LAYOUT_618], None),
                       (["diff", LAYOUT_618, "btf:" + btf], 0),
                       (["verify", LAYOUT_618, "--btf", btf], 0),
                       (["verify", idioms_json, "--btf", btf], 1),
                       (["verify", LAYOUT_618, "--tracefs-format",
                         os.path.join(RUNTIME, "kfree_skb.format")], 0)):
        got = main([*args, "--format", "json", "--no-cache"])
        assert code is None or got == code, args
        validate(args[0], capsys.readouterr().out)


# --- the real Debian trees ------------------------------------------------------------------

@pytest.fixture(params=["61", "612"])
def real(request):
    return request.getfixturevalue(f"analysis_{request.param}")


@pytest.mark.realtree
def test_real_analysis(real):
    validate("analysis", real.to_json())


@pytest.mark.realtree
@pytest.mark.parametrize("table", ["reasons", "sites"])
def test_real_export(real, table):
    validate(f"export-{table}", export.to_json(real, table))


@pytest.mark.realtree
def test_real_explain_reasons(real):
    ix = explain.Index(real)
    shorts = sorted({r for s in real.sites for r in s.reasons})
    assert len(shorts) > 50
    for short in shorts:
        ref = ix.decode(short)
        validate("explain", json.dumps(explain.reason_report(ix, ref)))


@pytest.mark.realtree
@pytest.mark.parametrize("trace", ["trace.txt", "dropwatch.converted.txt", "pwru.converted.json"])
def test_real_explain_trace(real, trace):
    with open(os.path.join(RUNTIME, trace), "rb") as f:
        rep = explain.run_trace(real, f, trace)
    validate("explain", json.dumps(rep))


@pytest.mark.realtree
def test_real_diff_and_verify(analysis_61, analysis_612):
    d = diff.diff(analysis_61, analysis_612)
    assert d.sites_added and d.sites_removed and d.reasons_added
    validate("diff", diff.to_json(d))
    res = verify.verify(analysis_612, DEB612, btf=os.path.join(RUNTIME, "btf-drop-reasons.json"))
    assert res.mismatches
    validate("verify", verify.to_json(analysis_612, res))


@pytest.mark.realtree
@pytest.mark.parametrize("path", [p for p in sorted(glob.glob(os.path.join(CHECK_DATA, "*.patch")))
                                  if "does-not-apply" not in p],
                         ids=lambda p: os.path.basename(p)[:-6])
def test_real_check(path, engines):
    args = SimpleNamespace(base=patch_base(path), patch=path, git=None, squash=False,
                           format="json", fail_on="warning",
                           paths=",".join(check.DEFAULT_PATHS), terse=False, output="-",
                           jobs=None, no_cache=False)
    rep = check.run(args, engine_factory=engines)
    validate("check", check.to_json(rep))


@pytest.mark.realtree
def test_real_check_whole_file(engines, tree_612):
    """A whole file of 6.12 applied to 6.1 (findings with suggestions and sources)."""
    eng = engines(DEB61)
    path = "net/ipv4/tcp_ipv4.c"
    text = _unified(path, eng.read(path), tree_612.read(path).decode("utf-8", "surrogateescape"))
    rep = check.check_series(lambda: eng, DEB61, [parse_patch(text, "tcp_ipv4 6.1->6.12")])
    assert rep.findings()
    validate("check", check.to_json(rep))


def test_version_names_the_schema():
    r = subprocess.run([sys.executable, "-m", "analyzer.cli", "--version"],
                       capture_output=True, text=True)
    assert r.returncode == 0
    assert r.stdout.strip() == f"skbdrop {__import__('analyzer').__version__} (analysis schema {model.SCHEMA})"
