"""Whole-tree reasoning over per-file facts (no parsing): catalogue, family, reason sets,
call graph -> one Analysis."""
from __future__ import annotations

import gc
import re
from collections.abc import Mapping

from analyzer.c.facts import FileFacts
from analyzer.link import catalogue as cat_mod
from analyzer.link.callgraph import build_callgraph
from analyzer.link.family import derive_family
from analyzer.link.resolver import Index, Resolver
from analyzer.link.sites import call_site, edge_site, macro_sites, source_lines
from analyzer.model import Analysis, FilesInfo, KernelInfo, Site, Skipped, Summary, rules


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
            sites.append(call_site(path, c, m, resolver, consumed))
        # members whose names the facts stage did not keep arguments for (a driver's
        # `static void foo_discard(void *h, struct sk_buff *skb) { kfree_skb(skb); }`)
        lines = None
        for caller, callee, line in f.edges:
            m = fam.get(callee)
            if m is None or caller in fam or (line, callee) in kept:
                continue
            if lines is None:
                lines = source_lines(f)
            sites.append(edge_site(path, caller, callee, line, m, resolver, consumed,
                                    lines.get(line, "")))
        for mac in f.macros:
            if mac.name in fam:
                continue
            for s in macro_sites(path, mac, fam, resolver, consumed):
                sites.append(s)
    sites.sort(key=lambda s: (s.file, s.line, s.column, s.callee))

    graph = build_callgraph(facts, index, {(s.file, s.function) for s in sites})
    drops = [s for s in sites if s.kind == "drop"]
    unspec = [s for s in drops if rules.is_unspecified(s)]
    produced = {r for s in sites for r in s.reasons}
    real = [r for r in catalogue.reasons if not rules.is_sentinel(r, catalogue.shift)]
    summary = Summary(
        drop_sites=len(drops), with_reason=len(drops) - len(unspec), unspecified=len(unspec),
        consume_sites=len(sites) - len(drops),
        incomplete=sum(1 for s in drops if rules.is_incomplete(s)),
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
