"""Shared fixtures: the real Debian trees, scanned once per test session.

Two places, kept apart (README, "Tests"):

* the kernel trees, an input: Debian's linux-source packages fetched and unpacked by
  `make kernels` (a step before pytest, the only one that uses the network) into
  $SKBDROP_KERNELS, default the user's cache's debian/ (~/.cache/skbdrop/debian);
* the facts cache, an output: the session's own, $SKBDROP_TEST_CACHE, default
  test-artifacts/cache in the repository (`make clean` empties it). The user's
  ~/.cache/skbdrop facts are never read or written by a test. The cache is keyed by a
  hash of the code, so a session never sees entries of other code; test_cache.py
  proves that a cold and a warm scan of Debian 6.12 give the same bytes.

The environment is set here, at import, before any test or fixture runs.
"""
from __future__ import annotations

import os

import pytest

from analyzer.source.tree import cache_dir

from helpers import DEB61, DEB612, REPO  # tests/helpers/ (pyproject: pythonpath = ["tests"])

USER_CACHE = cache_dir()                     # before the override below
os.environ.setdefault("SKBDROP_KERNELS", os.path.join(USER_CACHE, "debian"))
TEST_CACHE = os.path.abspath(os.environ.get("SKBDROP_TEST_CACHE")
                             or os.path.join(REPO, "test-artifacts", "cache"))
os.environ["SKBDROP_CACHE"] = TEST_CACHE
os.makedirs(TEST_CACHE, mode=0o700, exist_ok=True)

from analyzer.pipeline import scan  # noqa: E402
from analyzer.source.tree import open_tree  # noqa: E402

_cache: dict = {}


def _scan(spec: str):
    if spec not in _cache:
        _cache[spec] = scan(spec)
    return _cache[spec]


@pytest.fixture(scope="session")
def analysis_61():
    return _scan(DEB61)


@pytest.fixture(scope="session")
def analysis_612():
    return _scan(DEB612)


@pytest.fixture(scope="session")
def tree_61():
    return open_tree(DEB61)


@pytest.fixture(scope="session")
def tree_612():
    return open_tree(DEB612)


@pytest.fixture(scope="session")
def root_61(tree_61):
    return tree_61.root


@pytest.fixture(scope="session")
def root_612(tree_612):
    return tree_612.root


@pytest.fixture(scope="module")
def engines():
    """`check`'s engine for a base KERNEL spec, one per spec in a test module."""
    from analyzer.commands import check
    cache = {}

    def get(spec):
        if spec not in cache:
            cache[spec] = check.ScanEngine(spec)
        return cache[spec]
    return get
