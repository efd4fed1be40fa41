"""Whole-tree reasoning over per-file facts (no parsing): catalogue, family, reason sets,
call graph -> one Analysis."""
from __future__ import annotations

import gc
import re
from collections import defaultdict
from collections.abc import Mapping

from analyzer.link import catalogue as cat_mod
from analyzer.link.callgraph import build_callgraph
from analyzer.c.facts import ENUMERATOR_LIKE, CallFact, FileFacts, FunctionFact, call_args
from analyzer.link.family import derive_family
from analyzer.model import (Analysis, FamilyMember, FilesInfo, KernelInfo, Site, Skipped, Summary)

NOT_DROPPED = "SKB_NOT_DROPPED_YET"
# enum skb_free_reason (until 6.3): __dev_kfree_skb_any(skb, SKB_REASON_DROPPED) is a drop
# the tracepoint reports as NOT_SPECIFIED, SKB_REASON_CONSUMED a consume
FREE_REASONS = {"SKB_REASON_DROPPED": "NOT_SPECIFIED", "SKB_REASON_CONSUMED": "CONSUMED"}
MAX_DEPTH = 12


class Index:
    """Function definitions and call sites by name, with C's static scoping."""

    def __init__(self, facts: Mapping[str, FileFacts]):
        self.facts = facts
        self.defs: dict[str, list[tuple[str, FunctionFact]]] = defaultdict(list)
        self.calls_to: dict[str, list[tuple[str, CallFact]]] = defaultdict(list)
        for path in sorted(facts):
            f = facts[path]
            for fn in f.functions:
                self.defs[fn.name].append((path, fn))
            for c in f.calls:
                self.calls_to[c.callee].append((path, c))

    def resolve(self, name: str, from_path: str) -> list[tuple[str, FunctionFact]]:
        """Definitions a call to NAME in FROM_PATH can reach."""
        cands = self.defs.get(name, ())
        if not cands:
            return []
        same = [(p, f) for p, f in cands if p == from_path]
        if same:
            return same[:1]
        glob = [(p, f) for p, f in cands if not f.static]
        if glob:
            return glob
        hdr = [(p, f) for p, f in cands if p.endswith(".h")]
        return hdr if hdr else []

    def function(self, path: str, name: str | None) -> FunctionFact | None:
        if name is None or path not in self.facts:
            return None
        for fn in self.facts[path].functions:
            if fn.name == name:
                return fn
        return None


class Resolver:
    """Turns symbolic reason terms into catalogue reasons, over the whole tree."""

    def __init__(self, index: Index, catalogue: cat_mod.Catalogue):
        self.ix, self.cat = index, catalogue
        self.by_value = {}
        for r in catalogue.reasons:
            self.by_value.setdefault(r.value, r)
        self.by_name = {r.name: r for r in catalogue.reasons}
        self.order = {r.short: r.value for r in catalogue.reasons}
        self.memo: dict = {}

    def const(self, name: str) -> tuple[set[str], str | None]:
        r = self.by_name.get(name)
        if r is None:
            v = self.cat.values.get(name)
            if v is None and re.fullmatch(r"\d+|0[xX][0-9a-fA-F]+", name):
                v = int(name, 0)
            r = self.by_value.get(v) if v is not None else None
        if r is None:
            if name in FREE_REASONS:
                return {FREE_REASONS[name]}, None
            return set(), f"unknown constant {name}"
        return {r.short}, None

    def terms(self, terms, path: str, func: str | None, depth: int = 0) -> tuple[set[str], list[str]]:
        out: set[str] = set()
        causes: list[str] = []
        for t in terms:
            s, c = self.term(t, path, func, depth)
            out |= s
            causes += c
        return out, causes

    def term(self, t: tuple, path: str, func: str | None, depth: int) -> tuple[set[str], list[str]]:
        kind = t[0]
        if kind == "const":
            s, c = self.const(t[1])
            return s, [c] if c else []
        if kind == "unknown":
            return set(), [t[1]]
        if depth > MAX_DEPTH:
            return set(), ["too deep"]
        key = (t, path, func)
        if key in self.memo:
            v = self.memo[key]
            return (set(), []) if v is None else v
        self.memo[key] = None             # in progress: a cycle adds nothing
        if kind == "call":
            res = self._returns(t[1], path, depth)
        elif kind == "param":
            res = self._param(t[1], path, func, depth)
        elif kind == "out":
            res = self._out(t[1], t[2], path, depth)
        else:
            res = (set(), [f"unsupported term {kind}"])
        self.memo[key] = res
        return res

    def _returns(self, name: str, path: str, depth: int):
        defs = self.ix.resolve(name, path)
        if not defs:
            return set(), [f"return of {name}() (definition not found)"]
        out, causes = set(), []
        for p, fn in defs:
            if not fn.returns_reason:
                causes.append(f"return of {name}() is not an enum skb_drop_reason")
                continue
            s, c = self.terms(fn.return_terms, p, fn.name, depth + 1)
            out |= s
            causes += c
        return out, causes

    def _param(self, idx: int, path: str, func: str | None, depth: int):
        if func is None:
            return set(), ["parameter of an unknown function"]
        fn = self.ix.function(path, func)
        callers = [(p, c) for p, c in self.ix.calls_to.get(func, ())
                   if any(dp == path for dp, _ in self.ix.resolve(func, p))]
        pname = fn.params[idx].name if fn is not None and idx < len(fn.params) else str(idx)
        if not callers:
            return set(), [f"parameter {pname} of {func}() (no callers found)"]
        out, causes = set(), []
        for p, c in callers:
            if idx >= len(c.arg_terms):
                causes.append(f"parameter {pname} of {func}(): variadic or macro call")
                continue
            s, cc = self.terms(c.arg_terms[idx], p, c.function, depth + 1)
            out |= s
            causes += cc
        return out, causes

    def _out(self, name: str, idx: int, path: str, depth: int):
        defs = self.ix.resolve(name, path)
        if not defs:
            return set(), [f"out-parameter of {name}() (definition not found)"]
        out, causes = set(), []
        for p, fn in defs:
            for i, terms in fn.out_writes:
                if i == idx:
                    s, c = self.terms(terms, p, fn.name, depth + 1)
                    out |= s
                    causes += c
        return out, causes


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


def link(facts: Mapping[str, FileFacts], kernel: KernelInfo, *,
         skipped: Mapping[str, str] | None = None, scanned: int | None = None) -> Analysis:
    # many small immutable objects and no cycles: the cyclic GC only costs time here
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _link(facts, kernel, skipped=skipped, scanned=scanned)
    finally:
        if enabled:
            gc.enable()


def _link(facts: Mapping[str, FileFacts], kernel: KernelInfo, *,
          skipped: Mapping[str, str] | None = None, scanned: int | None = None) -> Analysis:
    texts = {p: f.catalogue_text for p, f in facts.items() if f.catalogue_text}
    catalogue = cat_mod.build(texts)
    catalogue = _fix_lines(catalogue, texts)
    index = Index(facts)
    resolver = Resolver(index, catalogue)
    family = derive_family(facts, index, resolver)
    fam = {m.name: m for m in family}
    consumed = "CONSUMED" if "SKB_CONSUMED" in resolver.by_name else None

    sites: list[Site] = []
    for path in sorted(facts):
        f = facts[path]
        kept = set()
        for c in f.calls:
            kept.add((c.line, c.callee))
            m = fam.get(c.callee)
            if m is None or c.function in fam or c.function is None:
                continue
            sites.append(_site(path, c, m, resolver, consumed))
        # members whose names the facts stage did not keep arguments for (a driver's
        # `static void foo_discard(void *h, struct sk_buff *skb) { kfree_skb(skb); }`)
        lines = None
        for caller, callee, line in f.edges:
            m = fam.get(callee)
            if m is None or caller in fam or (line, callee) in kept:
                continue
            if lines is None:
                lines = _source_lines(f)
            sites.append(_edge_site(path, caller, callee, line, m, resolver, consumed,
                                    lines.get(line, "")))
        for mac in f.macros:
            if mac.name in fam:
                continue
            for s in _macro_sites(path, mac, fam, resolver, consumed):
                sites.append(s)
    sites.sort(key=lambda s: (s.file, s.line, s.column, s.callee))

    graph = build_callgraph(facts, index, {(s.file, s.function) for s in sites})
    drops = [s for s in sites if s.kind == "drop"]
    unspec = [s for s in drops if not (set(s.reasons) - {"NOT_SPECIFIED"})]
    produced = {r for s in sites for r in s.reasons}
    real = [r for r in catalogue.reasons if _is_real_reason(r.name)]
    summary = Summary(
        drop_sites=len(drops), with_reason=len(drops) - len(unspec), unspecified=len(unspec),
        consume_sites=len(sites) - len(drops), incomplete=sum(1 for s in sites if not s.complete),
        reasons_defined=len(real),
        reasons_never_produced=sum(1 for r in real if r.short not in produced))
    parsed = [f for f in facts.values() if f.parsed]
    files = FilesInfo(
        scanned=scanned if scanned is not None else len(facts), parsed=len(parsed),
        with_errors=sum(1 for f in parsed if f.has_errors),
        skipped=tuple(Skipped(file=p, error=e) for p, e in sorted((skipped or {}).items())))
    return Analysis(
        kernel=KernelInfo(version=kernel.version, source=kernel.source, layout=catalogue.layout,
                          subsys_shift=catalogue.shift if catalogue.subsystems else None),
        reasons=catalogue.reasons, subsystems=catalogue.subsystems, family=tuple(family),
        sites=tuple(sites), callgraph=graph, files=files, summary=summary)


def _is_real_reason(name: str) -> bool:
    return name not in (NOT_DROPPED, "SKB_CONSUMED", "SKB_DROP_REASON_MAX",
                        "SKB_DROP_REASON_SUBSYS_MASK")


def _site(path: str, c: CallFact, m: FamilyMember, resolver: Resolver, consumed: str | None) -> Site:
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


def _edge_site(path, caller, callee, line, m: FamilyMember, resolver: Resolver, consumed,
               source: str) -> Site:
    if m.reason_param is None:
        return _make_site(path, line, 1, caller, callee, m, None, {m.reason} if m.reason else set(),
                          [], "constant" if m.kind == "consume" else "unspecified", source,
                          consumed, resolver.order)
    return _make_site(path, line, 1, caller, callee, m, None, set(),
                      ["reason argument not recorded"], "unknown", source, consumed, resolver.order)


def _source_lines(f: FileFacts) -> dict[int, str]:
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


_MACRO_CALL = re.compile(r"\b([A-Za-z_]\w*)\s*\(")


def _macro_sites(path, mac, fam, resolver: Resolver, consumed):
    body = mac.body
    for mm in _MACRO_CALL.finditer(body):
        m = fam.get(mm.group(1))
        if m is None:
            continue
        args = [a.strip() for a in call_args(body, mm.end())]
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


def _fix_lines(catalogue: cat_mod.Catalogue, texts: Mapping[str, str]) -> cat_mod.Catalogue:
    """Enumerators made by an X-macro point at the list entry that names them."""
    from dataclasses import replace
    lines_of: dict[str, list[str]] = {}
    fixed = []
    for r in catalogue.reasons:
        if r.subsystem != "core" or not r.doc:
            lines = lines_of.setdefault(r.file, texts.get(r.file, "").split("\n"))
            pat = re.compile(r"\b" + re.escape(r.name) + r"\b")
            for i, ln in enumerate(lines, 1):
                if pat.search(ln):
                    r = replace(r, line=i)
                    break
        fixed.append(r)
    return replace(catalogue, reasons=tuple(fixed))
