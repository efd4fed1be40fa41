"""The drop family, derived from the tree itself (no fixed list of names).

Roots: functions that fire the `kfree_skb` / `consume_skb` tracepoints on an skb they were
given. A function joins the family when it passes its own skb parameter to a member and
  * passes its own drop-reason parameter as that member's reason ("wrapper"), or
  * is a small void wrapper that passes a fixed reason or calls a fixed-reason member
    (`kfree_skb(skb)` = NOT_SPECIFIED, `dev_kfree_skb_any`): small at every depth (at
    most SMALL_WRAPPER top-level statements, SMALL_WRAPPER_SIZE in all, no loop or
    switch anywhere), or
  * stores its reason parameter for a later free (`dev_kfree_skb_irq_reason`: "deferred").
Function-like macros join the same way (`#define dev_kfree_skb(a) consume_skb(a)`).
Iterated to a fixed point.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

from analyzer.c.facts import ENUMERATOR_LIKE, REASON_TYPE, FileFacts
from analyzer.model import FamilyMember

DEFERRED_MIN_STATEMENTS = 4
SMALL_WRAPPER = 2          # top-level statements in a fixed-reason wrapper's body
SMALL_WRAPPER_SIZE = 5     # statements at every depth (no loop or switch anywhere)


def _skb_param(fn, argtext: str) -> int | None:
    a = argtext.strip()
    for i, p in enumerate(fn.params):
        if p.name and p.name == a and p.pointer and "sk_buff" in p.type:
            return i
    return None


def derive_family(facts: Mapping[str, FileFacts], index, resolver) -> list[FamilyMember]:
    fam: dict[str, FamilyMember] = {}
    # roots -------------------------------------------------------------------------
    for path in sorted(facts):
        for fn in facts[path].functions:
            if not fn.trace_calls:
                continue
            kinds = {k for k, _ in fn.trace_calls}
            skb = None
            reason_param = None
            for k, args in fn.trace_calls:
                if args:
                    skb = skb if skb is not None else _skb_param(fn, args[0])
                if k == "kfree_skb" and len(args) >= 3:
                    r = args[2].strip()
                    for i, p in enumerate(fn.params):
                        if p.name == r and not p.pointer:
                            reason_param = i
            if skb is None:
                continue          # fires the tracepoint for skbs it found itself (net_tx_action)
            kind = "drop" if "kfree_skb" in kinds else "consume"
            reason = None if reason_param is not None or kind == "consume" else "NOT_SPECIFIED"
            _add(fam, FamilyMember(name=fn.name, kind=kind, reason=reason, reason_param=reason_param,
                                   skb_param=skb, file=path, line=fn.line, via="tracepoint"))
    # wrappers, to a fixed point ------------------------------------------------------
    changed = True
    rounds = 0
    while changed and rounds < 20:
        changed = False
        rounds += 1
        for path in sorted(facts):
            f = facts[path]
            by_name = None            # made for the few files with a call to a member
            for c in f.calls:
                g = fam.get(c.callee)
                if g is None or c.function is None or c.function in fam or c.function == c.callee:
                    continue
                if by_name is None:
                    by_name = {fn.name: fn for fn in f.functions}
                fn = by_name.get(c.function)
                if fn is None or g.skb_param is None or g.skb_param >= len(c.args):
                    continue
                skb = _skb_param(fn, c.args[g.skb_param])
                if skb is None:
                    continue
                m = _wrapper(fn, path, c, g, skb, resolver)
                if m is not None:
                    _add(fam, m)
                    changed = True
            for fn in f.functions:
                # deferred: stores the reason in the skb and queues it (not a one-line setter)
                if fn.name in fam or not fn.stored_params or not fn.returns_void \
                        or fn.statements < DEFERRED_MIN_STATEMENTS:
                    continue
                skb = next((i for i, p in enumerate(fn.params)
                            if p.pointer and "sk_buff" in p.type), None)
                rp = fn.stored_params[0]
                if skb is not None:
                    _add(fam, FamilyMember(name=fn.name, kind="drop", reason=None, reason_param=rp,
                                           skb_param=skb, file=path, line=fn.line, via="deferred"))
                    changed = True
            for mac in f.macros:
                if mac.name in fam:
                    continue
                m = _macro_member(path, mac, fam, resolver)
                if m is not None:
                    _add(fam, m)
                    changed = True
    return sorted(fam.values(), key=lambda m: (m.name, m.file))


def _add(fam: dict, m: FamilyMember) -> None:
    """The first definition found (files in path order) names the member."""
    fam.setdefault(m.name, m)


def _wrapper(fn, path, c, g: FamilyMember, skb: int, resolver) -> FamilyMember | None:
    if g.reason_param is not None and g.reason_param < len(c.arg_terms):
        terms = c.arg_terms[g.reason_param]
        params = {t[1] for t in terms if t[0] == "param"}
        if len(terms) == 1 and params:
            p = next(iter(params))
            if p < len(fn.params) and not fn.params[p].pointer:
                return FamilyMember(name=fn.name, kind=g.kind, reason=None, reason_param=p,
                                    skb_param=skb, file=path, line=fn.line, via="wrapper")
    # fixed-reason wrapper: small, void, no reason parameter of its own
    if fn.statements > SMALL_WRAPPER or not fn.returns_void or c.callee not in fn.toplevel_calls:
        return None
    if fn.branchy or fn.size > SMALL_WRAPPER_SIZE:
        return None           # a state machine that ends in a free is no wrapper (lapb_in.c)
    if any(REASON_TYPE.search(p.type) for p in fn.params):
        return None
    if g.reason_param is None:
        reason = g.reason
    else:
        if g.reason_param >= len(c.arg_terms):
            return None
        terms = c.arg_terms[g.reason_param]
        if len(terms) != 1 or terms[0][0] != "const":
            return None
        shorts, cause = resolver.const(terms[0][1])
        if cause or len(shorts) != 1:
            return None
        reason = next(iter(shorts))
    kind = "consume" if g.kind == "consume" or reason == "CONSUMED" else "drop"
    return FamilyMember(name=fn.name, kind=kind, reason=None if kind == "consume" else reason,
                        reason_param=None, skb_param=skb, file=path, line=fn.line, via="wrapper")


def _macro_member(path, mac, fam, resolver) -> FamilyMember | None:
    """A macro whose whole body is one call of a family member on its own arguments."""
    call = mac.sole_call
    if call is None or mac.params is None:
        return None
    g = fam.get(call.callee)
    if g is None or g.skb_param is None:
        return None
    args = [a.strip("()").strip() for a in call.args]
    if g.skb_param >= len(args) or args[g.skb_param] not in mac.params:
        return None
    skb = mac.params.index(args[g.skb_param])
    if g.reason_param is None:
        return FamilyMember(name=mac.name, kind=g.kind, reason=g.reason, reason_param=None,
                            skb_param=skb, file=path, line=mac.line, via="macro", is_macro=True)
    if g.reason_param >= len(args):
        return None
    r = re.sub(r"^\((?:__force\s+)?[\w\s]+\)\s*", "", args[g.reason_param])
    if r in mac.params:
        return FamilyMember(name=mac.name, kind=g.kind, reason=None, reason_param=mac.params.index(r),
                            skb_param=skb, file=path, line=mac.line, via="macro", is_macro=True)
    if ENUMERATOR_LIKE.match(r):
        shorts, cause = resolver.const(r)
        if not cause and len(shorts) == 1:
            reason = next(iter(shorts))
            kind = "consume" if g.kind == "consume" or reason == "CONSUMED" else "drop"
            return FamilyMember(name=mac.name, kind=kind, reason=None if kind == "consume" else reason,
                                reason_param=None, skb_param=skb, file=path, line=mac.line,
                                via="macro", is_macro=True)
    return None
