"""The per-function reaching-definitions walk: which reason terms reach each call's
arguments, the function's returns and its out-parameters."""
from __future__ import annotations

import re

from analyzer.c.facts import (ASSIGNED_REASON, DECLARED_NAMES, ENUMERATOR_LIKE, NS,
                              REASON_TYPE, RETURNS_CONST, FunctionFact)
from analyzer.c.fields import field_key, return_struct
from analyzer.c.parse import Node
from analyzer.c.syntax import arg_list, keep_call, node_text, norm, params_of, strip
from analyzer.c.terms import (ASSIGNED_NAME, DROPLIKE_CALL, MIRROR, RETURNED_NAME,
                               SHAPE_TOPLEVEL, SIGN_OPS, ZERO, body_shape, const_assigned,
                               constant_returns, evaluate, is_zero, parse_statement,
                               passed_bare, signed, toplevel_calls)


def _copy(state: dict | None) -> dict | None:
    return None if state is None else dict(state)


_STATIC = re.compile(r"\bstatic\b")
_INLINE = re.compile(r"inline\b")


class FunctionFlow:
    """Reaching-definitions walk over one function body, statement by statement.

    State: tracked variable -> frozenset of terms, or None where the code is unreachable.
    Handles if/else, switch with fall-through, loops (to a fixed point), goto labels
    (forward and backward, to a fixed point), break/continue and return.
    """

    def __init__(self, name: str, node: Node, macros: dict | None = None):
        self.name, self.node = name, node
        # same-file statement macros (name -> [(line, params, body)]): the walk sees through
        # `CALL_RXH(f)` as through the statements it stands for
        self.macros = macros or {}
        self.in_macro = 0
        self.flowed = False
        self.tracked_calls: set[tuple[int, int]] = set()
        self.params = params_of(node)
        self.pidx = {p.name: i for i, p in enumerate(self.params)}
        self.out_params = {p.name: i for i, p in enumerate(self.params)
                           if p.pointer and REASON_TYPE.search(p.type)}
        self.reason_params = {p.name: i for i, p in enumerate(self.params)
                              if not p.pointer and REASON_TYPE.search(p.type)}
        ret = node.child_by_field_name("type")
        self.returns_reason = ret is not None and bool(REASON_TYPE.search(node_text(ret))) and \
            not node_text(node.child_by_field_name("declarator")).lstrip().startswith("*")
        self.tracked_names: set[str] = set()
        self.state: dict | None = {}
        self.record: dict[tuple[int, int], list[frozenset]] = {}
        self.returns: frozenset = frozenset()
        self.out_writes: dict[int, frozenset] = {}
        self.stored: set[int] = set()
        self.labels: dict[str, dict] = {}
        self.ctx: list[dict] = []
        self.trace: list[tuple[str, tuple[str, ...]]] = []
        # stores into tracked struct members: (row, column) -> (field, terms)
        self.field_stores: dict[tuple[int, int], tuple[str, frozenset]] = {}

    # -- driver ------------------------------------------------------------------------
    def run(self) -> tuple[FunctionFact, dict]:
        body = self.node.child_by_field_name("body")
        text = self.node.text
        needs_flow = body is not None and (b"drop_reason" in text or b"SKB_DR" in text
                                           or b"trace_kfree_skb" in text or b"trace_consume_skb" in text
                                           or bool(self.reason_params) or bool(self.out_params))
        passed: dict[str, int] = {}
        const_returns = None
        # a value that may be a reason of some catalogue or subsystem enum (mac80211's
        # ieee80211_rx_result, tcp_ack's int) is followed where it is returned as an
        # enumerator-like constant, handed to a drop-like call, or collected by a macro
        if body is not None:
            # a parameter handed to a drop-like call, a same-file statement macro: the
            # walk tracks the one and sees through the other
            if (b"drop" in text or b"reason" in text) and any(
                    not p.pointer and p.name not in self.reason_params for p in self.params):
                passed = self._params_passed_on(node_text(self.node))
                needs_flow = needs_flow or bool(passed)
            if not needs_flow and self.macros:
                needs_flow = any(m.encode() + b"(" in text for m in self.macros)
        if body is not None and not needs_flow and RETURNS_CONST.search(text):
            # every return a constant (an IRQ handler, most rx handlers): no walk needed
            const_returns = constant_returns(text)
            needs_flow = const_returns is None
        if needs_flow:
            self.flowed = True
            body_text = node_text(self.node)
            self.tracked_names = set(ASSIGNED_REASON.findall(body_text)) | \
                {n for n in DECLARED_NAMES.findall(body_text) if "reason" in n} | \
                const_assigned(body_text)
            if self.returns_reason or RETURNS_CONST.search(text):
                # `return queued;` in a function typed enum skb_drop_reason, `return res;`
                # in one whose other returns are enumerator-like constants
                self.tracked_names |= set(RETURNED_NAME.findall(body_text))
            for name in self.macros:
                if name + "(" in body_text or name + " (" in body_text:
                    for _line, _params, mbody in self.macros[name]:
                        self.tracked_names |= set(ASSIGNED_NAME.findall(mbody))
            init = {n: frozenset({("param", i)}) for n, i in self.reason_params.items()}
            for n, i in passed.items():
                init.setdefault(n, frozenset({("param", i)}))
            for _ in range(6):
                before = {k: dict(v) if v else v for k, v in self.labels.items()}
                self.state = dict(init)
                self.state.update({"*" + n: frozenset({("deref", i)}) for n, i in self.out_params.items()})
                self.stmt(body)
                if before == self.labels:
                    break
        calls = {k: tuple(tuple(sorted(s)) for s in v) for k, v in self.record.items()}
        statements = len([c for c in body.named_children if c.type != "comment"]) if body else 0
        size, branchy = body_shape(body) if statements <= SHAPE_TOPLEVEL else (statements, False)
        decl = self.node.child_by_field_name("declarator")
        n = (decl.start_byte - self.node.start_byte) if decl else 0
        head = text[:n]
        # N bytes, taken as N characters of the decoded text (as ever): the same where
        # they are ASCII, and only then is the whole function not decoded for them
        head = head.decode("ascii") if head.isascii() else node_text(self.node)[:n]
        fact = FunctionFact(
            name=self.name, line=self.node.start_point[0] + 1, end_line=self.node.end_point[0] + 1,
            static=bool(_STATIC.search(head)), inline=bool(_INLINE.search(head)),
            params=tuple(self.params), returns_reason=self.returns_reason,
            return_terms=tuple(sorted(self.returns)),
            out_writes=tuple(sorted((i, tuple(sorted(s))) for i, s in self.out_writes.items())),
            stored_params=tuple(sorted(self.stored)), statements=statements,
            returns_void=(not self.returns_reason and node_text(self.node.child_by_field_name("type")) == "void"
                          and not node_text(decl).lstrip().startswith("*") if decl is not None else False),
            toplevel_calls=toplevel_calls(body), trace_calls=tuple(self.trace),
            return_struct=return_struct(self.node),
            value_returns=() if self.returns_reason else
            tuple(sorted(self.returns if const_returns is None else const_returns)),
            size=size, branchy=branchy)
        return fact, calls

    def _params_passed_on(self, t: str) -> dict[str, int]:
        """Non-pointer parameters handed (maybe cast) to a drop-like call, e.g. `res` in
        `kfree_skb_reason(rx->skb, (__force u32)res)`: the walk tracks them, so that
        tests of their value (`res == RX_QUEUED`, a subsystem test) refine them."""
        out: dict[str, int] = {}
        cands = [(p.name, i) for i, p in enumerate(self.params)
                 if p.name and not p.pointer and p.name not in self.reason_params
                 and passed_bare(p.name, t)]
        if not cands:
            return out
        calls = [m.end() for m in DROPLIKE_CALL.finditer(t)]
        if not calls:
            return out
        from analyzer.c.text import call_args
        args = set()
        for end in calls:
            for a in call_args(t, end):
                args.add(re.sub(r"^\s*(?:\([^()]*\)\s*)*", "", a).strip())
        for name, i in cands:
            if name in args:
                out[name] = i
        return out

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
        c = strip(cond)
        while c.type == "call_expression" and node_text(c.child_by_field_name("function")) in ("likely", "unlikely"):
            a = arg_list(c.child_by_field_name("arguments"))
            if not a:
                return state
            c = strip(a[0])
        if c.type == "unary_expression" and node_text(c.child_by_field_name("operator")) == "!":
            c, truth = strip(c.child_by_field_name("argument")), not truth
        if c.type == "identifier" and node_text(c) in state:
            v = node_text(c)
            zero = {t for t in state[v] if t in ZERO}
            state[v] = (state[v] - zero) if truth else (state[v] & zero) | \
                frozenset(t for t in state[v] if t[0] != "const")
            return state
        if c.type == "binary_expression":
            op = node_text(c.child_by_field_name("operator"))
            left, right = strip(c.child_by_field_name("left")), strip(c.child_by_field_name("right"))
            if op in SIGN_OPS and (is_zero(right) or is_zero(left)):
                if is_zero(left):
                    left, op = right, MIRROR[op]
                if left.type == "identifier" and node_text(left) in state:
                    keep = SIGN_OPS[op] if truth else "".join(
                        x for x in "-0+" if x not in SIGN_OPS[op])
                    v = node_text(left)
                    state[v] = frozenset(x for x in (signed(keep, t) for t in state[v]) if x is not None)
                    return state
            if op in ("==", "!=") and right.type == "identifier" and ENUMERATOR_LIKE.match(node_text(right)):
                sub = self._subsystem_of(left, state)
                if sub is not None:
                    v = sub
                    eq = truth if op == "==" else not truth
                    state[v] = frozenset(x if x[0] == "unknown" else ("subsys", node_text(right), eq, x)
                                         for x in state[v])
                    return state
            if op in ("==", "!=") and left.type == "identifier" and node_text(left) in state \
                    and right.type == "identifier" and ENUMERATOR_LIKE.match(node_text(right)):
                v, k = node_text(left), ("const", node_text(right))
                equal = truth if op == "==" else not truth
                if equal:
                    state[v] = frozenset({k}) if (k in state[v] or any(t[0] != "const" for t in state[v])) \
                        else frozenset()
                else:
                    # the other values: a constant goes, a symbolic term loses that value
                    state[v] = frozenset(t if t[0] in ("const", "unknown") or t[:2] == ("except", k[1])
                                         else ("except", k[1], t) for t in state[v] - {k})
        return state

    @staticmethod
    def _subsystem_of(node: Node, state: dict) -> str | None:
        """The tracked variable X of `u32_get_bits(X, SKB_DROP_REASON_SUBSYS_MASK)` (or
        `X & SKB_DROP_REASON_SUBSYS_MASK` shifted): a test of the reason's subsystem."""
        if node.type != "call_expression" or node_text(node.child_by_field_name("function")) not in (
                "u32_get_bits", "FIELD_GET"):
            return None
        a = arg_list(node.child_by_field_name("arguments"))
        if len(a) != 2:
            return None
        x, mask = (a[0], a[1]) if node_text(node.child_by_field_name("function")) == "u32_get_bits" \
            else (a[1], a[0])
        x = strip(x)
        if node_text(strip(mask)) == "SKB_DROP_REASON_SUBSYS_MASK" and x.type == "identifier" \
                and node_text(x) in state:
            return node_text(x)
        return None

    def _expand(self, name: str, args: list[Node], line: int) -> Node | None:
        """The body of statement macro NAME with ARGS substituted, parsed (the definition
        in force at LINE: the last one above it)."""
        defs = [d for d in self.macros[name] if d[0] < line] or self.macros[name][:1]
        _l, params, body = defs[-1]
        if len(params) != len(args):
            return None
        texts = [node_text(a) for a in args]
        if params:
            pat = re.compile(r"\b(" + "|".join(re.escape(p) for p in params) + r")\b")
            amap = dict(zip(params, texts))
            body = pat.sub(lambda m: amap[m.group(1)], body)
        return parse_statement(body)

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
            label = node_text(node.child_by_field_name("label"))
            self.state = self.join(self.state, self.labels.get(label))
            for c in node.named_children[1:]:
                self.stmt(c)
        elif t == "goto_statement":
            self.goto(node_text(node.child_by_field_name("label")))
        elif t == "return_statement":
            if self.state is not None:
                exprs = [c for c in node.named_children if c.type != "comment"]
                if exprs:
                    v = evaluate(exprs[0], self.pidx, self.state, self)
                    if self.state is not None:
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
        is_reason = typ is not None and REASON_TYPE.search(node_text(typ)) is not None
        for d in node.children_by_field_name("declarator"):
            if d.type == "init_declarator":
                target = d.child_by_field_name("declarator")
                value = d.child_by_field_name("value")
                if value is not None:
                    self.effects(value)
                if (target is not None and target.type == "identifier" and self.state is not None
                        and (is_reason or node_text(target) in self.tracked_names)):
                    self.state[node_text(target)] = (evaluate(value, self.pidx, self.state, None)
                                                if value is not None else frozenset())
            elif d.type == "identifier" and self.state is not None and \
                    (is_reason or node_text(d) in self.tracked_names):
                self.state[node_text(d)] = frozenset()

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
            left = strip(node.child_by_field_name("left"))
            op = node.child_by_field_name("operator")
            op = node_text(op) if op is not None else "="
            if left.type == "identifier" and node_text(left) in self.state:
                name = node_text(left)
                self.state[name] = (evaluate(right, self.pidx, self.state, None) if op == "="
                                    else frozenset({("unknown", f"compound assignment {op}")}))
            elif left.type == "pointer_expression":
                arg = strip(left.child_by_field_name("argument"))
                if arg.type == "identifier" and node_text(arg) in self.out_params:
                    i = self.out_params[node_text(arg)]
                    v = evaluate(right, self.pidx, self.state, None) if op == "=" else \
                        frozenset({("unknown", f"compound assignment {op}")})
                    self.out_writes[i] = self.out_writes.get(i, frozenset()) | v
                    self.state["*" + node_text(arg)] = v
            elif left.type in ("field_expression", "subscript_expression"):
                if left.type == "field_expression":
                    self.store_field(left, node, evaluate(right, self.pidx, self.state, None)
                                     if op == "=" else frozenset({("unknown", f"compound assignment {op}")}))
                # the reason stored with the skb itself (its control block) for a later free
                r = strip(right)
                target = node_text(left)
                if r.type == "identifier" and node_text(r) in self.reason_params and any(
                        re.search(r"\b" + re.escape(p.name) + r"\b", target)
                        for p in self.params if p.pointer and "sk_buff" in p.type and p.name):
                    self.stored.add(self.reason_params[node_text(r)])
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
        args = arg_list(arglist) if arglist is not None else []
        for a in args:
            self.effects(a)
        if self.state is None:
            return
        if fn is None or fn.type != "identifier":
            self.effects(fn)
            return
        name = node_text(fn)
        if name in ("SKB_DR", "SKB_DR_SET", "SKB_DR_INIT", "SKB_DR_OR") and args:
            var = node_text(strip(args[0]))
            if strip(args[0]).type == "field_expression":
                # on a struct member: a store (SKB_DR_OR keeps what was there)
                r = frozenset({NS}) if name == "SKB_DR" or len(args) < 2 else \
                    frozenset({("const", "SKB_DROP_REASON_" + node_text(args[1]).strip())})
                self.store_field(strip(args[0]), node, r)
                return
            if name == "SKB_DR":
                self.state[var] = frozenset({NS})
            elif len(args) > 1:
                r = frozenset({("const", "SKB_DROP_REASON_" + node_text(args[1]).strip())})
                if name == "SKB_DR_OR":
                    cur = self.state.get(var, frozenset({NS}))
                    may_be_ns = NS in cur or any(x[0] != "const" for x in cur)
                    self.state[var] = (cur - {NS}) | r if may_be_ns else cur
                else:
                    self.state[var] = r
            return
        if name in ("trace_kfree_skb", "trace_consume_skb"):
            self.trace.append((name[len("trace_"):], tuple(norm(node_text(a)) for a in args)))
        if not self.in_macro:       # positions inside an expansion are not the file's
            # before the out-parameters below: `&x` is what x holds when the call starts
            tracked = any(strip(a).type == "identifier" and node_text(strip(a)) in self.state
                          for a in args)
            if tracked or keep_call(name, arglist):
                key = (node.start_point[0], node.start_point[1])
                if tracked:
                    self.tracked_calls.add(key)
                vals = [evaluate(a, self.pidx, self.state, None) for a in args]
                old = self.record.get(key)
                self.record[key] = vals if old is None else [o | v for o, v in zip(old, vals)]
        for i, a in enumerate(args):
            s = strip(a)
            if s.type == "identifier" and node_text(s) in self.out_params:
                # an out-parameter handed on: whatever the callee writes through it
                j = self.out_params[node_text(s)]
                self.out_writes[j] = self.out_writes.get(j, frozenset()) | {("out", name, i)}
            if s.type == "pointer_expression" and node_text(s)[:1] == "&":
                inner = strip(s.child_by_field_name("argument"))
                if inner.type == "identifier" and node_text(inner) in self.state:
                    v = node_text(inner)
                    self.state[v] = self.state[v] | {("out", name, i)}
        if name in self.macros and self.in_macro < 4:
            body = self._expand(name, args, node.start_point[0] + 1)
            if body is not None:
                self.in_macro += 1
                try:
                    self.stmt(body)
                finally:
                    self.in_macro -= 1

    def store_field(self, left: Node, at: Node, value: frozenset) -> None:
        """A store into a tracked struct member (fields.py): flow-insensitive at link time,
        so only the union of the values stored at this point is kept."""
        key = field_key(left)
        if key is None:
            return
        pos = (at.start_point[0], at.start_point[1])
        old = self.field_stores.get(pos)
        self.field_stores[pos] = (key, value if old is None else old[1] | value)

