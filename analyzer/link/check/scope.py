"""What a check looks at: the paths that count (``--paths``), the catalogue files."""
from __future__ import annotations

import re
from typing import Iterable

from analyzer.c.text import identifiers
from analyzer.errors import InputError
from analyzer.source.patch import Patch

DEFAULT_PATHS = ("net/", "drivers/net/", "include/net/", "include/linux/skbuff.h")
# The reason catalogue and its string tables, found by name (no parsing needed).
CATALOGUE_FILE = re.compile(
    r"^(include/net/dropreason[^/]*\.h|include/linux/skbuff\.h|include/trace/events/skb\.h"
    r"|net/core/skbuff\.c|net/[^/]+/drop\.h)$")
SOURCE_FILE = re.compile(r"\.[ch]$")


def parse_paths(spec: str | Iterable[str]) -> tuple[str, ...]:
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out = tuple(p.strip().lstrip("./") if p.strip().startswith("./") else p.strip()
                for p in items if p.strip())
    if not out:
        raise InputError("--paths: no path given")
    return out


def in_scope(path: str, paths: tuple[str, ...]) -> bool:
    for p in paths:
        if p.endswith("/"):
            if path.startswith(p):
                return True
        elif path == p or path.startswith(p + "/"):
            return True
    return False


def relevant_files(patch: Patch, paths: tuple[str, ...]) -> tuple[str, ...]:
    """C files of the patch that count: inside --paths, or part of the catalogue."""
    out = []
    for p in patch.paths():
        if SOURCE_FILE.search(p) and (in_scope(p, paths) or CATALOGUE_FILE.match(p)):
            out.append(p)
    return tuple(out)


def is_source(path: str) -> bool:
    return SOURCE_FILE.search(path) is not None


def is_catalogue_header(path: str) -> bool:
    return CATALOGUE_FILE.match(path) is not None and path.endswith(".h")


def diff_lines(p: Patch) -> int:
    return sum(len(h.lines) for f in p.files for h in f.hunks)


def later_mentions(patches: list[Patch]) -> frozenset[str]:
    """Identifiers the added lines of PATCHES name (catalogue headers left out)."""
    out: set[str] = set()
    for p in patches:
        for f in p.files:
            if f.new_path and is_catalogue_header(f.new_path):
                continue
            for h in f.hunks:
                for ln in h.lines:
                    if ln.kind == "+":
                        out.update(identifiers(ln.text))
    return frozenset(out)
