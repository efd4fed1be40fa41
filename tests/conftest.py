"""Shared fixtures: the real Debian trees, scanned once per test session.

The trees come from Debian's linux-source packages (`apt-get download`), unpacked into
the cache (~/.cache/skbdrop, or $SKBDROP_CACHE) by `make kernels`; per-file facts are
cached there by content hash, so a second session only links.
"""
from __future__ import annotations

import os

import pytest

from analyzer.pipeline import scan
from analyzer.source.tree import open_tree

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, "tests", "fixtures")

_cache: dict = {}


def _scan(spec: str):
    if spec not in _cache:
        _cache[spec] = scan(spec)
    return _cache[spec]


@pytest.fixture(scope="session")
def analysis_61():
    return _scan("debian:6.1")


@pytest.fixture(scope="session")
def analysis_612():
    return _scan("debian:6.12")


@pytest.fixture(scope="session")
def tree_61():
    return open_tree("debian:6.1")


@pytest.fixture(scope="session")
def tree_612():
    return open_tree("debian:6.12")


@pytest.fixture(scope="session")
def root_61(tree_61):
    return tree_61.root


@pytest.fixture(scope="session")
def root_612(tree_612):
    return tree_612.root
