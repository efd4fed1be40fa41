"""The pipeline: KERNEL -> tree -> per-file facts (cached, parallel) -> link -> Analysis.

`load_analysis` is the one entry point for commands that take `KERNEL|analysis.json`."""
from __future__ import annotations

import os
from dataclasses import replace

from analyzer.c.collect import collect_facts
from analyzer.c.text import call_positions
from analyzer.errors import InputError
from analyzer.link.analysis import link
from analyzer.model import Analysis, KernelInfo
from analyzer.source.tree import Tree, open_tree


def load_analysis(spec: str, *, jobs: int | None = None, use_cache: bool = True,
                  progress: bool = False) -> Analysis:
    """An Analysis from a saved analysis JSON file or from a KERNEL spec (scanned now)."""
    if spec.endswith(".json") and os.path.isfile(spec):
        try:
            with open(spec, encoding="utf-8") as f:
                return Analysis.from_json(f.read())
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
            raise InputError(f"{spec}: not a skbdrop analysis: {e}") from None
    return scan(spec, jobs=jobs, use_cache=use_cache, progress=progress)


def scan(spec: str, *, jobs: int | None = None, use_cache: bool = True,
         progress: bool = False) -> Analysis:
    tree = open_tree(spec)
    facts = collect_facts(tree, jobs=jobs, use_cache=use_cache, progress=progress)
    a = link(facts, KernelInfo(version=tree.version, source=tree.source, layout=""),
             skipped=facts.skipped, scanned=max(facts.scanned, getattr(tree, "count", 0)))
    return _with_source_lines(a, tree)


def _with_source_lines(a: Analysis, tree: Tree) -> Analysis:
    """Sites found through the call edges only (a wrapper whose arguments the facts did
    not keep) get their source line and column from the file (c/text.call_positions)."""
    if all(s.source for s in a.sites):
        return a
    pos = call_positions(tree.read, [(s.file, s.line, s.callee) for s in a.sites if not s.source])
    sites = []
    for s in a.sites:
        p = None if s.source else pos.get((s.file, s.line, s.callee))
        if p is not None:
            s = replace(s, source=p[1], column=p[0] or s.column)
        sites.append(s)
    sites.sort(key=lambda s: (s.file, s.line, s.column, s.callee))
    return replace(a, sites=tuple(sites))
