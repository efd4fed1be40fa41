#!/usr/bin/env python3
"""Direct call edges of net/ipv4/*.c in Debian's 6.12 tree, by GNU cflow (an independent
C front end), for tests/link/test_callgraph_cflow.py.

    python3 tests/tools/make_cflow_edges.py [TREE] > tests/data/cflow/net-ipv4-6.12.tsv

TREE defaults to the pinned 6.12 test tree (tests/kernels, fetched by `make kernels`). Each file is given to
`cflow -A -A -i _ -d 2 --omit-arguments` (-i _: names beginning with an underscore too) alone (no preprocessor, as skbdrop reads it): every
function defined in the file (static ones too) and the names it calls. Output: one
`file<TAB>caller<TAB>callee` per edge, sorted, with a header naming the cflow version.
"""
from __future__ import annotations

import glob
import os
import re
import subprocess
import sys

TOP = re.compile(r"^(\w+)\(\) <.*? at ([^:>]+):(\d+)>:?$")
CALL = re.compile(r"^    (\w+)\(\)")


def edges(tree: str, rel: str) -> set[tuple[str, str, str]]:
    out = subprocess.run(["cflow", "-A", "-A", "-i", "_", "-d", "2", "--omit-arguments", rel], cwd=tree,
                         capture_output=True, text=True, errors="replace").stdout
    found, caller = set(), None
    for line in out.splitlines():
        m = TOP.match(line)
        if m:
            caller = m.group(1) if m.group(2) == rel else None
            continue
        if not line.startswith("    "):
            caller = None
            continue
        m = CALL.match(line)
        if caller and m and not line.startswith("        "):
            found.add((rel, caller, m.group(1)))
    return found


def pinned_612_root() -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:0] = [os.path.dirname(os.path.dirname(here)), os.path.dirname(here)]
    from analyzer.source.tree import open_tree
    from helpers import DEB612
    return open_tree(DEB612).root


def main(argv: list[str]) -> int:
    tree = argv[0] if argv else pinned_612_root()
    version = subprocess.run(["cflow", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    allx = set()
    for full in sorted(glob.glob(os.path.join(tree, "net", "ipv4", "*.c"))):
        allx |= edges(tree, os.path.relpath(full, tree))
    print(f"# {version}; Debian linux-source-6.12 net/ipv4/*.c; make_cflow_edges.py")
    for e in sorted(allx):
        print("\t".join(e))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
