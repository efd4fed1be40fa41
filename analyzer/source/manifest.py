"""The stat manifest of a directory tree: unchanged files are not read again."""
from __future__ import annotations

import hashlib
import os
import pickle

from analyzer.source.cache import code_version
from analyzer.source.tree import Tree, cache_dir


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
        path = os.path.join(cache_dir(), f"manifest-{code_version()}", name + ".pkl")
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


def tree_fingerprint(tree: Tree) -> str | None:
    """The identity of a tree and of its state, for what is derived from the whole tree
    (the link index of ``check``): a git tree by its commit, a tarball by its path, size
    and mtime, a directory by its root, version and the mtime of its Makefile. None for
    other trees (nothing is kept)."""
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
        root = getattr(tree, "root", tree.source)
        try:
            st = os.stat(os.path.join(root, "Makefile"))
        except OSError:
            return None
        raw = f"dir:{os.path.realpath(root)}:{tree.version}:{st.st_mtime_ns}"
    else:
        return None
    return hashlib.blake2b(raw.encode(), digest_size=16).hexdigest()
