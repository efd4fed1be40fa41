"""Frozen dataclasses <-> plain data (lists, str, int, bool, None), driven by the type hints.

The facts cache stores entries in a data-only format: loading one can build nothing but
the dataclasses named by the declared type, and checks every value against its hint on
the way (a foreign or corrupt entry raises :class:`BadEntry`, it is never trusted).

Nothing here names a field: a dataclass is a list of its field values in
``dataclasses.fields`` order, each encoded by its type hint. Supported hints: ``str``,
``int``, ``bool``, ``None``, ``X | None`` (any union of these), ``tuple[X, ...]``,
``tuple[X, Y]``, ``dict[str, X]``, a bare ``tuple`` (a nested tuple of str/int/bool/None: the reason terms)
and nested dataclasses. A new field of these types needs no change here; a field of any
other type fails at import (the codec is built when first used, and a test builds it).

The decoder of a dataclass is generated once per process as straight-line Python from the
hints (it runs ~4000 times per warm scan, so this matters for speed); the generated code
depends only on the classes, never on the data.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from functools import lru_cache

__all__ = ["BadEntry", "encoder", "decoder", "json_encoder"]

_LEAVES = (str, int, bool, type(None))


class BadEntry(ValueError):
    """Data that is not a valid encoding of the expected type."""


# --- encoding ---------------------------------------------------------------------------
@lru_cache(maxsize=None)
def encoder(tp):
    """A function TP value -> plain data (lists for tuples and dataclasses)."""
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        parts = [(f.name, encoder(hints[f.name])) for f in dataclasses.fields(tp)]
        if all(e is _same for _, e in parts):
            names = [n for n, _ in parts]
            return lambda v: [getattr(v, n) for n in names]
        return lambda v: [e(getattr(v, n)) for n, e in parts]
    if tp in _LEAVES:
        return _same
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        encs = [encoder(a) for a in args if a is not type(None)]
        if all(e is _same for e in encs):
            return _same
        if len(encs) == 1:
            e = encs[0]
            return lambda v: None if v is None else e(v)
        raise TypeError(f"unsupported union {tp!r}: only one non-leaf alternative")
    if tp is tuple:
        return _enc_nested
    if origin is dict and args[0] is str:
        e = encoder(args[1])
        return dict if e is _same else (lambda v: {k: e(x) for k, x in v.items()})
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            e = encoder(args[0])
            return list if e is _same else (lambda v: [e(x) for x in v])
        encs = [encoder(a) for a in args]
        return lambda v: [e(x) for e, x in zip(encs, v)]
    raise TypeError(f"unsupported type {tp!r} in a cached dataclass")


def _same(v):
    return v


def _holds_dataclass(tp) -> bool:
    return dataclasses.is_dataclass(tp) or any(_holds_dataclass(a) for a in typing.get_args(tp)
                                               if a is not Ellipsis)


@lru_cache(maxsize=None)
def json_encoder(tp):
    """A function TP value -> data that msgspec writes as the JSON of encoder(TP)'s result,
    for a dataclass TP: dataclasses become lists, everything without a dataclass inside
    is left as it is (msgspec writes a tuple as the array of the list encoder() makes).
    Generated once as straight-line code (the facts of a file: 8 % of parsing it through
    encoder()'s nested lambdas)."""
    ns: dict = {}
    n = [0]

    def expr(t, src: str) -> str:
        if not _holds_dataclass(t):
            return src
        if dataclasses.is_dataclass(t):
            fn = f"e{n[0]}"
            n[0] += 1
            ns[fn] = json_encoder(t)
            return f"{fn}({src})"
        origin, args = typing.get_origin(t), typing.get_args(t)
        n[0] += 1
        x = f"x{n[0]}"
        if origin in (typing.Union, types.UnionType):
            others = [a for a in args if a is not type(None)]
            if len(others) != 1:
                raise TypeError(f"unsupported union {t!r}: only one non-leaf alternative")
            return f"(None if {src} is None else {expr(others[0], src)})"
        if origin is dict:
            return f"{{k: {expr(args[1], x)} for k, {x} in {src}.items()}}"
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return f"[{expr(args[0], x)} for {x} in {src}]"
        if origin is tuple:
            return f"[{', '.join(expr(a, f'{src}[{i}]') for i, a in enumerate(args))}]"
        raise TypeError(f"unsupported type {t!r} in a cached dataclass")

    if not dataclasses.is_dataclass(tp):
        raise TypeError(f"json_encoder is for dataclasses, not {tp!r}")
    hints = typing.get_type_hints(tp)
    parts = [expr(hints[f.name], f"d[{f.name!r}]") for f in dataclasses.fields(tp)]
    exec("def enc(v):\n    d = v.__dict__\n    return [" + ", ".join(parts) + "]\n", ns)
    return ns["enc"]


def _enc_nested(v):
    return [_enc_nested(x) if type(x) is tuple else x for x in v]


# --- decoding ---------------------------------------------------------------------------
def _dec_nested(v):
    """A bare `tuple` hint: a nested tuple of leaves (lists in the data)."""
    if type(v) is not list:
        raise BadEntry("expected a list")
    out = []
    for x in v:
        t = type(x)
        if t is list:
            x = _dec_nested(x)
        elif t not in _LEAVES:
            raise BadEntry(f"unexpected {t.__name__}")
        out.append(x)
    return tuple(out)


def _leaf_test(tp, var: str) -> str | None:
    """A Python expression that is true when VAR does NOT match the leaf type(s) TP."""
    alts = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else (tp,)
    if not all(a in _LEAVES for a in alts):
        return None
    return " and ".join(
        f"{var} is not None" if a is type(None) else f"type({var}) is not {a.__name__}"
        for a in alts)


class _Gen:
    """Emits straight-line code that decodes one value of a type into a variable."""

    def __init__(self):
        self.ns: dict = {"BadEntry": BadEntry, "new": object.__new__,
                         "setattr": object.__setattr__, "nested": _dec_nested,
                         "LEAVES": _LEAVES}
        self.n = 0

    def var(self) -> str:
        self.n += 1
        return f"t{self.n}"

    def emit(self, tp, src: str, dst: str, ind: str, label: str = "") -> list[str]:
        test = _leaf_test(tp, src)
        if test is not None:
            what = getattr(tp, "__name__", None) or str(tp)
            return [f"{ind}if {test}:",
                    f"{ind}    raise BadEntry({(label + ': ' if label else '') + 'expected ' + what + ', '!r}"
                    f" + type({src}).__name__)",
                    *([f"{ind}{dst} = {src}"] if dst != src else [])]
        if dataclasses.is_dataclass(tp):
            fn = f"dc_{tp.__name__}_{self.var()}"
            self.ns[fn] = decoder(tp)
            return [f"{ind}{dst} = {fn}({src})"]
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin in (typing.Union, types.UnionType):
            others = [a for a in args if a is not type(None)]
            if len(others) != 1 or len(args) != 2:
                raise TypeError(f"unsupported union {tp!r}: only X | None or leaves")
            return [f"{ind}if {src} is None:", f"{ind}    {dst} = None", f"{ind}else:",
                    *self.emit(others[0], src, dst, ind + "    ", label)]
        if tp is tuple:
            return [f"{ind}{dst} = nested({src})"]
        if origin is dict and args[0] is str:
            out, k, x, y = self.var(), self.var(), self.var(), self.var()
            return [f"{ind}if type({src}) is not dict:", f"{ind}    raise BadEntry('dict')",
                    f"{ind}{out} = {{}}", f"{ind}for {k}, {x} in {src}.items():",
                    f"{ind}    if type({k}) is not str:", f"{ind}        raise BadEntry('key')",
                    *self.emit(args[1], x, y, ind + "    ", label),
                    f"{ind}    {out}[{k}] = {y}", f"{ind}{dst} = {out}"]
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                out, x, y = self.var(), self.var(), self.var()
                lines = [f"{ind}if type({src}) is not list:", f"{ind}    raise BadEntry('list')"]
                if _leaf_test(args[0], x) is not None:
                    # a tuple of leaves: check each, convert once
                    return lines + [f"{ind}for {x} in {src}:",
                                    *self.emit(args[0], x, x, ind + "    ", label),
                                    f"{ind}{dst} = tuple({src})"]
                return lines + [f"{ind}{out} = []", f"{ind}for {x} in {src}:",
                                *self.emit(args[0], x, y, ind + "    ", label),
                                f"{ind}    {out}.append({y})", f"{ind}{dst} = tuple({out})"]
            names = [self.var() for _ in args]
            lines = [f"{ind}if type({src}) is not list or len({src}) != {len(args)}:",
                     f"{ind}    raise BadEntry('tuple of {len(args)}')",
                     f"{ind}{', '.join(names)}, = {src}"]
            for a, nm in zip(args, names):
                lines += self.emit(a, nm, nm, ind, label)
            return lines + [f"{ind}{dst} = ({', '.join(names)},)"]
        raise TypeError(f"unsupported type {tp!r} in a cached dataclass")

    def function(self, lines: list[str]):
        exec("def dec(v):\n" + "\n".join(lines) + "\n", self.ns)
        return self.ns["dec"]


@lru_cache(maxsize=None)
def decoder(tp):
    """A function plain data -> TP value that raises BadEntry on any mismatch."""
    g = _Gen()
    if not dataclasses.is_dataclass(tp):
        return g.function([*g.emit(tp, "v", "r", "    "), "    return r"])
    hints = typing.get_type_hints(tp)
    fs = dataclasses.fields(tp)
    g.ns["cls"] = tp
    names = [g.var() for _ in fs]
    lines = [f"    if type(v) is not list or len(v) != {len(fs)}:",
             f"        raise BadEntry('expected {tp.__name__}')"]
    if fs:
        lines.append(f"    {', '.join(names)}, = v")
    for f, nm in zip(fs, names):
        lines += g.emit(hints[f.name], nm, nm, "    ", f"{tp.__name__}.{f.name}")
    if any(not f.init for f in fs) or "__slots__" in vars(tp) or hasattr(tp, "__post_init__"):
        lines.append(f"    return cls({', '.join(names)})")
    else:
        # build the object without the frozen __init__ (object.__setattr__ per field is
        # the slow part of loading); the same fields, the same values
        lines += ["    o = new(cls)",
                  "    setattr(o, '__dict__', {" + ", ".join(f"{f.name!r}: {nm}" for f, nm in zip(fs, names)) + "})",
                  "    return o"]
    return g.function(lines)
