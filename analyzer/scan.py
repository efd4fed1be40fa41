"""`skbdrop scan`: KERNEL -> tree -> per-file facts (cached, parallel) -> link -> Analysis."""
from __future__ import annotations

import gc
import hashlib
from dataclasses import replace
import os
import pickle
import sys
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor

from . import atomic
from .cache import FactsCache, content_key
from .facts import FACTS_VERSION, FileFacts, SkipFile, extract
from .link import link
from .model import Analysis, KernelInfo
from .tree import Tree, cache_dir, open_tree, worth_keeping

__all__ = ["scan", "collect_facts", "link", "Facts"]


class Facts(dict):
    """path -> FileFacts, plus what was skipped and how many files were looked at."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.skipped: dict[str, str] = {}
        self.scanned = 0


def _work(item: tuple[str, bytes | None, str | None, str | None]):
    """In a worker: read (if needed), judge, hash, look up or parse and cache one file.
    Returns (path, key, facts or None, error or None); key "" means not worth parsing."""
    path, data, full, cache_root = item
    try:
        if data is None:
            with open(full, "rb") as f:
                data = f.read()
        if not worth_keeping(data):
            return path, "", None, None
        key = content_key(data)
        cache = FactsCache(cache_root)
        hit = cache.get(key)
        if hit is not None:
            return path, key, hit, None
        facts = extract(path, data)
        cache.put(key, facts)
        return path, key, facts, None
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
    (a patched file), and adds files that are not in the tree.

    Files are parsed in worker processes while the main process goes on reading; a
    directory tree keeps a manifest (size, mtime -> content key) in the cache, so a warm
    scan stats files instead of reading them."""
    cache = FactsCache(cache_dir() if use_cache else None)
    manifest = Manifest.load(tree) if use_cache else None
    out = Facts()
    overrides = dict(overrides or {})
    jobs = jobs or os.cpu_count() or 1
    pool = ProcessPoolExecutor(max_workers=jobs) if jobs > 1 else None
    pending: list = []
    chunk: list = []
    fulls: dict[str, str] = {}
    bar = _progress(progress, "scanning")
    was_enabled = gc.isenabled()
    gc.disable()

    def flush():
        if chunk:
            work = list(chunk)
            pending.append(pool.submit(_work_chunk, work) if pool else _Done(_work_chunk(work)))
            chunk.clear()
    try:
        for path, data, full in _with_overrides(tree.iter_files(), overrides):
            out.scanned += 1
            if full:
                fulls[path] = full
            if data is None and manifest is not None:
                known = manifest.lookup(path, full)
                if known is not None:
                    if bar is not None:
                        bar.update(1)
                    if known == "":
                        continue                      # irrelevant, unchanged
                    hit = cache.get(known)
                    if hit is not None:
                        out[path] = hit if hit.path == path else _repath(hit, path)
                        continue
            chunk.append((path, data, full, cache.root and os.path.dirname(cache.root)))
            if len(chunk) >= 32:
                flush()
        flush()
        for fut in pending:
            results = fut.result()
            if bar is not None:
                bar.update(len(results))
            for path, key, facts, err in results:
                if err is not None:
                    out.skipped[path] = err
                    continue
                full = fulls.get(path)
                if manifest is not None and full:
                    manifest.record(path, full, key)
                if facts is not None:
                    out[path] = facts if facts.path == path else _repath(facts, path)
    finally:
        if pool is not None:
            pool.shutdown()
        if bar is not None:
            bar.close()
        if was_enabled:
            gc.enable()
    if manifest is not None:
        manifest.save()
    return out


class _Done:
    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


def _work_chunk(items):
    gc.enable()           # a forked worker inherits the reader's disabled GC; parsing needs it
    return [_work(i) for i in items]


class Manifest:
    """path -> (size, mtime_ns, content key or "" for a file not worth parsing), per
    directory tree, so that unchanged files are not read again."""

    def __init__(self, path: str | None, entries: dict):
        self.path, self.entries, self.new = path, entries, {}

    @classmethod
    def load(cls, tree: Tree) -> "Manifest | None":
        root = getattr(tree, "root", None)
        if getattr(tree, "kind", None) != "dir" or not root:
            return None
        name = hashlib.blake2b(os.path.realpath(root).encode(), digest_size=12).hexdigest()
        path = os.path.join(cache_dir(), f"manifest-v{FACTS_VERSION}", name + ".pkl")
        try:
            with open(path, "rb") as f:
                entries = pickle.load(f)
        except (OSError, EOFError, pickle.UnpicklingError, ValueError):
            entries = {}
        return cls(path, entries)

    def lookup(self, rel: str, full: str) -> str | None:
        e = self.entries.get(rel)
        if e is None:
            return None
        try:
            st = os.stat(full)
        except OSError:
            return None
        if (st.st_size, st.st_mtime_ns) != e[:2]:
            return None
        self.new[rel] = e
        return e[2]

    def record(self, rel: str, full: str, key: str) -> None:
        try:
            st = os.stat(full)
        except OSError:
            return
        self.new[rel] = (st.st_size, st.st_mtime_ns, key)

    def save(self) -> None:
        if self.new == self.entries:
            return
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            tmp = self.path + f".{os.getpid()}.tmp"
            with open(tmp, "wb") as f:
                pickle.dump(self.new, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, self.path)
        except OSError:
            pass


def _with_overrides(files, overrides: dict[str, bytes]):
    for path, data, full in files:
        if path in overrides:
            yield path, overrides.pop(path), None
        else:
            yield path, data, full
    for path in sorted(overrides):
        yield path, overrides[path], None


def _repath(f: FileFacts, path: str) -> FileFacts:
    return replace(f, path=path)


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


def command(args) -> int:
    a = scan(args.kernel, jobs=args.jobs, use_cache=not args.no_cache, progress=True)
    for s in a.files.skipped:
        sys.stderr.write(f"skbdrop: warning: skipped {s.file}: {s.error}\n")
    atomic.write_output(args.output, a.to_json())
    if args.output != "-" and sys.stderr.isatty():
        s = a.summary
        sys.stderr.write(f"{a.kernel.version}: {s.drop_sites} drop sites ({s.with_reason} with a reason, "
                         f"{s.unspecified} unspecified), {s.consume_sites} consume sites, "
                         f"{len(a.reasons)} reasons -> {args.output}\n")
    return 0
