"""Per-file facts: the only stage that sees C text.

For one file: functions (name, span, storage, parameters, what they return or write
through drop-reason out-parameters), calls (callee, arguments, the reason terms that can
reach each argument along the function's control flow), ops-struct assignments, macro
definitions that matter, and the raw text of catalogue headers. Everything is a frozen,
picklable dataclass, cached by content hash (see cache.py).

Reason *terms* are symbolic; link.py resolves them over the whole tree:
  ("const", NAME)         an enumerator name as written (SKB_DR_SET pastes the prefix)
  ("call", FUNC)          the return value of FUNC
  ("param", I)            parameter I of the enclosing function
  ("out", FUNC, I)        whatever FUNC writes through its out-parameter I
  ("unknown", WHY)        cannot be known statically (struct field, arithmetic …)
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from analyzer.c import parse
from analyzer.c.parse import Node

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
_ASSIGNED_REASON = re.compile(r"\b([a-z_]\w*)\s*=\s*(?:\([^()]*\)\s*)?SKB_(?:DROP_REASON_|NOT_DROPPED|CONSUMED)")
_DECLARED_NAMES = re.compile(r"\b(?:int|u32|u16|unsigned|enum\s+\w+)\s+(?:\w+\s*,\s*)*\**(\w*reason\w*)")
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


class SkipFile(Exception):
    """The file cannot be used (binary): reported and skipped."""


# --------------------------------------------------------------------------------------
def extract(path: str, data: bytes) -> FileFacts:
    if b"\0" in data:
        raise SkipFile("binary file (NUL bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        # not UTF-8 (a Latin-1 comment): mined all the same. Latin-1 maps every byte to
        # one character, losslessly; the code itself is ASCII either way
        text = data.decode("latin-1")
    catalogue = text if any(m in data for m in CATALOGUE_MARKERS) else None
    if not any(p in data for p in PREFILTER):
        return FileFacts(path=path, catalogue_text=catalogue)
    return _Extractor(path, data, text, catalogue).run()


class _Extractor:
    def __init__(self, path: str, data: bytes, text: str, catalogue: str | None):
        self.path, self.data, self.text, self.catalogue = path, data, text, catalogue
        self.lines = text.split("\n")
        self.param_cache: dict[int, dict[str, int]] = {}
        # byte offset -> (line, column) is given by tree-sitter's points (byte columns)

    def run(self) -> FileFacts:
        tree = parse.parse(self.data)
        root = tree.root_node
        regions = _regions(self.lines)
        self.region_starts = [r[0] for r in regions]
        self.regions = regions

        functions: list[FunctionFact] = []
        flow_calls: dict[tuple[int, int], tuple[tuple[Term, ...], ...]] = {}
        fn_nodes: dict[int, tuple[str, Node]] = {}
        for m in parse.matches("functions", root):
            node, name = m["function"][0], _txt(m["name"][0])
            fn_nodes[node.start_point[0]] = (name, node)
        # function definitions by byte span: the innermost one holding a node (walking
        # up `parent` is quadratic in deep initialisers such as lib/test_bpf.c)
        self.fn_spans = sorted((n.start_byte, n.end_byte, n) for _, n in fn_nodes.values())
        self.fn_starts = [sp[0] for sp in self.fn_spans]
        seen = set()
        for start_row, (ts_name, node) in sorted(fn_nodes.items()):
            name = self._enclosing(start_row + 1, node) or ts_name
            if (name, node.start_point[0]) in seen:
                continue
            seen.add((name, node.start_point[0]))
            fact, calls = _FunctionFlow(name, node).run()
            functions.append(fact)
            flow_calls.update(calls)

        calls: list[CallFact] = []
        edges: list[tuple[str, str, int]] = []
        for m in parse.matches("calls", root):
            call, callee, args = m["call"][0], _txt(m["callee"][0]), m["args"][0]
            line = call.start_point[0] + 1
            func = self._enclosing(line, call)
            if func:
                edges.append((func, callee, line))
            arg_nodes = _args(args)
            if not _keep(callee, arg_nodes):
                continue
            key = (call.start_point[0], call.start_point[1])
            terms = flow_calls.get(key)
            flow = terms is not None
            if terms is None:
                params = self._params_of(func, call)
                terms = tuple(_stateless(a, params) for a in arg_nodes)
            calls.append(CallFact(
                callee=callee, line=line, column=call.start_point[1] + 1, function=func,
                args=tuple(_norm(_txt(a)) for a in arg_nodes), arg_terms=terms,
                source=self.lines[line - 1].strip() if line - 1 < len(self.lines) else "",
                flow=flow))

        calls += self._text_calls({(c.line, c.column) for c in calls})
        for m in parse.matches("field_calls", root):
            call = m["call"][0]
            line = call.start_point[0] + 1
            func = self._enclosing(line, call)
            if func:
                edges.append((func, "." + _txt(m["field"][0]), line))
        ops = tuple(OpsFact(field=_txt(m["field"][0]), value=_txt(m["value"][0]),
                            line=m["pair"][0].start_point[0] + 1)
                    for m in parse.matches("ops", root))
        return FileFacts(
            path=self.path, functions=tuple(functions), calls=tuple(calls),
            edges=tuple(sorted(set(edges), key=lambda e: (e[2], e[0], e[1]))),
            macros=tuple(_macros(self.text)), ops=ops, catalogue_text=self.catalogue,
            parsed=True, has_errors=root.has_error)

    def _text_calls(self, seen: set[tuple[int, int]]) -> list[CallFact]:
        """Family-like calls the parser did not form (inside ERROR regions, e.g. after
        `__printf(2, 3)`), found in the text with comments and strings blanked."""
        if not _TEXT_CALL.search(self.text):
            return []
        text = _BLANK.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), self.text)
        lines = text.split("\n")
        starts = [0]
        for ln in lines[:-1]:
            starts.append(starts[-1] + len(ln) + 1)
        macro_lines = set()
        cont = False
        for i, ln in enumerate(self.lines, 1):
            if cont or ln.lstrip().startswith("#"):
                macro_lines.add(i)
            cont = ln.rstrip().endswith("\\") and (cont or ln.lstrip().startswith("#"))
        out = []
        for m in _TEXT_CALL.finditer(text):
            name = m.group(1)
            if not KEEP_CALL.search(name) or name in _NOT_CALLS:
                continue
            line = bisect.bisect_right(starts, m.start())
            col = m.start() - starts[line - 1] + 1
            if (line, col) in seen:
                continue
            before = lines[line - 1][:col - 1]
            if col == 1 or before.lstrip().startswith("#") or _DECL_BEFORE.search(before):
                continue
            if line in macro_lines:
                continue
            args = tuple(_norm(a) for a in call_args(text, m.end()))
            terms = tuple(tuple(sorted({("const", a)} if ENUMERATOR_LIKE.match(a) and not a.islower()
                                       else {("unknown", "call outside the parsed code")}))
                          for a in args)
            out.append(CallFact(callee=name, line=line, column=col, function=self._enclosing(line, None),
                                args=args, arg_terms=terms, source=self.lines[line - 1].strip(),
                                flow=False))
        return out

    def _enclosing(self, line: int, node: Node | None) -> str | None:
        """Enclosing function of LINE: kernel-style regions first, tree-sitter second."""
        i = bisect.bisect_right(self.region_starts, line) - 1
        if i >= 0:
            start, end, name, sig = self.regions[i]
            if sig <= line <= end and name:
                return name
        fn = self._function_node(node)
        return _declarator_name(fn) if fn is not None else None

    def _function_node(self, node: Node | None) -> Node | None:
        if node is None:
            return None
        i = bisect.bisect_right(self.fn_starts, node.start_byte) - 1
        while i >= 0:
            start, end, fn = self.fn_spans[i]
            if start <= node.start_byte and node.end_byte <= end:
                return fn
            i -= 1
            if i >= 0 and self.fn_spans[i][1] < node.start_byte and end < node.start_byte:
                break
        return None

    def _params_of(self, func: str | None, node: Node) -> dict[str, int]:
        fn = self._function_node(node)
        if fn is None:
            return {}
        got = self.param_cache.get(fn.id)
        if got is None:
            got = self.param_cache[fn.id] = {p.name: i for i, p in enumerate(_params(fn))}
        return got


_BLANK = re.compile(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"', re.S)
_TEXT_CALL = re.compile(r"\b(\w*(?:skb|drop|reason|consume|kfree|SKB_DR)\w*)\s*\(")
_NOT_CALLS = frozenset({"if", "for", "while", "switch", "return", "sizeof", "defined"})
_DECL_BEFORE = re.compile(r"(?:^|[\s(])(?:void|int|bool|static|inline|extern|unsigned|long|"
                          r"u32|struct\s+\w+|enum\s+\w+|__\w+)\s*\**\s*$|\.\s*$|->\s*$|&\s*$")

# --------------------------------------------------------------------------------------
# Kernel-style function regions: a body opens with "{" and closes with "}" in column 0.

_SIG_STOP = re.compile(r"[;}]\s*$|^\s*#|^\s*$|^\s*\*|\*/\s*$|^\s*/[*/]")
_CALLLIKE = re.compile(r"([A-Za-z_]\w*)\s*\(")
_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_MACRO_DEF_FN = re.compile(r"^(BPF_CALL_\d|SYSCALL_DEFINE\d|COMPAT_SYSCALL_DEFINE\d|"
                           r"BPF_STRUCT_OPS\w*|TRACE_EVENT\w*)$")


def _regions(lines: list[str]) -> list[tuple[int, int, str | None, int]]:
    """(first body line, last line, name, first signature line), 1-based, in order."""
    out = []
    i, n = 0, len(lines)
    while i < n:
        ln = lines[i]
        opens_alone = ln.startswith("{")
        opens_inline = (not opens_alone and ln[:1] not in ("", " ", "\t", "#", "/", "*", "}")
                        and ln.rstrip().endswith("{") and "(" in ln and "=" not in ln
                        and not ln.startswith(("struct", "union", "enum", "typedef")))
        if opens_alone or opens_inline:
            j = i - 1 if opens_alone else i
            sig_lines = []
            if opens_inline:
                sig_lines.append(ln.rstrip()[:-1])
                j = i - 1
            while j >= 0 and len(sig_lines) < 12:
                s = lines[j]
                if _SIG_STOP.search(s) and not s.rstrip().endswith(","):
                    break
                if s.startswith("}") :
                    break
                sig_lines.insert(0, s)
                j -= 1
            sig = " ".join(sig_lines)
            name = _name_from_signature(sig) if not sig.rstrip().endswith("=") else None
            k = i + 1
            if opens_alone and ln.count("{") == ln.count("}"):
                k = i                                  # `{}` or `{ return 0; }` on one line
            else:
                while k < n and not lines[k].startswith("}"):
                    k += 1
            out.append((i + 1, k + 1, name, j + 2))
            i = k + 1
            continue
        i += 1
    return out


def _name_from_signature(sig: str) -> str | None:
    sig = _COMMENT.sub(" ", sig)
    if "(" not in sig:
        return None
    best = None
    for m in _CALLLIKE.finditer(sig):
        name = m.group(1)
        depth, k = 1, m.end()
        while k < len(sig) and depth:
            depth += {"(": 1, ")": -1}.get(sig[k], 0)
            k += 1
        inner = sig[m.end():k - 1]
        before = sig[:m.start()]
        if before.count("(") != before.count(")"):
            continue                                   # nested, not depth 0
        if name in ("if", "for", "while", "switch", "return", "sizeof"):
            return None
        if _MACRO_DEF_FN.match(name):
            first = inner.split(",")[0].strip()
            if re.fullmatch(r"\w+", first):
                return ("__do_sys_" + first) if "SYSCALL" in name else first
            return name
        if _looks_like_params(inner):
            best = name
            break
    return best


def _looks_like_params(inner: str) -> bool:
    inner = inner.strip()
    if inner in ("", "void", "..."):
        return True
    for part in _split_top(inner):
        part = part.strip()
        if part == "...":
            continue
        if re.search(r"[&.]|->|^\d|\"", part):
            return False
        words = re.findall(r"[A-Za-z_]\w*", part)
        if len(words) >= 2 or "*" in part or "(" in part:
            return True
    return False


def call_args(text: str, start: int) -> list[str]:
    """The top-level arguments of the call whose "(" ends just before START."""
    depth, k = 1, start
    while k < len(text) and depth:
        depth += {"(": 1, ")": -1}.get(text[k], 0)
        k += 1
    inner = text[start:k - 1]
    return _split_top(inner) if inner.strip() else []


def _split_top(s: str) -> list[str]:
    parts, depth, cur = [], 0, []
    for ch in s:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


# --------------------------------------------------------------------------------------
_DEFINE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+(\w+)(\([^)]*\))?(.*)$")
_MACRO_KEEP = re.compile(r"skb|drop|reason|consume")


def _macros(text: str) -> list[MacroFact]:
    out = []
    if "define" not in text:
        return out
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        ln = lines[i]
        if "define" in ln:
            m = _DEFINE.match(ln)
            if m:
                start = i
                body = m.group(3)
                while body.endswith("\\") and i + 1 < len(lines):
                    i += 1
                    body = body[:-1] + " " + lines[i]
                if m.group(2) is not None and "(" in body and _MACRO_KEEP.search(body):
                    params = tuple(p.strip() for p in m.group(2)[1:-1].split(",") if p.strip())
                    out.append(MacroFact(name=m.group(1), params=params,
                                         body=_COMMENT.sub(" ", body).strip(), line=start + 1))
        i += 1
    return out


# --------------------------------------------------------------------------------------
def _keep(callee: str, args: list[Node]) -> bool:
    """Calls whose arguments are kept: possible family members, or reasons passed on."""
    return bool(KEEP_CALL.search(callee)) or any(_REASONISH.search(a.text) for a in args)


_REASONISH = re.compile(rb"reason|SKB_DROP|SKB_CONSUMED|SKB_NOT_DROPPED|skb")


def _txt(node: Node) -> str:
    return node.text.decode("utf-8", "replace")


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


def _args(arglist: Node) -> list[Node]:
    return [c for c in arglist.named_children if c.type != "comment"]


def _declarator_name(fn: Node) -> str | None:
    d = fn.child_by_field_name("declarator")
    while d is not None:
        if d.type == "identifier":
            return _txt(d)
        if d.type == "function_declarator":
            inner = d.child_by_field_name("declarator")
            if inner is not None and inner.type == "identifier":
                return _txt(inner)
            d = inner
            continue
        d = d.child_by_field_name("declarator")
    return None


def _function_declarator(fn: Node) -> Node | None:
    d = fn.child_by_field_name("declarator")
    while d is not None and d.type != "function_declarator":
        d = d.child_by_field_name("declarator")
    return d


def _params(fn: Node) -> list[Param]:
    fd = _function_declarator(fn)
    if fd is None:
        return []
    plist = fd.child_by_field_name("parameters")
    out = []
    if plist is None:
        return out
    for p in plist.named_children:
        if p.type != "parameter_declaration":
            continue
        t = p.child_by_field_name("type")
        d = p.child_by_field_name("declarator")
        pointer = False
        name = ""
        while d is not None:
            if d.type == "identifier":
                name = _txt(d)
                break
            if d.type == "pointer_declarator":
                pointer = True
            nd = d.child_by_field_name("declarator")
            if nd is None:
                ids = [c for c in d.named_children if c.type == "identifier"]
                name = _txt(ids[0]) if ids else ""
                break
            d = nd
        out.append(Param(name=name, type=_norm(_txt(t)) if t is not None else "", pointer=pointer))
    return out


def _strip(node: Node) -> Node:
    while node.type in ("parenthesized_expression", "cast_expression"):
        inner = (node.child_by_field_name("value") if node.type == "cast_expression"
                 else (node.named_children[0] if node.named_children else None))
        if inner is None:
            break
        node = inner
    return node


def _stateless(node: Node, params: dict[str, int]) -> tuple[Term, ...]:
    """Terms of an argument outside the control-flow walk (no tracked variables)."""
    return tuple(sorted(_eval(node, params, None, None)))


def _eval(node: Node, params: dict[str, int], state: dict | None, flow) -> frozenset:
    node = _strip(node)
    t = node.type
    if t == "identifier":
        name = _txt(node)
        if state is not None and name in state:
            return state[name]
        if ENUMERATOR_LIKE.match(name) and not name.islower():
            return frozenset({("const", name)})
        if name in params:
            return frozenset({("param", params[name])})
        return frozenset({("unknown", f"variable {name}")})
    if t == "number_literal":
        return frozenset({("const", _txt(node).rstrip("uUlL"))})
    if t == "conditional_expression":
        if flow is not None:
            flow.effects(node.child_by_field_name("condition"))
        cons = node.child_by_field_name("consequence")
        alt = node.child_by_field_name("alternative")
        out = frozenset()
        out |= (_eval(cons, params, state, flow) if cons is not None
                else _eval(node.child_by_field_name("condition"), params, state, flow))
        if alt is not None:
            out |= _eval(alt, params, state, flow)
        return out
    if t == "call_expression":
        fn = node.child_by_field_name("function")
        if fn is not None and fn.type == "identifier":
            name = _txt(fn)
            args = _args(node.child_by_field_name("arguments"))
            if name in ("likely", "unlikely", "READ_ONCE") and args:
                return _eval(args[0], params, state, flow)
            if flow is not None:
                flow.effects(node)
            return frozenset({("call", name)})
        return frozenset({("unknown", "call through a pointer")})
    if t == "assignment_expression" and flow is not None:
        flow.effects(node)
        left = _strip(node.child_by_field_name("left"))
        return _eval(left, params, flow.state, flow) if left.type == "identifier" else \
            _eval(node.child_by_field_name("right"), params, state, flow)
    if t == "comma_expression":
        if flow is not None:
            flow.effects(node.child_by_field_name("left"))
        return _eval(node.child_by_field_name("right"), params, state, flow)
    if t == "field_expression":
        return frozenset({("unknown", "struct field " + _norm(_txt(node))[:60])})
    if t == "pointer_expression":
        return frozenset({("unknown", "through a pointer " + _norm(_txt(node))[:60])})
    return frozenset({("unknown", "expression " + _norm(_txt(node))[:60])})


# --------------------------------------------------------------------------------------
_ZERO = {("const", "SKB_NOT_DROPPED_YET"), ("const", "0")}


def _toplevel_calls(body: Node | None) -> tuple[str, ...]:
    out = []
    for c in (body.named_children if body is not None else []):
        if c.type in ("expression_statement", "return_statement") and c.named_children:
            e = _strip(c.named_children[0])
            if e.type == "call_expression":
                fn = e.child_by_field_name("function")
                if fn is not None and fn.type == "identifier":
                    out.append(_txt(fn))
    return tuple(out)


def _copy(state: dict | None) -> dict | None:
    return None if state is None else dict(state)


class _FunctionFlow:
    """Reaching-definitions walk over one function body, statement by statement.

    State: tracked variable -> frozenset of terms, or None where the code is unreachable.
    Handles if/else, switch with fall-through, loops (to a fixed point), goto labels
    (forward and backward, to a fixed point), break/continue and return.
    """

    def __init__(self, name: str, node: Node):
        self.name, self.node = name, node
        self.params = _params(node)
        self.pidx = {p.name: i for i, p in enumerate(self.params)}
        self.out_params = {p.name: i for i, p in enumerate(self.params)
                           if p.pointer and REASON_TYPE.search(p.type)}
        self.reason_params = {p.name: i for i, p in enumerate(self.params)
                              if not p.pointer and REASON_TYPE.search(p.type)}
        ret = node.child_by_field_name("type")
        self.returns_reason = ret is not None and bool(REASON_TYPE.search(_txt(ret))) and \
            not _txt(node.child_by_field_name("declarator")).lstrip().startswith("*")
        self.tracked_names: set[str] = set()
        self.state: dict | None = {}
        self.record: dict[tuple[int, int], list[frozenset]] = {}
        self.returns: frozenset = frozenset()
        self.out_writes: dict[int, frozenset] = {}
        self.stored: set[int] = set()
        self.labels: dict[str, dict] = {}
        self.ctx: list[dict] = []
        self.trace: list[tuple[str, tuple[str, ...]]] = []

    # -- driver ------------------------------------------------------------------------
    def run(self) -> tuple[FunctionFact, dict]:
        body = self.node.child_by_field_name("body")
        text = self.node.text
        needs_flow = body is not None and (b"drop_reason" in text or b"SKB_DR" in text
                                           or b"trace_kfree_skb" in text or b"trace_consume_skb" in text
                                           or bool(self.reason_params) or bool(self.out_params))
        if needs_flow:
            body_text = _txt(self.node)
            self.tracked_names = set(_ASSIGNED_REASON.findall(body_text)) | \
                {n for n in _DECLARED_NAMES.findall(body_text) if "reason" in n}
            for _ in range(6):
                before = {k: dict(v) if v else v for k, v in self.labels.items()}
                self.state = {n: frozenset({("param", i)}) for n, i in self.reason_params.items()}
                self.stmt(body)
                if before == self.labels:
                    break
        calls = {k: tuple(tuple(sorted(s)) for s in v) for k, v in self.record.items()}
        statements = len([c for c in body.named_children if c.type != "comment"]) if body else 0
        decl = self.node.child_by_field_name("declarator")
        head = _txt(self.node)[: (decl.start_byte - self.node.start_byte) if decl else 0]
        fact = FunctionFact(
            name=self.name, line=self.node.start_point[0] + 1, end_line=self.node.end_point[0] + 1,
            static=bool(re.search(r"\bstatic\b", head)), inline=bool(re.search(r"inline\b", head)),
            params=tuple(self.params), returns_reason=self.returns_reason,
            return_terms=tuple(sorted(self.returns)),
            out_writes=tuple(sorted((i, tuple(sorted(s))) for i, s in self.out_writes.items())),
            stored_params=tuple(sorted(self.stored)), statements=statements,
            returns_void=(not self.returns_reason and _txt(self.node.child_by_field_name("type")) == "void"
                          and not _txt(decl).lstrip().startswith("*") if decl is not None else False),
            toplevel_calls=_toplevel_calls(body), trace_calls=tuple(self.trace))
        return fact, calls

    # -- state helpers -----------------------------------------------------------------
    @staticmethod
    def join(a: dict | None, b: dict | None) -> dict | None:
        if a is None:
            return None if b is None else dict(b)
        if b is None:
            return dict(a)
        out = dict(a)
        for k, v in b.items():
            out[k] = out[k] | v if k in out else v
        return out

    def refine(self, cond: Node | None, state: dict | None, truth: bool) -> dict | None:
        """The state on the TRUTH branch of COND: `x == C`, `x != C`, `x`, `!x`."""
        state = _copy(state)
        if cond is None or state is None:
            return state
        c = _strip(cond)
        while c.type == "call_expression" and _txt(c.child_by_field_name("function")) in ("likely", "unlikely"):
            a = _args(c.child_by_field_name("arguments"))
            if not a:
                return state
            c = _strip(a[0])
        if c.type == "unary_expression" and _txt(c.child_by_field_name("operator")) == "!":
            c, truth = _strip(c.child_by_field_name("argument")), not truth
        if c.type == "identifier" and _txt(c) in state:
            v = _txt(c)
            zero = {t for t in state[v] if t in _ZERO}
            state[v] = (state[v] - zero) if truth else (state[v] & zero) | \
                frozenset(t for t in state[v] if t[0] != "const")
            return state
        if c.type == "binary_expression":
            op = _txt(c.child_by_field_name("operator"))
            left, right = _strip(c.child_by_field_name("left")), _strip(c.child_by_field_name("right"))
            if op in ("==", "!=") and left.type == "identifier" and _txt(left) in state \
                    and right.type == "identifier" and ENUMERATOR_LIKE.match(_txt(right)):
                v, k = _txt(left), ("const", _txt(right))
                equal = truth if op == "==" else not truth
                if equal:
                    state[v] = frozenset({k}) if (k in state[v] or any(t[0] != "const" for t in state[v])) \
                        else frozenset()
                else:
                    state[v] = state[v] - {k}
        return state

    def goto(self, label: str) -> None:
        if self.state is not None:
            self.labels[label] = self.join(self.labels.get(label), self.state)
        self.state = None

    # -- statements --------------------------------------------------------------------
    def stmt(self, node: Node | None) -> None:
        if node is None:
            return
        t = node.type
        if t in ("compound_statement", "translation_unit"):
            for c in node.named_children:
                self.stmt(c)
        elif t == "labeled_statement":
            label = _txt(node.child_by_field_name("label"))
            self.state = self.join(self.state, self.labels.get(label))
            for c in node.named_children[1:]:
                self.stmt(c)
        elif t == "goto_statement":
            self.goto(_txt(node.child_by_field_name("label")))
        elif t == "return_statement":
            if self.state is not None:
                exprs = [c for c in node.named_children if c.type != "comment"]
                if exprs:
                    v = _eval(exprs[0], self.pidx, self.state, self)
                    if self.returns_reason and self.state is not None:
                        self.returns |= v
            self.state = None
        elif t == "if_statement":
            cond = node.child_by_field_name("condition")
            self.effects(cond)
            entry = self.state
            self.state = self.refine(cond, entry, True)
            self.stmt(node.child_by_field_name("consequence"))
            after_then = self.state
            self.state = self.refine(cond, entry, False)
            alt = node.child_by_field_name("alternative")
            if alt is not None:
                for c in alt.named_children:
                    self.stmt(c)
            self.state = self.join(after_then, self.state)
        elif t == "switch_statement":
            self.effects(node.child_by_field_name("condition"))
            entry = self.state
            self.ctx.append({"kind": "switch", "breaks": None})
            self.state = None
            has_default = False
            body = node.child_by_field_name("body")
            for c in (body.named_children if body is not None else []):
                if c.type == "case_statement":
                    if c.child_by_field_name("value") is None:
                        has_default = True
                    self.state = self.join(self.state, _copy(entry))
                    for s in c.named_children:
                        if s is not c.child_by_field_name("value"):
                            self.stmt(s)
                else:
                    self.stmt(c)
            ctx = self.ctx.pop()
            self.state = self.join(self.state, ctx["breaks"])
            if not has_default:
                self.state = self.join(self.state, entry)
        elif t in ("while_statement", "for_statement", "do_statement"):
            self.loop(node)
        elif t == "break_statement":
            for c in reversed(self.ctx):
                c["breaks"] = self.join(c["breaks"], self.state)
                break
            self.state = None
        elif t == "continue_statement":
            for c in reversed(self.ctx):
                if c["kind"] == "loop":
                    c["continues"] = self.join(c["continues"], self.state)
                    break
            self.state = None
        elif t == "declaration":
            self.declaration(node)
        elif t == "expression_statement":
            for c in node.named_children:
                self.effects(c)
        elif t in ("comment", "preproc_call", "type_definition", "struct_specifier"):
            return
        elif t.startswith("preproc_"):
            # #ifdef blocks inside a function: both branches may be compiled in.
            for c in node.named_children:
                if c.type not in ("identifier", "preproc_arg", "preproc_defined", "binary_expression",
                                  "unary_expression", "parenthesized_expression", "call_expression"):
                    self.stmt(c)
        else:
            # ERROR regions and macro statements: walk their children in order.
            for c in node.named_children:
                if c.type.endswith("statement") or c.type in ("declaration", "ERROR", "labeled_statement"):
                    self.stmt(c)
                else:
                    self.effects(c)

    def loop(self, node: Node) -> None:
        t = node.type
        if t == "for_statement":
            init = node.child_by_field_name("initializer")
            if init is not None:
                if init.type == "declaration":
                    self.declaration(init)
                else:
                    self.effects(init)
        body = node.child_by_field_name("body")
        cond = node.child_by_field_name("condition")
        update = node.child_by_field_name("update")
        head = self.state
        exit_state = None
        for _ in range(4):
            self.ctx.append({"kind": "loop", "breaks": None, "continues": None})
            self.state = _copy(head)
            if t != "do_statement":
                self.effects(cond)
                exit_state = self.state
            self.stmt(body)
            ctx = self.ctx.pop()
            self.state = self.join(self.state, ctx["continues"])
            if update is not None:
                self.effects(update)
            if t == "do_statement":
                self.effects(cond)
                exit_state = self.state
            new_head = self.join(head, self.state)
            breaks = ctx["breaks"]
            if new_head == head:
                break
            head = new_head
        self.state = self.join(exit_state, breaks)

    def declaration(self, node: Node) -> None:
        typ = node.child_by_field_name("type")
        is_reason = typ is not None and REASON_TYPE.search(_txt(typ)) is not None
        for d in node.children_by_field_name("declarator"):
            if d.type == "init_declarator":
                target = d.child_by_field_name("declarator")
                value = d.child_by_field_name("value")
                if value is not None:
                    self.effects(value)
                if (target is not None and target.type == "identifier" and self.state is not None
                        and (is_reason or _txt(target) in self.tracked_names)):
                    self.state[_txt(target)] = (_eval(value, self.pidx, self.state, None)
                                                if value is not None else frozenset())
            elif d.type == "identifier" and self.state is not None and \
                    (is_reason or _txt(d) in self.tracked_names):
                self.state[_txt(d)] = frozenset()

    # -- expressions with side effects ---------------------------------------------------
    def effects(self, node: Node | None) -> None:
        if node is None or self.state is None:
            return
        t = node.type
        if t == "call_expression":
            self.call(node)
        elif t == "assignment_expression":
            right = node.child_by_field_name("right")
            self.effects(right)
            if self.state is None:
                return
            left = _strip(node.child_by_field_name("left"))
            op = node.child_by_field_name("operator")
            op = _txt(op) if op is not None else "="
            if left.type == "identifier" and _txt(left) in self.state:
                name = _txt(left)
                self.state[name] = (_eval(right, self.pidx, self.state, None) if op == "="
                                    else frozenset({("unknown", f"compound assignment {op}")}))
            elif left.type == "pointer_expression":
                arg = _strip(left.child_by_field_name("argument"))
                if arg.type == "identifier" and _txt(arg) in self.out_params:
                    i = self.out_params[_txt(arg)]
                    self.out_writes[i] = self.out_writes.get(i, frozenset()) | \
                        _eval(right, self.pidx, self.state, None)
            elif left.type in ("field_expression", "subscript_expression"):
                # the reason stored with the skb itself (its control block) for a later free
                r = _strip(right)
                target = _txt(left)
                if r.type == "identifier" and _txt(r) in self.reason_params and any(
                        re.search(r"\b" + re.escape(p.name) + r"\b", target)
                        for p in self.params if p.pointer and "sk_buff" in p.type and p.name):
                    self.stored.add(self.reason_params[_txt(r)])
        elif t == "conditional_expression":
            self.effects(node.child_by_field_name("condition"))
            entry = self.state
            self.state = _copy(entry)
            self.effects(node.child_by_field_name("consequence"))
            a = self.state
            self.state = _copy(entry)
            self.effects(node.child_by_field_name("alternative"))
            self.state = self.join(a, self.state)
        elif t in ("compound_statement",):
            self.stmt(node)
        else:
            for c in node.named_children:
                self.effects(c)

    def call(self, node: Node) -> None:
        fn = node.child_by_field_name("function")
        arglist = node.child_by_field_name("arguments")
        args = _args(arglist) if arglist is not None else []
        for a in args:
            self.effects(a)
        if self.state is None:
            return
        if fn is None or fn.type != "identifier":
            self.effects(fn)
            return
        name = _txt(fn)
        if name in ("SKB_DR", "SKB_DR_SET", "SKB_DR_INIT", "SKB_DR_OR") and args:
            var = _txt(_strip(args[0]))
            if name == "SKB_DR":
                self.state[var] = frozenset({NS})
            elif len(args) > 1:
                r = frozenset({("const", "SKB_DROP_REASON_" + _txt(args[1]).strip())})
                if name == "SKB_DR_OR":
                    cur = self.state.get(var, frozenset({NS}))
                    may_be_ns = NS in cur or any(x[0] != "const" for x in cur)
                    self.state[var] = (cur - {NS}) | r if may_be_ns else cur
                else:
                    self.state[var] = r
            return
        if name in ("trace_kfree_skb", "trace_consume_skb"):
            self.trace.append((name[len("trace_"):], tuple(_norm(_txt(a)) for a in args)))
        for i, a in enumerate(args):
            s = _strip(a)
            if s.type == "pointer_expression" and _txt(s)[:1] == "&":
                inner = _strip(s.child_by_field_name("argument"))
                if inner.type == "identifier" and _txt(inner) in self.state:
                    v = _txt(inner)
                    self.state[v] = self.state[v] | {("out", name, i)}
        if _keep(name, args):
            key = (node.start_point[0], node.start_point[1])
            vals = [_eval(a, self.pidx, self.state, None) for a in args]
            old = self.record.get(key)
            self.record[key] = vals if old is None else [o | v for o, v in zip(old, vals)]
