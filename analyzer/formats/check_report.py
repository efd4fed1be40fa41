"""Text (checkpatch-like) and JSON output of ``skbdrop check``; SARIF is in sarif.py."""
from __future__ import annotations

import json

from analyzer import __version__
from analyzer.link.check.results import CheckReport
from analyzer.model.findings import Finding, count


def _loc(f: Finding) -> str:
    return f"{f.file}:{f.line}" if f.line else f.file


def to_text(rep: CheckReport, *, terse: bool = False) -> str:
    L: list[str] = []
    multi = len(rep.results) > 1
    for r in rep.results:
        if multi and not terse:
            L.append(f"---- {r.patch.name}" + (f": {r.patch.subject}" if r.patch.subject else ""))
        for f in r.findings:
            if terse:
                L.append(f"{_loc(f)}: {f.severity.upper()}:{f.code}: {f.message}")
                continue
            L.append(f"{f.severity.upper()}:{f.code}: {f.message}")
            head = f"#{f.patch_line}: " if f.patch_line else ""
            L.append(f"{head}FILE: {_loc(f)}:")
            if f.source:
                L.append(f"{f.marker or ' '}{f.source}")
            if f.fix:
                L.append(f"  fix: {f.fix}")
            L.append("")
        if not terse:
            c = count(r.findings)
            L.append(f"total: {c['error']} errors, {c['warning']} warnings, {c['info']} infos, "
                     f"{r.lines} lines checked")
            if not r.analysed:
                L.append("no file in the checked paths: judged without parsing the tree")
            elif not r.findings:
                L.append(f"{r.patch.name} has no obvious drop-reason problems.")
            else:
                L.append(f"{r.patch.name} has drop-reason problems, please review.")
            L.append("")
    return "\n".join(L).rstrip("\n") + "\n"


def to_dict(rep: CheckReport) -> dict:
    return {
        "schema": 1,
        "tool": {"name": "skbdrop", "version": __version__},
        "base": rep.base,
        "kernel": None if rep.kernel is None else {"version": rep.kernel.version,
                                                   "source": rep.kernel.source,
                                                   "layout": rep.kernel.layout},
        "paths": list(rep.paths),
        "fail_on": rep.fail_on,
        "patches": [{
            "name": r.patch.name, "subject": r.patch.subject,
            "files": list(r.patch.paths()), "relevant": list(r.relevant),
            "analysed": r.analysed, "lines": r.lines,
            "findings": [f.to_dict() for f in r.findings],
            "summary": count(r.findings)} for r in rep.results],
        "summary": {**count(rep.findings()), "failed": rep.failed()},
    }


def to_json(rep: CheckReport) -> str:
    return json.dumps(to_dict(rep), indent=1, ensure_ascii=False) + "\n"
