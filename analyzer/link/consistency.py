"""Catalogue consistency: the enum, the X-macro that names its reasons for the
tracepoint (``DEFINE_DROP_REASON(FN, FNe)``, 5.18+) and the 5.17 ``EM()`` string list
(``TRACE_SKB_DROP_REASON`` in include/trace/events/skb.h) must list the same reasons, in
the same order. Read with the catalogue's own preprocessor (link/catalogue.py).

``check`` compares the problems before and after a patch (a new one is a finding).
"""
from __future__ import annotations

from analyzer.link.catalogue import CORE_ENUM, enum_of, list_macro, token_line

PREFIX = "SKB_DROP_REASON_"
XMACRO = "DEFINE_DROP_REASON"
EM_LIST = "TRACE_SKB_DROP_REASON"
NOT_LISTED = frozenset({"SKB_DROP_REASON_SUBSYS_MASK"})   # a mask: no list names it


def enum_entries(text: str, enum: str = CORE_ENUM) -> tuple[list[str], int] | None:
    """The enumerator names of ``enum ENUM`` in TEXT, in order, and the enum's line."""
    e = enum_of(text, enum)
    return None if e is None else ([n for n, _ in e[0]], e[1])


def xmacro_entries(text: str) -> tuple[list[str], int] | None:
    """The DEFINE_DROP_REASON(FN, FNe) list as full enumerator names, and its line."""
    got = list_macro(text, XMACRO, ())
    if got is None:
        return None
    entries, line = got
    return [PREFIX + e[0] for e in entries if e and e[0]], line


def em_entries(text: str) -> tuple[list[tuple[str, str]], int] | None:
    """The 5.17 EM(SKB_DROP_REASON_X, X) / EMe(...) list as (enumerator, printed name)."""
    got = list_macro(text, EM_LIST, ("EM", "EMe"))
    if got is None:
        return None
    entries, line = got
    return [(e[0], e[1]) for e in entries if len(e) == 2], line


def problems(texts: dict[str, str]) -> list[tuple[str, int, str]]:
    """(file, line, message) for disagreements between the enum and the name lists of
    the catalogue headers TEXTS (path -> text)."""
    enum = None
    for path in sorted(texts):
        e = enum_of(texts[path])
        if e is not None:
            enum = (path, e)
            break
    if enum is None:
        return []
    epath, (declared, _eline) = enum
    names = [n for n, _ in declared]
    line_of = {}
    for n, ln in declared:
        line_of.setdefault(n, ln)
    reasons = [n for n in names if n.startswith(PREFIX) and n not in NOT_LISTED]
    probs = []
    for path in sorted(texts):
        x = xmacro_entries(texts[path])
        if x is not None:
            listed, xline = x
            missing = [n for n in reasons if n not in listed]
            extra = [n for n in listed if n not in names]
            for n in missing:
                probs.append((epath, line_of[n],
                              f"{n} is in enum skb_drop_reason but not in "
                              "DEFINE_DROP_REASON(): the tracepoint cannot print its name"))
            for n in extra:
                probs.append((path, token_line(texts[path], n[len(PREFIX):], xline),
                              f"DEFINE_DROP_REASON() lists {n}, which enum "
                              "skb_drop_reason does not define"))
            if not missing and not extra and listed != reasons:
                first = next(i for i, (p, q) in enumerate(zip(listed, reasons)) if p != q)
                probs.append((path, xline, f"DEFINE_DROP_REASON() and enum skb_drop_reason "
                              f"list the reasons in different orders (first at {listed[first]})"))
        em = em_entries(texts[path])
        if em is not None:
            pairs, mline = em
            listed = [p for p, _ in pairs]
            for n in reasons:
                if n != "SKB_DROP_REASON_MAX" and n not in listed:
                    probs.append((path, mline, f"{n} is in enum skb_drop_reason but not in "
                                  "TRACE_SKB_DROP_REASON: the tracepoint cannot print its name"))
            for full, short in pairs:
                if full not in names and full != "SKB_DROP_REASON_MAX":
                    probs.append((path, mline, f"TRACE_SKB_DROP_REASON lists {full}, which enum "
                                  "skb_drop_reason does not define"))
                elif full != PREFIX + short:
                    probs.append((path, mline, f"TRACE_SKB_DROP_REASON prints {full} as {short}"))
    return probs
