"""Drop sites before and after a patch: matched through the diff, then judged (new
unspecified drops, drops that became unspecified or lost reasons, family helpers)."""
from __future__ import annotations

import difflib
from collections import Counter, defaultdict

from analyzer.c.text import calls_any
from analyzer.model import NOT_SPECIFIED, Analysis, Site
from analyzer.link.check.context import Context
from analyzer.link.check.scope import in_scope
from analyzer.model.findings import Finding, make
from analyzer.model.rules import is_unspecified, shown_unspecified, specific_reasons
from analyzer.source.patch import AppliedFile

SUGGESTIONS = 5


def match_sites(ctx: Context) -> tuple[list[tuple[Site, Site]], list[Site], list[Site]]:
    """(pairs, new sites, gone sites) between ctx.a and ctx.b."""
    a_by_file: dict[str, list[Site]] = defaultdict(list)
    b_by_file: dict[str, list[Site]] = defaultdict(list)
    for s in ctx.a.sites:
        a_by_file[s.file].append(s)
    for s in ctx.b.sites:
        b_by_file[s.file].append(s)
    pairs: list[tuple[Site, Site]] = []
    new: list[Site] = []
    gone: list[Site] = []
    touched_old = set(ctx.by_old)
    touched_new = {p for p, af in ctx.applied.items() if af.new_path}
    # files the patch does not touch: same positions
    for f in set(a_by_file) | set(b_by_file):
        if f in touched_old or f in touched_new:
            continue
        bmap = {(s.line, s.column, s.callee): s for s in b_by_file.get(f, ())}
        for s in a_by_file.get(f, ()):
            t = bmap.pop((s.line, s.column, s.callee), None)
            if t is None:
                gone.append(s)
            else:
                pairs.append((s, t))
        new.extend(bmap.values())
    # touched files: follow the diff
    for af in ctx.applied.values():
        olds = a_by_file.get(af.old_path, []) if af.old_path else []
        news = b_by_file.get(af.new_path, []) if af.new_path else []
        bpos = {(s.line, s.callee): s for s in news}
        used_b: set[int] = set()
        rem_a: list[Site] = []
        for s in olds:
            nl = af.old_to_new.get(s.line)
            t = bpos.get((nl, s.callee)) if nl else None
            if t is not None and id(t) not in used_b:
                pairs.append((s, t))
                used_b.add(id(t))
            else:
                rem_a.append(s)
        rem_b = [s for s in news if id(s) not in used_b]
        # pair what moved or changed: same function and callee, then same function
        for key in (lambda s: (s.function, s.callee, s.kind), lambda s: (s.function, s.kind)):
            ga: dict = defaultdict(list)
            gb: dict = defaultdict(list)
            for s in rem_a:
                ga[key(s)].append(s)
            for s in rem_b:
                gb[key(s)].append(s)
            taken_a, taken_b = set(), set()
            for k in sorted(ga.keys() & gb.keys(), key=str):
                for s, t in _pair_by_context(af, ga[k], gb[k]):
                    pairs.append((s, t))
                    taken_a.add(id(s))
                    taken_b.add(id(t))
            rem_a = [s for s in rem_a if id(s) not in taken_a]
            rem_b = [s for s in rem_b if id(s) not in taken_b]
        gone.extend(rem_a)
        new.extend(rem_b)
    return pairs, new, gone


def _context(text: str | None, line: int, before: int = 2) -> str:
    if not text:
        return ""
    lines = text.split("\n")
    return "\n".join(ln.strip() for ln in lines[max(0, line - 1 - before):line])


def _pair_by_context(af: AppliedFile, olds: list[Site], news: list[Site]):
    """Pair removed and added sites of one group: most similar lines (and the two lines
    before them) first, then the nearest in the file; deterministic."""
    if len(olds) == 1 and len(news) == 1:
        return [(olds[0], news[0])]
    scored = []
    for i, s in enumerate(olds):
        cs = _context(af.old_text, s.line)
        for j, t in enumerate(news):
            ct = _context(af.new_text, t.line)
            ratio = difflib.SequenceMatcher(None, cs, ct, autojunk=False).ratio()
            scored.append((-round(ratio, 6), abs(s.line - t.line), i, j))
    scored.sort()
    used_i, used_j, out = set(), set(), []
    for _r, _d, i, j in scored:
        if i in used_i or j in used_j:
            continue
        used_i.add(i)
        used_j.add(j)
        out.append((olds[i], news[j]))
    return out


def _nearby(b: Analysis, site: Site) -> list[str]:
    """Reasons other drop sites of the same function use, most used first."""
    c: Counter = Counter()
    for s in b.sites:
        if s.file == site.file and s.function == site.function and s.kind == "drop" \
                and (s.line, s.column) != (site.line, site.column):
            c.update(specific_reasons(s))
    return [r for r, _ in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))][:SUGGESTIONS]


def _fix_for(b: Analysis, site: Site, suggestions: list[str]) -> str:
    names = {m.name for m in b.family}
    reason = f"SKB_DROP_REASON_{suggestions[0]}" if suggestions else "SKB_DROP_REASON_..."
    if site.reason_arg is not None:
        return f"pass a specific reason instead of {site.reason_arg.strip()}, e.g. {reason}"
    variant = site.callee + "_reason"
    if variant not in names:
        variant = "kfree_skb_reason"
    return f"use {variant}(..., {reason})"


def site_findings(ctx: Context, out: list[Finding], renames: dict[str, str]) -> None:
    pairs, new, _gone = match_sites(ctx)
    # reasons the catalogue lost are reported once, as REMOVED, not at every site
    dropped = {r.short for r in ctx.a.reasons} - {r.short for r in ctx.b.reasons}

    for s in new:
        if not in_scope(s.file, ctx.paths) or s.kind != "drop":
            continue
        src = ctx.new_source(s.file, s.line, s.source)
        if shown_unspecified(s):
            sug = _nearby(ctx.b, s)
            how = (f"{s.callee}({s.reason_arg})" if s.reason_arg is not None
                   else f"{s.callee}()")
            msg = f"new drop without a reason: {how} in {s.function}() reports NOT_SPECIFIED"
            if sug:
                msg += "; reasons used nearby in this function: " + ", ".join(sug)
            out.append(make("SKBDROP_NEW_UNSPECIFIED", s.file, s.line, msg, function=s.function,
                            column=s.column, fix=_fix_for(ctx.b, s, sug), suggestions=tuple(sug),
                            source=src, **ctx.at_new(s.file, s.line)))

    family_findings(ctx, out)

    for s, t in pairs:
        if t.kind != "drop" or not in_scope(t.file, ctx.paths):
            continue
        src = ctx.new_source(t.file, t.line, t.source)
        if s.kind != "drop":
            continue
        before = {renames.get(r, r) for r in specific_reasons(s)}
        after = specific_reasons(t)
        if is_unspecified(t) and before:
            if not shown_unspecified(t):
                # unspecified (no reason can be shown), but an empty, incomplete set says
                # nothing about what was lost: no regression is claimed
                continue
            msg = (f"{t.function}(): this drop reported {', '.join(sorted(before))} "
                   f"before the patch and now reports only NOT_SPECIFIED")
            out.append(make("SKBDROP_BECAME_UNSPECIFIED", t.file, t.line, msg, function=t.function,
                            column=t.column, fix="keep passing the reason, e.g. "
                            f"kfree_skb_reason(skb, SKB_DROP_REASON_{sorted(before)[0]})",
                            suggestions=tuple(sorted(before)), source=src,
                            **ctx.at_new(t.file, t.line)))
            continue
        lost = before - after - dropped
        # an empty, incomplete set after the patch says nothing about what was lost
        if lost and (after or t.complete):
            note = "" if t.complete else f" (the new set may be incomplete: {t.cause or 'unresolved'})"
            msg = (f"{t.function}(): this drop can no longer report {', '.join(sorted(lost))}"
                   f"; now: {', '.join(sorted(after)) or 'NOT_SPECIFIED'}{note}")
            out.append(make("SKBDROP_REASONS_LOST", t.file, t.line, msg, function=t.function,
                            column=t.column, fix="restore the paths that set "
                            + ", ".join(f"SKB_DROP_REASON_{r}" for r in sorted(lost))
                            + " or drop the reasons if they became meaningless",
                            suggestions=tuple(sorted(lost)), source=src,
                            **ctx.at_new(t.file, t.line)))


def _member_line(ctx: Context, file: str, start: int, names: set[str]) -> int:
    """The line of the member's body that calls the family (an added one first)."""
    af = ctx.applied.get(file)
    if af is None or af.new_text is None:
        return start
    lines = af.new_text.split("\n")
    body = range(start + 1, min(start + 40, len(lines)) + 1)
    hits = [n for n in body if calls_any(lines[n - 1], names)]
    added = [n for n in hits if n in af.added]
    return (added or hits or [start])[0]


def family_findings(ctx: Context, out: list[Finding]) -> None:
    """Small helpers that drop with a fixed reason are family members, not sites: a
    touched helper whose fixed reason became NOT_SPECIFIED (or a new such helper) is
    judged like a site."""
    fa = {m.name: m for m in ctx.a.family}
    names = {m.name for m in ctx.b.family}
    for m in ctx.b.family:
        if m.kind != "drop" or m.reason is None or m.file not in ctx.applied \
                or not in_scope(m.file, ctx.paths):
            continue
        old = fa.get(m.name)
        line = _member_line(ctx, m.file, m.line, names - {m.name})
        loc = ctx.at_new(m.file, line)
        src = ctx.new_source(m.file, line)
        if old is None:
            if m.reason == NOT_SPECIFIED and loc["marker"] == "+":
                out.append(make("SKBDROP_NEW_UNSPECIFIED", m.file, line,
                                f"new drop helper {m.name}() frees the skb without a reason: "
                                "its callers report NOT_SPECIFIED", function=m.name,
                                fix="give the helper a reason parameter, or use "
                                    "kfree_skb_reason() with a specific reason",
                                source=src, **loc))
            continue
        if old.reason is None or old.reason == m.reason or old.reason == NOT_SPECIFIED:
            continue
        if m.reason == NOT_SPECIFIED:
            out.append(make("SKBDROP_BECAME_UNSPECIFIED", m.file, line,
                            f"{m.name}(): this drop reported {old.reason} before the patch and "
                            "now reports only NOT_SPECIFIED", function=m.name,
                            fix=f"keep passing the reason, e.g. kfree_skb_reason(skb, "
                                f"SKB_DROP_REASON_{old.reason})",
                            suggestions=(old.reason,), source=src, **loc))
        else:
            out.append(make("SKBDROP_REASONS_LOST", m.file, line,
                            f"{m.name}(): this drop can no longer report {old.reason}; "
                            f"now: {m.reason}", function=m.name,
                            fix=f"restore SKB_DROP_REASON_{old.reason} or drop it if it became "
                                "meaningless", suggestions=(old.reason,), source=src, **loc))
