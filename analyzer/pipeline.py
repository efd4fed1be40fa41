"""The pipeline: KERNEL -> tree -> per-file facts (cached, parallel) -> link -> Analysis.

`load_analysis` is the one entry point for commands that take `KERNEL|analysis.json`.
Besides the tree forms of `open_tree`, commands that need only the reason table
(`sources=False`: header, export --table reasons, verify, diff) accept `btf:FILE`, and a
kernel headers tree (Makefile and include/, no net/*.c) is enough for them; `scan`
refuses both in one line."""
from __future__ import annotations

import gc
import json
import os
from dataclasses import replace

import msgspec

from analyzer import timing
from analyzer.c.collect import collect_facts, known_keys
from analyzer.c.text import call_positions
from analyzer.errors import InputError
from analyzer.gcpause import without_gc
from analyzer.link.analysis import link
from analyzer.link.relink import prepare_index
from analyzer.model import (Analysis, CallGraph, FamilyMember, FilesInfo, KernelInfo, Reason,
                            Site, Subsystem, Summary)
from analyzer.model.data import SCHEMA
from analyzer.source import codec
from analyzer.source.cache import AnalysisCache, analysis_key, usable_root
from analyzer.source.manifest import Manifest
from analyzer.source.tree import Tree, open_tree


BTF_PREFIX = "btf:"


def load_analysis(spec: str, *, jobs: int | None = None, use_cache: bool = True,
                  progress: bool = False, sources: bool = True) -> Analysis:
    """An Analysis from a saved analysis JSON file or from a KERNEL spec (scanned now).
    SOURCES=False: the caller needs the reason table only, so `btf:FILE` will do."""
    if spec.startswith(BTF_PREFIX):
        if sources:
            raise InputError(f"{spec}: BTF holds the reason table, not the sources: use it with "
                             "header, export --table reasons, verify or diff")
        from analyzer.source.btf import analysis_from_btf
        return analysis_from_btf(spec[len(BTF_PREFIX):])
    with without_gc():
        if spec.endswith(".json") and os.path.isfile(spec):
            a = read_analysis(spec)
        else:
            a = scan(spec, jobs=jobs, use_cache=use_cache, progress=progress)
    # the analysis lives as long as the command: the collector's later passes skip its
    # objects (a fifth of `report`'s and a third of `explain`'s time went to walking them)
    gc.freeze()
    return a


def read_analysis(path: str) -> Analysis:
    """A saved analysis; anything else (not JSON, JSON of another shape or schema, a
    value of the wrong type anywhere) is the user's input error naming the file."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror or e}") from None
    fast = _read_fast(data)
    if fast is not None:
        return fast
    try:
        d = json.loads(data)
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


class _Tool(msgspec.Struct, frozen=True):
    version: str = "?"


class _Saved(msgspec.Struct):
    """The analysis JSON's top level, typed: msgspec checks every value against the
    dataclasses' hints while it builds them (0.2 s for 6.12 where json.loads, from_dict
    and the codec's check took 1 s)."""
    schema: int
    kernel: KernelInfo
    tool: _Tool = _Tool()
    reasons: tuple[Reason, ...] = ()
    subsystems: tuple[Subsystem, ...] = ()
    family: tuple[FamilyMember, ...] = ()
    sites: tuple[Site, ...] = ()
    callgraph: CallGraph = CallGraph()
    files: FilesInfo = FilesInfo()
    summary: Summary = Summary()


def _read_fast(data: bytes) -> Analysis | None:
    """The Analysis of a valid analysis JSON of this schema; None for anything else (the
    slow path then says exactly what is wrong)."""
    try:
        d = msgspec.json.decode(data, type=_Saved)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None
    if d.schema != SCHEMA:
        return None
    return Analysis(kernel=d.kernel, reasons=d.reasons, subsystems=d.subsystems,
                    family=d.family, sites=d.sites, callgraph=d.callgraph, files=d.files,
                    summary=d.summary, tool_version=d.tool.version)


def scan(spec: str, *, jobs: int | None = None, use_cache: bool = True,
         progress: bool = False, require_sources: bool = False) -> Analysis:
    """REQUIRE_SOURCES (the scan command): a headers tree or BTF is an input error."""
    a, _keys = _scan(_open(spec, require_sources), jobs, use_cache, progress)
    return a


def scan_text(spec: str, *, jobs: int | None = None, use_cache: bool = True,
              progress: bool = False) -> str:
    """The analysis JSON text of KERNEL (the scan command). A directory tree whose every
    file the cache's manifest knows unchanged is answered from the analysis cache (keyed
    by all the content keys and the code of every stage) without loading or linking."""
    tree = _open(spec, True)
    root = usable_root() if use_cache else None
    memo = AnalysisCache(root)
    identity = (tree.version, tree.source)
    # the manifest is loaded once: the facts stage reuses it on a miss
    manifest = Manifest.load(tree, root) if root else None
    if manifest is not None:
        with timing.stage("tree state"):
            keys = known_keys(tree, manifest)
        if keys is not None:
            with timing.stage("analysis cache"):
                text = memo.get(analysis_key(identity, keys))
            if text is not None:
                return text
    a, keys = _scan(tree, jobs, use_cache, progress, manifest)
    with timing.stage("json"), without_gc():
        text = a.to_json()
    if keys is not None:
        memo.put(analysis_key(identity, keys), text)
    return text


def _open(spec: str, require_sources: bool) -> Tree:
    if require_sources and spec.startswith(BTF_PREFIX):
        raise InputError(f"{spec}: BTF has no sources to scan (it serves header, export "
                         "--table reasons, verify and diff)")
    tree = open_tree(spec)
    if require_sources and not getattr(tree, "has_sources", lambda: True)():
        raise InputError(f"{spec}: a kernel headers tree (Linux {tree.version}, no net/*.c): "
                         "no sources to scan; header, export --table reasons and verify work on it")
    return tree


def _scan(tree: Tree, jobs, use_cache, progress, manifest: Manifest | None = None
          ) -> tuple[Analysis, dict[str, str] | None]:
    # the whole tree's facts in memory: no full GC pass over them (1.3 s of a 5.5 s scan
    # with cached facts went to those)
    with without_gc():
        return _scan_facts_and_link(tree, jobs, use_cache, progress, manifest)


def _scan_facts_and_link(tree: Tree, jobs, use_cache, progress, manifest: Manifest | None
                         ) -> tuple[Analysis, dict[str, str] | None]:
    with timing.stage("facts"):
        facts = collect_facts(tree, jobs=jobs, use_cache=use_cache, progress=progress,
                              manifest=manifest)
    timing.count("files", facts.scanned)
    timing.count("files parsed now", facts.parsed)
    timing.count("bytes parsed now", facts.parsed_bytes)
    timing.count("files from facts cache", facts.cached)
    job = None
    try:
        # check's link index is built by a forked child meanwhile (the workers are gone)
        if use_cache:
            job = prepare_index(tree, facts, background=True)
        with timing.stage("link"):
            a = link(facts, KernelInfo(version=tree.version, source=tree.source, layout=""),
                     skipped=facts.skipped, scanned=max(facts.scanned, getattr(tree, "count", 0)))
        with timing.stage("source lines"):
            a = _with_source_lines(a, tree)
    except BaseException:
        if job is not None:
            job.stop()
        raise
    if job is not None:
        with timing.stage("check index (wait)"):
            job.wait()
    return a, facts.keys


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
