"""Whole-tree reasoning over per-file facts (no parsing): catalogue, family, reason sets,
call graph -> one Analysis."""
from __future__ import annotations

import re
from collections.abc import Mapping

from analyzer import timing
from analyzer.c.facts import FileFacts
from analyzer.gcpause import without_gc
from analyzer.link import catalogue as cat_mod
from analyzer.link.callgraph import build_callgraph
from analyzer.link.family import derive_family
from analyzer.link.resolver import Index, Resolver
from analyzer.link.sites import call_site, edge_site, macro_sites, source_lines
from analyzer.model import (Analysis, FilesInfo, KernelInfo, Site, Skipped, Summary,
                            UnresolvedReason, rules)


def link(facts: Mapping[str, FileFacts], kernel: KernelInfo, *,
         skipped: Mapping[str, str] | None = None, scanned: int | None = None) -> Analysis:
    with without_gc():          # many small immutable objects, no cycles
        return _link(facts, kernel, skipped=skipped, scanned=scanned)


def _link(facts: Mapping[str, FileFacts], kernel: KernelInfo, *,
          skipped: Mapping[str, str] | None = None, scanned: int | None = None) -> Analysis:
    with timing.stage("catalogue"):
        texts = {p: f.catalogue_text for p, f in facts.items() if f.catalogue_text}
        catalogue = cat_mod.build(texts)
        catalogue = _fix_lines(catalogue, texts)
    with timing.stage("index"):
        index = Index(facts)
        resolver = Resolver(index, catalogue)
    with timing.stage("family"):
        family = derive_family(facts, index, resolver)
    fam = {m.name: m for m in family}
    consumed = "CONSUMED" if "SKB_CONSUMED" in resolver.by_name else None
    # calls inside a member are the family's wiring, not sites -- except in a wrapper
    # whose address is taken (a callback: `.error_report = arp_error_report`), which may
    # have no call site at all; its inner call stays a site so every drop is somewhere
    taken = {n for f in facts.values() for n in f.address_taken if n in fam}
    wiring = {n for n, m in fam.items() if not (n in taken and m.via == "wrapper")}

    with timing.stage("sites"):
        sites = _sites(facts, fam, wiring, resolver, consumed)
    with timing.stage("callgraph"):
        graph = build_callgraph(facts, index, {(s.file, s.function) for s in sites})
    return _analysis(facts, kernel, catalogue, family, sites, graph, skipped, scanned)


def _sites(facts, fam, wiring, resolver, consumed) -> list[Site]:
    sites: list[Site] = []
    for path in sorted(facts):
        f = facts[path]
        kept = set()
        for c in f.calls:
            kept.add((c.line, c.callee))
            m = fam.get(c.callee)
            if m is None or c.function in wiring or c.function is None or c.function == c.callee:
                continue
            sites.append(call_site(path, c, m, resolver, consumed))
        # members whose names the facts stage did not keep arguments for (a driver's
        # `static void foo_discard(void *h, struct sk_buff *skb) { kfree_skb(skb); }`)
        lines = None
        for caller, callee, line in f.edges:
            m = fam.get(callee)
            if m is None or caller in wiring or caller == callee or (line, callee) in kept:
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
    return sites


def _analysis(facts, kernel, catalogue, family, sites, graph, skipped, scanned) -> Analysis:
    drops = [s for s in sites if s.kind == "drop"]
    unspec = [s for s in drops if rules.is_unspecified(s)]
    produced = {r for s in sites for r in s.reasons}
    real = [r for r in catalogue.reasons if not rules.is_sentinel(r, catalogue.shift)]
    unresolved = _unresolved(facts, real, produced, sites)
    summary = Summary(
        drop_sites=len(drops), with_reason=len(drops) - len(unspec), unspecified=len(unspec),
        consume_sites=len(sites) - len(drops),
        incomplete=sum(1 for s in drops if rules.is_incomplete(s)),
        reasons_defined=len(real),
        reasons_never_produced=sum(1 for r in real if r.short not in produced) - len(unresolved),
        reasons_unresolved=unresolved)
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


def _unresolved(facts: Mapping[str, FileFacts], real, produced: set[str],
                sites: list[Site]) -> tuple[UnresolvedReason, ...]:
    """Reasons the .c code names (an enumerator token, or SKB_DR_SET's short name) that no
    site produces, each with the likely cause: the causes of the incomplete drop sites
    of the files that name it, or where it is named when no site there is incomplete."""
    wanted = {r.name: r.short for r in real if r.short not in produced}
    if not wanted:
        return ()
    files_of: dict[str, list[str]] = {}
    for path in sorted(facts):
        if not path.endswith(".c"):
            continue
        for n in facts[path].reason_names:
            if n in wanted:
                files_of.setdefault(wanted[n], []).append(path)
    if not files_of:
        return ()
    by_file: dict[str, list[Site]] = {}
    for s in sites:
        if s.kind == "drop":
            by_file.setdefault(s.file, []).append(s)
    out = []
    for short in sorted(files_of):
        files = files_of[short]
        incomplete = [s for f in files for s in by_file.get(f, ()) if not s.complete]
        if incomplete:
            parts = sorted({f"{s.function}(): {s.cause}" for s in incomplete})
            more = f" (+{len(parts) - 2} more)" if len(parts) > 2 else ""
            cause = "incomplete sites: " + "; ".join(parts[:2]) + more
        else:
            where = ", ".join(files[:3]) + (f" (+{len(files) - 3} more)" if len(files) > 3 else "")
            has_drops = any(by_file.get(f) for f in files)
            cause = ("used only in " + where + (": no drop site there reaches it" if has_drops
                                                  else ": no drop site in that code"))
        out.append(UnresolvedReason(reason=short, cause=cause, files=tuple(files)))
    return tuple(out)


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
