"""tree-sitter, in one place: the parser and the query files of queries/.

No other module imports tree_sitter. Queries are files with fixed capture names
(queries/README.md); code never builds query strings.
"""
from __future__ import annotations

import os
from functools import lru_cache

import tree_sitter_c
from tree_sitter import Language, Node, Parser, Query, QueryCursor, Tree

QUERY_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "queries")

__all__ = ["Node", "Tree", "parse", "matches", "matches_of"]


@lru_cache(maxsize=1)
def _language() -> Language:
    return Language(tree_sitter_c.language())


@lru_cache(maxsize=1)
def _parser() -> Parser:
    return Parser(_language())


def _query_text(name: str) -> str:
    with open(os.path.join(QUERY_DIR, name + ".scm"), encoding="utf-8") as f:
        return f.read()


@lru_cache(maxsize=None)
def _query(name: str) -> Query:
    return Query(_language(), _query_text(name))


@lru_cache(maxsize=None)
def _queries(names: tuple[str, ...]) -> tuple[Query, tuple[str, ...]]:
    """The query files NAMES as one query (their patterns one after the other), and the
    file each pattern index comes from."""
    owner: list[str] = []
    for n in names:
        owner += [n] * _query(n).pattern_count
    return Query(_language(), "\n".join(_query_text(n) for n in names)), tuple(owner)


def parse(data: bytes) -> Tree:
    return _parser().parse(data)


def matches(name: str, node: Node) -> list[dict[str, list[Node]]]:
    """Run query NAME on NODE: one dict capture-name -> nodes per match, in order."""
    cursor = QueryCursor(_query(name))
    return [caps for _, caps in cursor.matches(node)]


def matches_of(names: tuple[str, ...], node: Node) -> dict[str, list[dict[str, list[Node]]]]:
    """The matches of several query files in one walk of the tree: the same matches, in
    the same order, as `matches` for each (one walk instead of one per file is about a
    third of the time on kernel files)."""
    query, owner = _queries(names)
    out: dict[str, list[dict[str, list[Node]]]] = {n: [] for n in names}
    for i, caps in QueryCursor(query).matches(node):
        out[owner[i]].append(caps)
    return out
