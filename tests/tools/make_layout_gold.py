#!/usr/bin/env python3
"""Write expected.json beside each layout fixture, from the compiler oracle.

    python3 tests/tools/make_layout_gold.py            # every dir under tests/fixtures/layouts/
    python3 tests/tools/make_layout_gold.py v6.2 mainline
    python3 tests/tools/make_layout_gold.py --check    # compare only, exit 1 on a difference

The gold is ``{"layout", "reasons": {NAME: value}, "subsystems": {ENUMERATOR: id}}`` as
tests/helpers/oracle.py:catalogue_gold computes it with gcc from the fixture's own headers (see
tests/fixtures/layouts/README.md for which enumerators count as reasons).  Keys other
than those three already in an expected.json (e.g. "version", "source") are kept.
Output is deterministic (sorted by value, then name) and written atomically.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
LAYOUTS = os.path.join(TESTS, "fixtures", "layouts")
sys.path.insert(0, TESTS)

from helpers.oracle import OracleError, catalogue_gold  # noqa: E402


def _write_atomic(path: str, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".expected-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def gold_text(fixture: str) -> str:
    gold = catalogue_gold(fixture)
    path = os.path.join(fixture, "expected.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            old = json.load(f)
        extra = {k: v for k, v in old.items() if k not in gold}
        gold = {"layout": gold["layout"], **extra,
                "reasons": gold["reasons"], "subsystems": gold["subsystems"]}
    return json.dumps(gold, indent=1) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("fixtures", nargs="*", help="fixture dir names (default: all)")
    ap.add_argument("--check", action="store_true", help="do not write; exit 1 if stale")
    args = ap.parse_args(argv)
    names = args.fixtures or sorted(
        d for d in os.listdir(LAYOUTS) if os.path.isdir(os.path.join(LAYOUTS, d)))
    stale = 0
    for name in names:
        fixture = name if os.path.isdir(name) else os.path.join(LAYOUTS, name)
        if not os.path.isdir(fixture):
            sys.stderr.write(f"make_layout_gold: {name}: no such fixture\n")
            return 2
        try:
            text = gold_text(fixture)
        except OracleError as exc:
            sys.stderr.write(f"make_layout_gold: {name}: {exc}\n")
            return 2
        path = os.path.join(fixture, "expected.json")
        old = open(path, encoding="utf-8").read() if os.path.exists(path) else None
        g = json.loads(text)
        summary = f"{name}: {g['layout']}, {len(g['reasons'])} reasons, " \
                  f"{len(g['subsystems'])} subsystem ids"
        if old == text:
            print(f"{summary} (unchanged)")
        elif args.check:
            print(f"{summary} (STALE)")
            stale += 1
        else:
            _write_atomic(path, text)
            print(f"{summary} (written)")
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
