"""One patch being judged: the analyses before and after it, its applied files, and
where a line of the tree is in the patch."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from analyzer.model import Analysis
from analyzer.source.patch import AppliedFile, Patch, nth_line


@dataclass
class Context:
    a: Analysis
    b: Analysis
    applied: dict[str, AppliedFile]
    patch: Patch
    paths: tuple[str, ...]
    read: Callable[[str], str | None] | None = None     # current text of untouched files
    elsewhere: Callable[[set[str]], set[str]] | None = None   # reasons used outside the analysis
    by_old: dict[str, AppliedFile] = field(default_factory=dict)

    def __post_init__(self):
        for af in self.applied.values():
            if af.old_path:
                self.by_old[af.old_path] = af

    # locations ------------------------------------------------------------------------
    def at_new(self, file: str, line: int) -> dict:
        """Where LINE of FILE after the patch is in the patch ("+": an added line)."""
        af = self.applied.get(file)
        return self._at(line, af and af.patch_line_new, af and af.added, "+")

    def at_old(self, file: str, line: int) -> dict:
        """Where LINE of FILE before the patch is in the patch ("-": a removed line)."""
        af = self.by_old.get(file)
        return self._at(line, af and af.patch_line_old, af and af.removed, "-")

    def _at(self, line: int, patch_lines, changed, sign: str) -> dict:
        if patch_lines is None:
            return {"patch": self.patch.name, "patch_line": 0, "marker": ""}
        pl = patch_lines.get(line, 0)
        marker = sign if line in changed else (" " if pl else "")
        return {"patch": self.patch.name, "patch_line": pl, "marker": marker}

    def new_source(self, file: str, line: int, fallback: str = "") -> str:
        af = self.applied.get(file)
        if af is not None:
            return af.new_line(line)
        if self.read is not None and file not in self.by_old:
            return nth_line(self.read(file), line) or fallback
        return fallback

    def old_source(self, file: str, line: int, fallback: str = "") -> str:
        af = self.by_old.get(file)
        return af.old_line(line) if af is not None else fallback
