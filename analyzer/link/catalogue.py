"""The reason catalogue, in every layout the kernel has used (5.17 … mainline).

Input: the raw text of the catalogue headers (FileFacts.catalogue_text). The enum bodies
are macro-expanded with the headers' own #defines (X-macros, token pasting, #define/#undef
inside the enum body) and every enumerator is evaluated as the compiler would: implicit
values count on from the previous one, explicit ones are constant expressions over earlier
enumerators and object-like macros.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from analyzer.model import Reason, Subsystem

CORE_ENUM = "skb_drop_reason"
SUBSYS_ENUM = "skb_drop_reason_subsys"
SUBSYS_PREFIX = "SKB_DROP_REASON_SUBSYS_"
SHIFT_MACRO = "SKB_DROP_REASON_SUBSYS_SHIFT"

# Where the core enum lived, best first (a tree may also carry copies under tools/).
CORE_FILES = ("include/net/dropreason-core.h", "include/net/dropreason.h", "include/linux/skbuff.h")


@dataclass(frozen=True)
class Catalogue:
    layout: str
    reasons: tuple[Reason, ...]
    subsystems: tuple[Subsystem, ...]
    values: dict            # every enumerator seen (name -> value), incl. bases and helpers
    shift: int

    def short_names(self) -> dict[str, Reason]:
        return {r.short: r for r in self.reasons}


EMPTY = Catalogue(layout="none", reasons=(), subsystems=(), values={}, shift=16)


# --------------------------------------------------------------------------------------
_DEFINE = re.compile(r"^\s*#\s*define\s+(\w+)(\(([^)]*)\))?\s?(.*)$", re.S)
_UNDEF = re.compile(r"^\s*#\s*undef\s+(\w+)")
_ENUM_START = re.compile(r"\benum\s+(\w+)\s*\{")
_TOKEN = re.compile(r"""[A-Za-z_]\w*|0[xX][0-9a-fA-F]+[uUlL]*|\d+[uUlL]*|\#\#|\#|<<|>>|
                        \|\||&&|[-+*/%&|^~!<>=?:(),;{}\[\].]|"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|\S""", re.X)


@dataclass
class _Macro:
    params: list[str] | None
    body: list[str]


def _strip_comments(text: str) -> str:
    # keep line structure: replace comment characters except newlines by spaces
    return re.sub(r"/\*.*?\*/|//[^\n]*", lambda m: re.sub(r"[^\n]", " ", m.group(0)), text, flags=re.S)


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first physical line, text) with backslash continuations joined."""
    out, buf, start = [], [], 0
    for i, ln in enumerate(text.split("\n"), 1):
        if not buf:
            start = i
        if ln.endswith("\\"):
            buf.append(ln[:-1])
            continue
        buf.append(ln)
        out.append((start, " ".join(buf)))
        buf = []
    if buf:
        out.append((start, " ".join(buf)))
    return out


class _Expander:
    """A small C preprocessor: object- and function-like macros, # and ##, rescanning."""

    def __init__(self, macros: dict[str, _Macro]):
        self.macros = macros

    def define(self, line: str) -> None:
        m = _DEFINE.match(line)
        if not m:
            return
        params = None
        if m.group(2) is not None:
            params = [p.strip() for p in m.group(3).split(",") if p.strip()]
        self.macros[m.group(1)] = _Macro(params, _TOKEN.findall(m.group(4)))

    def expand(self, tokens: list[str], hide: frozenset = frozenset(), depth: int = 0) -> list[str]:
        out: list[str] = []
        i = 0
        while i < len(tokens):
            t = tokens[i]
            mac = self.macros.get(t)
            if mac is None or t in hide or depth > 40:
                out.append(t)
                i += 1
                continue
            if mac.params is None:
                out.extend(self.expand(mac.body, hide | {t}, depth + 1))
                i += 1
                continue
            if i + 1 >= len(tokens) or tokens[i + 1] != "(":
                out.append(t)
                i += 1
                continue
            args, j = _collect_args(tokens, i + 1)
            out.extend(self.expand(self._substitute(mac, args), hide | {t}, depth + 1))
            i = j
        return out

    def _substitute(self, mac: _Macro, args: list[list[str]]) -> list[str]:
        params = mac.params or []
        amap = {}
        for k, p in enumerate(params):
            if p == "...":
                amap["__VA_ARGS__"] = _join_args(args[k:])
            else:
                amap[p] = args[k] if k < len(args) else []
        body = mac.body
        res: list[str] = []
        k = 0
        while k < len(body):
            t = body[k]
            if t == "#" and k + 1 < len(body) and body[k + 1] in amap:
                res.append('"' + " ".join(amap[body[k + 1]]) + '"')
                k += 2
                continue
            if t == "##" and res and k + 1 < len(body):
                nxt = body[k + 1]
                rhs = amap.get(nxt, [nxt])
                left = res.pop()
                pasted = left + (rhs[0] if rhs else "")
                res.append(pasted)
                res.extend(rhs[1:])
                k += 2
                continue
            if t in amap:
                nxt_is_paste = k + 1 < len(body) and body[k + 1] == "##"
                res.extend(amap[t] if nxt_is_paste else self.expand(amap[t]))
            else:
                res.append(t)
            k += 1
        return res


def _collect_args(tokens: list[str], open_idx: int) -> tuple[list[list[str]], int]:
    depth, args, cur = 0, [], []
    j = open_idx
    while j < len(tokens):
        t = tokens[j]
        if t == "(":
            depth += 1
            if depth == 1:
                j += 1
                continue
        elif t == ")":
            depth -= 1
            if depth == 0:
                args.append(cur)
                return args, j + 1
        elif t == "," and depth == 1:
            args.append(cur)
            cur = []
            j += 1
            continue
        cur.append(t)
        j += 1
    args.append(cur)
    return args, j


def _join_args(args: list[list[str]]) -> list[str]:
    out: list[str] = []
    for k, a in enumerate(args):
        if k:
            out.append(",")
        out.extend(a)
    return out


# --------------------------------------------------------------------------------------
@dataclass
class _RawEnum:
    name: str
    file: str
    line: int
    enumerators: list[tuple[str, list[str] | None, int]]   # (name, value tokens, line)
    docs: dict[str, str]


def _scan_file(path: str, text: str, macros: dict[str, _Macro]) -> list[_RawEnum]:
    """Process a header top to bottom: #defines update MACROS; enum bodies are expanded
    line by line with the macros in force at that line (X-macros defined in the body)."""
    docs = _kernel_doc(text)
    exp = _Expander(macros)
    enums: list[_RawEnum] = []
    cur: _RawEnum | None = None
    flat: list[tuple[str, int]] = []
    pending: list[str] = []
    pending_line = 0
    depth = 0
    for line_no, ln in _logical_lines(_strip_comments(text)):
        s = ln.strip()
        if s.startswith("#"):
            if _DEFINE.match(s):
                exp.define(s)
            elif (m := _UNDEF.match(s)) is not None:
                macros.pop(m.group(1), None)
            continue
        if cur is None:
            m = _ENUM_START.search(ln)
            if not m:
                continue
            cur = _RawEnum(m.group(1), path, line_no, [], docs)
            flat, pending, depth = [], [], 1
            ln = ln[m.end():]
        for t in _TOKEN.findall(ln):
            if t == "{":
                depth += 1
            elif t == "}":
                depth -= 1
                if depth == 0:
                    flat.extend((x, pending_line) for x in exp.expand(pending))
                    _split_enumerators(cur, flat)
                    enums.append(cur)
                    cur, pending = None, []
                    break
            if not pending:
                pending_line = line_no
            pending.append(t)
        if cur is not None and pending and pending.count("(") == pending.count(")"):
            flat.extend((x, pending_line) for x in exp.expand(pending))
            pending = []
    return enums


def _split_enumerators(enum: _RawEnum, flat: list[tuple[str, int]]) -> None:
    items: list[list[tuple[str, int]]] = [[]]
    depth = 0
    for t, ln in flat:
        if t == "(":
            depth += 1
        elif t == ")":
            depth -= 1
        if t == "," and depth == 0:
            items.append([])
        else:
            items[-1].append((t, ln))
    for it in items:
        if not it:
            continue
        name, line = it[0]
        if not re.fullmatch(r"[A-Za-z_]\w*", name):
            continue
        value = [t for t, _ in it[2:]] if len(it) > 1 and it[1][0] == "=" else None
        enum.enumerators.append((name, value, line))


_DOC_BLOCK = re.compile(r"/\*\*(.*?)\*/", re.S)
_DOC_ITEM = re.compile(r"@(\w+)\s*:\s*(.*?)(?=\n\s*\*?\s*@\w+\s*:|\Z)", re.S)


def _kernel_doc(text: str) -> dict[str, str]:
    docs = {}
    for m in _DOC_BLOCK.finditer(text):
        block = "\n".join(re.sub(r"^\s*\*\s?", "", ln) for ln in m.group(1).split("\n"))
        for d in _DOC_ITEM.finditer(block):
            docs[d.group(1)] = re.sub(r"\s+", " ", d.group(2)).strip()
    return docs


# --------------------------------------------------------------------------------------
_CAST = re.compile(r"\(\s*(?:__force\s+)?(?:const\s+)?(?:unsigned\s+|signed\s+)?"
                   r"(?:int|long|short|char|u8|u16|u32|u64|s32|s64|__u32|__u64|\w+_t|"
                   r"ieee80211_rx_result|enum\s+\w+)(?:\s+(?:int|long))*\s*\)")


class _Eval:
    def __init__(self, values: dict[str, int], macros: dict[str, _Macro]):
        self.values, self.macros = values, macros

    def __call__(self, toks: list[str]) -> int:
        toks = _Expander(self.macros).expand(toks)
        src = " ".join(toks)
        src = _CAST.sub(" ", src)
        src = src.replace("__force", " ")
        src = re.sub(r"\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]+\b", r"\1", src)
        src = src.replace("&&", " and ").replace("||", " or ").replace("/", "//")
        src = re.sub(r"!(?!=)", " not ", src)
        names = set(re.findall(r"\b[A-Za-z_]\w*", src)) - {"and", "or", "not"}
        env = {}
        for n in names:
            if n not in self.values:
                raise KeyError(n)
            env[n] = self.values[n]
        return int(eval(src, {"__builtins__": {}}, env))  # noqa: S307 - tokens from a header, names checked


def build(texts: dict[str, str]) -> Catalogue:
    """The catalogue from {path: text} of the files that mention it."""
    order = files_read(texts)
    if not order:
        return EMPTY
    core_file = order[0]
    macros: dict[str, _Macro] = {}
    values: dict[str, int] = {}
    raw_enums: list[_RawEnum] = []
    # object-like #defines of the core and subsys headers first (SHIFT, MASK)
    for p in order:
        raw_enums += _scan_file(p, texts[p], macros)
    ev = _Eval(values, macros)
    info: dict[str, tuple[_RawEnum, int]] = {}
    for e in raw_enums:
        nxt = 0
        for name, vtoks, line in e.enumerators:
            if vtoks:
                try:
                    nxt = ev(vtoks)
                except (KeyError, SyntaxError, TypeError, ValueError, ZeroDivisionError):
                    continue
            values[name] = nxt
            info[name] = (e, line)
            nxt += 1
    shift = _object_value(macros, SHIFT_MACRO, values)
    core = next((e for e in raw_enums if e.name == CORE_ENUM), None)
    if core is None:
        return EMPTY
    layout = _layout(core_file, texts[core_file])
    subsystems = []
    subsys_enum = next((e for e in raw_enums if e.name == SUBSYS_ENUM), None)
    ids = {}
    if subsys_enum is not None:
        for name, _, line in subsys_enum.enumerators:
            if name.startswith(SUBSYS_PREFIX) and name != SUBSYS_PREFIX + "NUM" and name in values:
                short = name[len(SUBSYS_PREFIX):].lower()
                ids[values[name]] = short
                subsystems.append(Subsystem(name=short, enumerator=name, id=values[name],
                                            file=subsys_enum.file, line=line))
    reasons = []
    for name, _, line in core.enumerators:
        if name not in values or name == "SKB_DROP_REASON_SUBSYS_MASK":   # a mask, not a reason
            continue
        reasons.append(Reason(name=name, short=core_short(name), value=values[name],
                              subsystem="core", doc=core.docs.get(name, ""), file=core.file, line=line))
    if shift is not None and ids:
        seen = {r.value for r in reasons}
        for e in raw_enums:
            if e.name in (CORE_ENUM, SUBSYS_ENUM):
                continue
            for name, _, line in e.enumerators:
                v = values.get(name)
                if v is None or name.startswith("_") or name.endswith("_MAX"):
                    continue
                sid, idx = v >> shift, v & ((1 << shift) - 1)
                if sid == 0 or sid not in ids or idx == 0 or v in seen:
                    continue
                seen.add(v)
                reasons.append(Reason(name=name, short=name, value=v, subsystem=ids[sid],
                                      doc=e.docs.get(name, ""), file=e.file, line=line))
    reasons.sort(key=lambda r: (r.value, r.name))
    subsystems.sort(key=lambda s: s.id)
    return Catalogue(layout=layout, reasons=tuple(reasons), subsystems=tuple(subsystems),
                     values=dict(values), shift=shift if shift is not None else 16)


def files_read(texts: dict[str, str]) -> list[str]:
    """The files of TEXTS the catalogue is built from, in the order they are read: the
    core enum's header, the subsystem enum's, the subsystems' own headers."""
    core_file = _core_file(texts)
    if core_file is None:
        return []
    order = [core_file]
    subsys_files = [p for p, t in texts.items() if re.search(r"enum\s+" + SUBSYS_ENUM + r"\s*\{", t)
                    and p != core_file and not p.startswith("tools/")]
    order += sorted(subsys_files, key=_prefer)[:1]
    order += sorted(p for p, t in texts.items()
                    if p not in order and not p.startswith(("tools/", "Documentation/"))
                    and SHIFT_MACRO in t and re.search(r"\benum\s+\w+\s*\{", t))
    return order


def core_short(name: str) -> str:
    if name.startswith("SKB_DROP_REASON_"):
        return name[len("SKB_DROP_REASON_"):]
    if name.startswith("SKB_"):
        return name[len("SKB_"):]
    return name


def _prefer(path: str) -> tuple[int, str]:
    return (0 if path.startswith("include/") else 1, path)


def _core_file(texts: dict[str, str]) -> str | None:
    cands = [p for p, t in texts.items() if re.search(r"enum\s+" + CORE_ENUM + r"\s*\{", t)]
    for pref in CORE_FILES:
        if pref in cands:
            return pref
    cands = [p for p in cands if not p.startswith(("tools/", "Documentation/"))]
    return sorted(cands, key=_prefer)[0] if cands else None


def _layout(core_file: str, text: str) -> str:
    if core_file.endswith("skbuff.h"):
        return "skbuff-enum"
    if core_file.endswith("dropreason-core.h"):
        return "dropreason-core"
    if core_file.endswith("dropreason.h"):
        return "dropreason-xmacro" if "DEFINE_DROP_REASON" in text else "dropreason"
    return "other"


def _object_value(macros: dict[str, _Macro], name: str, values: dict[str, int]) -> int | None:
    m = macros.get(name)
    if m is None or m.params is not None:
        return values.get(name)
    try:
        return _Eval(values, macros)(list(m.body))
    except (KeyError, SyntaxError, TypeError, ValueError):
        return None


# --- what the consistency checks read (link/consistency.py) -----------------------------
_ITEM = "\x01"


def enum_of(text: str, enum: str = CORE_ENUM, path: str = "") -> tuple[list[tuple[str, int]], int] | None:
    """The enumerators (name, line) of ``enum ENUM`` in TEXT, its body macro-expanded with
    the header's own #defines, and the enum's line; None where TEXT does not declare it."""
    for e in _scan_file(path, text, {}):
        if e.name == enum:
            return [(name, line) for name, _, line in e.enumerators], e.line
    return None


def list_macro(text: str, name: str, items: tuple[str, ...]) -> tuple[list[list[str]], int] | None:
    """The entries of a list macro NAME of TEXT: ``DEFINE_DROP_REASON(FN, FNe)`` (function-
    like: called with ITEMS) or ``TRACE_SKB_DROP_REASON`` (object-like: ITEMS are the entry
    macros it uses, e.g. EM, EMe). Each entry is its arguments as texts; with the line of
    the #define. None where TEXT does not define NAME."""
    macros: dict[str, _Macro] = {}
    exp = _Expander(macros)
    found: tuple[_Macro, int] | None = None
    for line_no, ln in _logical_lines(_strip_comments(text)):
        s = ln.strip()
        if not s.startswith("#"):
            continue
        m = _DEFINE.match(s)
        if m:
            exp.define(s)
            if m.group(1) == name and found is None:
                found = (macros[name], line_no)
        elif (u := _UNDEF.match(s)) is not None:
            macros.pop(u.group(1), None)
    if found is None:
        return None
    mac, line = found
    macros[name] = mac
    item = _Macro(["..."], [_ITEM, "(", "__VA_ARGS__", ")"])
    if mac.params is None:
        for i in items:
            macros[i] = item
        tokens = [name]
    else:
        macros["__skbdrop_item"] = item
        tokens = [name, "(", *_join_args([["__skbdrop_item"]] * len(mac.params)), ")"]
    out_tokens = exp.expand(tokens)
    entries: list[list[str]] = []
    i = 0
    while i < len(out_tokens):
        if out_tokens[i] == _ITEM and i + 1 < len(out_tokens) and out_tokens[i + 1] == "(":
            args, j = _collect_args(out_tokens, i + 1)
            entries.append(["".join(a) for a in args])
            i = j
        else:
            i += 1
    return entries, line


def token_line(text: str, token: str, start: int) -> int:
    """The first line at or after START holding TOKEN as a token (START if none)."""
    lines = text.split("\n")
    for i in range(max(start, 1), len(lines) + 1):
        if token in _TOKEN.findall(lines[i - 1]):
            return i
    return start
