"""Per-file facts cached by content hash and by the code that made them, one file each.

The key of an entry is the file's content hash inside a directory named by
:func:`code_version`: a hash of the facts stage's own code (analyzer/c/ and its queries,
analyzer/source/tree.py's filter) and of the parser's version. No hand-bumped constant:
change the code and every entry misses.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from analyzer.c.facts import FileFacts

_PKG = Path(__file__).resolve().parent.parent
# the code whose output a cache holds: the facts stage, or everything up to the Analysis
_CODE = {
    "facts": ("c/*.py", "c/queries/*.scm", "source/tree.py", "source/cache.py", "source/manifest.py"),
    "analysis": ("c/*.py", "c/queries/*.scm", "source/*.py", "link/*.py", "model/*.py", "pipeline.py"),
}


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


class FactsCache:
    def __init__(self, root: str | None):
        self.root = os.path.join(root, f"facts-{code_version()}") if root else None

    def _path(self, key: str) -> str:
        return os.path.join(self.root, key[:2], key + ".pkl")

    def get(self, key: str) -> FileFacts | None:
        if self.root is None:
            return None
        try:
            with open(self._path(key), "rb") as f:
                return pickle.load(f)
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, TypeError):
            return None

    def put(self, key: str, facts: FileFacts) -> None:
        if self.root is None:
            return
        path = self._path(key)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                pickle.dump(facts, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except OSError:
            pass
