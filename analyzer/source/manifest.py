"""The stat manifest of a directory tree: unchanged files are not read again.

A file is taken as unchanged when its size, mtime, inode and ctime all equal what was
recorded when it was read, as git's index does (ctime changes on any write or rename, and
cannot be set back by `touch`). The stat is taken on the open file before its content is
read, so a file written during the scan is recorded with its old stat and read again next
time. A file whose mtime or ctime is within RACY_NS of the scan is not recorded at all
(git's "racily clean" entries): a write in the same clock tick would not show.

The manifest is a data-only cache entry (see cache.py), keyed by the tree's real path and
the facts code version; a corrupt or foreign manifest is an empty one.
"""
from __future__ import annotations

import hashlib
import os
import time

from analyzer.source import codec
from analyzer.source.cache import analysis_key, dump_entry, load_entry, read_file, usable_root, \
    code_version, write_atomic
from analyzer.source.tree import Tree

# size, mtime_ns, inode, ctime_ns, content key ("" for a file not worth parsing)
Stat = tuple[int, int, int, int]
Entries = dict[str, tuple[int, int, int, int, str]]
RACY_NS = 2_000_000_000


def tree_name(tree_root: str) -> str:
    """A directory tree's name in the cache (its manifest, check's note of its last
    index): a hash of its real path."""
    return hashlib.blake2b(os.path.realpath(tree_root).encode(), digest_size=12).hexdigest()


def stat_key(st: os.stat_result) -> Stat:
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


class Manifest:
    """path -> (size, mtime_ns, inode, ctime_ns, content key or ""), per directory tree."""

    def __init__(self, path: str | None, entries: dict):
        self.path, self.entries, self.new = path, entries, {}
        self.started = time.time_ns()

    @classmethod
    def load(cls, tree: Tree, root: str | None = None) -> "Manifest | None":
        tree_root = getattr(tree, "root", None)
        if getattr(tree, "kind", None) != "dir" or not tree_root:
            return None
        root = root or usable_root()
        if root is None:
            return None
        name = tree_name(tree_root)
        path = os.path.join(root, f"manifest-{code_version()}", name + ".json")
        entries = {}
        data = read_file(path)
        if data is not None:
            try:
                entries = codec.decoder(Entries)(load_entry("manifest", name, data))
            except (codec.BadEntry, RecursionError):
                entries = {}
        m = cls(path, entries)
        m.name = name
        return m

    def lookup(self, rel: str, full: str) -> str | None:
        e = self.entries.get(rel)
        if e is None:
            return None
        try:
            st = os.stat(full, follow_symlinks=False)
        except OSError:
            return None
        if stat_key(st) != e[:4]:
            return None
        self.new[rel] = e
        return e[4]

    def record(self, rel: str, st: Stat | None, key: str) -> None:
        """Record REL as read with stat ST (taken before reading) and content KEY."""
        if st is None:
            return
        if max(st[1], st[3]) >= self.started - RACY_NS:
            return                       # racily clean: could change again unseen
        self.new[rel] = (*st, key)

    def save(self) -> None:
        if self.new == self.entries:
            return
        try:
            write_atomic(self.path, dump_entry("manifest", self.name, self.new))
        except OSError:
            pass


def tree_fingerprint(tree: Tree, keys: dict[str, str] | None = None) -> str | None:
    """The identity of a tree and of its state, for what is derived from the whole tree
    (the link index of ``check``): a git tree by its commit, a tarball by its path, size
    and mtime, a directory by its root, version and every file's content key (KEYS: from
    the manifest, or from the scan that read them; None when they are not all known, and
    then nothing is kept). None for other trees."""
    kind = getattr(tree, "kind", "")
    if kind == "git":
        raw = f"git:{tree.commit}"
    elif kind in ("tar", "tarball"):
        path = getattr(tree, "path", None) or tree.source
        try:
            st = os.stat(path)
        except OSError:
            return None
        raw = f"tar:{os.path.abspath(path)}:{st.st_size}:{st.st_mtime_ns}"
    elif kind == "dir":
        if keys is None:
            return None
        root = getattr(tree, "root", tree.source)
        raw = "dir:" + analysis_key((os.path.realpath(root), tree.version), keys)
    else:
        return None
    return hashlib.blake2b(raw.encode(), digest_size=16).hexdigest()
