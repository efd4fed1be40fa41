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
  ("unknown", WHY)        cannot be known statically (struct field, arithmetic …)
"""
from __future__ import annotations

import re
from dataclasses import dataclass

Term = tuple
NS = ("const", "SKB_DROP_REASON_NOT_SPECIFIED")

# Calls whose arguments we keep (the family and its wrappers all match).
KEEP_CALL = re.compile(r"skb|drop|reason|consume|kfree|SKB_DR")
# Files worth parsing at all.
PREFILTER = (b"skb", b"drop_reason", b"SKB_")
# Files whose whole text the catalogue needs.
CATALOGUE_MARKERS = (b"enum skb_drop_reason", b"SKB_DROP_REASON_SUBSYS_SHIFT", b"DEFINE_DROP_REASON")

# Local variables of any type that hold drop reasons: assigned an SKB_* enumerator, or
# declared with "reason" in the name (e.g. `int drop_reason;` in __udp4_lib_rcv).
ASSIGNED_REASON = re.compile(r"\b([a-z_]\w*)\s*=\s*(?:\([^()]*\)\s*)?SKB_(?:DROP_REASON_|NOT_DROPPED|CONSUMED)")
DECLARED_NAMES = re.compile(r"\b(?:int|u32|u16|unsigned|enum\s+\w+)\s+(?:\w+\s*,\s*)*\**(\w*reason\w*)")
# enum skb_free_reason (SKB_REASON_CONSUMED/DROPPED) chose drop or consume before 6.3
REASON_TYPE = re.compile(r"\benum\s+skb_(?:drop|free)_reason\b")
ENUMERATOR_LIKE = re.compile(r"^[A-Z_][A-Z0-9_]*$")



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
class MacroFact:
    name: str
    params: tuple[str, ...] | None
    body: str
    line: int


@dataclass(frozen=True)
class OpsFact:
    field: str
    value: str
    line: int


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
    address_taken: tuple[str, ...] = ()   # identifiers used as values, not called (callbacks)
    reason_names: tuple[str, ...] = ()    # enumerator-like tokens that may name reasons


class SkipFile(Exception):
    """The file cannot be used (binary, not UTF-8): reported and skipped."""

