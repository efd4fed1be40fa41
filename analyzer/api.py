"""One entry point for commands that take `KERNEL|analysis.json`."""
from __future__ import annotations

import os

from .errors import InputError
from .model import Analysis


def load_analysis(spec: str, *, jobs: int | None = None, use_cache: bool = True,
                  progress: bool = False) -> Analysis:
    """An Analysis from a saved analysis JSON file or from a KERNEL spec (scanned now)."""
    if spec.endswith(".json") and os.path.isfile(spec):
        try:
            with open(spec, encoding="utf-8") as f:
                return Analysis.from_json(f.read())
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
            raise InputError(f"{spec}: not a skbdrop analysis: {e}") from None
    from .scan import scan
    return scan(spec, jobs=jobs, use_cache=use_cache, progress=progress)
