"""Reason terms -> catalogue reasons over the whole tree: the definitions index (with C's
static scoping) and the resolver that follows calls, parameters and out-parameters."""
from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping

from analyzer.c.facts import ERRNO_LIKE, CallFact, FileFacts, FunctionFact
from analyzer.link import catalogue as cat_mod

# enum skb_free_reason (until 6.3): __dev_kfree_skb_any(skb, SKB_REASON_DROPPED) is a drop
# the tracepoint reports as NOT_SPECIFIED, SKB_REASON_CONSUMED a consume
FREE_REASONS = {"SKB_REASON_DROPPED": "NOT_SPECIFIED", "SKB_REASON_CONSUMED": "CONSUMED"}
MAX_DEPTH = 12


class Index:
    """Function definitions and call sites by name, with C's static scoping."""

    def __init__(self, facts: Mapping[str, FileFacts]):
        self.facts = facts
        self.defs: dict[str, list[tuple[str, FunctionFact]]] = defaultdict(list)
        self.calls_to: dict[str, list[tuple[str, CallFact]]] = defaultdict(list)
        for path in sorted(facts):
            f = facts[path]
            for fn in f.functions:
                self.defs[fn.name].append((path, fn))
            for c in f.calls:
                self.calls_to[c.callee].append((path, c))

    def resolve(self, name: str, from_path: str) -> list[tuple[str, FunctionFact]]:
        """Definitions a call to NAME in FROM_PATH can reach."""
        cands = self.defs.get(name, ())
        if not cands:
            return []
        same = [(p, f) for p, f in cands if p == from_path]
        if same:
            return same[:1]
        glob = [(p, f) for p, f in cands if not f.static]
        if glob:
            return glob
        hdr = [(p, f) for p, f in cands if p.endswith(".h")]
        return hdr if hdr else []

    def function(self, path: str, name: str | None) -> FunctionFact | None:
        if name is None or path not in self.facts:
            return None
        for fn in self.facts[path].functions:
            if fn.name == name:
                return fn
        return None


class Resolver:
    """Turns symbolic reason terms into catalogue reasons, over the whole tree."""

    def __init__(self, index: Index, catalogue: cat_mod.Catalogue):
        self.ix, self.cat = index, catalogue
        self.by_value = {}
        for r in catalogue.reasons:
            self.by_value.setdefault(r.value, r)
        self.by_name = {r.name: r for r in catalogue.reasons}
        self.order = {r.short: r.value for r in catalogue.reasons}
        self.memo: dict = {}
        self._sources: dict[tuple[str, str], bool] = {}

    def const(self, name: str) -> tuple[set[str], str | None]:
        if name.startswith("-"):
            # a negative number: the negation of the reason of that value, if any
            s, c = self.const(name[1:])
            return ({self.negate(x) for x in s}, None) if not c else ({name}, None)
        r = self.by_name.get(name)
        if r is None:
            v = self.cat.values.get(name)
            if v is None and re.fullmatch(r"\d+|0[xX][0-9a-fA-F]+", name):
                v = int(name, 0)
            r = self.by_value.get(v) if v is not None else None
        if r is None:
            if name in FREE_REASONS:
                return {FREE_REASONS[name]}, None
            return set(), f"unknown constant {name}"
        return {r.short}, None

    def terms(self, terms, path: str, func: str | None, depth: int = 0) -> tuple[set[str], list[str]]:
        out: set[str] = set()
        causes: list[str] = []
        for t in terms:
            s, c = self.term(t, path, func, depth)
            out |= s
            causes += c
        return out, causes

    def term(self, t: tuple, path: str, func: str | None, depth: int) -> tuple[set[str], list[str]]:
        kind = t[0]
        if kind == "const":
            s, c = self.const(t[1])
            return s, [c] if c else []
        if kind == "unknown":
            return set(), [t[1]]
        if depth > MAX_DEPTH:
            return set(), ["too deep"]
        key = (t, path, func)
        if key in self.memo:
            v = self.memo[key]
            return (set(), []) if v is None else v
        self.memo[key] = None             # in progress: a cycle adds nothing
        if kind == "neg":
            res = self._neg(t[1], path, func, depth)
        elif kind == "sign":
            res = self._sign(t[1], t[2], path, func, depth)
        elif kind == "except":
            s, c = self.term(t[2], path, func, depth + 1)
            gone, bad = self.const(t[1])
            res = (s - gone if not bad else s), c
        elif kind == "subsys":
            res = self._subsys(t[1], t[2], t[3], path, func, depth)
        elif kind == "call":
            res = self._returns(t[1], path, depth)
        elif kind == "param":
            res = self._param(t[1], path, func, depth)
        elif kind == "out":
            res = self._out(t[1], t[2], path, depth)
        else:
            res = (set(), [f"unsupported term {kind}"])
        self.memo[key] = res
        return res

    def _returns(self, name: str, path: str, depth: int):
        defs = self.ix.resolve(name, path)
        if not defs:
            return set(), [f"return of {name}() (definition not found)"]
        out, causes = set(), []
        for p, fn in defs:
            if fn.returns_reason:
                s, c = self.terms(fn.return_terms, p, fn.name, depth + 1)
                bad = {x for x in s if x.startswith("-") and not self._is_negated_reason(x)}
                if bad:
                    # an errno (or any negative number) where a reason is expected: flagged,
                    # not followed
                    s -= bad
                    c = c + [f"{name}() returns {', '.join(sorted(bad))} where a drop reason "
                             f"is expected"]
            elif self.reason_source(p, fn):
                s, c = self.terms(fn.value_returns, p, fn.name, depth + 1)
            else:
                causes.append(f"return of {name}() is not an enum skb_drop_reason")
                continue
            out |= s
            causes += c
        return out, causes

    # -- negated reasons, sign and subsystem tests ---------------------------------------
    def value(self, name: str) -> int | None:
        """The value of a resolved name: a reason's short name, -SHORT, or -NUMBER."""
        if name.startswith("-"):
            v = self.value(name[1:])
            if v is None and re.fullmatch(r"\d+|0[xX][0-9a-fA-F]+", name[1:]):
                v = int(name[1:], 0)
            return -v if v is not None else -1     # -EINVAL: some negative number
        return self.order.get(name)

    def negate(self, name: str) -> str:
        if name.startswith("-"):
            return name[1:]
        return name if self.order.get(name) == 0 else "-" + name

    def _is_negated_reason(self, name: str) -> bool:
        return name.startswith("-") and name[1:] in self.order

    def _neg(self, t: tuple, path: str, func: str | None, depth: int):
        if t[0] == "const" and ERRNO_LIKE.match(t[1]) and t[1] not in self.by_name \
                and t[1] not in self.cat.values:
            return {"-" + t[1]}, []
        s, c = self.term(t, path, func, depth + 1)
        return {self.negate(x) for x in s}, c

    def _sign(self, keep: str, t: tuple, path: str, func: str | None, depth: int):
        s, c = self.term(t, path, func, depth + 1)
        out = set()
        for x in s:
            v = self.value(x)
            if v is None or ("-" if v < 0 else "0" if v == 0 else "+") in keep:
                out.add(x)
        return out, c

    def _subsys(self, name: str, inside: bool, t: tuple, path: str, func: str | None, depth: int):
        s, c = self.term(t, path, func, depth + 1)
        sid = self.cat.values.get(name)
        if sid is None:
            return s, c + [f"unknown subsystem {name}"]
        out = set()
        for x in s:
            v = self.value(x)
            if v is None or v < 0 or ((v >> self.cat.shift) == sid) == inside:
                out.add(x)
        return out, c

    def reason_source(self, path: str, fn: FunctionFact, _seen: frozenset = frozenset()) -> bool:
        """A function not typed enum skb_drop_reason whose returns are (negated) catalogue
        or subsystem enumerators, or calls of such functions: its value is a reason to a
        caller that keeps it in a reason variable (tcp_ack, mac80211's rx handlers)."""
        key = (path, fn.name)
        got = self._sources.get(key)
        if got is not None:
            return got
        if key in _seen:
            return False
        found = False
        for t in fn.value_returns:
            while t[0] in ("neg", "sign", "subsys", "except"):
                t = t[-1]
            if t[0] == "const" and (t[1] in self.by_name or t[1] in self.cat.values):
                found = True
                break
            if t[0] == "call":
                for p, g in self.ix.resolve(t[1], path):
                    if g.returns_reason or self.reason_source(p, g, _seen | {key}):
                        found = True
                        break
                if found:
                    break
        if not _seen:
            self._sources[key] = found
        return found

    def _param(self, idx: int, path: str, func: str | None, depth: int):
        if func is None:
            return set(), ["parameter of an unknown function"]
        fn = self.ix.function(path, func)
        callers = [(p, c) for p, c in self.ix.calls_to.get(func, ())
                   if any(dp == path for dp, _ in self.ix.resolve(func, p))]
        pname = fn.params[idx].name if fn is not None and idx < len(fn.params) else str(idx)
        if not callers:
            return set(), [f"parameter {pname} of {func}() (no callers found)"]
        out, causes = set(), []
        for p, c in callers:
            if idx >= len(c.arg_terms):
                causes.append(f"parameter {pname} of {func}(): variadic or macro call")
                continue
            s, cc = self.terms(c.arg_terms[idx], p, c.function, depth + 1)
            out |= s
            causes += cc
        return out, causes

    def _out(self, name: str, idx: int, path: str, depth: int):
        defs = self.ix.resolve(name, path)
        if not defs:
            return set(), [f"out-parameter of {name}() (definition not found)"]
        out, causes = set(), []
        for p, fn in defs:
            for i, terms in fn.out_writes:
                if i == idx:
                    s, c = self.terms(terms, p, fn.name, depth + 1)
                    out |= s
                    causes += c
        return out, causes
