"""The pipeline: KERNEL -> tree -> per-file facts (cached, parallel) -> link -> Analysis.

`load_analysis` is the one entry point for commands that take `KERNEL|analysis.json`."""
from __future__ import annotations

import json
import os
from dataclasses import replace

from analyzer.c.collect import collect_facts
from analyzer.errors import InputError
from analyzer.link.analysis import link
from analyzer.model import Analysis, KernelInfo
from analyzer.model.data import SCHEMA
from analyzer.source import codec
from analyzer.source.tree import Tree, open_tree


def load_analysis(spec: str, *, jobs: int | None = None, use_cache: bool = True,
                  progress: bool = False) -> Analysis:
    """An Analysis from a saved analysis JSON file or from a KERNEL spec (scanned now)."""
    if spec.endswith(".json") and os.path.isfile(spec):
        return read_analysis(spec)
    return scan(spec, jobs=jobs, use_cache=use_cache, progress=progress)


def read_analysis(path: str) -> Analysis:
    """A saved analysis; anything else (not JSON, JSON of another shape or schema, a
    value of the wrong type anywhere) is the user's input error naming the file."""
    try:
        with open(path, "rb") as f:
            d = json.loads(f.read())
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror or e}") from None
    except (ValueError, RecursionError) as e:
        raise InputError(f"{path}: not JSON ({e})") from None
    if not isinstance(d, dict):
        raise InputError(f"{path}: not a skbdrop analysis (a JSON {type(d).__name__}, "
                         "not an object)")
    if d.get("schema") != SCHEMA:
        raise InputError(f"{path}: analysis schema {d.get('schema')!r}; this skbdrop reads "
                         f"schema {SCHEMA}")
    try:
        a = Analysis.from_dict(d)
        # every value against the dataclasses' type hints (a string where a line number
        # belongs would otherwise fail deep inside a reporter)
        codec.decoder(Analysis)(codec.encoder(Analysis)(a))
    except (ValueError, KeyError, TypeError, AttributeError, codec.BadEntry) as e:
        what = f"missing {e}" if isinstance(e, KeyError) else str(e)
        raise InputError(f"{path}: not a skbdrop analysis of schema {SCHEMA}: {what}") from None
    return a


def scan(spec: str, *, jobs: int | None = None, use_cache: bool = True,
         progress: bool = False) -> Analysis:
    tree = open_tree(spec)
    facts = collect_facts(tree, jobs=jobs, use_cache=use_cache, progress=progress)
    a = link(facts, KernelInfo(version=tree.version, source=tree.source, layout=""),
             skipped=facts.skipped, scanned=max(facts.scanned, getattr(tree, "count", 0)))
    return _with_source_lines(a, tree)


def _with_source_lines(a: Analysis, tree: Tree) -> Analysis:
    """Sites found through the call edges only (a wrapper whose arguments the facts did
    not keep) get their source line and column from the file itself."""
    if all(s.source for s in a.sites):
        return a
    texts: dict[str, list[str]] = {}
    sites = []
    for s in a.sites:
        if not s.source:
            if s.file not in texts:
                try:
                    texts[s.file] = tree.read(s.file).decode("utf-8", "replace").split("\n")
                except Exception:  # noqa: BLE001 - a missing line is not worth failing for
                    texts[s.file] = []
            lines = texts[s.file]
            if 0 < s.line <= len(lines):
                text = lines[s.line - 1]
                col = text.find(s.callee + "(") + 1 or s.column
                s = replace(s, source=text.strip(), column=col)
        sites.append(s)
    sites.sort(key=lambda s: (s.file, s.line, s.column, s.callee))
    return replace(a, sites=tuple(sites))
