"""Reason terms -> catalogue reasons over the whole tree: the definitions index (with C's
static scoping) and the resolver that follows calls, parameters and out-parameters."""
from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping

from analyzer.c.facts import CallFact, FileFacts, FunctionFact
from analyzer.link import catalogue as cat_mod

# enum skb_free_reason (until 6.3): __dev_kfree_skb_any(skb, SKB_REASON_DROPPED) is a drop
# the tracepoint reports as NOT_SPECIFIED, SKB_REASON_CONSUMED a consume
FREE_REASONS = {"SKB_REASON_DROPPED": "NOT_SPECIFIED", "SKB_REASON_CONSUMED": "CONSUMED"}
MAX_DEPTH = 12
_CAST = re.compile(r"\(\s*(?:const\s+)?(?:struct|union)\s+(\w+)\s*\*\s*\)")
UNKNOWN_CONTAINER = "?"


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
        self._fields: dict | None = None
        self._assigned: dict | None = None
        self._members: set | None = None
        self._macros: dict | None = None
        self._accessors: dict[str, str] = {}

    # -- indexes built once, on first use (idiom 2 and 4 of issue 12) ----------------------
    @property
    def field_stores(self) -> dict[str, list]:
        """CONTAINER.MEMBER -> [(path, FieldStore)], accessors turned into struct tags."""
        if self._fields is None:
            self._fields = defaultdict(list)
            for path in sorted(self.facts):
                for st in self.facts[path].field_stores:
                    self._fields[self.field_name(st.field)].append((path, st))
        return self._fields

    def field_name(self, key: str) -> str:
        """`acc().m` -> `T.m` when acc returns `struct T *` (a function, or a macro whose
        body casts to `struct T *`); other keys as they are."""
        container, _, member = key.rpartition(".")
        if not container.endswith("()"):
            return key
        name = container[:-2]
        tag = self._accessors.get(name)
        if tag is None:
            tags = {fn.return_struct for _, fn in self.defs.get(name, ()) if fn.return_struct}
            if not tags:
                for mac in self.macro_defs(name, ""):
                    tags |= set(_CAST.findall(mac.body))
            tag = self._accessors[name] = next(iter(tags)) if len(tags) == 1 else container
        return tag + "." + member

    def macro_defs(self, name: str, from_path: str) -> list:
        """Definitions of macro NAME a use in FROM_PATH can see: its own file's, else the
        headers' (else any)."""
        if self._macros is None:
            self._macros = defaultdict(list)
            for path in sorted(self.facts):
                for mac in self.facts[path].macros:
                    self._macros[mac.name].append((path, mac))
        cands = self._macros.get(name, ())
        same = [m for p, m in cands if p == from_path]
        if same:
            return same[:1]
        hdr = [m for p, m in cands if p.endswith(".h")]
        return hdr or [m for _, m in cands]

    def assigned(self, member: str) -> list[tuple[str, str]]:
        """(path, function name) stored into member MEMBER: initialisers and run time."""
        if self._assigned is None:
            self._assigned = defaultdict(list)
            for path in sorted(self.facts):
                f = self.facts[path]
                for op in f.ops + f.fn_stores:
                    self._assigned[op.field].append((path, op.value))
        return self._assigned.get(member, [])

    @property
    def reason_members(self) -> set[str]:
        if self._members is None:
            self._members = {m for f in self.facts.values() for m in f.reason_members}
        return self._members

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

    def const(self, name: str) -> tuple[set[str], str | None]:
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
        if kind == "call":
            res = self._returns(t[1], path, depth)
        elif kind == "param":
            res = self._param(t[1], path, func, depth)
        elif kind == "out":
            res = self._out(t[1], t[2], path, depth)
        elif kind == "field":
            res = self._field(t[1], depth)
        elif kind == "icall":
            res = self._icall(t[1], depth)
        elif kind == "mcall":
            res = self._mcall(t[1], t[2:], path, depth)
        elif kind == "deref":
            res = self._deref(t[1], path, func, depth)
        elif kind == "pointee":
            res = (set(), ["the address of a variable"])
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
            if not fn.returns_reason:
                causes.append(f"return of {name}() is not an enum skb_drop_reason")
                continue
            s, c = self.terms(fn.return_terms, p, fn.name, depth + 1)
            out |= s
            causes += c
        return out, causes

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

    # -- reasons stored in objects (issue 12, idiom 2) -----------------------------------
    def _field(self, key: str, depth: int):
        """A read of a tracked member (analyzer/c/fields.py): the union of every store into
        the same CONTAINER.MEMBER anywhere in the tree (flow-insensitive); complete only
        when every store resolves, no store into that member of an unknown struct carries
        a reason, and the container itself is known."""
        key = self.ix.field_name(key)
        container, _, member = key.rpartition(".")
        out, causes = set(), []
        if container == UNKNOWN_CONTAINER:
            causes.append(f"field {member} of an unknown struct")
        stores = self.ix.field_stores.get(key, ()) if container != UNKNOWN_CONTAINER else ()
        if not stores and container != UNKNOWN_CONTAINER:
            causes.append(f"field {key}: no store found")
        for p, st in stores:
            s, c = self.terms(st.terms, p, st.function, depth + 1)
            out |= s
            causes += c
        # stores into the same member through an expression whose struct is not known
        for p, st in self.ix.field_stores.get(UNKNOWN_CONTAINER + "." + member, ()):
            s, c = self.terms(st.terms, p, st.function, depth + 1)
            if (s - {"NOT_DROPPED_YET"}) and not all(
                    t[0] == "const" and not t[1][:1].isalpha() for t in st.terms):
                out |= s
                causes.append(f"store into {member} of an unknown struct ({p}:{st.line})")
            elif container == UNKNOWN_CONTAINER:
                out |= s
                causes += c
        return out, causes

    def _mcall(self, name: str, args: tuple, path: str, depth: int):
        """A function-like macro on plain tokens, expanded by its definition (token
        pasting included): `FQDR(BAND_LIMIT)` -> SKB_DROP_REASON_FQ_BAND_LIMIT."""
        macros = self.ix.macro_defs(name, path)
        if not macros:
            return self._returns(name, path, depth)
        out, causes = set(), []
        for mac in macros:
            body = mac.body
            if mac.params is None or len(mac.params) != len(args):
                causes.append(f"macro {name}() with {len(args)} arguments")
                continue
            subst = dict(zip(mac.params, args))
            body = re.sub(r"[A-Za-z_]\w*", lambda m: subst.get(m.group(0), m.group(0)), body)
            body = re.sub(r"\s*##\s*", "", body).strip()
            while body.startswith("(") and body.endswith(")"):
                body = body[1:-1].strip()
            if re.fullmatch(r"[A-Z_][A-Z0-9_]*|\d+", body):
                s, c = self.const(body)
                out |= s
                causes += [c] if c else []
            else:
                causes.append(f"macro {name}() expands to {body[:40]}")
        return out, causes

    # -- calls through pointers (issue 12, idiom 4) ---------------------------------------
    def _icall(self, key: str, depth: int):
        """The return of a call through a member (KEY "CONTAINER.MEMBER"): the union over
        the functions assigned to a member of that name (`.M = f` initialisers, `x->M = f`
        at run time) that return enum skb_drop_reason. Complete only when the member is
        declared `enum skb_drop_reason (*M)(…)` in the call's struct (or, the struct
        unknown, in some struct): C's types then keep functions of other types, assigned
        to members of the same name in other structs, out of it. A struct whose member of
        that name is not so declared gets nothing from another struct's reason-typed one."""
        key = self.ix.field_name(key)
        cont, _, member = key.rpartition(".")
        typed_somewhere = member in {k.rpartition(".")[2] for k in self.ix.reason_members}
        typed = key in self.ix.reason_members if cont != UNKNOWN_CONTAINER else typed_somewhere
        out, causes = set(), []
        if not typed:
            causes.append(f"call through {key}: not declared as returning enum skb_drop_reason")
            if typed_somewhere:
                return out, causes      # the reason-typed functions are another struct's
        found = False
        for p, value in self.ix.assigned(member):
            for dp, fn in self.ix.resolve(value, p):
                if not fn.returns_reason:
                    continue
                found = True
                s, c = self.terms(fn.return_terms, dp, fn.name, depth + 1)
                out |= s
                causes += c
        if typed and not found:
            causes.append(f"call through {key}: no function assigned to it found")
        return out, causes

    def _deref(self, idx: int, path: str, func: str | None, depth: int):
        """`*p` of parameter IDX before the function writes it: what the callers' `&x`
        pointed to at the call."""
        if func is None:
            return set(), ["pointer parameter of an unknown function"]
        callers = [(p, c) for p, c in self.ix.calls_to.get(func, ())
                   if any(dp == path for dp, _ in self.ix.resolve(func, p))]
        if not callers:
            return set(), [f"*parameter {idx} of {func}() (no callers found)"]
        out, causes = set(), []
        for p, c in callers:
            if idx >= len(c.arg_terms):
                causes.append(f"*parameter {idx} of {func}(): variadic or macro call")
                continue
            for t in c.arg_terms[idx]:
                if t[0] == "pointee":
                    s, cc = self.term(t[1:], p, c.function, depth + 1)
                    out |= s
                    causes += cc
                else:
                    causes.append(f"*parameter {idx} of {func}(): pointer {c.args[idx][:30]}")
        return out, causes
