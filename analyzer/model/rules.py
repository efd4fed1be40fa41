"""The domain's rules, each defined once; every reporter (summary, report, diff, check,
export, explain, header, verify) asks here.

**Site classes.** Every site is exactly one of:

* ``consume`` — not a drop (``consume_skb`` and friends, ``*_reason(skb, SKB_CONSUMED)``);
* ``unspecified`` — a drop that cannot be shown to carry a specific reason: its reason
  set holds nothing but ``NOT_SPECIFIED``, or nothing at all. An *incomplete* site with an
  *empty* set (``kfree_skb_reason(skb, tc_skb_cb(skb)->drop_reason)``, a parameter with no
  callers) is unspecified: the code may pass a specific reason at run time, but nothing in
  the tree shows which, and a kernel developer reading a ``NOT_SPECIFIED`` trace gets no
  more from it than from a plain ``kfree_skb``. Completeness does not make a drop specific;
  only a reason does;
* ``incomplete`` — a drop with at least one specific reason whose set is not fully known
  (``complete: false``): more reasons may reach it;
* ``reasoned`` — a drop with at least one specific reason and a complete set.

So ``drops = reasoned + incomplete + unspecified`` and ``with_reason = reasoned +
incomplete``. Every count uses these classes. A *finding* of ``check`` is a claim
("this drop reports NOT_SPECIFIED"): it is made only for drops :func:`shown_unspecified`,
whose set is complete. An unspecified drop with an incomplete set is counted as
unspecified but claimed as nothing: its reason may be one the tree does not show (a
struct field, a reason the catalogue does not define yet).

**Sentinels.** Enumerators of the catalogue that are not reasons a drop reports: the
bounds and masks of the enums (:func:`is_bound`) and ``SKB_NOT_DROPPED_YET`` /
``SKB_CONSUMED`` (the kernel's name table lists them; no drop reports them).

**Subsystems.** A reason's subsystem id is ``value >> SKB_DROP_REASON_SUBSYS_SHIFT`` with
the shift of *that tree* (``KernelInfo.subsys_shift``; 16 where a tree has none).
"""
from __future__ import annotations

from analyzer.model.data import CONSUMED, CORE, NOT_SPECIFIED, Analysis, Reason, Site

REASONED, INCOMPLETE, UNSPECIFIED, CONSUME = "reasoned", "incomplete", "unspecified", "consume"
CLASSES = (REASONED, INCOMPLETE, UNSPECIFIED, CONSUME)

# The layout of an analysis read from BTF (source/btf.py): the reason table of the enums
# that BTF holds (not a module's, in vmlinux's), no docs, no sources, no sites.
BTF_LAYOUT = "btf"

# The kernel's SKB_DROP_REASON_SUBSYS_SHIFT since 6.4; trees before have no subsystems.
DEFAULT_SHIFT = 16
NOT_DROPPED_YET = "SKB_NOT_DROPPED_YET"
# Enumerators that are never a drop's reason although the kernel's name table has them.
NOT_DROP_REASONS = frozenset({NOT_DROPPED_YET, "SKB_CONSUMED"})
BOUND_NAMES = frozenset({"SKB_DROP_REASON_MAX", "SKB_DROP_REASON_SUBSYS_MASK"})


# --- sites ------------------------------------------------------------------------------

def from_btf(a: Analysis) -> bool:
    """Was A read from BTF (the reason table only)?"""
    return a.kernel.layout == BTF_LAYOUT


def is_consume(s: Site) -> bool:
    return s.kind != "drop"


def specific_reasons(s: Site) -> set[str]:
    """The reasons of S other than NOT_SPECIFIED."""
    return {r for r in s.reasons if r != NOT_SPECIFIED}


def is_unspecified(s: Site) -> bool:
    """A drop that cannot be shown to carry a specific reason (see the module's doc)."""
    return s.kind == "drop" and not specific_reasons(s)


def shown_unspecified(s: Site) -> bool:
    """An unspecified drop whose set is complete: it is shown to report NOT_SPECIFIED."""
    return is_unspecified(s) and s.complete


def is_incomplete(s: Site) -> bool:
    """A drop with a specific reason whose set is not fully known."""
    return s.kind == "drop" and not s.complete and bool(specific_reasons(s))


def is_reasoned(s: Site) -> bool:
    """A drop with a specific reason and a complete set."""
    return s.kind == "drop" and s.complete and bool(specific_reasons(s))


def has_reason(s: Site) -> bool:
    """A drop that can give a specific reason (reasoned or incomplete)."""
    return s.kind == "drop" and bool(specific_reasons(s))


def site_class(s: Site) -> str:
    if is_consume(s):
        return CONSUME
    if is_unspecified(s):
        return UNSPECIFIED
    return REASONED if s.complete else INCOMPLETE


def class_counts(sites) -> dict[str, int]:
    """Sites per class, every class present."""
    out = dict.fromkeys(CLASSES, 0)
    for s in sites:
        out[site_class(s)] += 1
    return out


# --- the catalogue -----------------------------------------------------------------------

def is_bound_name(name: str) -> bool:
    """An enumerator name that bounds or masks an enum (``SKB_DROP_REASON_MAX``,
    ``SKB_DROP_REASON_SUBSYS_MASK``, ``OVS_DROP_MAX``, ``SKB_DROP_REASON_SUBSYS_NUM``,
    ``__OVS_DROP_REASON``): it names no reason, whatever its value."""
    return (name in BOUND_NAMES or name.startswith("__") or name.endswith("_MAX")
            or name.endswith("_NUM"))


def is_bound(r: Reason, shift: int | None = None) -> bool:
    """True for enumerators that bound an enum rather than name a drop reason. In a
    subsystem's enum also a base slot (index 0) named like a private base
    (``__OVS_DROP_REASON``, ``___RX_DROP_UNUSABLE``) and values of subsystem 0 (mac80211's
    ``RX_CONTINUE``/``RX_QUEUED`` alias core values). A public base slot is a reason:
    ``RX_DROP_MONITOR`` (0x20000) is ``[0]`` of the kernel's name table for MAC80211_MONITOR."""
    if is_bound_name(r.name):
        return True
    if r.subsystem == CORE:
        return False
    shift = shift or DEFAULT_SHIFT
    base = r.value & ((1 << shift) - 1) == 0
    return (base and r.name.startswith("_")) or r.value >> shift == 0


def is_sentinel(r: Reason, shift: int | None = None) -> bool:
    """An enumerator that is not a reason a drop reports: a bound, SKB_NOT_DROPPED_YET,
    SKB_CONSUMED."""
    return r.name in NOT_DROP_REASONS or r.short == CONSUMED or is_bound(r, shift)


def shift_of(a: Analysis) -> int:
    """The tree's SKB_DROP_REASON_SUBSYS_SHIFT (16 where it has none)."""
    return a.kernel.subsys_shift or DEFAULT_SHIFT


def subsystem_of(value: int, shift: int | None = None) -> int:
    """The subsystem id of a reason value."""
    return value >> (shift or DEFAULT_SHIFT)


def index_in_subsystem(value: int, shift: int | None = None) -> int:
    return value & ((1 << (shift or DEFAULT_SHIFT)) - 1)
