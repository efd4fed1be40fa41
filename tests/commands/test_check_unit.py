"""skbdrop check on hand-made trees: patch application, findings, formats, SARIF.

The engine here is a toy stand-in for the scanner: it reads the enum and the drop calls
of a three-file tree with regular expressions. It only has to be right for these
fixtures; the real scanner is exercised in test_check_real.py.
"""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import textwrap
from types import SimpleNamespace

import jsonschema
import pytest

from analyzer.commands import check
from analyzer.link import consistency

from analyzer.source import patch as P
from analyzer.cli import main
from analyzer.model.findings import RULES, at_least
from analyzer.model import Analysis, FamilyMember, KernelInfo, Reason, Site, Subsystem

from helpers import DEB612, TESTS

SCHEMA = os.path.join(TESTS, "data", "check", "sarif-schema-2.1.0.json")

CORE_H = textwrap.dedent("""\
    #define DEFINE_DROP_REASON(FN, FNe)\t\\
    \tFN(NOT_SPECIFIED)\t\\
    \tFN(NO_SOCKET)\t\t\\
    \tFN(PKT_TOO_SMALL)\t\\
    \tFN(TCP_CSUM)\t\t\\
    \tFNe(MAX)

    enum skb_drop_reason {
    \t/** @SKB_NOT_DROPPED_YET: not dropped */
    \tSKB_NOT_DROPPED_YET = 0,
    \t/** @SKB_DROP_REASON_NOT_SPECIFIED: drop reason is not specified */
    \tSKB_DROP_REASON_NOT_SPECIFIED,
    \t/** @SKB_DROP_REASON_NO_SOCKET: no socket */
    \tSKB_DROP_REASON_NO_SOCKET,
    \t/** @SKB_DROP_REASON_PKT_TOO_SMALL: too small */
    \tSKB_DROP_REASON_PKT_TOO_SMALL,
    \t/** @SKB_DROP_REASON_TCP_CSUM: bad checksum */
    \tSKB_DROP_REASON_TCP_CSUM,
    \t/** @SKB_DROP_REASON_MAX: the maximum */
    \tSKB_DROP_REASON_MAX,
    };
    """)

RCV_C = textwrap.dedent("""\
    #include <net/dropreason-core.h>

    int foo_rcv(struct sk_buff *skb)
    {
    \tif (skb->len < 8) {
    \t\tkfree_skb_reason(skb, SKB_DROP_REASON_PKT_TOO_SMALL);
    \t\treturn 0;
    \t}
    \tif (!csum_ok(skb)) {
    \t\tkfree_skb_reason(skb, SKB_DROP_REASON_TCP_CSUM);
    \t\treturn 0;
    \t}
    \tif (!lookup(skb)) {
    \t\tkfree_skb_reason(skb, SKB_DROP_REASON_NO_SOCKET);
    \t\treturn 0;
    \t}
    \tconsume_skb(skb);
    \treturn 0;
    }

    void foo_err(struct sk_buff *skb)
    {
    \tkfree_skb(skb);
    }
    """)

DOC_TXT = "Documentation only\n"

BASE = {"include/net/dropreason-core.h": CORE_H, "net/foo/rcv.c": RCV_C,
        "Documentation/foo.txt": DOC_TXT}

CALL = re.compile(r"\b(kfree_skb_reason|kfree_skb|consume_skb|dev_kfree_skb_any)\(([^;]*)\);")
FUNC = re.compile(r"^\w[\w\s\*]*?\b(\w+)\([^;]*\)\s*$")


def toy_analysis(files: dict[str, str | None]) -> Analysis:
    """Reasons from the enum (values by position), sites from the calls (constants only)."""
    reasons = []
    core = files.get("include/net/dropreason-core.h") or ""
    names, _ = consistency.enum_entries(core) or ([], 0)
    lines = core.split("\n")
    for value, name in enumerate(names):
        line = next(i for i, ln in enumerate(lines, 1) if re.search(rf"\b{name}\b\s*[,=]", ln))
        prev = lines[line - 2] if line >= 2 else ""
        doc = prev.split(":", 1)[1].strip(" */") if "@" + name in prev else ""
        short = name.replace("SKB_DROP_REASON_", "").replace("SKB_", "")
        reasons.append(Reason(name, short, value, "core", doc, "include/net/dropreason-core.h", line))
    sites = []
    for path, text in sorted(files.items()):
        if text is None or not path.endswith(".c"):
            continue
        func = "?"
        for n, ln in enumerate(text.split("\n"), 1):
            m = FUNC.match(ln)
            if m:
                func = m.group(1)
            for c in CALL.finditer(ln):
                callee, args = c.group(1), [a.strip() for a in c.group(2).split(",")]
                kind = "consume" if callee == "consume_skb" else "drop"
                if callee == "kfree_skb_reason":
                    arg = args[1]
                    rs = tuple(re.findall(r"SKB_DROP_REASON_(\w+)", arg)) or ("?",)
                    res = "unspecified" if rs == ("NOT_SPECIFIED",) else "constant"
                elif kind == "drop":
                    arg, rs, res = None, ("NOT_SPECIFIED",), "unspecified"
                else:
                    arg, rs, res = None, (), "constant"
                sites.append(Site(path, n, c.start() + 1, func, callee, kind, arg, rs, res, True,
                                  source=ln.strip()))
    fam = (FamilyMember("kfree_skb", "drop", "NOT_SPECIFIED", None, 0, "x.h", 1, "wrapper"),
           FamilyMember("kfree_skb_reason", "drop", None, 1, 0, "x.h", 2, "wrapper"),
           FamilyMember("consume_skb", "consume", "CONSUMED", None, 0, "x.h", 3, "wrapper"))
    return Analysis(kernel=KernelInfo("6.99.0", "toy", "dropreason-core"), reasons=tuple(reasons),
                    subsystems=(Subsystem("core", "SKB_DROP_REASON_SUBSYS_CORE", 0,
                                          "include/net/dropreason.h", 1),),
                    family=fam, sites=tuple(sites))


class ToyEngine(check.Engine):
    opened = 0

    def __init__(self, files=BASE):
        ToyEngine.opened += 1
        self.files = dict(files)

    def read(self, path):
        return self.files.get(path)

    def kernel(self):
        return toy_analysis(self.files).kernel

    def pair(self, before, after):
        return toy_analysis({**self.files, **before}), toy_analysis({**self.files, **after})

    def mentioned_outside(self, names, paths):
        return {n for n in names for p, t in self.files.items()
                if p not in paths and p.endswith(".c") and t and re.search(rf"\b(SKB_DROP_REASON_)?{n}\b", t)}


def make_patch(path: str, old: str | None, new: str | None, name="t.patch") -> str:
    import difflib
    a = (old or "").splitlines(keepends=True)
    b = (new or "").splitlines(keepends=True)
    body = "".join(difflib.unified_diff(a, b, f"a/{path}" if old is not None else "/dev/null",
                                        f"b/{path}" if new is not None else "/dev/null"))
    mode = "new file mode 100644\n" if old is None else \
        "deleted file mode 100644\n" if new is None else ""
    return f"From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n" \
           f"From: Dev <dev@example.org>\nSubject: [PATCH] {name}\n\n---\n" \
           f"diff --git a/{path} b/{path}\n{mode}{body}"


def run_check(text: str, tmp_path, fmt="text", extra=None, files=BASE):
    p = tmp_path / "x.patch"
    p.write_text(text)
    args = SimpleNamespace(base="toy", patch=str(p), git=None, squash=False, format=fmt,
                           fail_on="warning", paths=",".join(check.DEFAULT_PATHS), terse=False,
                           output="-", jobs=None, no_cache=False, **(extra or {}))
    rep = check.run(args, engine_factory=lambda spec: ToyEngine(files))
    return rep


def codes(rep):
    return sorted(f.code for f in rep.findings())


# --- patch application -------------------------------------------------------------------

def test_apply_roundtrip_and_bookkeeping():
    new = RCV_C.replace("\tkfree_skb(skb);\n", "\tkfree_skb(skb);\n\tcount_err();\n")
    [pt] = P._patches_from_text(make_patch("net/foo/rcv.c", RCV_C, new), "t", "t")
    tree = P.PatchedTree(BASE.get)
    [af] = tree.apply(pt).values()
    assert af.new_text == new
    added_line = new.split("\n").index("\tcount_err();") + 1
    assert af.added == {added_line}
    assert af.removed == frozenset()
    # the patch line of the added line is where "+\tcount_err();" is in the patch text
    text = make_patch("net/foo/rcv.c", RCV_C, new)
    assert text.split("\n")[af.patch_line_new[added_line] - 1] == "+\tcount_err();"
    # unchanged lines after the insertion move by one
    assert af.old_to_new[24] == 25 and af.old_to_new[22] == 22


def test_apply_with_offset_and_failure():
    new = RCV_C.replace("consume_skb(skb);", "consume_skb(skb); /* ok */")
    text = make_patch("net/foo/rcv.c", RCV_C, new)
    shifted = "/* one */\n/* two */\n" + RCV_C
    [pt] = P._patches_from_text(text, "t", "t")
    out = P.PatchedTree({"net/foo/rcv.c": shifted}.get).apply(pt)
    assert out["net/foo/rcv.c"].new_text == "/* one */\n/* two */\n" + new
    broken = RCV_C.replace("consume_skb(skb);", "napi_consume_skb(skb, 0);")
    with pytest.raises(P.PatchError) as e:
        P.PatchedTree({"net/foo/rcv.c": broken}.get).apply(pt)
    msg = str(e.value)
    assert "net/foo/rcv.c" in msg and "hunk #1" in msg and "@@ -" in msg and "\n" not in msg


def test_new_and_deleted_files():
    text = make_patch("net/foo/new.c", None, "void f(void)\n{\n}\n")
    [pt] = P._patches_from_text(text, "t", "t")
    out = P.PatchedTree(BASE.get).apply(pt)
    assert out["net/foo/new.c"].new_text == "void f(void)\n{\n}\n"
    text = make_patch("net/foo/rcv.c", RCV_C, None)
    [pt] = P._patches_from_text(text, "t", "t")
    tree = P.PatchedTree(BASE.get)
    out = tree.apply(pt)
    assert out["net/foo/rcv.c"].new_text is None and tree.current("net/foo/rcv.c") is None


def test_no_newline_at_end():
    old = "a\nb\n"
    new = "a\nb\nc"
    text = make_patch("net/x.c", old, new) + "\n\\ No newline at end of file\n"
    [pt] = P._patches_from_text(text, "t", "t")
    assert P.PatchedTree({"net/x.c": old}.get).apply(pt)["net/x.c"].new_text == "a\nb\nc"


def test_mbox_series_split(tmp_path):
    p1 = make_patch("net/foo/rcv.c", RCV_C, RCV_C.replace("foo_err", "foo_error"), "one")
    p2 = make_patch("net/foo/rcv.c", RCV_C.replace("foo_err", "foo_error"),
                    RCV_C.replace("foo_err", "foo_fail"), "two")
    f = tmp_path / "s.mbox"
    f.write_text(p1 + p2)
    ps = P.read_series(str(f))
    assert [p.subject for p in ps] == ["[PATCH] one", "[PATCH] two"]
    # patch lines count from the start of the mbox
    assert ps[1].line_offset == p1.count("\n")
    d = tmp_path / "dir"
    d.mkdir()
    (d / "0002-two.patch").write_text(p2)
    (d / "0001-one.patch").write_text(p1)
    assert [p.subject for p in P.read_series(str(d))] == ["[PATCH] one", "[PATCH] two"]


# --- findings -----------------------------------------------------------------------------

def test_new_unspecified_with_suggestions(tmp_path):
    new = RCV_C.replace("\tconsume_skb(skb);\n", "\tif (skb->mark)\n\t\tkfree_skb(skb);\n"
                        "\tconsume_skb(skb);\n")
    rep = run_check(make_patch("net/foo/rcv.c", RCV_C, new), tmp_path)
    [f] = rep.findings()
    assert f.code == "SKBDROP_NEW_UNSPECIFIED" and f.severity == "warning"
    assert f.function == "foo_rcv"
    assert f.line == new.split("\n").index("\t\tkfree_skb(skb);") + 1
    assert set(f.suggestions) == {"NO_SOCKET", "PKT_TOO_SMALL", "TCP_CSUM"}
    assert "kfree_skb_reason" in f.fix
    assert rep.exit_code() == 1
    out = check.to_text(rep)
    assert "WARNING:SKBDROP_NEW_UNSPECIFIED:" in out
    assert f"#{f.patch_line}: FILE: net/foo/rcv.c:{f.line}:" in out
    assert "+\t\tkfree_skb(skb);" in out


def test_explicit_not_specified_is_new_unspecified(tmp_path):
    new = RCV_C.replace("\tconsume_skb(skb);\n",
                        "\tif (skb->mark) {\n\t\tkfree_skb_reason(skb, SKB_DROP_REASON_NOT_SPECIFIED);"
                        "\n\t\treturn 0;\n\t}\n\tconsume_skb(skb);\n")
    rep = run_check(make_patch("net/foo/rcv.c", RCV_C, new), tmp_path)
    assert codes(rep) == ["SKBDROP_NEW_UNSPECIFIED"]
    assert "pass a specific reason instead of SKB_DROP_REASON_NOT_SPECIFIED" in rep.findings()[0].fix


def test_moved_unspecified_site_is_not_new(tmp_path):
    # re-indenting an existing plain kfree_skb() is not a new drop
    new = RCV_C.replace("\tkfree_skb(skb);\n}", "\tif (skb)\n\t\tkfree_skb(skb);\n}")
    rep = run_check(make_patch("net/foo/rcv.c", RCV_C, new), tmp_path)
    assert codes(rep) == [] and rep.exit_code() == 0


def test_became_unspecified_and_lost(tmp_path):
    new = RCV_C.replace("kfree_skb_reason(skb, SKB_DROP_REASON_TCP_CSUM);", "kfree_skb(skb);")
    rep = run_check(make_patch("net/foo/rcv.c", RCV_C, new), tmp_path)
    # TCP_CSUM had this one site: it is orphaned too (information only)
    assert codes(rep) == ["SKBDROP_BECAME_UNSPECIFIED", "SKBDROP_REASON_ORPHANED"]
    f = rep.findings()[0]
    assert f.code == "SKBDROP_BECAME_UNSPECIFIED" and f.suggestions == ("TCP_CSUM",)
    new = RCV_C.replace("SKB_DROP_REASON_TCP_CSUM);", "SKB_DROP_REASON_PKT_TOO_SMALL);")
    rep = run_check(make_patch("net/foo/rcv.c", RCV_C, new), tmp_path)
    got = {f.code: f for f in rep.findings()}
    assert set(got) == {"SKBDROP_REASONS_LOST", "SKBDROP_REASON_ORPHANED"}
    assert got["SKBDROP_REASONS_LOST"].suggestions == ("TCP_CSUM",)
    assert got["SKBDROP_REASON_ORPHANED"].severity == "info"


def _core_with(extra_enum: str, extra_fn: str, after="TCP_CSUM") -> str:
    text = CORE_H.replace(f"\tFN({after})\t\t\\\n", f"\tFN({after})\t\t\\\n{extra_fn}")
    anchor = f"\tSKB_DROP_REASON_{after},\n"
    return text.replace(anchor, anchor + extra_enum)


def test_new_reason_undocumented_unused(tmp_path):
    core = _core_with("\tSKB_DROP_REASON_FOO_BAD,\n", "\tFN(FOO_BAD)\t\t\\\n")
    rep = run_check(make_patch("include/net/dropreason-core.h", CORE_H, core), tmp_path)
    assert codes(rep) == ["SKBDROP_UNDOCUMENTED_REASON", "SKBDROP_UNUSED_REASON"]
    f = rep.findings()[0]
    assert f.file == "include/net/dropreason-core.h" and f.source.strip() == "SKB_DROP_REASON_FOO_BAD,"


def test_new_reason_documented_and_used_is_clean(tmp_path):
    core = _core_with("\t/** @SKB_DROP_REASON_FOO_BAD: foo header is bad */\n"
                      "\tSKB_DROP_REASON_FOO_BAD,\n", "\tFN(FOO_BAD)\t\t\\\n")
    rcv = RCV_C.replace("\tkfree_skb(skb);\n}", "\tkfree_skb_reason(skb, SKB_DROP_REASON_FOO_BAD);\n}")
    text = make_patch("include/net/dropreason-core.h", CORE_H, core) + \
        make_patch("net/foo/rcv.c", RCV_C, rcv).split("---\n", 1)[1]
    rep = run_check(text, tmp_path)
    assert codes(rep) == []


def test_reason_unused_in_patch_but_used_later_in_series(tmp_path):
    core = _core_with("\t/** @SKB_DROP_REASON_FOO_BAD: foo header is bad */\n"
                      "\tSKB_DROP_REASON_FOO_BAD,\n", "\tFN(FOO_BAD)\t\t\\\n")
    rcv = RCV_C.replace("\tkfree_skb(skb);\n}", "\tkfree_skb_reason(skb, SKB_DROP_REASON_FOO_BAD);\n}")
    series = make_patch("include/net/dropreason-core.h", CORE_H, core, "one") + \
        make_patch("net/foo/rcv.c", RCV_C, rcv, "two")
    rep = run_check(series, tmp_path)
    assert len(rep.results) == 2 and codes(rep) == []
    # the second patch alone, against a base without the reason: it does not build
    rep = run_check(make_patch("net/foo/rcv.c", RCV_C, rcv), tmp_path)
    assert codes(rep) == ["SKBDROP_UNKNOWN_REASON"]
    assert rep.findings()[0].severity == "error"


def test_removed_renamed_renumbered(tmp_path):
    core = CORE_H.replace("\t/** @SKB_DROP_REASON_NO_SOCKET: no socket */\n"
                          "\tSKB_DROP_REASON_NO_SOCKET,\n", "").replace("\tFN(NO_SOCKET)\t\t\\\n", "")
    rcv = RCV_C.replace("kfree_skb_reason(skb, SKB_DROP_REASON_NO_SOCKET);",
                        "kfree_skb_reason(skb, SKB_DROP_REASON_PKT_TOO_SMALL);")
    text = make_patch("include/net/dropreason-core.h", CORE_H, core) + \
        make_patch("net/foo/rcv.c", RCV_C, rcv).split("---\n", 1)[1]
    rep = run_check(text, tmp_path)
    got = codes(rep)
    assert "SKBDROP_REASON_REMOVED" in got and "SKBDROP_REASON_RENUMBERED" in got
    removed = next(f for f in rep.findings() if f.code == "SKBDROP_REASON_REMOVED")
    assert removed.marker == "-" and removed.patch_line > 0
    renum = next(f for f in rep.findings() if f.code == "SKBDROP_REASON_RENUMBERED")
    assert "PKT_TOO_SMALL 3->2" in renum.message and "TCP_CSUM 4->3" in renum.message
    # rename: same slot, new name
    core = CORE_H.replace("SKB_DROP_REASON_NO_SOCKET", "SKB_DROP_REASON_NO_SOCK") \
        .replace("FN(NO_SOCKET)", "FN(NO_SOCK)")
    rcv = RCV_C.replace("SKB_DROP_REASON_NO_SOCKET", "SKB_DROP_REASON_NO_SOCK")
    text = make_patch("include/net/dropreason-core.h", CORE_H, core) + \
        make_patch("net/foo/rcv.c", RCV_C, rcv).split("---\n", 1)[1]
    rep = run_check(text, tmp_path)
    assert codes(rep) == ["SKBDROP_REASON_RENAMED"]
    assert "NO_SOCKET" in rep.findings()[0].message


def test_catalogue_mismatch(tmp_path):
    # enum gains a documented reason at the end, the X-macro does not
    core = CORE_H.replace("\t/** @SKB_DROP_REASON_MAX: the maximum */\n",
                          "\t/** @SKB_DROP_REASON_FOO_BAD: bad */\n\tSKB_DROP_REASON_FOO_BAD,\n"
                          "\t/** @SKB_DROP_REASON_MAX: the maximum */\n")
    rcv = RCV_C.replace("\tkfree_skb(skb);\n}", "\tkfree_skb_reason(skb, SKB_DROP_REASON_FOO_BAD);\n}")
    text = make_patch("include/net/dropreason-core.h", CORE_H, core) + \
        make_patch("net/foo/rcv.c", RCV_C, rcv).split("---\n", 1)[1]
    rep = run_check(text, tmp_path)
    [f] = rep.findings()
    assert f.code == "SKBDROP_CATALOGUE_MISMATCH" and "SKB_DROP_REASON_FOO_BAD" in f.message
    # at the enumerator the X-macro misses (an added line, so with its patch line)
    assert f.line == core.split("\n").index("\tSKB_DROP_REASON_FOO_BAD,") + 1
    assert f.marker == "+" and f.patch_line > 0


def test_irrelevant_patch_is_not_analysed(tmp_path):
    ToyEngine.opened = 0
    text = make_patch("Documentation/foo.txt", DOC_TXT, DOC_TXT + "more\n")
    rep = run_check(text, tmp_path)
    assert ToyEngine.opened == 0
    assert rep.results[0].analysed is False and rep.exit_code() == 0
    assert "judged without parsing the tree" in check.to_text(rep)


def test_paths_limit_scope(tmp_path):
    new = RCV_C.replace("\tconsume_skb(skb);\n", "\tif (skb->mark)\n\t\tkfree_skb(skb);\n"
                        "\tconsume_skb(skb);\n")
    text = make_patch("net/foo/rcv.c", RCV_C, new)
    rep = run_check(text, tmp_path, extra={})
    assert codes(rep) == ["SKBDROP_NEW_UNSPECIFIED"]
    p = tmp_path / "y.patch"
    p.write_text(text)
    args = SimpleNamespace(base="toy", patch=str(p), git=None, squash=False, format="text",
                           fail_on="warning", paths="drivers/net/", terse=False, output="-")
    ToyEngine.opened = 0
    rep = check.run(args, engine_factory=lambda spec: ToyEngine())
    assert codes(rep) == [] and ToyEngine.opened == 0


def test_fail_on_levels():
    assert at_least("error", "warning") and not at_least("info", "warning")
    assert at_least("info", "info") and not at_least("error", "never")


def test_json_and_terse(tmp_path):
    new = RCV_C.replace("\tconsume_skb(skb);\n", "\tif (skb->mark)\n\t\tkfree_skb(skb);\n"
                        "\tconsume_skb(skb);\n")
    rep = run_check(make_patch("net/foo/rcv.c", RCV_C, new), tmp_path)
    d = json.loads(check.to_json(rep))
    assert d["summary"]["warning"] == 1 and d["summary"]["failed"] is True
    [f] = d["patches"][0]["findings"]
    assert f["code"] == "SKBDROP_NEW_UNSPECIFIED" and f["function"] == "foo_rcv"
    terse = check.to_text(rep, terse=True).strip().split("\n")
    assert len(terse) == 1 and terse[0].startswith(f"net/foo/rcv.c:{f['line']}: WARNING:")
    assert check.to_json(rep) == check.to_json(run_check(make_patch("net/foo/rcv.c", RCV_C, new),
                                                         tmp_path))


def test_sarif_validates(tmp_path):
    core = CORE_H.replace("\t/** @SKB_DROP_REASON_NO_SOCKET: no socket */\n"
                          "\tSKB_DROP_REASON_NO_SOCKET,\n", "").replace("\tFN(NO_SOCKET)\t\t\\\n", "")
    new = RCV_C.replace("\tconsume_skb(skb);\n", "\tif (skb->mark)\n\t\tkfree_skb(skb);\n"
                        "\tconsume_skb(skb);\n")
    text = make_patch("include/net/dropreason-core.h", CORE_H, core) + \
        make_patch("net/foo/rcv.c", RCV_C, new).split("---\n", 1)[1]
    rep = run_check(text, tmp_path)
    from analyzer.formats.sarif import to_sarif
    log = to_sarif(rep)
    with open(SCHEMA) as f:
        jsonschema.Draft7Validator(json.load(f)).validate(log)
    run = log["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == [r.code for r in RULES]
    assert all(r["help"]["text"] for r in run["tool"]["driver"]["rules"])
    res = {r["ruleId"]: r for r in run["results"]}
    assert {"SKBDROP_NEW_UNSPECIFIED", "SKBDROP_REASON_REMOVED"} <= set(res)
    r = res["SKBDROP_NEW_UNSPECIFIED"]
    f = next(x for x in rep.findings() if x.code == "SKBDROP_NEW_UNSPECIFIED")
    loc = r["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "net/foo/rcv.c"
    assert loc["region"]["startLine"] == f.line
    assert r["relatedLocations"][0]["physicalLocation"]["region"]["startLine"] == f.patch_line
    assert r["properties"]["patchLine"] == f.patch_line
    # an empty report validates as well
    clean = run_check(make_patch("Documentation/foo.txt", DOC_TXT, DOC_TXT + "x\n"), tmp_path)
    jsonschema.Draft7Validator(json.load(open(SCHEMA))).validate(to_sarif(clean))


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["check", "--base", DEB612, "--patch", str(tmp_path / "nope.patch")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope.patch" in err
    bad = tmp_path / "bad.patch"
    bad.write_text("this is not a diff\n")
    assert main(["check", "--base", DEB612, "--patch", str(bad)]) == 2
    assert "no diff found" in capsys.readouterr().err
    assert main(["check", "--patch", str(bad)]) == 2
    capsys.readouterr()
    assert main(["check", "--git", str(tmp_path), "HEAD"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_patch_that_does_not_apply_exit_2(tmp_path):
    new = RCV_C.replace("consume_skb(skb);", "consume_skb(skb); /* x */")
    text = make_patch("net/foo/rcv.c", RCV_C.replace("\treturn 0;\n}\n\nvoid", "\treturn 1;\n}\n\nvoid"),
                      new.replace("\treturn 0;\n}\n\nvoid", "\treturn 1;\n}\n\nvoid"))
    with pytest.raises(P.PatchError) as e:
        run_check(text, tmp_path)
    assert "net/foo/rcv.c: hunk #1" in str(e.value)


def _git(repo, *args):
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=T", "-c", "user.email=t@e",
                    *args], check=True, capture_output=True)


def test_git_range_each_commit_and_squash(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    for path, text in BASE.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "base")
    step1 = RCV_C.replace("\tconsume_skb(skb);\n", "\tif (skb->mark)\n\t\tkfree_skb(skb);\n"
                          "\tconsume_skb(skb);\n")
    (repo / "net/foo/rcv.c").write_text(step1)
    _git(repo, "commit", "-qam", "add a plain drop")
    step2 = step1.replace("\t\tkfree_skb(skb);\n\tconsume", "\t\tkfree_skb_reason(skb, "
                          "SKB_DROP_REASON_NO_SOCKET);\n\tconsume")
    (repo / "net/foo/rcv.c").write_text(step2)
    _git(repo, "commit", "-qam", "give it a reason")
    files_at_base = dict(BASE)

    def factory(spec):
        assert spec.endswith("@" + subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD~2"],
                                                  capture_output=True, text=True).stdout.strip())
        return ToyEngine(files_at_base)
    args = SimpleNamespace(base=None, patch=None, git=[str(repo), "HEAD~2..HEAD"], squash=False,
                           format="text", fail_on="warning", paths="net/", terse=False, output="-")
    rep = check.run(args, engine_factory=factory)
    assert [r.patch.subject for r in rep.results] == ["add a plain drop", "give it a reason"]
    assert [codes_of(r) for r in rep.results] == [["SKBDROP_NEW_UNSPECIFIED"], []]
    args.squash = True
    rep = check.run(args, engine_factory=factory)
    assert len(rep.results) == 1 and codes(rep) == []


def codes_of(r):
    return sorted(f.code for f in r.findings)


def test_stdin_patch(tmp_path, monkeypatch):
    new = RCV_C.replace("\tconsume_skb(skb);\n", "\tif (skb->mark)\n\t\tkfree_skb(skb);\n"
                        "\tconsume_skb(skb);\n")
    data = make_patch("net/foo/rcv.c", RCV_C, new).encode()
    [p] = P.read_series("-", stdin=io.BytesIO(data))
    assert p.name == "<stdin>" and p.uri is None
    assert p.files[0].new_path == "net/foo/rcv.c"


def test_series_with_an_irrelevant_patch_in_between(tmp_path):
    # patch 1 touches a C file outside --paths only; patch 2 builds on it and adds a drop
    other = "void gpu(void)\n{\n}\n"
    files = {**BASE, "drivers/gpu/x.c": other}
    gpu1 = other.replace("{\n}", "{\n\treturn;\n}")
    gpu2 = gpu1.replace("\treturn;\n", "\treturn; /* twice */\n")
    new = RCV_C.replace("\tconsume_skb(skb);\n", "\tif (skb->mark)\n\t\tkfree_skb(skb);\n"
                        "\tconsume_skb(skb);\n")
    series = make_patch("drivers/gpu/x.c", other, gpu1, "one") + \
        make_patch("drivers/gpu/x.c", gpu1, gpu2, "two") + \
        make_patch("net/foo/rcv.c", RCV_C, new).split("---\n", 1)[1]
    rep = run_check(series, tmp_path, files=files)
    assert [r.analysed for r in rep.results] == [False, True]
    assert codes(rep) == ["SKBDROP_NEW_UNSPECIFIED"]


def test_text_for_a_finding_outside_the_patch():
    from analyzer.model.findings import make
    f = make("SKBDROP_REASONS_LOST", "net/foo/other.c", 12, "bar(): this drop can no longer "
             "report NO_SOCKET; now: TCP_CSUM", function="bar", source="\tkfree_skb_reason(skb, r);",
             marker="", patch="p", patch_line=0)
    pt = P.Patch("p", "s", ())
    rep = check.CheckReport("toy", None, check.DEFAULT_PATHS, (check.PatchResult(pt, ("x",), (f,), 3, True),))
    text = check.to_text(rep)
    assert "WARNING:SKBDROP_REASONS_LOST: bar(): this drop" in text
    assert "\nFILE: net/foo/other.c:12:\n \tkfree_skb_reason(skb, r);\n" in text
    assert rep.exit_code() == 1
    assert check.CheckReport("toy", None, (), rep.results, fail_on="error").exit_code() == 0


def test_consistency_5_17_layout():
    # 5.17: a plain enum in include/linux/skbuff.h, the names in an EM()/EMe() list in
    # include/trace/events/skb.h (upstream shape of v5.17)
    skbuff = ("enum skb_drop_reason {\n\tSKB_DROP_REASON_NOT_SPECIFIED,\n"
              "\tSKB_DROP_REASON_NO_SOCKET,\n\tSKB_DROP_REASON_TCP_CSUM,\n"
              "\tSKB_DROP_REASON_MAX,\n};\n")
    trace = ("#define TRACE_SKB_DROP_REASON\t\t\t\t\t\\\n"
             "\tEM(SKB_DROP_REASON_NOT_SPECIFIED, NOT_SPECIFIED)\t\\\n"
             "\tEM(SKB_DROP_REASON_NO_SOCKET, NO_SOCKET)\t\t\\\n"
             "\tEM(SKB_DROP_REASON_TCP_CSUM, TCP_CSUM)\t\t\t\\\n"
             "\tEMe(SKB_DROP_REASON_MAX, MAX)\n")
    texts = {"include/linux/skbuff.h": skbuff, "include/trace/events/skb.h": trace}
    assert consistency.problems(texts) == []
    # a reason added to the enum only: the tracepoint prints a number for it
    texts["include/linux/skbuff.h"] = skbuff.replace(
        "\tSKB_DROP_REASON_MAX", "\tSKB_DROP_REASON_UDP_CSUM,\n\tSKB_DROP_REASON_MAX")
    [(path, line, msg)] = consistency.problems(texts)
    assert path == "include/trace/events/skb.h" and line == 1
    assert "SKB_DROP_REASON_UDP_CSUM is in enum skb_drop_reason but not in TRACE_SKB_DROP_REASON" in msg
    # a name printed differently from its enumerator
    texts["include/linux/skbuff.h"] = skbuff
    texts["include/trace/events/skb.h"] = trace.replace("NO_SOCKET)", "NO_SOCK)")
    [(_p, _l, msg)] = consistency.problems(texts)
    assert msg == "TRACE_SKB_DROP_REASON prints SKB_DROP_REASON_NO_SOCKET as NO_SOCK"


def test_consistency_xmacro_order_and_extra():
    texts = {"include/net/dropreason-core.h": CORE_H}
    assert consistency.problems(texts) == []
    swapped = CORE_H.replace("\tFN(NO_SOCKET)\t\t\\\n\tFN(PKT_TOO_SMALL)\t\\\n",
                             "\tFN(PKT_TOO_SMALL)\t\\\n\tFN(NO_SOCKET)\t\t\\\n")
    [(_p, _l, msg)] = consistency.problems({"include/net/dropreason-core.h": swapped})
    assert "different orders" in msg and "SKB_DROP_REASON_PKT_TOO_SMALL" in msg
    extra = CORE_H.replace("\tFNe(MAX)", "\tFN(GHOST)\t\t\\\n\tFNe(MAX)")
    [(_p, line, msg)] = consistency.problems({"include/net/dropreason-core.h": extra})
    assert "lists SKB_DROP_REASON_GHOST, which enum skb_drop_reason does not define" in msg
    assert extra.split("\n")[line - 1].strip().startswith("FN(GHOST)")


def test_squashed_series_has_no_patch_lines(tmp_path):
    step1 = RCV_C.replace("\tconsume_skb(skb);\n", "\tif (skb->mark)\n\t\tkfree_skb(skb);\n"
                          "\tconsume_skb(skb);\n")
    step2 = step1.replace("\tif (skb->mark)\n", "\tif (skb->mark & 1)\n")
    series = make_patch("net/foo/rcv.c", RCV_C, step1, "one") + \
        make_patch("net/foo/rcv.c", step1, step2, "two")
    rep = run_check(series, tmp_path, extra={})
    assert [codes_of(r) for r in rep.results] == [["SKBDROP_NEW_UNSPECIFIED"], []]
    p = tmp_path / "s.patch"
    p.write_text(series)
    args = SimpleNamespace(base="toy", patch=str(p), git=None, squash=True, format="text",
                           fail_on="warning", paths="net/", terse=False, output="-")
    rep = check.run(args, engine_factory=lambda spec: ToyEngine())
    [f] = rep.findings()
    assert f.code == "SKBDROP_NEW_UNSPECIFIED" and f.patch_line == 0
    assert f.line == step2.split("\n").index("\t\tkfree_skb(skb);") + 1
    assert "\nFILE: net/foo/rcv.c:" in check.to_text(rep) and "#0" not in check.to_text(rep)


def test_quoted_printable_mail(tmp_path):
    import quopri
    new = RCV_C.replace("\tconsume_skb(skb);\n", "\tif (skb->mark == 3)\n\t\tkfree_skb(skb);\n"
                        "\tconsume_skb(skb);\n")
    text = make_patch("net/foo/rcv.c", RCV_C, new)
    head, body = text.split("\n\n", 1)
    qp = quopri.encodestring(body.encode()).decode()
    assert "=3D" in qp
    mail = head + "\nMIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\n" \
        "Content-Transfer-Encoding: quoted-printable\n\n" + qp
    [p] = P._patches_from_text(mail, "qp.patch", "qp.patch")
    [fc] = p.files
    assert any(ln.text == "\tif (skb->mark == 3)" for h in fc.hunks for ln in h.lines)
    rep = run_check(mail, tmp_path)
    assert codes(rep) == ["SKBDROP_NEW_UNSPECIFIED"]
