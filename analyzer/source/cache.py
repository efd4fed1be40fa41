"""The cache: per-file facts by content hash and by the code that made them.

Guarantees (README, "The cache"):

* Keys derive from content and code only. An entry lives in a directory named by
  :func:`code_version`, a hash of the code that produced it (the facts stage's modules and
  tree-sitter queries; the parser's version), computed once per process. No hand-bumped
  constant: change the code and every entry misses.
* Entries are data, never code: JSON (plain lists, strings, numbers) decoded by
  :mod:`analyzer.source.codec` against the dataclasses' type hints. Loading an entry can
  only build those dataclasses. An unreadable, truncated, foreign or corrupt entry is a
  miss: recomputed and replaced, never fatal, never trusted. Each entry also names its
  code version and its content key, so an entry copied under another name is a miss.
* Writes are atomic (a temporary file beside the entry, then rename), so two scans
  sharing one cache at once see whole entries or none, and an interrupted write leaves
  nothing behind.
* A cache directory owned by another user, or writable by others, is not used at all
  (one warning on stderr): anyone who can write it could choose what a scan reports.

Format chosen by measurement (4,110 entries of Debian 6.12, GC off as in the scan, CPU
time to read and decode them all): pickle 0.62 s (runs code: ruled out), JSON with this
codec 1.01 s with the standard library's decoder, less with msgspec's untyped decoder
(used now: plain lists and strings, as json.loads gives), marshal (documented as unsafe
on crafted data: ruled out).

Besides the facts: :class:`AnalysisCache`, the analysis JSON of a whole tree, keyed by
every file's content key and the code of all stages (a rescan of an unchanged tree).
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import sys
import time
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import msgspec

from analyzer.c.facts import FileFacts
from analyzer.source import codec
from analyzer.writes import replace_file

_PKG = Path(__file__).resolve().parent.parent
# the code whose output a cache holds: the facts stage, or everything up to the Analysis
# (the check index is built by commands/check.py from the linked tree)
_CODE = {
    "facts": ("c/*.py", "c/queries/*.scm", "source/tree.py", "source/cache.py",
              "source/codec.py", "source/manifest.py"),
    "analysis": ("c/**/*.py", "c/queries/*.scm", "source/*.py", "link/**/*.py", "model/*.py",
                 "pipeline.py", "commands/check.py"),
}
MAGIC = "skbdrop-cache"


@lru_cache(maxsize=None)
def code_version(stage: str = "facts") -> str:
    """A hash of the code of STAGE ("facts" or "analysis") and of the parser's version."""
    h = hashlib.blake2b(digest_size=8)
    for pattern in _CODE[stage]:
        for p in sorted(_PKG.glob(pattern)):
            h.update(p.relative_to(_PKG).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    for dist in ("tree-sitter", "tree-sitter-c"):
        try:
            h.update(f"{dist}={metadata.version(dist)}".encode())
        except metadata.PackageNotFoundError:
            h.update(dist.encode())
    return h.hexdigest()


def content_key(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=20).hexdigest()


# --- the cache directory --------------------------------------------------------------
def _cache_dir() -> str:
    from analyzer.source.tree import cache_dir
    return cache_dir()


def usable_root(root: str | None = None) -> str | None:
    """The cache directory if it is safe to use, else None (after one warning).

    Safe: it is ours (owned by this user) and nobody else can write it. A directory that
    does not exist yet is created private to this user."""
    root = root or _cache_dir()
    return _check_root(os.path.abspath(root))


@lru_cache(maxsize=None)
def _check_root(root: str) -> str | None:
    try:
        os.makedirs(root, mode=0o700, exist_ok=True)
        st = os.stat(root)
    except OSError as e:
        return _refuse(root, f"cannot be created or read ({e.strerror or e})")
    if not stat.S_ISDIR(st.st_mode):
        return _refuse(root, "is not a directory")
    if st.st_uid != os.geteuid():
        return _refuse(root, f"is owned by another user (uid {st.st_uid})")
    if st.st_mode & stat.S_IWOTH:
        return _refuse(root, "is writable by other users")
    _tidy(root)
    return root


# the entry directories of one code version; those of other versions (an earlier skbdrop,
# another checkout) are removed once no run has used them for STALE_DAYS days
_VERSIONED = re.compile(r"(?:facts|manifest|analysis|link-index)-[0-9a-f]{16}")
STALE_DAYS = 30


def _tidy(root: str) -> None:
    """Once per process and cache: mark this code's entry directories used (their mtime
    is set to now) and remove other versions' unused for STALE_DAYS days, so the cache
    does not grow with every upgrade. Best effort: a failure here fails nothing. A removal
    cut short (Ctrl-C) leaves whole entries of a version no run uses."""
    ours = {f"facts-{code_version('facts')}", f"manifest-{code_version('facts')}",
            f"analysis-{code_version('analysis')}", f"link-index-{code_version('analysis')}"}
    cutoff = time.time() - STALE_DAYS * 86400
    try:
        entries = list(os.scandir(root))
    except OSError:
        return
    for e in entries:
        try:
            if not _VERSIONED.fullmatch(e.name) or not e.is_dir(follow_symlinks=False):
                continue
            if e.name in ours:
                os.utime(e.path)
            elif e.stat(follow_symlinks=False).st_mtime < cutoff:
                shutil.rmtree(e.path, ignore_errors=True)
        except OSError:
            continue


def _refuse(root: str, why: str) -> None:
    sys.stderr.write(f"skbdrop: warning: cache {root} {why}; not using it\n")
    return None


# --- entries ----------------------------------------------------------------------------
def dump_entry(kind: str, key: str, payload) -> bytes:
    return msgspec.json.encode([MAGIC, kind, code_version(_STAGE[kind]), key, payload])


def load_entry(kind: str, key: str, data: bytes):
    """The payload of an entry written by dump_entry for (KIND, KEY) by this code, or
    raise codec.BadEntry."""
    try:
        # msgspec's untyped decode: plain lists, dicts, str, int, bool, None, as
        # json.loads gives, 2-3x faster (the facts stage of a warm scan is mostly this)
        v = msgspec.json.decode(data)
    except (msgspec.DecodeError, ValueError, RecursionError) as e:
        raise codec.BadEntry(f"not JSON: {e}") from None
    if (type(v) is not list or len(v) != 5 or v[0] != MAGIC or v[1] != kind
            or v[2] != code_version(_STAGE[kind]) or v[3] != key):
        raise codec.BadEntry("not an entry of this kind, key and code")
    return v[4]


_STAGE = {"facts": "facts", "manifest": "facts", "check-index": "analysis"}


def write_atomic(path: str, data: bytes) -> None:
    """Write beside PATH, then rename. Ctrl-C and SIGTERM are held off for the few
    system calls this takes (they arrive right after), so an interrupt never leaves a
    temporary file behind, whichever instruction it lands on."""
    replace_file(path, data, prefix=".tmp-", suffix=".part", make_dirs=0o700, hold_signals=True)


def read_file(path: str) -> bytes | None:
    """An entry's bytes; None if missing or unreadable, or not a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read()
    except OSError:
        return None
    finally:
        os.close(fd)


class _EntryDir:
    """Entries by key under ROOT/KIND-<code version of STAGE>/<key[:2]>/<key>.json, read
    as bytes and written atomically; ROOT None: no cache (nothing read, nothing kept)."""

    def __init__(self, root: str | None, kind: str, stage: str):
        self.root = os.path.join(root, f"{kind}-{code_version(stage)}") if root else None

    def _path(self, key: str) -> str:
        return os.path.join(self.root, key[:2], key + ".json")

    def get_entry(self, key: str) -> bytes | None:
        """The stored entry of KEY as bytes, not yet checked (the subclass checks it)."""
        if self.root is None:
            return None
        return read_file(self._path(key))

    def put_entry(self, key: str, entry: bytes) -> None:
        if self.root is None:
            return
        try:
            write_atomic(self._path(key), entry)
        except OSError:
            pass


class FactsCache(_EntryDir):
    """FileFacts by content key under ROOT/facts-<code version>/. ROOT None: no cache."""

    def __init__(self, root: str | None):
        super().__init__(root, "facts", "facts")

    def get(self, key: str) -> FileFacts | None:
        data = self.get_entry(key)
        if data is None:
            return None
        try:
            return decode_facts(key, data)
        except (codec.BadEntry, RecursionError):
            return None

    def put(self, key: str, facts: FileFacts) -> None:
        self.put_entry(key, encode_facts(key, facts))


def encode_facts(key: str, facts: FileFacts) -> bytes:
    """FACTS as a cache entry: also what a worker process hands back to the scan (bytes
    cross the process boundary at no cost; pickled dataclasses took 1.4 s per 1,000
    files to load)."""
    return dump_entry("facts", key, codec.json_encoder(FileFacts)(facts))


def decode_facts(key: str, entry: bytes) -> FileFacts:
    """The FileFacts of an entry made by encode_facts for KEY by this code, or raise
    codec.BadEntry."""
    return codec.decoder(FileFacts)(load_entry("facts", key, entry))


class AnalysisCache(_EntryDir):
    """The analysis JSON of a whole tree under ROOT/analysis-<code version>/, by a key made
    of the tree's identity and the content key of each of its files (see
    :func:`analysis_key`): a rescan of an unchanged directory tree writes it without
    loading facts or linking. The code version covers every stage up to the JSON text.
    An entry is the text after one header line naming its key and the text's SHA-256;
    anything else is a miss."""

    def __init__(self, root: str | None):
        super().__init__(root, "analysis", "analysis")

    def get(self, key: str) -> str | None:
        data = self.get_entry(key)
        if data is None:
            return None
        head, sep, body = data.partition(b"\n")
        if not sep or head != self._head(key, body):
            return None
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def put(self, key: str, text: str) -> None:
        body = text.encode("utf-8")
        self.put_entry(key, self._head(key, body) + b"\n" + body)

    @staticmethod
    def _head(key: str, body: bytes) -> bytes:
        return f"{MAGIC}-analysis {key} {hashlib.sha256(body).hexdigest()}".encode()


def analysis_key(identity: tuple[str, ...], keys: dict[str, str]) -> str:
    """The key of a whole tree's analysis: its IDENTITY (version, source) and every file
    path with its content key ("" for a file not worth parsing)."""
    h = hashlib.blake2b(digest_size=20)
    for part in identity:
        h.update(part.encode() + b"\0")
    # the same bytes as an update per file, in one update (60,000 calls were 0.07 s)
    h.update("".join([f"{path}\0{keys[path]}\0" for path in sorted(keys)]).encode())
    return h.hexdigest()
