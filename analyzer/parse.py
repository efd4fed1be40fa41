"""tree-sitter, in one place: the parser and the query files of queries/c/.

No other module imports tree_sitter. Queries are files with fixed capture names
(queries/c/README.md); code never builds query strings.
"""
from __future__ import annotations

import os
from functools import lru_cache

import tree_sitter_c
from tree_sitter import Language, Node, Parser, Query, QueryCursor, Tree

QUERY_DIRS = (
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "queries", "c"),
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "queries", "c"),
)

__all__ = ["Node", "Tree", "parse", "matches"]


@lru_cache(maxsize=1)
def _language() -> Language:
    return Language(tree_sitter_c.language())


@lru_cache(maxsize=1)
def _parser() -> Parser:
    return Parser(_language())


@lru_cache(maxsize=None)
def _query(name: str) -> Query:
    for d in QUERY_DIRS:
        path = os.path.join(d, name + ".scm")
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                return Query(_language(), f.read())
    raise FileNotFoundError(f"query {name}.scm not found in {QUERY_DIRS}")


def parse(data: bytes) -> Tree:
    return _parser().parse(data)


def matches(name: str, node: Node) -> list[dict[str, list[Node]]]:
    """Run query NAME on NODE: one dict capture-name -> nodes per match, in order."""
    cursor = QueryCursor(_query(name))
    return [caps for _, caps in cursor.matches(node)]
