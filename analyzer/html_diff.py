"""What changed between two analyses, as the report's diff page shows it.

Reasons are matched by short name: added, removed, renumbered (value changed). Sites
move between versions, so they are matched per function ``(file, function)``: a function
that has fewer unspecified drop sites and more sites with a specific reason than before
has had ``min(fewer, more)`` sites converted.
"""
from __future__ import annotations

from dataclasses import dataclass

from .html_data import Counts
from .model import Analysis, Reason


@dataclass(frozen=True)
class FunctionDelta:
    file: str
    function: str
    old: Counts
    new: Counts
    converted: int


@dataclass(frozen=True)
class Comparison:
    old_version: str
    new_version: str
    added: tuple[Reason, ...]
    removed: tuple[Reason, ...]
    renumbered: tuple[tuple[Reason, Reason], ...]
    newly_produced: tuple[str, ...]      # reasons some drop site reports in new but none in old
    no_longer_produced: tuple[str, ...]
    converted: tuple[FunctionDelta, ...]  # functions with converted sites
    changed: tuple[FunctionDelta, ...]    # every function whose counts changed
    old_totals: Counts
    new_totals: Counts

    @property
    def converted_sites(self) -> int:
        return sum(d.converted for d in self.converted)


def _per_function(a: Analysis) -> dict[tuple[str, str], Counts]:
    out: dict[tuple[str, str], Counts] = {}
    for s in a.sites:
        out.setdefault((s.file, s.function), Counts()).add_site(s)
    return out


def _produced(a: Analysis) -> set[str]:
    return {r for s in a.sites if s.kind == "drop" for r in s.reasons}


def compare(old: Analysis, new: Analysis) -> Comparison:
    ro = {r.short: r for r in old.reasons}
    rn = {r.short: r for r in new.reasons}
    added = tuple(sorted((rn[k] for k in rn.keys() - ro.keys()), key=lambda r: (r.value, r.short)))
    removed = tuple(sorted((ro[k] for k in ro.keys() - rn.keys()), key=lambda r: (r.value, r.short)))
    renum = tuple(sorted(((ro[k], rn[k]) for k in ro.keys() & rn.keys() if ro[k].value != rn[k].value),
                         key=lambda p: (p[1].value, p[1].short)))
    po, pn = _produced(old), _produced(new)
    fo, fn = _per_function(old), _per_function(new)
    changed, converted = [], []
    for key in sorted(fo.keys() | fn.keys()):
        o, n = fo.get(key, Counts()), fn.get(key, Counts())
        if (o.drop, o.unspecified, o.consume) == (n.drop, n.unspecified, n.consume):
            continue
        conv = min(max(o.unspecified - n.unspecified, 0), max(n.with_reason - o.with_reason, 0))
        d = FunctionDelta(key[0], key[1], o, n, conv)
        changed.append(d)
        if conv:
            converted.append(d)
    ot, nt = Counts(), Counts()
    for s in old.sites:
        ot.add_site(s)
    for s in new.sites:
        nt.add_site(s)
    return Comparison(old.kernel.version, new.kernel.version, added, removed, renum,
                      tuple(sorted(pn - po)), tuple(sorted(po - pn)), tuple(converted),
                      tuple(changed), ot, nt)
