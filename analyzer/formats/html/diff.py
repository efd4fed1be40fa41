"""The report's diff page: ``analyzer.diff.diff`` (the ``skbdrop diff`` logic) plus the
totals and a per-function view of the converted sites. No second comparison here: the
page shows what ``skbdrop diff`` reports.
"""
from __future__ import annotations

from dataclasses import dataclass

from analyzer.commands.diff import Conversion, Diff, diff
from analyzer.errors import InputError
from analyzer.formats.html.views import Counts
from analyzer.model import Analysis


@dataclass(frozen=True)
class FunctionConversions:
    file: str
    function: str
    conversions: tuple[Conversion, ...]


@dataclass(frozen=True)
class PageDiff:
    old_version: str
    new_version: str
    diff: Diff | None                # None when the two cannot be compared (see error)
    error: str | None
    old_totals: Counts
    new_totals: Counts
    by_function: tuple[FunctionConversions, ...]

    @property
    def converted_sites(self) -> int:
        return len(self.diff.sites_converted) if self.diff else 0


def _totals(a: Analysis) -> Counts:
    c = Counts()
    for s in a.sites:
        c.add_site(s)
    return c


def compare(old: Analysis, new: Analysis) -> PageDiff:
    try:
        d = diff(old, new, old.kernel.version, new.kernel.version)
        err = None
    except (InputError, ValueError) as e:
        d, err = None, str(e)
    groups: dict[tuple[str, str], list[Conversion]] = {}
    for c in (d.sites_converted if d else ()):
        groups.setdefault((c.new.file, c.new.function), []).append(c)
    by_fn = tuple(FunctionConversions(f, fn, tuple(cs)) for (f, fn), cs in sorted(groups.items()))
    return PageDiff(old.kernel.version, new.kernel.version, d, err, _totals(old), _totals(new), by_fn)
