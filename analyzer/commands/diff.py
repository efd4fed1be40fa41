"""`skbdrop diff OLD NEW`: how the reason catalogue and the drop sites changed.

Reasons are matched by enumerator name.  A reason removed and another added with
the same (non-empty) kernel-doc text count as renamed.  Sites are matched on
(file, function, callee, reason argument, kind), in line order, since line numbers
move; an unmatched unspecified drop (plain ``kfree_skb``) in OLD and an unmatched drop
with a reason in NEW, in the same function, are a conversion — as is a matched site
whose reasons went from NOT_SPECIFIED alone to a named reason.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass

from analyzer.commands.header import load, require_catalogue
from analyzer.model import CORE, Analysis, Reason, Site, Subsystem
from analyzer.model.data import SCHEMA
from analyzer.model.rules import from_btf, has_reason, is_unspecified


@dataclass(frozen=True)
class Renumbered:
    name: str
    old: int
    new: int

    @property
    def delta(self) -> int:
        return self.new - self.old


@dataclass(frozen=True)
class Renamed:
    old: Reason
    new: Reason


@dataclass(frozen=True)
class SubsysChange:
    name: str
    old: int
    new: int


@dataclass(frozen=True)
class Conversion:
    old: Site
    new: Site


@dataclass(frozen=True)
class Diff:
    old: Analysis
    new: Analysis
    reasons_added: tuple[Reason, ...]
    reasons_removed: tuple[Reason, ...]
    reasons_renamed: tuple[Renamed, ...]
    reasons_renumbered: tuple[Renumbered, ...]
    subsystems_added: tuple[Subsystem, ...]
    subsystems_removed: tuple[Subsystem, ...]
    subsystems_renumbered: tuple[SubsysChange, ...]
    sites_added: tuple[Site, ...]
    sites_removed: tuple[Site, ...]
    sites_converted: tuple[Conversion, ...]
    sites_matched: int
    sites_changed: tuple[Conversion, ...] = ()   # matched drops, other reasons, not conversions
    # reasons of a subsystem whose enum one side's BTF does not hold (a module's): unknown
    # there, neither added nor removed
    reasons_not_compared: tuple[Reason, ...] = ()
    sites_compared: bool = True                  # False when a side is BTF (no sources)

    def changed(self) -> bool:
        return any((self.reasons_added, self.reasons_removed, self.reasons_renamed,
                    self.reasons_renumbered, self.subsystems_added, self.subsystems_removed,
                    self.subsystems_renumbered, self.sites_added, self.sites_removed,
                    self.sites_converted, self.sites_changed))


def _doc_key(doc: str) -> str:
    return " ".join(doc.lower().split())


def _site_key(s: Site):
    return (s.file, s.function, s.callee, " ".join((s.reason_arg or "").split()), s.kind)


def _pos(s: Site):
    return (s.file, s.line, s.column, s.callee)


def _match_sites(old: tuple[Site, ...], new: tuple[Site, ...]):
    go: dict = defaultdict(list)
    gn: dict = defaultdict(list)
    for s in sorted(old, key=_pos):
        go[_site_key(s)].append(s)
    for s in sorted(new, key=_pos):
        gn[_site_key(s)].append(s)
    rest_old, rest_new, conv, changed, matched = [], [], [], [], 0
    for k in sorted(go.keys() | gn.keys()):
        a, b = go.get(k, []), gn.get(k, [])
        for so, sn in zip(a, b):
            matched += 1
            if is_unspecified(so) and has_reason(sn):
                conv.append(Conversion(so, sn))
            elif so.kind == "drop" and tuple(so.reasons) != tuple(sn.reasons):
                # (a consume site's reason is CONSUMED once the catalogue has it: no change)
                changed.append(Conversion(so, sn))
        rest_old += a[len(b):]
        rest_new += b[len(a):]
    # plain kfree_skb(skb) in OLD become kfree_skb_reason(skb, R) in NEW: same function
    fo: dict = defaultdict(list)
    fn: dict = defaultdict(list)
    for s in rest_old:
        if is_unspecified(s):
            fo[(s.file, s.function)].append(s)
    for s in rest_new:
        if has_reason(s):
            fn[(s.file, s.function)].append(s)
    used_old, used_new = set(), set()
    for k in sorted(fo.keys() & fn.keys()):
        for so, sn in zip(sorted(fo[k], key=_pos), sorted(fn[k], key=_pos)):
            conv.append(Conversion(so, sn))
            used_old.add(id(so))
            used_new.add(id(sn))
    removed = tuple(sorted((s for s in rest_old if id(s) not in used_old), key=_pos))
    added = tuple(sorted((s for s in rest_new if id(s) not in used_new), key=_pos))
    conv.sort(key=lambda c: (_pos(c.new), _pos(c.old)))
    changed.sort(key=lambda c: (_pos(c.new), _pos(c.old)))
    return added, removed, tuple(conv), tuple(changed), matched


def _unseen_subsystems(a: Analysis) -> set[str]:
    """Subsystems a BTF analysis names (in enum skb_drop_reason_subsys) but holds no
    reason of: their enum is in a module's BTF (mac80211, openvswitch), not in vmlinux's."""
    if not from_btf(a):
        return set()
    have = {r.subsystem for r in a.reasons}
    return {s.name for s in a.subsystems if s.name != CORE and s.name not in have}


def diff(old: Analysis, new: Analysis, old_spec: str = "OLD", new_spec: str = "NEW") -> Diff:
    co, cn = require_catalogue(old, old_spec), require_catalogue(new, new_spec)
    ro = {r.name: r for r in co.reasons}
    rn = {r.name: r for r in cn.reasons}
    added = [rn[n] for n in rn.keys() - ro.keys()]
    removed = [ro[n] for n in ro.keys() - rn.keys()]
    unseen_old, unseen_new = _unseen_subsystems(old), _unseen_subsystems(new)
    not_compared = sorted([r for r in removed if r.subsystem in unseen_new]
                          + [r for r in added if r.subsystem in unseen_old],
                          key=lambda r: (r.value, r.name))
    removed = [r for r in removed if r.subsystem not in unseen_new]
    added = [r for r in added if r.subsystem not in unseen_old]
    # renamed: a unique doc text shared by one removed and one added reason
    by_doc_removed: dict[str, list[Reason]] = defaultdict(list)
    by_doc_added: dict[str, list[Reason]] = defaultdict(list)
    for r in removed:
        if _doc_key(r.doc):
            by_doc_removed[_doc_key(r.doc)].append(r)
    for r in added:
        if _doc_key(r.doc):
            by_doc_added[_doc_key(r.doc)].append(r)
    renamed = []
    for d in sorted(by_doc_removed.keys() & by_doc_added.keys()):
        if len(by_doc_removed[d]) == 1 and len(by_doc_added[d]) == 1:
            o, n = by_doc_removed[d][0], by_doc_added[d][0]
            if o.subsystem == n.subsystem:
                renamed.append(Renamed(o, n))
    gone = {x.old.name for x in renamed} | {x.new.name for x in renamed}
    added = sorted((r for r in added if r.name not in gone), key=lambda r: (r.value, r.name))
    removed = sorted((r for r in removed if r.name not in gone), key=lambda r: (r.value, r.name))
    renamed.sort(key=lambda x: (x.new.value, x.new.name))
    renum = sorted((Renumbered(n, ro[n].value, rn[n].value) for n in ro.keys() & rn.keys()
                    if ro[n].value != rn[n].value), key=lambda x: (x.new, x.name))

    # the core "subsystem" (id 0) holds the core reasons in every version: not compared
    so = {s.subsystem.enumerator or s.subsystem.name: s.subsystem for s in co.subsystems
          if s.subsystem.name != CORE}
    sn = {s.subsystem.enumerator or s.subsystem.name: s.subsystem for s in cn.subsystems
          if s.subsystem.name != CORE}
    s_added = tuple(sorted((sn[k] for k in sn.keys() - so.keys()), key=lambda s: (s.id, s.name)))
    s_removed = tuple(sorted((so[k] for k in so.keys() - sn.keys()), key=lambda s: (s.id, s.name)))
    s_renum = tuple(sorted((SubsysChange(sn[k].name, so[k].id, sn[k].id)
                            for k in so.keys() & sn.keys() if so[k].id != sn[k].id),
                           key=lambda x: (x.new, x.name)))

    compare_sites = not (from_btf(old) or from_btf(new))
    sites_added, sites_removed, conv, changed, matched = \
        _match_sites(old.sites, new.sites) if compare_sites else ((), (), (), (), 0)
    return Diff(old, new, tuple(added), tuple(removed), tuple(renamed), tuple(renum),
                s_added, s_removed, s_renum, sites_added, sites_removed, conv, matched, changed,
                tuple(not_compared), compare_sites)


# --- output -------------------------------------------------------------------------------

def _site_str(s: Site) -> str:
    rs = ",".join(s.reasons) if s.reasons else "?"
    arg = f"({s.reason_arg})" if s.reason_arg else ""
    return f"{s.file}:{s.line}: {s.function}: {s.callee}{arg} [{s.kind}: {rs}]"


def _kernel(a: Analysis) -> str:
    return f"Linux {a.kernel.version} ({a.kernel.source})"


def to_text(d: Diff) -> str:
    L = [f"skbdrop diff: {_kernel(d.old)} -> {_kernel(d.new)}",
         f"reasons: {len(d.reasons_added)} added, {len(d.reasons_removed)} removed, "
         f"{len(d.reasons_renamed)} renamed, {len(d.reasons_renumbered)} renumbered",
         f"subsystems: {len(d.subsystems_added)} added, {len(d.subsystems_removed)} removed, "
         f"{len(d.subsystems_renumbered)} renumbered",
         f"sites: {len(d.sites_added)} added, {len(d.sites_removed)} removed, "
         f"{len(d.sites_converted)} converted from unspecified to a reason, "
         f"{len(d.sites_changed)} with other reasons ({d.sites_matched} matched)"
         if d.sites_compared else
         "sites: not compared (BTF holds the reason table only, no sources)"]
    if d.reasons_not_compared:
        subs = sorted({r.subsystem for r in d.reasons_not_compared})
        L.insert(2, f"reasons not compared: {len(d.reasons_not_compared)}, of "
                    f"{', '.join(subs)} (their enums are in modules' BTF, not in the one given)")

    def section(title, items):
        if items:
            L.append("")
            L.append(f"{title}:")
            L.extend(items)
    section("reasons added", [f"  + {r.name} = {r.value} ({r.subsystem}) {r.file}:{r.line}"
                              for r in d.reasons_added])
    section("reasons removed", [f"  - {r.name} = {r.value} ({r.subsystem})" for r in d.reasons_removed])
    section("reasons not compared (a module's enum, not in the BTF given)",
            [f"  ? {r.name} = {r.value} ({r.subsystem})" for r in d.reasons_not_compared])
    section("reasons renamed", [f"  ~ {x.old.name} = {x.old.value} -> {x.new.name} = {x.new.value}"
                                for x in d.reasons_renamed])
    section("reasons renumbered", [f"  {x.name}: {x.old} -> {x.new} ({x.delta:+d})"
                                   for x in d.reasons_renumbered])
    section("subsystems added", [f"  + {s.name} ({s.enumerator}) id {s.id}" for s in d.subsystems_added])
    section("subsystems removed", [f"  - {s.name} ({s.enumerator}) id {s.id}" for s in d.subsystems_removed])
    section("subsystems renumbered", [f"  {x.name}: id {x.old} -> {x.new}" for x in d.subsystems_renumbered])
    section("sites converted from unspecified to a reason",
            [f"  {_site_str(c.new)}  (was {c.old.callee} at line {c.old.line})" for c in d.sites_converted])
    section("sites with other reasons",
            [f"  {_site_str(c.new)}  (was {','.join(c.old.reasons) or '?'} at line {c.old.line})"
             for c in d.sites_changed])
    section("sites added", [f"  + {_site_str(s)}" for s in d.sites_added])
    section("sites removed", [f"  - {_site_str(s)}" for s in d.sites_removed])
    return "\n".join(L) + "\n"


def _reason_d(r: Reason) -> dict:
    return {"name": r.name, "short": r.short, "value": r.value, "subsystem": r.subsystem,
            "file": r.file, "line": r.line}


def _site_d(s: Site) -> dict:
    return {"file": s.file, "line": s.line, "column": s.column, "function": s.function,
            "callee": s.callee, "kind": s.kind, "reason_arg": s.reason_arg,
            "reasons": list(s.reasons), "resolution": s.resolution}


def _subsys_d(s: Subsystem) -> dict:
    return {"name": s.name, "enumerator": s.enumerator, "id": s.id}


def to_dict(d: Diff) -> dict:
    k = lambda a: {"version": a.kernel.version, "source": a.kernel.source}  # noqa: E731
    return {
        "schema": SCHEMA, "old": k(d.old), "new": k(d.new),
        "summary": {"reasons_added": len(d.reasons_added), "reasons_removed": len(d.reasons_removed),
                    "reasons_renamed": len(d.reasons_renamed),
                    "reasons_renumbered": len(d.reasons_renumbered),
                    "subsystems_added": len(d.subsystems_added),
                    "subsystems_removed": len(d.subsystems_removed),
                    "subsystems_renumbered": len(d.subsystems_renumbered),
                    "sites_added": len(d.sites_added), "sites_removed": len(d.sites_removed),
                    "sites_converted": len(d.sites_converted), "sites_matched": d.sites_matched,
                    "sites_changed": len(d.sites_changed),
                    "reasons_not_compared": len(d.reasons_not_compared),
                    "sites_compared": d.sites_compared},
        "reasons": {"not_compared": [_reason_d(r) for r in d.reasons_not_compared],
                    "added": [_reason_d(r) for r in d.reasons_added],
                    "removed": [_reason_d(r) for r in d.reasons_removed],
                    "renamed": [{"old": _reason_d(x.old), "new": _reason_d(x.new)}
                                for x in d.reasons_renamed],
                    "renumbered": [{"name": x.name, "old": x.old, "new": x.new, "delta": x.delta}
                                   for x in d.reasons_renumbered]},
        "subsystems": {"added": [_subsys_d(s) for s in d.subsystems_added],
                       "removed": [_subsys_d(s) for s in d.subsystems_removed],
                       "renumbered": [{"name": x.name, "old": x.old, "new": x.new}
                                      for x in d.subsystems_renumbered]},
        "sites": {"added": [_site_d(s) for s in d.sites_added],
                  "removed": [_site_d(s) for s in d.sites_removed],
                  "converted": [{"old": _site_d(c.old), "new": _site_d(c.new)}
                                for c in d.sites_converted],
                  "changed": [{"old": _site_d(c.old), "new": _site_d(c.new)}
                              for c in d.sites_changed]},
    }


def to_json(d: Diff) -> str:
    return json.dumps(to_dict(d), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def fails(d: Diff, fail_on: str) -> bool:
    if fail_on == "renumbered":
        return bool(d.reasons_renumbered or d.subsystems_renumbered)
    if fail_on == "removed":
        return bool(d.reasons_removed or d.subsystems_removed)
    if fail_on == "any":
        return d.changed()
    return False


def command(args) -> int:
    from analyzer.formats.atomic import write_text
    old = load(args.old, args, sources=False)
    new = load(args.new, args, sources=False)
    d = diff(old, new, args.old, args.new)
    write_text("-", to_json(d) if args.format == "json" else to_text(d))
    return 1 if fails(d, getattr(args, "fail_on", "never")) else 0
