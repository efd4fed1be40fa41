"""Per-file facts: the only stage that sees C text.

For one file: functions (name, span, storage, parameters, what they return or write
through drop-reason out-parameters), calls (callee, arguments, the reason terms that can
reach each argument along the function's control flow), ops-struct assignments, macro
definitions that matter, and the raw text of catalogue headers. Everything is a frozen
dataclass, cached by content hash (see analyzer/source/cache.py). Extraction is in
extract.py (files), flow.py (the per-function walk), syntax.py (tree-sitter nodes) and
text.py (what is read from the text: function regions, macros, call arguments).

Reason *terms* are symbolic; link.py resolves them over the whole tree:
  ("const", NAME)         an enumerator name as written (SKB_DR_SET pastes the prefix)
  ("call", FUNC)          the return value of FUNC
  ("param", I)            parameter I of the enclosing function
  ("out", FUNC, I)        whatever FUNC writes through its out-parameter I
  ("unknown", WHY)        cannot be known statically (arithmetic, an untracked field …)
  ("field", NAME)         a read of a struct member that holds reasons: NAME is
                          "CONTAINER.MEMBER" (fields.py); the union of every store into it
  ("icall", NAME)         the return of a call through a function-pointer member
                          (`ops->handler(skb)`), NAME "CONTAINER.MEMBER" as for fields: the
                          union over the functions assigned to that member
  ("mcall", MACRO, ARG…)  a function-like macro on plain tokens (`FQDR(BAND_LIMIT)`),
                          expanded at link time (`SKB_DROP_REASON_FQ_##reason`)
  ("deref", I)            `*p` for parameter I: what the callers' `&x` pointed to at the call
  ("pointee", *TERM)      `&x` as an argument: TERM is one of x's terms at the call
  ("neg", T)              the value -T (`return -SKB_DROP_REASON_X;`, `reason = -reason`)
  ("sign", S, T)          the values of T whose sign is in S, a string over "-", "0", "+"
                          (the branch of `(int)reason < 0`, `queued >= 0`)
  ("subsys", NAME, EQ, T) the values of T inside (EQ) or outside (not EQ) the subsystem
                          whose enumerator is NAME (`u32_get_bits(r, SKB_DROP_REASON_SUBSYS_MASK)
                          == SKB_DROP_REASON_SUBSYS_MAC80211_UNUSABLE`)
  ("except", NAME, T)     the values of T other than enumerator NAME (`if (res == RX_QUEUED)
                          return;` leaves every value of res but RX_QUEUED)
"""
from __future__ import annotations

import re
from dataclasses import dataclass

Term = tuple
NS = ("const", "SKB_DROP_REASON_NOT_SPECIFIED")

# Calls whose arguments we keep (the family and its wrappers all match).
KEEP_CALL = re.compile(r"skb|drop|reason|consume|kfree|SKB_DR")
# Files worth parsing at all: "sk_buff" too, for a file that frees its skbs through a
# wrapper named otherwise (`struct sk_buff *msg = genlmsg_new(…)`, then `nlmsg_free(msg)`)
# and never writes "skb" (net/handshake/tlshd.c, net/ieee802154/netlink.c).
PREFILTER = (b"skb", b"sk_buff", b"drop_reason", b"SKB_")
# Files whose whole text the catalogue needs.
CATALOGUE_MARKERS = (b"enum skb_drop_reason", b"SKB_DROP_REASON_SUBSYS_SHIFT", b"DEFINE_DROP_REASON")

# Local variables of any type that hold drop reasons: assigned an SKB_* enumerator, or
# declared with "reason" in the name (e.g. `int drop_reason;` in __udp4_lib_rcv).
ASSIGNED_REASON = re.compile(r"\b([a-z_]\w*)\s*=\s*(?:\([^()]*\)\s*)?SKB_(?:DROP_REASON_|NOT_DROPPED|CONSUMED)")
DECLARED_NAMES = re.compile(r"\b(?:int|u32|u16|unsigned|enum\s+\w+)\s+(?:\w+\s*,\s*)*\**(\w*reason\w*)")
# enum skb_free_reason (SKB_REASON_CONSUMED/DROPPED) chose drop or consume before 6.3
REASON_TYPE = re.compile(r"\benum\s+skb_(?:drop|free)_reason\b")
ENUMERATOR_LIKE = re.compile(r"^[A-Z_][A-Z0-9_]*$")
# Locals assigned an enumerator-like constant (`ieee80211_rx_result res = RX_DROP_MONITOR;`,
# `result = RX_DROP_U_DECRYPT_FAIL;`): a subsystem's own result type is told by its values,
# which only the link stage knows, so the walk tracks such variables of any type.
ASSIGNED_CONST = re.compile(r"\b([a-z_]\w*)\s*=\s*(?:\([^()]*\)\s*)?-?\s*(?!NULL\b)"
                            r"([A-Z][A-Z0-9]*_[A-Z0-9_]*)\s*[;,)]")
# `return CONST;` (not an errno): a function whose value may be a reason of some enum
RETURNS_CONST = re.compile(rb"return\s+\(?\s*-?\s*(?!E[A-Z0-9]+\s*\)?\s*;)"
                           rb"[A-Z][A-Z0-9]*_[A-Z0-9_]*\s*\)?\s*;")
# an errno (EINVAL, ENOMEM …): flagged, never followed, where a reason is expected
ERRNO_LIKE = re.compile(r"^E[A-Z0-9]+$")



@dataclass(frozen=True)
class Param:
    name: str
    type: str
    pointer: bool


@dataclass(frozen=True)
class FunctionFact:
    name: str
    line: int
    end_line: int
    static: bool
    inline: bool
    params: tuple[Param, ...]
    returns_reason: bool
    return_terms: tuple[Term, ...]
    out_writes: tuple[tuple[int, tuple[Term, ...]], ...]
    stored_params: tuple[int, ...]      # reason parameters stored to memory (deferred frees)
    statements: int
    returns_void: bool
    toplevel_calls: tuple[str, ...]     # callees called as whole statements of the body
    trace_calls: tuple[tuple[str, tuple[str, ...]], ...]  # ("kfree_skb"|"consume_skb", args)
    return_struct: str = ""             # T of a function returning `struct T *` (an accessor)
    # the terms of every return of a function the walk followed, whatever its type (an
    # `int` or a subsystem's result type can carry reasons: tcp_ack, mac80211's handlers)
    value_returns: tuple[Term, ...] = ()
    size: int = 0                       # statements at every depth (blocks not counted; counted
                                        # only for bodies of <= 4 top-level statements, up to 17)
    branchy: bool = False               # a loop or a switch anywhere in the body (same limits)


@dataclass(frozen=True)
class CallFact:
    callee: str
    line: int
    column: int
    function: str | None
    args: tuple[str, ...]
    arg_terms: tuple[tuple[Term, ...], ...]
    source: str
    flow: bool                          # arg_terms come from the control-flow walk


@dataclass(frozen=True)
class MacroCall:
    """A call written in a macro body: the callee and its top-level argument texts."""
    callee: str
    args: tuple[str, ...]


@dataclass(frozen=True)
class MacroFact:
    name: str
    params: tuple[str, ...] | None
    body: str
    line: int
    calls: tuple[MacroCall, ...] = ()         # every `name(...)` of the body, in order
    sole_call: MacroCall | None = None        # the body is this one call, and nothing else


@dataclass(frozen=True)
class OpsFact:
    field: str
    value: str
    line: int


@dataclass(frozen=True)
class FieldStore:
    """A store into a reason-holding struct member (`tc_skb_cb(skb)->drop_reason = r`,
    `SKB_DR_SET(cb->reason, X)`), with the terms of the stored value at that point."""
    field: str                          # "CONTAINER.MEMBER" (fields.py)
    terms: tuple[Term, ...]
    line: int
    function: str | None


@dataclass(frozen=True)
class FileFacts:
    path: str
    functions: tuple[FunctionFact, ...] = ()
    calls: tuple[CallFact, ...] = ()
    edges: tuple[tuple[str, str, int], ...] = ()   # (caller, callee, line): every call, in order
    macros: tuple[MacroFact, ...] = ()
    ops: tuple[OpsFact, ...] = ()
    catalogue_text: str | None = None
    parsed: bool = False
    has_errors: bool = False
    field_stores: tuple[FieldStore, ...] = ()
    reason_members: tuple[str, ...] = ()            # "T.M" of `enum skb_drop_reason (*M)(…);`
    fn_stores: tuple[OpsFact, ...] = ()             # `x->M = f;` at run time (not initialisers)
    address_taken: tuple[str, ...] = ()   # identifiers used as values, not called (callbacks)
    reason_names: tuple[str, ...] = ()    # enumerator-like tokens that may name reasons


class SkipFile(Exception):
    """The file cannot be used (binary): reported and skipped."""

