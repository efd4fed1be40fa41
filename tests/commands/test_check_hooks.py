"""The pre-commit hooks of .pre-commit-hooks.yaml, run as pre-commit would run them.

The hook's ``entry`` is taken from the file and run with ``sh`` in a small git
repository shaped like a kernel tree (the 6.12 catalogue header and one C file), with
``skbdrop`` on PATH pointing at this checkout.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import pytest

from analyzer.source.tree import open_tree

from helpers import DEB612, TESTS

ROOT = os.path.dirname(TESTS)
HOOKS = os.path.join(ROOT, ".pre-commit-hooks.yaml")

RCV = """\
#include <net/dropreason-core.h>

int foo_rcv(struct sk_buff *skb)
{
\tif (skb->len < 8) {
\t\tkfree_skb_reason(skb, SKB_DROP_REASON_PKT_TOO_SMALL);
\t\treturn 0;
\t}
\tconsume_skb(skb);
\treturn 0;
}
"""


def hooks() -> dict[str, dict[str, str]]:
    """id -> {key: value} for the flat keys of each hook (no YAML library needed)."""
    out: dict[str, dict[str, str]] = {}
    cur = None
    for line in open(HOOKS, encoding="utf-8"):
        m = re.match(r"^- id: (\S+)", line)
        if m:
            cur = out.setdefault(m.group(1), {"id": m.group(1)})
            continue
        m = re.match(r"^  (\w+): (.*)$", line)
        if m and cur is not None:
            cur[m.group(1)] = m.group(2)
    return out


def test_hook_definitions():
    h = hooks()
    assert set(h) == {"skbdrop-check", "skbdrop-check-push"}
    for d in h.values():
        assert {"name", "entry", "language"} <= set(d) and d["language"] == "python"
        assert d["pass_filenames"] == "false"
    assert h["skbdrop-check"]["stages"] == "[pre-commit]"
    assert h["skbdrop-check-push"]["stages"] == "[pre-push]"


def _git(repo, *args):
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=T", "-c", "user.email=t@e", *args],
                   check=True, capture_output=True)


@pytest.fixture
def kernel_repo(tmp_path):
    """A git repository with the 6.12 catalogue header and a C file, and a PATH shim."""
    repo = tmp_path / "linux"
    (repo / "include/net").mkdir(parents=True)
    (repo / "net/foo").mkdir(parents=True)
    (repo / "Documentation").mkdir()
    (repo / "include/linux").mkdir(parents=True)
    (repo / "net/core").mkdir(parents=True)
    t612 = open_tree(DEB612)
    # the catalogue and the family's roots and wrappers, as in the real tree
    for path in ("include/net/dropreason-core.h", "include/net/dropreason.h",
                 "include/linux/skbuff.h", "net/core/skbuff.c"):
        (repo / path).write_bytes(t612.read(path))
    (repo / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 117\n")
    (repo / "net/foo/rcv.c").write_text(RCV)
    (repo / "Documentation/foo.rst").write_text("Foo\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "base")
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "skbdrop").write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m analyzer.cli \"$@\"\n")
    (shim / "skbdrop").chmod(0o755)
    env = dict(os.environ, PATH=f"{shim}:{os.environ['PATH']}",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return repo, env


def run_hook(hook_id, repo, env, extra_env=None):
    entry = hooks()[hook_id]["entry"]
    # pre-commit runs the entry through shlex and executes it (no shell)
    return subprocess.run(shlex.split(entry), cwd=repo, env={**env, **(extra_env or {})},
                          capture_output=True, text=True)


def test_precommit_docs_only_change_is_clean(kernel_repo):
    repo, env = kernel_repo
    (repo / "Documentation/foo.rst").write_text("Foo\nbar\n")
    _git(repo, "add", "Documentation/foo.rst")
    r = run_hook("skbdrop-check", repo, env)
    assert r.returncode == 0, r.stderr
    assert "judged without parsing the tree" in r.stdout


@pytest.mark.realtree
def test_precommit_new_plain_drop_fails(kernel_repo):
    repo, env = kernel_repo
    (repo / "net/foo/rcv.c").write_text(RCV.replace(
        "\tconsume_skb(skb);\n", "\tif (skb->mark) {\n\t\tkfree_skb(skb);\n\t\treturn 0;\n\t}\n"
        "\tconsume_skb(skb);\n"))
    _git(repo, "add", "net/foo/rcv.c")
    r = run_hook("skbdrop-check", repo, env)
    assert r.returncode == 1, r.stderr
    # the new kfree_skb() is on line 10 of the staged file; PKT_TOO_SMALL is used nearby
    assert "WARNING:SKBDROP_NEW_UNSPECIFIED:" in r.stdout
    assert "FILE: net/foo/rcv.c:10:" in r.stdout and "PKT_TOO_SMALL" in r.stdout


@pytest.mark.realtree
def test_prepush_checks_each_commit(kernel_repo):
    repo, env = kernel_repo
    base = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    (repo / "net/foo/rcv.c").write_text(RCV.replace(
        "\tconsume_skb(skb);\n", "\tif (skb->mark) {\n\t\tkfree_skb_reason(skb, "
        "SKB_DROP_REASON_NO_SOCKET);\n\t\treturn 0;\n\t}\n\tconsume_skb(skb);\n"))
    _git(repo, "commit", "-qam", "foo: drop marked packets")
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    r = run_hook("skbdrop-check-push", repo, env,
                 {"PRE_COMMIT_FROM_REF": base, "PRE_COMMIT_TO_REF": head})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "has no obvious drop-reason problems" in r.stdout
