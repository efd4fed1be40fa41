"""`skbdrop scan`: KERNEL -> tree -> per-file facts (cached, parallel) -> link -> Analysis."""
from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor

from . import atomic
from .cache import FactsCache, content_key
from .facts import CATALOGUE_MARKERS, PREFILTER, FileFacts, SkipFile, extract
from .link import link
from .model import Analysis, KernelInfo
from .tree import Tree, cache_dir, open_tree

__all__ = ["scan", "collect_facts", "link", "Facts"]


class Facts(dict):
    """path -> FileFacts, plus what was skipped and how many files were looked at."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.skipped: dict[str, str] = {}
        self.scanned = 0


def _relevant(data: bytes) -> bool:
    return any(p in data for p in PREFILTER) or any(m in data for m in CATALOGUE_MARKERS)


def _work(item: tuple[str, bytes | None, str | None]) -> tuple[str, str, FileFacts | None, str | None]:
    path, data, full = item
    try:
        if data is None:
            with open(full, "rb") as f:
                data = f.read()
        key = content_key(data)
        return path, key, extract(path, data), None
    except SkipFile as e:
        return path, "", None, str(e)
    except OSError as e:
        return path, "", None, f"unreadable: {e.strerror or e}"
    except RecursionError:
        return path, "", None, "too deeply nested for the parser"


def collect_facts(tree: Tree, *, jobs: int | None = None, use_cache: bool = True,
                  progress: bool = False,
                  overrides: Mapping[str, bytes] | None = None) -> Facts:
    """Facts for every relevant .c/.h file of TREE; OVERRIDES replaces file contents
    (a patched file), and adds files that are not in the tree."""
    cache = FactsCache(cache_dir() if use_cache else None)
    out = Facts()
    todo: list[tuple[str, bytes | None, str | None]] = []
    keys: dict[str, str] = {}
    overrides = dict(overrides or {})
    bar = _progress(progress, "reading")
    for path, data, full in _with_overrides(tree.iter_files(), overrides):
        out.scanned += 1
        if bar is not None:
            bar.update(1)
        if data is None:
            try:
                with open(full, "rb") as f:
                    data = f.read()
            except OSError as e:
                out.skipped[path] = f"unreadable: {e.strerror or e}"
                continue
        if not _relevant(data):
            continue
        key = content_key(data)
        hit = cache.get(key)
        if hit is not None:
            out[path] = hit if hit.path == path else _repath(hit, path)
            continue
        keys[path] = key
        todo.append((path, data, None))
    if bar is not None:
        bar.close()
    jobs = jobs or os.cpu_count() or 1
    bar = _progress(progress, "parsing", total=len(todo))
    results: Iterable
    if jobs > 1 and len(todo) > 8:
        with ProcessPoolExecutor(max_workers=jobs) as ex:
            results = list(_tick(ex.map(_work, todo, chunksize=8), bar))
    else:
        results = list(_tick(map(_work, todo), bar))
    if bar is not None:
        bar.close()
    for path, key, facts, err in results:
        if err is not None:
            out.skipped[path] = err
            continue
        out[path] = facts
        cache.put(key, facts)
    return out


def _with_overrides(files, overrides: dict[str, bytes]):
    for path, data, full in files:
        if path in overrides:
            yield path, overrides.pop(path), None
        else:
            yield path, data, full
    for path in sorted(overrides):
        yield path, overrides[path], None


def _repath(f: FileFacts, path: str) -> FileFacts:
    from dataclasses import replace
    return replace(f, path=path)


def _tick(it, bar):
    for x in it:
        if bar is not None:
            bar.update(1)
        yield x


def _progress(enabled: bool, desc: str, total: int | None = None):
    if not enabled or not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit=" files", leave=False, file=sys.stderr)


def scan(spec: str, *, jobs: int | None = None, use_cache: bool = True,
         progress: bool = False) -> Analysis:
    tree = open_tree(spec)
    facts = collect_facts(tree, jobs=jobs, use_cache=use_cache, progress=progress)
    return link(facts, KernelInfo(version=tree.version, source=tree.source, layout=""),
                skipped=facts.skipped, scanned=facts.scanned)


def command(args) -> int:
    a = scan(args.kernel, jobs=args.jobs, use_cache=not args.no_cache, progress=True)
    for s in a.files.skipped:
        sys.stderr.write(f"skbdrop: warning: skipped {s.file}: {s.error}\n")
    atomic.write_text(args.output, a.to_json())
    if args.output != "-" and sys.stderr.isatty():
        s = a.summary
        sys.stderr.write(f"{a.kernel.version}: {s.drop_sites} drop sites ({s.with_reason} with a reason, "
                         f"{s.unspecified} unspecified), {s.consume_sites} consume sites, "
                         f"{len(a.reasons)} reasons -> {args.output}\n")
    return 0
