"""Facts of one file: functions, calls with their reason terms, call edges, ops
initialisers, macros, catalogue text."""
from __future__ import annotations

import bisect
import re

from analyzer.c import parse
from analyzer.c.facts import (CATALOGUE_MARKERS, ENUMERATOR_LIKE, KEEP_CALL, PREFILTER, REASON_TYPE,
                              CallFact, FieldStore, FileFacts, FunctionFact, OpsFact, SkipFile, Term)
from analyzer.c.fields import field_key, tracked_member
from analyzer.c.flow import FunctionFlow
from analyzer.c.terms import stateless
from analyzer.c.parse import Node
from analyzer.c.syntax import arg_list, declarator_name, keep_call, node_text, norm, params_of
from analyzer.c.text import call_args, function_regions, macro_facts, statement_macros

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
        self._blank: str | None = None
        # byte offset -> (line, column) is given by tree-sitter's points (byte columns)

    def run(self) -> FileFacts:
        tree = parse.parse(self.data)
        root = tree.root_node
        regions = function_regions(self.lines)
        self.region_starts = [r[0] for r in regions]
        self.regions = regions

        functions: list[FunctionFact] = []
        flow_calls: dict[tuple[int, int], tuple[tuple[Term, ...], ...]] = {}
        fn_nodes: dict[int, tuple[str, Node]] = {}
        found = parse.matches_of(_QUERIES, root)
        for m in found["functions"]:
            node, name = m["function"][0], node_text(m["name"][0])
            fn_nodes[node.start_point[0]] = (name, node)
        # function definitions by byte span: the innermost one holding a node (walking
        # up `parent` is quadratic in deep initialisers such as lib/test_bpf.c)
        self.fn_spans = sorted((n.start_byte, n.end_byte, n) for _, n in fn_nodes.values())
        self.fn_starts = [sp[0] for sp in self.fn_spans]
        seen = set()
        macros = statement_macros(self.text)
        tracked: set[tuple[int, int]] = set()
        # stores into tracked members seen by the walk
        self.flow_stores: dict[tuple[int, int], tuple[str, frozenset]] = {}
        for start_row, (ts_name, node) in sorted(fn_nodes.items()):
            name = self._enclosing(start_row + 1, node) or ts_name
            if (name, node.start_point[0]) in seen:
                continue
            seen.add((name, node.start_point[0]))
            walk = FunctionFlow(name, node, macros)
            fact, calls = walk.run()
            functions.append(fact)
            flow_calls.update(calls)
            tracked |= walk.tracked_calls
            self.flow_stores.update(walk.field_stores)

        calls: list[CallFact] = []
        edges: list[tuple[str, str, int]] = []
        for m in found["calls"]:
            call, callee, args = m["call"][0], node_text(m["callee"][0]), m["args"][0]
            row, col = call.start_point
            line = row + 1
            func = self._enclosing(line, call)
            if func:
                edges.append((func, callee, line))
            key = (row, col)
            if key not in tracked and not keep_call(callee, args):
                continue
            arg_nodes = arg_list(args)
            terms = flow_calls.get(key)
            flow = terms is not None
            if terms is None:
                params = self._params_of(func, call)
                terms = tuple(stateless(a, params) for a in arg_nodes)
            calls.append(CallFact(
                callee=callee, line=line, column=call.start_point[1] + 1, function=func,
                args=tuple(norm(node_text(a)) for a in arg_nodes), arg_terms=terms,
                source=self.lines[line - 1].strip() if line - 1 < len(self.lines) else "",
                flow=flow))

        calls += self._text_calls({(c.line, c.column) for c in calls})
        for m in found["field_calls"]:
            call = m["call"][0]
            line = call.start_point[0] + 1
            func = self._enclosing(line, call)
            if func:
                edges.append((func, "." + node_text(m["field"][0]), line))
        ops = tuple(OpsFact(field=node_text(m["field"][0]), value=node_text(m["value"][0]),
                            line=m["pair"][0].start_point[0] + 1)
                    for m in found["ops"])
        field_stores, fn_stores = self._field_stores(root)
        return FileFacts(
            path=self.path, functions=tuple(functions), calls=tuple(calls),
            edges=tuple(sorted(set(edges), key=lambda e: (e[2], e[0], e[1]))),
            macros=tuple(macro_facts(self.text)), ops=ops, catalogue_text=self.catalogue,
            parsed=True, has_errors=root.has_error, field_stores=field_stores,
            reason_members=self._reason_members(root), fn_stores=fn_stores,
            address_taken=self._address_taken(functions), reason_names=self._reason_names())

    def _field_stores(self, root: Node) -> tuple[tuple[FieldStore, ...], tuple[OpsFact, ...]]:
        """Stores into tracked members (fields.py), with the walk's terms where it saw
        them, else the value's own terms (no variables); and
        function names stored into members at run time (`ops->handler = f;`)."""
        stores: dict[tuple[int, int], FieldStore] = {}
        fn_stores: list[OpsFact] = []
        for (row, col), (key, terms) in self.flow_stores.items():
            fn = self._enclosing(row + 1, None)
            stores[(row, col)] = FieldStore(field=key, terms=tuple(sorted(terms)), line=row + 1,
                                            function=fn)
        # the query only where it can find something (speed): a store into a tracked
        # member in the text, or a file that knows the reason type (run-time stores of
        # functions returning reasons; elsewhere they are not seen)
        want_fns = b"skb_drop_reason" in self.data
        if not want_fns and (b"reason" not in self.data or not _TRACKED_STORE.search(self.data)):
            return tuple(stores[k] for k in sorted(stores)), ()
        for m in parse.matches("field_stores", root):
            assign, left, value = m["assign"][0], m["left"][0], m["value"][0]
            member = node_text(m["member"][0])
            line = assign.start_point[0] + 1
            v = value
            if v.type == "pointer_expression" and node_text(v)[:1] == "&":
                v = v.child_by_field_name("argument")
            if want_fns and v is not None and v.type == "identifier" and not ENUMERATOR_LIKE.match(node_text(v)) \
                    and node_text(v) not in ("NULL", "true", "false"):
                fn = self._function_node(assign)
                if fn is None or node_text(v) not in self._params_of(None, assign):
                    fn_stores.append(OpsFact(field=member, value=node_text(v), line=line))
            if tracked_member(left) is None:
                continue
            pos = (assign.start_point[0], assign.start_point[1])
            if pos in stores:
                continue                          # the walk's answer
            op = assign.child_by_field_name("operator")
            terms = stateless(value, self._params_of(None, assign)) \
                if op is None or node_text(op) == "=" else (("unknown", f"compound assignment {node_text(op)}"),)
            stores[pos] = FieldStore(field=field_key(left), terms=terms, line=line,
                                     function=self._enclosing(line, assign))
        return (tuple(stores[k] for k in sorted(stores)),
                tuple(sorted(set(fn_stores), key=lambda o: (o.line, o.field, o.value))))

    def _reason_members(self, root: Node) -> tuple[str, ...]:
        if b"skb_drop_reason" not in self.data:
            return ()
        out = set()
        for m in parse.matches("reason_members", root):
            if not REASON_TYPE.search(node_text(m["type"][0])):
                continue
            st = m["decl"][0].parent
            st = st.parent if st is not None else None      # field_declaration_list -> struct
            name = st.child_by_field_name("name") if st is not None and \
                st.type in ("struct_specifier", "union_specifier") else None
            out.add((node_text(name) if name is not None else "?") + "." + node_text(m["member"][0]))
        return tuple(sorted(out))

    def _blanked(self) -> str:
        """The text with comments and strings blanked (computed once, on demand)."""
        if self._blank is None:
            self._blank = _BLANK.sub(" ", self.text)
        return self._blank

    def _address_taken(self, functions: list[FunctionFact]) -> tuple[str, ...]:
        """Names of functions whose address the file takes (callbacks, which may have no
        call site): any name stored with `=` (an ops initialiser `.error_report =
        arp_error_report,`, `p->cb = f;`) or passed as an argument after the first
        (`register_cb(ar, handler)`, `connect_svc(priv, id, handler, …)`), and the void functions taking an skb that this
        file defines and uses as a value anywhere (`set_handler(llc_station_rcv)`).
        Comments and strings are blanked for the second; names after `(` of a naming
        macro (`EXPORT_SYMBOL(f)`) do not count. Link keeps the family members."""
        found = set(_STORED.findall(self.text)) | set(_PASSED_LAST.findall(self.text))
        cands = sorted({fn.name for fn in functions if fn.returns_void
                        and any(p.pointer and "sk_buff" in p.type for p in fn.params)} - found)
        if cands and any(self.text.count(n) > 1 for n in cands):
            text = self._blanked()
            found.update(n for n in cands if _used_as_value(text, n))
        return tuple(sorted(found))

    def _reason_names(self) -> tuple[str, ...]:
        """Enumerator-like tokens outside comments and strings that may name drop reasons
        (link keeps those of the catalogue): `SKB_DROP_REASON_X`, subsystem names such as
        `RX_DROP_U_X`, and `SKB_DR_SET(r, X)` / `SKB_DR_OR` / `SKB_DR_INIT` short names.
        Only .c files: the question is which reasons the code uses."""
        t = self.text
        if not self.path.endswith(".c") or (
                not (("DROP" in t or "SKB_CONSUMED" in t) and _REASONISH_TOKEN.search(t))
                and "SKB_DR" not in t):
            return ()
        text = self._blanked()
        names = _reasonish_words(text)
        names.update("SKB_DROP_REASON_" + n for n in _SKB_DR_SHORT.findall(text))
        # a file's own pasting macro: `#define FQDR(reason) SKB_DROP_REASON_FQ_##reason`
        for mac, prefix in _PASTING_MACRO.findall(text):
            names.update(prefix + n for n in re.findall(r"\b" + mac + r"\s*\(\s*([A-Z][A-Z0-9_]*)\s*\)", text))
        return tuple(sorted(names))

    def _text_calls(self, seen: set[tuple[int, int]]) -> list[CallFact]:
        """Family-like calls the parser did not form (inside ERROR regions, e.g. after
        `__printf(2, 3)`), found in the text with comments and strings blanked."""
        if not _KW_CALL.search(self.text):
            return []
        text = _BLANK.sub(_spaces, self.text)
        # candidates first; a file's line table and macro lines only when one is left
        # (nearly every candidate is a call the parser formed: in SEEN)
        left = []
        line, last = 1, 0
        for m in _text_calls_in(text):
            name = m.group(1)
            pos = m.start()
            line += text.count("\n", last, pos)
            last = pos
            line_start = text.rfind("\n", 0, pos) + 1
            col = pos - line_start + 1
            if (line, col) in seen:
                continue
            before = text[line_start:pos]
            if col == 1 or before.lstrip().startswith("#") or _DECL_BEFORE.search(before):
                continue
            left.append((m, name, line, col))
        if not left:
            return []
        macro_lines = set()
        cont = False
        for i, ln in enumerate(self.lines, 1):
            if cont or ln.lstrip().startswith("#"):
                macro_lines.add(i)
            cont = ln.rstrip().endswith("\\") and (cont or ln.lstrip().startswith("#"))
        out = []
        for m, name, line, col in left:
            if line in macro_lines:
                continue
            args = tuple(norm(a) for a in call_args(text, m.end()))
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
        return declarator_name(fn) if fn is not None else None

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
            got = self.param_cache[fn.id] = {p.name: i for i, p in enumerate(params_of(fn))}
        return got


# the queries every parsed file needs, run in one walk (parse.matches_of)
_QUERIES = ("functions", "calls", "field_calls", "ops")
_TRACKED_STORE = re.compile(rb"(?:->|\.)\s*\w*reason\w*\s*(?:=[^=]|[|&+\-^]=)")
# macros whose arguments name a function rather than use its address: EXPORT_SYMBOL(f)
_NAMED_BY_MACRO = re.compile(r"\b(?:EXPORT_\w*|TRACE_\w*|DEFINE_EVENT\w*|DECLARE_\w*|NOKPROBE_SYMBOL|"
                             r"ALLOW_ERROR_INJECTION|BTF_ID\w*|__ADDRESSABLE)\s*\(\s*$")
_PASSED_LAST = re.compile(r",\s*&?\s*([a-z][a-z0-9]*_\w*[a-z0-9])\s*[,)]")
_STORED = re.compile(r"=\s*&?\s*([a-z][a-z0-9]*_\w*[a-z0-9])\s*[,;]")
_REASONISH_TOKEN = re.compile(r"\b(?:SKB_DROP_REASON_\w+|SKB_CONSUMED|[A-Z][A-Z0-9]*_[A-Z0-9_]*DROP[A-Z0-9_]*)\b")
_SKB_DR_SHORT = re.compile(r"\bSKB_DR_(?:SET|OR|INIT)\s*\(\s*\w+\s*,\s*([A-Z][A-Z0-9_]*)\s*\)")
_PASTING_MACRO = re.compile(r"#\s*define\s+(\w+)\s*\(\s*(?:\w+)\s*\)\s*(SKB_DROP_REASON_\w*?)\s*##")
_BLANK = re.compile(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"', re.S)
# a call whose name holds a KEEP_CALL keyword (the family and its wrappers all do)
_TEXT_CALL = re.compile(r"\b(\w*(?:" + KEEP_CALL.pattern + r")\w*)\s*\(")
# the same calls found from their keyword (a literal the regex engine scans for), then
# the word's start: _TEXT_CALL itself tries every word start and backtracks (4x slower)
_KW_CALL = re.compile(r"(?:" + KEEP_CALL.pattern + r")\w*\s*\(")
_WORD_CHAR = re.compile(r"\w")
_CALL_AFTER = re.compile(r"\s*\(")
_DECL_BEFORE = re.compile(r"(?:^|[\s(])(?:void|int|bool|static|inline|extern|unsigned|long|"
                          r"u32|struct\s+\w+|enum\s+\w+|__\w+)\s*\**\s*$|\.\s*$|->\s*$|&\s*$")


def _word_start(text: str, i: int) -> int:
    """Where the word (a run of \\w characters) that reaches position I begins."""
    while i > 0 and _WORD_CHAR.match(text, i - 1):
        i -= 1
    return i


def _word_at(text: str, start: int, end: int) -> tuple[int, int]:
    """The bounds of the word that holds TEXT[START:END]."""
    while _WORD_CHAR.match(text, end):
        end += 1
    return _word_start(text, start), end


def _used_as_value(text: str, name: str) -> bool:
    """Does NAME occur in TEXT as a whole word not followed by `(` (a call) and not named
    by a naming macro (`EXPORT_SYMBOL(name)`)? Found with str.find from the name itself:
    one regex of all the names, an alternation tried at every word, was 3 % of a scan."""
    i = text.find(name)
    while i >= 0:
        end = i + len(name)
        if _word_at(text, i, end) == (i, end) and not _CALL_AFTER.match(text, end) \
                and not _NAMED_BY_MACRO.search(text, max(0, i - 48), i):
            return True
        i = text.find(name, end)
    return False


def _reasonish_words(text: str) -> set[str]:
    """The words of TEXT that _REASONISH_TOKEN matches: each holds "DROP" or is
    SKB_CONSUMED, so only the words around those are tried (the same set as findall)."""
    out = set()
    for needle in ("DROP", "SKB_CONSUMED"):
        i = text.find(needle)
        while i >= 0:
            start, end = _word_at(text, i, i + len(needle))
            word = text[start:end]
            if _REASONISH_TOKEN.fullmatch(word):
                out.add(word)
            i = text.find(needle, end)
    return out


def _spaces(m: re.Match) -> str:
    """A comment or string as spaces, its newlines kept (positions do not move)."""
    g = m.group(0)
    if "\n" not in g:
        return " " * len(g)
    return "\n".join(" " * len(part) for part in g.split("\n"))


def _text_calls_in(text: str):
    """The matches of _TEXT_CALL in TEXT, in order (each a match of _TEXT_CALL itself)."""
    for m in _KW_CALL.finditer(text):
        yield _TEXT_CALL.match(text, _word_start(text, m.start()))
