"""Per-file facts cached by content hash (and the facts version), one pickle a file."""
from __future__ import annotations

import hashlib
import os
import pickle
import tempfile

from .facts import FACTS_VERSION, FileFacts


def content_key(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=20).hexdigest()


class FactsCache:
    def __init__(self, root: str | None):
        self.root = os.path.join(root, f"facts-v{FACTS_VERSION}") if root else None

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
