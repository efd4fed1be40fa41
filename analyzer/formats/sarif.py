"""SARIF 2.1.0 output of ``skbdrop check`` for code-scanning UIs.

One run; the driver lists every rule (id = the finding code, help text, default
level); each result has the physical location in the source tree (relative to
``%SRCROOT%``, the root of the kernel tree), the enclosing function as a logical
location and, when the line is in the patch, a related location in the patch file with
the patch's own line number (also in ``properties.patchLine``).
Output is deterministic: no timestamps, no absolute paths, no GUIDs.
"""
from __future__ import annotations

import hashlib
import json
from urllib.parse import quote

from analyzer import __version__
from analyzer.model.findings import RULES, Finding

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVEL = {"error": "error", "warning": "warning", "info": "note"}
SRCROOT = "%SRCROOT%"


def _uri(path: str) -> str:
    return quote(path, safe="/-_.~")


def _rules() -> list[dict]:
    out = []
    for r in RULES:
        out.append({
            "id": r.code,
            "name": r.name,
            "shortDescription": {"text": r.title},
            "fullDescription": {"text": r.help},
            "help": {"text": f"{r.title}.\n\n{r.help}",
                     "markdown": f"**{r.title}.**\n\n{r.help}"},
            "defaultConfiguration": {"level": LEVEL[r.severity]},
            "properties": {"tags": ["skb", "drop-reason"], "severity": r.severity},
        })
    return out


def _fingerprint(f: Finding) -> str:
    key = "\0".join((f.code, f.file, f.function, f.source.strip(), f.message))
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def _result(f: Finding, index: dict[str, int], patch_uri: str | None) -> dict:
    text = f.message + (f" Fix: {f.fix}." if f.fix else "")
    region: dict = {}
    if f.line:
        region["startLine"] = f.line
        if f.column:
            region["startColumn"] = f.column
        if f.source:
            region["snippet"] = {"text": f.source}
    phys: dict = {"artifactLocation": {"uri": _uri(f.file), "uriBaseId": SRCROOT}}
    if region:
        phys["region"] = region
    loc: dict = {"physicalLocation": phys}
    if f.function:
        loc["logicalLocations"] = [{"name": f.function, "kind": "function"}]
    res: dict = {
        "ruleId": f.code,
        "ruleIndex": index[f.code],
        "level": LEVEL[f.severity],
        "message": {"text": text},
        "locations": [loc],
        "partialFingerprints": {"skbdropFinding/v1": _fingerprint(f)},
        "properties": {"patch": f.patch, "patchLine": f.patch_line,
                       "lineIn": "base" if f.marker == "-" else "patched",
                       "suggestions": list(f.suggestions)},
    }
    if f.patch_line and patch_uri:
        res["relatedLocations"] = [{
            "id": 1,
            "physicalLocation": {"artifactLocation": {"uri": _uri(patch_uri)},
                                 "region": {"startLine": f.patch_line}},
            "message": {"text": f"line {f.patch_line} of the patch"},
        }]
    return res


def to_sarif(rep) -> dict:
    """The SARIF log (a dict) of a :class:`analyzer.check.CheckReport`."""
    rules = _rules()
    index = {r["id"]: i for i, r in enumerate(rules)}
    results = []
    for pr in rep.results:
        for f in pr.findings:
            results.append(_result(f, index, pr.patch.uri))
    run: dict = {
        "tool": {"driver": {"name": "skbdrop", "version": __version__,
                            "semanticVersion": __version__,
                            "rules": rules}},
        "invocations": [{"executionSuccessful": True,
                         "exitCode": rep.exit_code(),
                         "properties": {"base": rep.base, "paths": list(rep.paths),
                                        "failOn": rep.fail_on}}],
        "originalUriBaseIds": {SRCROOT: {"description": {
            "text": "the root of the kernel source tree the patch applies to"}}},
        "columnKind": "unicodeCodePoints",
        "results": results,
        "properties": {"patches": [{"name": pr.patch.name, "subject": pr.patch.subject,
                                    "analysed": pr.analysed} for pr in rep.results]},
    }
    if rep.kernel is not None:
        run["properties"]["kernel"] = {"version": rep.kernel.version,
                                       "source": rep.kernel.source}
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def to_sarif_json(rep) -> str:
    return json.dumps(to_sarif(rep), indent=1, ensure_ascii=False) + "\n"
