"""The pipeline: KERNEL -> tree -> per-file facts (cached, parallel) -> link -> Analysis.

`load_analysis` is the one entry point for commands that take `KERNEL|analysis.json`."""
from __future__ import annotations

import os
from dataclasses import replace

from analyzer.c.collect import collect_facts
from analyzer.c.text import call_position
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
    not keep) get their source line and column from the file (c/text.call_position)."""
    if all(s.source for s in a.sites):
        return a
    texts: dict[str, str] = {}
    sites = []
    for s in a.sites:
        if not s.source:
            if s.file not in texts:
                try:
                    texts[s.file] = tree.read(s.file).decode("utf-8", "replace")
                except Exception:  # noqa: BLE001 - a missing line is not worth failing for
                    texts[s.file] = ""
            pos = call_position(texts[s.file], s.line, s.callee)
            if pos is not None:
                s = replace(s, source=pos[1], column=pos[0] or s.column)
        sites.append(s)
    sites.sort(key=lambda s: (s.file, s.line, s.column, s.callee))
    return replace(a, sites=tuple(sites))
