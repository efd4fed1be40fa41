"""The two small saved analyses (and one without a catalogue) that the diff and export
tests compare: tests/data/diff/."""
from __future__ import annotations

import os

from analyzer.model import Analysis

from helpers import TESTS

DATA = os.path.join(TESTS, "data", "diff")
NEW = os.path.join(DATA, "new.json")
OLD = os.path.join(DATA, "old.json")
NOCAT = os.path.join(DATA, "nocatalogue.json")


def load(path: str) -> Analysis:
    with open(path, encoding="utf-8") as f:
        return Analysis.from_json(f.read())
