"""The one jinja2 environment: templates/ and assets/ are package data of analyzer.formats.

HTML templates are autoescaped; the C header template (`*.h.j2`) is not.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2

from analyzer import __version__

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
ASSETS = HERE / "assets"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=True,
                                            default=False),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True)
    env.globals["tool_version"] = __version__
    env.filters["num"] = lambda n: f"{n:,}"
    env.filters["hexv"] = lambda v: f"0x{v:x}"
    env.filters["firstline"] = lambda s: (s or "").strip().split("\n")[0]
    return env


def assets() -> list[tuple[str, bytes]]:
    """(file name, bytes) of every asset the HTML pages link to, sorted."""
    return [(p.name, p.read_bytes()) for p in sorted(ASSETS.iterdir()) if p.is_file()]
