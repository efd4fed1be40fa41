"""`skbdrop export`: the reason table or the site table as JSON or CSV.

Both formats carry the same rows and columns (`rows()`); CSV is written with the
csv module (RFC 4180: CRLF line ends, quoting when needed) and read back typed by
`read_csv()`, so a CSV and a JSON export of one Analysis compare row for row.
Every row names the kernel version it came from: the values are a snapshot of that
version, not a stable ABI.
"""
from __future__ import annotations

import csv
import io
import json
from typing import Any

from analyzer.errors import InputError
from analyzer.commands.header import load, require_catalogue
from analyzer.model import Analysis

REASON_COLUMNS = ("name", "short", "value", "subsystem", "doc", "file", "line", "sites", "kernel")
SITE_COLUMNS = ("file", "line", "column", "function", "callee", "kind", "reason_arg", "reasons",
                "resolution", "complete", "cause", "kernel")
COLUMNS = {"reasons": REASON_COLUMNS, "sites": SITE_COLUMNS}

_INT = {"value", "line", "column", "sites"}
_BOOL = {"complete"}
_LIST = {"reasons"}
_NULLABLE = {"reason_arg", "cause"}
LIST_SEP = " "      # reason names are C identifiers: a space never occurs inside one


def reason_rows(a: Analysis, spec: str = "") -> list[dict[str, Any]]:
    """One row a reason (bounds such as SKB_DROP_REASON_MAX left out), by value."""
    cat = require_catalogue(a, spec or a.kernel.source)
    count: dict[str, int] = {}
    for s in a.sites:
        for r in set(s.reasons):
            count[r] = count.get(r, 0) + 1
    rows = [{"name": r.name, "short": r.short, "value": r.value, "subsystem": r.subsystem,
             "doc": r.doc, "file": r.file, "line": r.line, "sites": count.get(r.short, 0),
             "kernel": a.kernel.version}
            for r in cat.reasons]
    rows.sort(key=lambda d: (d["value"], d["name"]))
    return rows


def site_rows(a: Analysis, spec: str = "") -> list[dict[str, Any]]:
    """One row a drop or consume site, reasons as a list, by (file, line, column)."""
    require_catalogue(a, spec or a.kernel.source)
    rows = [{"file": s.file, "line": s.line, "column": s.column, "function": s.function,
             "callee": s.callee, "kind": s.kind, "reason_arg": s.reason_arg,
             "reasons": list(s.reasons), "resolution": s.resolution, "complete": s.complete,
             "cause": s.cause, "kernel": a.kernel.version}
            for s in a.sites]
    rows.sort(key=lambda d: (d["file"], d["line"], d["column"], d["callee"]))
    return rows


def rows(a: Analysis, table: str, spec: str = "") -> list[dict[str, Any]]:
    if table == "reasons":
        return reason_rows(a, spec)
    if table == "sites":
        return site_rows(a, spec)
    raise InputError(f"unknown table {table!r} (reasons or sites)")


def to_json(a: Analysis, table: str, spec: str = "") -> str:
    doc = {"schema": 1, "table": table, "columns": list(COLUMNS[table]),
           "kernel": {"version": a.kernel.version, "source": a.kernel.source,
                      "layout": a.kernel.layout},
           "rows": rows(a, table, spec)}
    return json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def _cell(col: str, v: Any) -> str:
    if v is None:
        return ""
    if col in _BOOL:
        return "true" if v else "false"
    if col in _LIST:
        return LIST_SEP.join(v)
    return str(v)


def to_csv(a: Analysis, table: str, spec: str = "") -> str:
    cols = COLUMNS[table]
    buf = io.StringIO(newline="")
    w = csv.writer(buf, dialect="excel", lineterminator="\r\n")   # RFC 4180
    w.writerow(cols)
    for row in rows(a, table, spec):
        w.writerow([_cell(c, row[c]) for c in cols])
    return buf.getvalue()


def read_csv(text: str, table: str) -> list[dict[str, Any]]:
    """Rows of a CSV export, typed as in the JSON export."""
    cols = COLUMNS[table]
    r = csv.reader(io.StringIO(text, newline=""))
    header = next(r, None)
    if header is None or tuple(header) != cols:
        raise ValueError(f"not a skbdrop {table} table: header {header!r}")
    out = []
    for rec in r:
        if len(rec) != len(cols):
            raise ValueError(f"row of {len(rec)} fields, expected {len(cols)}")
        d: dict[str, Any] = {}
        for c, v in zip(cols, rec):
            if c in _INT:
                d[c] = int(v)
            elif c in _BOOL:
                d[c] = v == "true"
            elif c in _LIST:
                d[c] = v.split(LIST_SEP) if v else []
            elif c in _NULLABLE:
                d[c] = v or None
            else:
                d[c] = v
        out.append(d)
    return out


def command(args) -> int:
    from analyzer.formats.atomic import write_output
    a = load(args.kernel, args, sources=args.table != "reasons")
    text = (to_csv if args.format == "csv" else to_json)(a, args.table, args.kernel)
    write_output(getattr(args, "output", "-"), text)
    return 0
