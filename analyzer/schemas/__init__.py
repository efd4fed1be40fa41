"""JSON Schemas (draft 2020-12) of the JSON that other tools read; package data.

  analysis        the analysis JSON of `skbdrop scan`
  export-reasons  `skbdrop export --table reasons --format json`
  export-sites    `skbdrop export --table sites --format json`
  check           `skbdrop check --format json`
  explain         `skbdrop explain --format json` (and explain.json of `-o DIR`)
  diff            `skbdrop diff --format json`
  verify          `skbdrop verify --format json`

Policy (README, "JSON schemas"): fields added keep the schema number; a field renamed,
removed or retyped takes the next one. Objects therefore allow additional properties.
"""
from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUFFIX = ".schema.json"


def names() -> list[str]:
    return sorted(p.name[: -len(SUFFIX)] for p in HERE.glob("*" + SUFFIX))


def text(name: str) -> str:
    """The schema NAME as shipped (raises KeyError for an unknown NAME)."""
    p = HERE / (name + SUFFIX)
    if name not in names():
        raise KeyError(name)
    return p.read_text(encoding="utf-8")


def load(name: str) -> dict:
    return json.loads(text(name))
