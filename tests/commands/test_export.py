"""`skbdrop export` on hand-made analyses (tests/data/diff/*.json)."""
from __future__ import annotations

import csv
import io
import json
import os

import pytest

from analyzer import cli

from analyzer.commands import export
from analyzer.model import Analysis

from helpers import TESTS
from helpers.diff_data import NEW, NOCAT, OLD, load


def run(capsys, *argv) -> tuple[int, str, str]:
    rc = cli.main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_reason_table_rows():
    rows = export.reason_rows(load(NEW))
    names = [r["name"] for r in rows]
    # bounds are not reasons: SKB_DROP_REASON_MAX, SKB_DROP_REASON_SUBSYS_MASK, OVS_DROP_MAX
    assert "SKB_DROP_REASON_MAX" not in names and "OVS_DROP_MAX" not in names
    assert "SKB_DROP_REASON_SUBSYS_MASK" not in names
    assert len(rows) == 11
    assert [r["value"] for r in rows] == sorted(r["value"] for r in rows)
    by = {r["short"]: r for r in rows}
    # sites that can produce each reason, counted by hand from new.json:
    # NO_SOCKET: a.c:12, a.c:25, actions.c:50; TCP_CSUM: c.c:9;
    # OVS_DROP_LAST_ACTION: actions.c:40, actions.c:50; CONSUMED: d.c:3; NETFILTER_DROP: none
    assert by["NO_SOCKET"]["sites"] == 3
    assert by["TCP_CSUM"]["sites"] == 1
    assert by["OVS_DROP_LAST_ACTION"]["sites"] == 2
    assert by["CONSUMED"]["sites"] == 1
    assert by["NETFILTER_DROP"]["sites"] == 0
    assert by["OVS_DROP_LAST_ACTION"]["subsystem"] == "openvswitch"
    assert by["OVS_DROP_LAST_ACTION"]["value"] == 196609
    assert by["TCP_CSUM"]["file"] == "include/net/dropreason-core.h" and by["TCP_CSUM"]["line"] == 136
    assert all(r["kernel"] == "6.12.0-mini" for r in rows)


def test_site_table_rows():
    rows = export.site_rows(load(NEW))
    assert len(rows) == 7
    assert [(r["file"], r["line"]) for r in rows] == sorted((r["file"], r["line"]) for r in rows)
    ovs = [r for r in rows if r["function"] == "do_output"][0]
    assert ovs["reasons"] == ["OVS_DROP_LAST_ACTION", "NO_SOCKET"]
    assert ovs["complete"] is False and ovs["resolution"] == "parameter"


def csv_records(text: str) -> list[dict[str, str]]:
    """The CSV read with Python's csv module (not the product's read_csv)."""
    return list(csv.DictReader(io.StringIO(text, newline=""), strict=True))


def as_csv_cells(row: dict) -> dict[str, str]:
    """A JSON export row as README says its CSV cells are written: lists space-separated,
    booleans true/false, null empty."""
    def cell(v):
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return " ".join(v)
        return str(v)
    return {k: cell(v) for k, v in row.items()}


@pytest.mark.parametrize("table", ["reasons", "sites"])
@pytest.mark.parametrize("path", [NEW, OLD])
def test_csv_and_json_agree_row_for_row(table, path):
    a = load(path)
    j = json.loads(export.to_json(a, table))
    text = export.to_csv(a, table)
    c = csv_records(text)
    assert text.split("\r\n", 1)[0].split(",") == j["columns"] == list(export.COLUMNS[table])
    assert len(c) == len(j["rows"]) > 0
    for rc, rj in zip(c, j["rows"]):
        assert rc == as_csv_cells(rj)
    # the product's own reader agrees too
    assert export.read_csv(text, table) == j["rows"]
    assert j["kernel"]["version"] == a.kernel.version


def test_csv_is_rfc4180():
    text = export.to_csv(load(NEW), "reasons")
    raw = text.encode()
    # CRLF record ends, and no bare LF outside quoted fields
    assert raw.endswith(b"\r\n")
    assert raw.count(b"\r\n") == 12         # header + 11 rows
    # the NO_SOCKET doc contains a newline, which stays inside its quoted field
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == list(export.REASON_COLUMNS)
    assert len(rows) == 12
    doc = {r[1]: r[4] for r in rows[1:]}
    assert doc["NO_SOCKET"] == ("no valid socket that can be used. Reason could be one of\n"
                                'three: 1. no established socket; 2. no "valid" request socket, really')
    # the doc with a comma and quotes is quoted and its quotes doubled
    assert '"no valid socket that can be used. Reason could be one of\nthree: 1. no established ' \
           'socket; 2. no ""valid"" request socket, really"' in text


def test_json_is_stable_and_sorted():
    a = load(NEW)
    text = export.to_json(a, "sites")
    assert text == export.to_json(Analysis.from_json(a.to_json()), "sites")
    doc = json.loads(text)
    assert list(doc) == sorted(doc)
    assert all(list(r) == sorted(r) for r in doc["rows"])
    assert text == json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def test_cli_export_formats(capsys, tmp_path):
    rc, out, err = run(capsys, "export", NEW, "--format", "csv")
    assert rc == 0 and err == ""
    assert out.splitlines()[0] == ",".join(export.REASON_COLUMNS)
    rc, out, _ = run(capsys, "export", NEW, "--format", "json", "--table", "sites")
    assert rc == 0 and json.loads(out)["table"] == "sites"
    dest = tmp_path / "sites.csv"
    rc, out, _ = run(capsys, "export", NEW, "--format", "csv", "--table", "sites", "-o", str(dest))
    assert rc == 0 and out == ""
    rows = json.loads(export.to_json(load(NEW), "sites"))["rows"]
    assert csv_records(dest.read_bytes().decode()) == [as_csv_cells(r) for r in rows]


def test_cli_export_no_catalogue(capsys):
    for table in ("reasons", "sites"):
        rc, out, err = run(capsys, "export", NOCAT, "--table", table)
        assert rc == 2 and out == ""
        assert len(err.splitlines()) == 1 and "no drop-reason catalogue" in err


def test_read_csv_rejects_other_tables():
    with pytest.raises(ValueError):
        export.read_csv(export.to_csv(load(NEW), "reasons"), "sites")


def _tree(root, files: dict[str, str]) -> str:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return str(root)


@pytest.mark.parametrize("argv", [["header"], ["export"], ["export", "--table", "sites"],
                                  ["verify", "--btf", os.path.join(TESTS, "data", "runtime-6.18",
                                                                   "btf-drop-reasons.json")]])
def test_trees_without_a_catalogue(tmp_path, capsys, argv):
    """A directory that is no kernel, and a 5.16 tree (the enum arrived in 5.17): one line, 2."""
    plain = _tree(tmp_path / "plain", {"hello.c": "int main(void) { return 0; }\n"})
    k516 = _tree(tmp_path / "k516", {
        "Makefile": "VERSION = 5\nPATCHLEVEL = 16\nSUBLEVEL = 0\nEXTRAVERSION =\n",
        "include/linux/skbuff.h": "struct sk_buff;\nvoid kfree_skb(struct sk_buff *skb);\n",
        "net/core/skbuff.c": "#include <linux/skbuff.h>\n"
                             "void f(struct sk_buff *skb) { kfree_skb(skb); }\n"})
    for tree, needle in ((plain, "kernel"), (k516, "no drop-reason catalogue")):
        rc, out, err = run(capsys, argv[0], tree, *argv[1:], "--no-cache")
        assert rc == 2 and out == ""
        assert len(err.splitlines()) == 1 and needle in err, err
