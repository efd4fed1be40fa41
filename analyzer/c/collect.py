"""The facts stage over a whole tree: read, hash, look up or parse every relevant file.

Files are parsed in worker processes while the main process goes on reading; a directory
tree keeps a manifest (source/manifest.py), so a warm scan stats files instead of reading them.
"""
from __future__ import annotations

import gc
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import replace

from analyzer.c.extract import extract
from analyzer.c.facts import FileFacts, SkipFile
from analyzer.errors import InputError
from analyzer.gcpause import without_gc
from analyzer.source.cache import FactsCache, content_key, decode_facts, encode_facts, usable_root
from analyzer.source.codec import BadEntry
from analyzer.source.manifest import Manifest, stat_key
from analyzer.source.tree import Tree, worth_keeping

__all__ = ["Facts", "FactsOf", "collect_facts", "known_keys"]


class Facts(dict):
    """path -> FileFacts, plus what was skipped and how many files were looked at;
    `parsed` and `cached` count the facts parsed now and those taken from the cache;
    `keys`: every file's content key ("" not worth parsing), None when a file was skipped
    or a content was given (no whole-tree key then)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.skipped: dict[str, str] = {}
        self.scanned = 0
        self.parsed = 0
        self.parsed_bytes = 0
        self.cached = 0
        self.keys: dict[str, str] | None = {}


def _work(item: tuple[str, bytes | None, str | None, str | None]):
    """In a worker: read (if needed), judge, hash, look up or parse and cache one file.
    Returns (path, key, facts entry or None, error or None, stat or None, bytes parsed
    now, 0 if none):
    the facts as a cache entry's bytes (source/cache.encode_facts), decoded by the scan
    (an entry taken from the cache is checked there); key "" means not worth parsing.
    The stat is taken on the open file before reading (the manifest records what was
    read, never a later version)."""
    path, data, full, cache_root = item
    st = None
    try:
        if data is None:
            fd = os.open(full, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            with os.fdopen(fd, "rb") as f:
                st = stat_key(os.fstat(f.fileno()))
                data = f.read()
        if not worth_keeping(data):
            return path, "", None, None, st, 0
        key = content_key(data)
        cache = FactsCache(cache_root)
        hit = cache.get_entry(key)
        if hit is not None:
            return path, key, hit, None, st, 0
        entry = encode_facts(key, extract(path, data))
        cache.put_entry(key, entry)
        return path, key, entry, None, st, len(data)
    except SkipFile as e:
        return path, "", None, str(e), None, 0
    except OSError as e:
        return path, "", None, f"unreadable: {e.strerror or e}", None, 0
    except RecursionError:
        return path, "", None, "too deeply nested for the parser", None, 0


def _facts_of(path: str, key: str, entry: bytes, parsed: int, read, cache: FactsCache
              ) -> FileFacts | None:
    """The FileFacts of a worker's ENTRY. An entry taken from the cache that does not
    decode (corrupt, foreign) is a miss: the file is read again (READ(path)), parsed here
    and its entry replaced; None if it cannot be read now."""
    try:
        return decode_facts(key, entry)
    except (BadEntry, RecursionError):
        if parsed:
            raise                      # made just now by this code: a bug, not a miss
    try:
        data = read(path)
    except (InputError, OSError):
        return None
    if content_key(data) != key:
        return None
    facts = extract(path, data)
    cache.put(key, facts)
    return facts


def collect_facts(tree: Tree, *, jobs: int | None = None, use_cache: bool = True,
                  progress: bool = False,
                  overrides: Mapping[str, bytes] | None = None,
                  manifest: Manifest | None = None) -> Facts:
    """Facts for every relevant .c/.h file of TREE; OVERRIDES replaces file contents
    (a patched file), and adds files that are not in the tree; MANIFEST: the tree's,
    if the caller has loaded it already.

    Files are parsed in worker processes while the main process goes on reading; a
    directory tree keeps a manifest (size, mtime, inode, ctime -> content key) in the cache, so a warm
    scan stats files instead of reading them."""
    with without_gc():          # the facts: many small objects, no cycles
        return _collect_facts(tree, jobs, use_cache, progress, overrides, manifest)


def _collect_facts(tree: Tree, jobs: int | None, use_cache: bool, progress: bool,
                   overrides: Mapping[str, bytes] | None, manifest: Manifest | None) -> Facts:
    root = usable_root() if use_cache else None
    cache = FactsCache(root)
    if manifest is None and root:
        manifest = Manifest.load(tree, root)
    out = Facts()
    overrides = dict(overrides or {})
    given = dict(overrides)

    def read(path: str) -> bytes:
        return given[path] if path in given else tree.read(path)
    jobs = jobs or os.cpu_count() or 1
    # workers ignore Ctrl-C: the main process stops them (no traceback from each of them)
    pool = None
    if jobs > 1:
        # imported here: `check` and the other users of single files never need it
        from concurrent.futures import ProcessPoolExecutor
        pool = ProcessPoolExecutor(max_workers=jobs, initializer=_ignore_sigint)
    pending: list = []
    chunk: list = []
    fulls: dict[str, str] = {}
    bar = _progress(progress, "scanning")

    def flush():
        if chunk:
            work = list(chunk)
            if pool is None:
                pending.append(_Done(_work_chunk(work)))
            elif pending:
                pending.append(pool.submit(_work_chunk, work))
            else:
                # the first submit forks the workers: Ctrl-C is held off until all are
                # forked and known to the pool, so that _stop can end every one of them
                held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
                try:
                    pending.append(pool.submit(_work_chunk, work))
                finally:
                    signal.pthread_sigmask(signal.SIG_SETMASK, held)
            chunk.clear()
    try:
        keys = out.keys = {} if manifest is not None and not overrides else None
        for path, data, full in _with_overrides(tree.iter_files(), overrides):
            out.scanned += 1
            if full:
                fulls[path] = full
            if data is None and manifest is not None:
                known = manifest.lookup(path, full)
                if known is not None:
                    if bar is not None:
                        bar.update(1)
                    if keys is not None:
                        keys[path] = known
                    if known == "":
                        continue                      # irrelevant, unchanged
                    hit = cache.get(known)
                    if hit is not None:
                        out.cached += 1
                        out[path] = hit if hit.path == path else _repath(hit, path)
                        continue
            chunk.append((path, data, full, cache.root and os.path.dirname(cache.root)))
            if len(chunk) >= 32:
                flush()
        flush()
        for i, fut in enumerate(pending):
            results = fut.result()
            pending[i] = None             # its entries' bytes are not kept once decoded
            if bar is not None:
                bar.update(len(results))
            for path, key, entry, err, st, parsed in results:
                if err is not None:
                    out.skipped[path] = err
                    keys = out.keys = None
                    continue
                if keys is not None:
                    keys[path] = key
                if manifest is not None and path in fulls:
                    manifest.record(path, st, key)
                facts = None if entry is None else _facts_of(path, key, entry, parsed, read, cache)
                if facts is not None:
                    if parsed:
                        out.parsed += 1
                        out.parsed_bytes += parsed
                    else:
                        out.cached += 1
                    out[path] = facts if facts.path == path else _repath(facts, path)
    except BaseException:
        if pool is not None:
            _stop(pool)
            pool = None
        raise
    finally:
        if pool is not None:
            pool.shutdown()
        if bar is not None:
            bar.close()
    if manifest is not None:
        manifest.save()
    return out


def known_keys(tree: Tree, manifest: Manifest) -> dict[str, str] | None:
    """Every file's content key from the tree's MANIFEST alone (stat, no read), or None
    when it does not know one of them (new, changed or racily clean)."""
    keys: dict[str, str] = {}
    lookup = manifest.lookup
    for path, _data, full in tree.iter_files():
        known = lookup(path, full) if full else None
        if known is None:
            return None
        keys[path] = known
    return keys


class FactsOf:
    """Facts of single files of a tree, on demand, through the same facts cache as
    :func:`collect_facts`. Each file is read and hashed: for the few dozen files a check
    needs that costs less than loading the tree's manifest (60,000 entries, 0.12 s)."""

    def __init__(self, tree: Tree, *, use_cache: bool = True):
        self.tree = tree
        root = usable_root() if use_cache else None
        self.cache = FactsCache(root)

    def get(self, paths) -> dict[str, FileFacts]:
        """Facts of the files PATHS of the tree that are worth parsing."""
        out: dict[str, FileFacts] = {}
        for path in paths:
            try:
                data = self.tree.read(path)
            except (InputError, OSError):
                continue
            out.update(self.parse({path: data}))
        return out

    def parse(self, files: Mapping[str, bytes]) -> dict[str, FileFacts]:
        """Facts of FILES (path -> contents, e.g. patched), through the facts cache."""
        out: dict[str, FileFacts] = {}
        root = self.cache.root and os.path.dirname(self.cache.root)
        for path in sorted(files):
            path, key, entry, _err, _st, parsed = _work((path, files[path], None, root))
            facts = None if entry is None else _facts_of(path, key, entry, parsed, files.__getitem__,
                                                         self.cache)
            if facts is not None:
                out[path] = facts if facts.path == path else _repath(facts, path)
        return out


class _Done:
    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


def _ignore_sigint():
    """Workers leave Ctrl-C to the main process, which stops them with SIGTERM: a worker
    then leaves at once, from wherever it is (not after the work already queued for it).
    Nothing of its own is left half-done: a cache entry is written with SIGTERM held off
    until the file is whole or gone (writes.replace_file). An exception raised instead
    could be caught on its way out (the pool's result sender catches BaseException and
    sends again, blocked for ever on a pipe no one reads any more)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_term)


def _exit_on_term(signum, frame):
    os._exit(128 + signum)


def _stop(pool) -> None:
    """Interrupted: drop the queued work and stop the workers now, not after their chunk."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        try:
            p.terminate()
        except (OSError, ValueError):
            pass
    for p in procs:
        try:
            p.join(timeout=30)
        except (OSError, ValueError, AssertionError):
            pass


def _work_chunk(items):
    gc.enable()           # a forked worker inherits the reader's disabled GC; parsing needs it
    return [_work(i) for i in items]


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
