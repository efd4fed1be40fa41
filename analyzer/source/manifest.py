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
