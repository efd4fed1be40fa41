"""The reason catalogue before and after a patch: reasons removed, renamed, renumbered,
undocumented or unused, subsystems changed, the last producer of a reason gone,
reasons named but not defined, and the enum and its name lists out of step
(link/consistency.py)."""
from __future__ import annotations

from collections import defaultdict

from analyzer.c.text import names_any, reason_mentions
from analyzer.link.check.context import Context
from analyzer.link.check.scope import CATALOGUE_FILE, in_scope, is_catalogue_header
from analyzer.link.consistency import problems
from analyzer.model import NOT_SPECIFIED, Analysis, Reason, Site
from analyzer.model.findings import Finding, make
from analyzer.model.rules import is_sentinel, shift_of

NOT_REASONS = frozenset({"SKB_DROP_REASON_SUBSYS_SHIFT", "SKB_DROP_REASON_SUBSYS_MASK",
                         "SKB_DROP_REASON_SUBSYS_NUM", "SKB_DROP_REASON_MAX"})


def _enclosing(b: Analysis, file: str, line: int) -> str:
    best = None
    for n in b.callgraph.nodes:
        if n.file == file and n.line <= line and (best is None or n.line > best.line):
            best = n
    fn = [s.function for s in b.sites if s.file == file and s.line == line]
    return fn[0] if fn else (best.name if best is not None else "")


def unknown_reason_findings(ctx: Context, out: list[Finding]) -> None:
    """Added lines naming a reason the patched catalogue does not define (no build)."""
    known = {r.name for r in ctx.b.reasons} | {s.enumerator for s in ctx.b.subsystems}
    for af in ctx.applied.values():
        if not af.new_path or af.new_text is None or not in_scope(af.new_path, ctx.paths):
            continue
        lines = af.new_text.split("\n")
        for n in sorted(af.added):
            text = lines[n - 1] if n - 1 < len(lines) else ""
            for name, short, column in reason_mentions(text):
                if name in known or name in NOT_REASONS:
                    continue
                if short and short in {r.short for r in ctx.b.reasons}:
                    continue
                func = _enclosing(ctx.b, af.new_path, n)
                what = "drop reason subsystem" if name.startswith("SKB_DROP_REASON_SUBSYS_") \
                    else "drop reason"
                out.append(make("SKBDROP_UNKNOWN_REASON", af.new_path, n,
                                (f"{func}(): " if func else "")
                                + f"{what} {name} is not defined in this tree",
                                function=func, column=column,
                                fix=f"add {name} to the catalogue with a kernel-doc comment, "
                                    "or use an existing reason",
                                source=text, **ctx.at_new(af.new_path, n)))


def _produced(an: Analysis) -> dict[str, list[Site]]:
    out: dict[str, list[Site]] = defaultdict(list)
    for s in an.sites:
        if s.kind == "drop":
            for r in s.reasons:
                out[r].append(s)
    return out


def catalogue_findings(ctx: Context, out: list[Finding], later: frozenset[str]) -> dict[str, str]:
    """Catalogue findings; returns old short name -> new short name for renames."""
    shift = shift_of(ctx.b)
    ra = {r.name: r for r in ctx.a.reasons if not is_sentinel(r, shift)}
    rb = {r.name: r for r in ctx.b.reasons if not is_sentinel(r, shift)}
    removed = [ra[n] for n in ra.keys() - rb.keys()]
    added = [rb[n] for n in rb.keys() - ra.keys()]
    renames: dict[str, str] = {}
    added_by_slot = {(r.subsystem, r.value): r for r in added}
    added_left = {r.name for r in added}
    for r in sorted(removed, key=lambda r: (r.subsystem, r.value)):
        loc = ctx.at_old(r.file, r.line)
        src = ctx.old_source(r.file, r.line)
        twin = added_by_slot.get((r.subsystem, r.value))
        if twin is not None and twin.name in added_left:
            added_left.discard(twin.name)
            renames[r.short] = twin.short
            out.append(make("SKBDROP_REASON_RENAMED", twin.file, twin.line,
                            f"drop reason {r.name} ({r.value}) renamed to {twin.name}: "
                            "user space knows the old name",
                            fix=f"keep {r.name}", source=ctx.new_source(twin.file, twin.line),
                            **ctx.at_new(twin.file, twin.line)))
            continue
        out.append(make("SKBDROP_REASON_REMOVED", r.file, r.line,
                        f"drop reason {r.name} ({r.value}) removed: user space that knows it breaks",
                        fix=f"keep {r.name} (unused reasons may stay)", source=src,
                        **{**loc, "marker": loc["marker"] or "-"}))

    produced_b = _produced(ctx.b)
    produced_a = _produced(ctx.a)
    new_names = {r.name for r in added}
    for r in sorted(added, key=lambda r: (r.file, r.line)):
        if r.name not in added_left:
            continue
        loc = ctx.at_new(r.file, r.line)
        src = ctx.new_source(r.file, r.line)
        if not r.doc.strip() and _documented_subsystem(ctx.a, r.subsystem):
            out.append(make("SKBDROP_UNDOCUMENTED_REASON", r.file, r.line,
                            f"new drop reason {r.name} has no kernel-doc comment",
                            fix=f"add /** @{r.name}: <why the packet was dropped> */ "
                                "before it", source=src, **loc))
        if r.short not in produced_b and r.short not in later and r.name not in later \
                and not _mentioned(ctx, r):
            out.append(make("SKBDROP_UNUSED_REASON", r.file, r.line,
                            f"new drop reason {r.name} is produced by no drop site"
                            + (" in this patch or the rest of the series" if later else ""),
                            fix="add the reason in the patch that first uses it",
                            source=src, **loc))

    # values user space sees (a subsystem whose id moved is reported once, below)
    sa = {s.name: s for s in ctx.a.subsystems}
    sb = {s.name: s for s in ctx.b.subsystems}
    moved_subsys = {n for n in sa if n not in sb or sb[n].id != sa[n].id}
    for sub in sorted({r.subsystem for r in ra.values()} - moved_subsys):
        moved = sorted(((ra[n], rb[n]) for n in ra.keys() & rb.keys()
                        if ra[n].subsystem == sub and ra[n].value != rb[n].value),
                       key=lambda p: p[0].value)
        if not moved:
            continue
        cause = sorted((r for r in added if r.subsystem == sub), key=lambda r: r.value)
        where = cause[0] if cause else moved[0][1]
        shown = ", ".join(f"{o.short} {o.value}->{n.value}" for o, n in moved[:6])
        more = f", ... ({len(moved) - 6} more)" if len(moved) > 6 else ""
        label = "core" if sub == "core" else sub
        out.append(make("SKBDROP_REASON_RENUMBERED", where.file, where.line,
                        f"{len(moved)} {label} drop reason value(s) change: {shown}{more}",
                        fix="add new reasons at the end of the list, just before the _MAX entry",
                        source=ctx.new_source(where.file, where.line),
                        **ctx.at_new(where.file, where.line)))
    for name in sorted(sa):
        s = sa[name]
        t = sb.get(name)
        if t is None:
            loc = ctx.at_old(s.file, s.line)
            out.append(make("SKBDROP_SUBSYS_CHANGED", s.file, s.line,
                            f"drop reason subsystem {s.enumerator} (id {s.id}) removed",
                            fix=f"keep {s.enumerator}", source=ctx.old_source(s.file, s.line),
                            **{**loc, "marker": loc["marker"] or "-"}))
        elif t.id != s.id:
            out.append(make("SKBDROP_SUBSYS_CHANGED", t.file, t.line,
                            f"drop reason subsystem {t.enumerator} id changes {s.id} -> {t.id}: "
                            "every reason of the subsystem changes value",
                            fix="add new subsystems just before SKB_DROP_REASON_SUBSYS_NUM",
                            source=ctx.new_source(t.file, t.line), **ctx.at_new(t.file, t.line)))

    # the last producer of a reason went away (information only)
    cands = []
    for short, sites in sorted(produced_a.items()):
        if short == NOT_SPECIFIED or short in produced_b or short in renames:
            continue
        r = next((x for x in ctx.b.reasons if x.short == short), None)
        if r is None or r.name in new_names or is_sentinel(r, shift):
            continue
        s = sites[0]
        if s.file not in ctx.by_old or not in_scope(s.file, ctx.paths):
            continue
        cands.append((r, s))
    used = ctx.elsewhere({r.short for r, _ in cands}) if ctx.elsewhere and cands else set()
    for r, s in cands:
        if r.short in used:
            continue
        loc = ctx.at_old(s.file, s.line)
        out.append(make("SKBDROP_REASON_ORPHANED", s.file, s.line,
                        f"{s.function}(): the last drop site of {r.name} is gone; no site "
                        "reports it any more", function=s.function, column=s.column,
                        fix=f"keep a site that reports {r.short} or remove the reason",
                        source=ctx.old_source(s.file, s.line, s.source),
                        **{**loc, "marker": loc["marker"] or "-"}))
    return renames


def _documented_subsystem(a: Analysis, subsystem: str) -> bool:
    """The convention applies where the list before the patch was documented."""
    if subsystem == "core":
        return True
    return any(r.doc.strip() for r in a.reasons if r.subsystem == subsystem)


def _mentioned(ctx: Context, r: Reason) -> bool:
    """The reason appears in an added line of a non-catalogue file of the patch."""
    for af in ctx.applied.values():
        if not af.new_path or af.new_path == r.file or af.new_text is None:
            continue
        if is_catalogue_header(af.new_path):
            continue
        lines = af.new_text.split("\n")
        for n in af.added:
            if n - 1 < len(lines) and names_any(lines[n - 1], (r.name, r.short)):
                return True
    return False


def consistency_findings(ctx: Context, out: list[Finding]) -> None:
    touched = [af for af in ctx.applied.values()
               if CATALOGUE_FILE.match(af.new_path or af.old_path or "")]
    if not touched:
        return
    cat_files = {r.file for r in ctx.b.reasons if r.subsystem == "core"} | \
        {r.file for r in ctx.a.reasons if r.subsystem == "core"} | {"include/trace/events/skb.h"}
    cat_files |= {af.new_path for af in touched if af.new_path}
    before, after = {}, {}
    for path in cat_files:
        af = ctx.applied.get(path) or ctx.by_old.get(path)
        if af is not None:
            if af.old_text is not None and af.old_path == path:
                before[path] = af.old_text
            if af.new_text is not None and af.new_path == path:
                after[path] = af.new_text
        elif ctx.read is not None:
            t = ctx.read(path)
            if t is not None:
                before[path] = after[path] = t
    old = {m for _, _, m in problems(before)}
    for path, line, msg in problems(after):
        if msg in old:
            continue
        loc = ctx.at_new(path, line)
        out.append(make("SKBDROP_CATALOGUE_MISMATCH", path, line, msg,
                        fix="list every reason in the enum and in the X-macro, in the same order",
                        source=ctx.new_source(path, line), **loc))
