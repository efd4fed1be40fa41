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

__all__ = ["Node", "Tree", "parse", "matches"]


@lru_cache(maxsize=1)
def _language() -> Language:
    return Language(tree_sitter_c.language())


@lru_cache(maxsize=1)
def _parser() -> Parser:
    return Parser(_language())


@lru_cache(maxsize=None)
def _query(name: str) -> Query:
    with open(os.path.join(QUERY_DIR, name + ".scm"), encoding="utf-8") as f:
        return Query(_language(), f.read())


def parse(data: bytes) -> Tree:
    return _parser().parse(data)


def matches(name: str, node: Node) -> list[dict[str, list[Node]]]:
    """Run query NAME on NODE: one dict capture-name -> nodes per match, in order."""
    cursor = QueryCursor(_query(name))
    return [caps for _, caps in cursor.matches(node)]
