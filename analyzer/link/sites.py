"""Drop and consume sites: a call of a family member, with the reasons that reach it."""
from __future__ import annotations

import re
from collections.abc import Mapping

from analyzer.c.facts import ENUMERATOR_LIKE, CallFact, FileFacts
from analyzer.link.resolver import Resolver
from analyzer.model import FamilyMember, Site


def _resolution(arg: str, terms) -> str:
    a = re.sub(r"^\((?:__force\s+)?[\w\s]+\)\s*", "", arg.strip()).strip()
    while a.startswith("(") and a.endswith(")"):
        a = a[1:-1].strip()
    kinds = {t[0] for t in terms}
    if ENUMERATOR_LIKE.match(a) or (kinds and kinds <= {"const"} and not re.fullmatch(r"[a-z_]\w*", a)):
        return "constant"
    if re.fullmatch(r"[A-Za-z_]\w*\s*\(.*\)", a, re.S):
        return "callee"
    if re.fullmatch(r"[A-Za-z_]\w*", a):
        return "parameter" if kinds == {"param"} else "variable"
    return "unknown"


def call_site(path: str, c: CallFact, m: FamilyMember, resolver: Resolver, consumed: str | None) -> Site:
    if m.reason_param is None:
        reasons = {m.reason} if m.reason else set()
        causes: list[str] = []
        arg = None
        resolution = "constant" if m.kind == "consume" else "unspecified"
    elif m.reason_param >= len(c.arg_terms):
        reasons, causes, arg, resolution = set(), ["reason argument missing"], None, "unknown"
    else:
        terms = c.arg_terms[m.reason_param]
        arg = c.args[m.reason_param]
        reasons, causes = resolver.terms(terms, path, c.function)
        resolution = _resolution(arg, terms)
    return _make_site(path, c.line, c.column, c.function, c.callee, m, arg, reasons, causes,
                      resolution, c.source, consumed, resolver.order)


def edge_site(path, caller, callee, line, m: FamilyMember, resolver: Resolver, consumed,
               source: str) -> Site:
    if m.reason_param is None:
        return _make_site(path, line, 1, caller, callee, m, None, {m.reason} if m.reason else set(),
                          [], "constant" if m.kind == "consume" else "unspecified", source,
                          consumed, resolver.order)
    return _make_site(path, line, 1, caller, callee, m, None, set(),
                      ["reason argument not recorded"], "unknown", source, consumed, resolver.order)


def source_lines(f: FileFacts) -> dict[int, str]:
    return {c.line: c.source for c in f.calls}


def _make_site(path, line, column, function, callee, m, arg, reasons, causes, resolution, source,
               consumed, order: Mapping[str, int]) -> Site:
    reasons = set(reasons)
    if m.kind == "drop":
        reasons.discard("NOT_DROPPED_YET")
    if m.kind == "consume" and consumed:
        reasons = {consumed}
    kind = "consume" if m.kind == "consume" or (reasons and reasons <= {"CONSUMED"}) else "drop"
    causes = sorted(set(c for c in causes if c))
    return Site(file=path, line=line, column=column, function=function, callee=callee, kind=kind,
                reason_arg=arg, reasons=tuple(sorted(reasons, key=lambda r: (order.get(r, 0), r))),
                resolution=resolution, complete=not causes,
                cause="; ".join(causes[:3]) if causes else None, source=source)


def macro_sites(path, mac, fam, resolver: Resolver, consumed):
    body = mac.body
    for call in mac.calls:
        m = fam.get(call.callee)
        if m is None:
            continue
        args = call.args
        arg, reasons, causes, resolution = None, set(), [], "unspecified"
        if m.reason_param is not None:
            if m.reason_param < len(args):
                arg = args[m.reason_param]
                a = re.sub(r"^\((?:__force\s+)?[\w\s]+\)\s*", "", arg)
                if ENUMERATOR_LIKE.match(a):
                    reasons, c = resolver.const(a)
                    causes = [c] if c else []
                    resolution = "constant"
                elif a in (mac.params or ()):
                    causes, resolution = [f"macro parameter {a} of {mac.name}()"], "parameter"
                else:
                    causes, resolution = [f"macro argument {a}"], "unknown"
            else:
                causes, resolution = ["reason argument missing"], "unknown"
        elif m.reason:
            reasons = {m.reason}
        yield _make_site(path, mac.line, 1, mac.name, m.name, m, arg, reasons, causes, resolution,
                         f"#define {mac.name}(…) {body[:100]}", consumed, resolver.order)
