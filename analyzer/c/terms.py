"""Expressions to reason terms, and what the walk needs besides: negation and sign
tests, calls through pointers, constant returns, statement macros, body shape."""
from __future__ import annotations

import re

from analyzer.c.facts import ENUMERATOR_LIKE, Term
from analyzer.c.fields import container, field_key
from analyzer.c.parse import Node
from analyzer.c.syntax import arg_list, node_text, norm, strip

def stateless(node: Node, params: dict[str, int]) -> tuple[Term, ...]:
    """Terms of an argument outside the control-flow walk (no tracked variables)."""
    return tuple(sorted(evaluate(node, params, None, None)))


def evaluate(node: Node, params: dict[str, int], state: dict | None, flow) -> frozenset:
    node = strip(node)
    t = node.type
    if t == "identifier":
        name = node_text(node)
        if state is not None and name in state:
            return state[name]
        if ENUMERATOR_LIKE.match(name) and not name.islower():
            return frozenset({("const", name)})
        if name in params:
            return frozenset({("param", params[name])})
        return frozenset({("unknown", f"variable {name}")})
    if t == "number_literal":
        return frozenset({("const", node_text(node).rstrip("uUlL"))})
    if t == "conditional_expression":
        if flow is not None:
            flow.effects(node.child_by_field_name("condition"))
        cons = node.child_by_field_name("consequence")
        alt = node.child_by_field_name("alternative")
        out = frozenset()
        out |= (evaluate(cons, params, state, flow) if cons is not None
                else evaluate(node.child_by_field_name("condition"), params, state, flow))
        if alt is not None:
            out |= evaluate(alt, params, state, flow)
        return out
    if t == "call_expression":
        fn = node.child_by_field_name("function")
        if fn is not None and fn.type == "identifier":
            name = node_text(fn)
            args = arg_list(node.child_by_field_name("arguments"))
            if name in ("likely", "unlikely", "READ_ONCE") and args:
                return evaluate(args[0], params, state, flow)
            if flow is not None:
                flow.effects(node)
            indirect = indirect_call(name, args)
            if indirect is not None:
                return indirect
            if ENUMERATOR_LIKE.match(name) and args and all(
                    strip(a).type in ("identifier", "number_literal") for a in args):
                return frozenset({("mcall", name) + tuple(node_text(strip(a)) for a in args)})
            return frozenset({("call", name)})
        if flow is not None:
            flow.effects(node)
        return pointer_call(fn)
    if t == "assignment_expression" and flow is not None:
        flow.effects(node)
        left = strip(node.child_by_field_name("left"))
        return evaluate(left, params, flow.state, flow) if left.type == "identifier" else \
            evaluate(node.child_by_field_name("right"), params, state, flow)
    if t == "comma_expression":
        if flow is not None:
            flow.effects(node.child_by_field_name("left"))
        return evaluate(node.child_by_field_name("right"), params, state, flow)
    if t == "unary_expression" and node_text(node.child_by_field_name("operator")) == "-":
        return frozenset(negate(x) for x in evaluate(node.child_by_field_name("argument"), params,
                                                     state, flow))
    if t == "field_expression":
        key = field_key(node)
        if key is not None:
            return frozenset({("field", key)})
        return frozenset({("unknown", "struct field " + norm(node_text(node))[:60])})
    if t == "pointer_expression":
        got = pointer_value(node, params, state)
        if got is not None:
            return got
        return frozenset({("unknown", "through a pointer " + norm(node_text(node))[:60])})
    return frozenset({("unknown", "expression " + norm(node_text(node))[:60])})



# `INDIRECT_CALL_2(f, f2, f1, args…)` calls f, and is f1 or f2 when they match
_INDIRECT = re.compile(r"^INDIRECT_CALL_(?:(\d+)|INET(?:_(\d+))?)$")


def indirect_call(name: str, args: list[Node]) -> frozenset | None:
    """Terms of an INDIRECT_CALL_*() macro call: its listed direct candidates, plus what
    its pointer can be (a member's assignments)."""
    m = _INDIRECT.match(name)
    if m is None or not args:
        return None
    n = int(m.group(1) or m.group(2) or 2)
    out = {("call", node_text(strip(a))) for a in args[1:1 + n] if strip(a).type == "identifier"}
    return frozenset(out) | pointer_call(strip(args[0]))


def pointer_call(fn: Node | None) -> frozenset:
    """The return of a call through a pointer: through a struct member, the union over the
    functions assigned to that member (`("icall", "CONTAINER.MEMBER")`, fields.py);
    otherwise unknown."""
    if fn is not None:
        fn = strip(fn)
        if fn.type == "field_expression":
            member = fn.child_by_field_name("field")
            if member is not None:
                return frozenset({("icall", container(fn.child_by_field_name("argument")) + "."
                                   + node_text(member))})
        if fn.type == "pointer_expression" and node_text(fn)[:1] == "*":
            return pointer_call(fn.child_by_field_name("argument"))
    return frozenset({("unknown", "call through a pointer " + norm(node_text(fn))[:40]
                       if fn is not None else "call through a pointer")})


def pointer_value(node: Node, params: dict[str, int], state: dict | None) -> frozenset | None:
    """`*p` for a parameter p: what it points to (what the walk wrote there, else what the
    callers pointed it at); `&x` for a tracked x: x's terms, as pointees."""
    arg = node.child_by_field_name("argument")
    if arg is None:
        return None
    arg = strip(arg)
    if arg.type != "identifier":
        return None
    name = node_text(arg)
    if node_text(node)[:1] == "*":
        if state is not None and "*" + name in state:
            return state["*" + name]
        if name in params:
            return frozenset({("deref", params[name])})
    elif node_text(node)[:1] == "&" and state is not None and name in state:
        return frozenset(("pointee",) + t for t in state[name])
    return None


# --------------------------------------------------------------------------------------
# Negated reasons and sign tests: terms in a normal form, sign(S, neg?(base)), so that a
# loop or a goto cycle cannot grow them.
_NUMBER = re.compile(r"^-?(?:\d+|0[xX][0-9a-fA-F]+)$")
_FLIP = {"-": "+", "+": "-", "0": "0"}


def negate(t: Term) -> Term:
    """The term of -T."""
    kind = t[0]
    if kind == "unknown":
        return t
    if kind == "const" and _NUMBER.match(t[1]):
        v = t[1]
        return t if v.lstrip("-") in ("0", "0x0") else ("const", v[1:] if v.startswith("-") else "-" + v)
    if kind == "neg":
        return t[1]
    if kind == "sign":
        flipped = {_FLIP[c] for c in t[1]}
        return ("sign", "".join(c for c in "-0+" if c in flipped), negate(t[2]))
    return ("neg", t)


def signed(keep: str, t: Term) -> Term | None:
    """T restricted to the values whose sign is in KEEP (None: no value left)."""
    kind = t[0]
    if kind == "unknown":
        return t
    if kind == "const" and _NUMBER.match(t[1]):
        v = int(t[1], 0)
        return t if ("-" if v < 0 else "0" if v == 0 else "+") in keep else None
    if kind == "sign":
        keep = "".join(c for c in "-0+" if c in keep and c in t[1])
        t = t[2]
    if not keep:
        return None
    return t if keep == "-0+" else ("sign", keep, t)


# `x OP 0` keeps these signs of x on its true branch
SIGN_OPS = {"<": "-", "<=": "-0", ">": "+", ">=": "0+", "==": "0", "!=": "-+"}
MIRROR = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def is_zero(node: Node) -> bool:
    return node.type == "number_literal" and node_text(node).rstrip("uUlL") in ("0", "0x0")


ZERO = {("const", "SKB_NOT_DROPPED_YET"), ("const", "0")}
RETURNED_NAME = re.compile(r"\breturn\s+\(?\s*([a-z_]\w*)\s*\)?\s*;")
ASSIGNED_NAME = re.compile(r"(?<![.>\w])([a-z_]\w*)\s*=(?!=)")
# calls whose arguments may carry a parameter on to a drop
DROPLIKE_CALL = re.compile(r"\b\w*(?:drop|reason)\w*\s*\(")
_RETURN = re.compile(rb"\breturn\b")

_CONST_RETURN = re.compile(rb"\breturn\s+\(?\s*(-?)\s*([A-Z][A-Z0-9_]*|\d+)\s*\)?\s*;")


_CONST_ASSIGN = re.compile(r"=\s*(?:\([^()]*\)\s*)?-?\s*(?!NULL\b)[A-Z][A-Z0-9]*_[A-Z0-9_]*\s*[;,)]")
_NAME_BEFORE = re.compile(r"([a-z_]\w*)\s*$")


def const_assigned(text: str) -> set[str]:
    """Names assigned an enumerator-like constant (ASSIGNED_CONST, found from the `=`)."""
    out = set()
    for m in _CONST_ASSIGN.finditer(text):
        p = m.start()
        if p and text[p - 1] in "=!<>+-*/%&|^":
            continue
        n = _NAME_BEFORE.search(text, max(0, p - 64), p)
        if n:
            out.add(n.group(1))
    return out


def passed_bare(name: str, text: str) -> bool:
    """NAME is handed to a call as a whole argument, maybe cast: `f(a, (u32)name)`."""
    i = text.find(name)
    n = len(name)
    while i >= 0:
        j = i + n
        if (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")) and \
                (j >= len(text) or not (text[j].isalnum() or text[j] == "_")):
            k = j
            while k < len(text) and text[k] in " \t\n":
                k += 1
            if k < len(text) and text[k] in ",)":
                b = i - 1
                while b >= 0 and text[b] in " \t\n":
                    b -= 1
                if b >= 0 and text[b] == ")":          # a cast: skip back over it
                    depth = 0
                    while b >= 0:
                        depth += {")": 1, "(": -1}.get(text[b], 0)
                        if depth == 0:
                            break
                        b -= 1
                    b -= 1
                    while b >= 0 and text[b] in " \t\n":
                        b -= 1
                if b >= 0 and text[b] in "(,":
                    return True
        i = text.find(name, i + 1)
    return False


def constant_returns(text: bytes) -> frozenset | None:
    """The terms of a function's returns when every one is a constant (None otherwise)."""
    found = _CONST_RETURN.findall(text)
    if len(found) != len(_RETURN.findall(text)):
        return None
    out = set()
    for neg, name in found:
        t = ("const", name.decode())
        out.add(negate(t) if neg else t)
    return frozenset(out)


def toplevel_calls(body: Node | None) -> tuple[str, ...]:
    out = []
    for c in (body.named_children if body is not None else []):
        if c.type in ("expression_statement", "return_statement") and c.named_children:
            e = strip(c.named_children[0])
            if e.type == "call_expression":
                fn = e.child_by_field_name("function")
                if fn is not None and fn.type == "identifier":
                    out.append(node_text(fn))
    return tuple(out)


_EXPANSIONS: dict[str, Node | None] = {}


def parse_statement(body: str) -> Node | None:
    """A macro body as the compound statement of a function (cached per text)."""
    got = _EXPANSIONS.get(body)
    if got is None and body not in _EXPANSIONS:
        from analyzer.c import parse
        if len(_EXPANSIONS) > 2000:
            _EXPANSIONS.clear()
        tree = parse.parse(("void __macro(void) {\n" + body + ";\n}\n").encode())
        fn = tree.root_node.named_children[0] if tree.root_node.named_children else None
        got = fn.child_by_field_name("body") if fn is not None and fn.type == "function_definition" \
            else None
        if got is not None and got.has_error:
            got = None
        _EXPANSIONS[body] = got
    return got
_LOOPS = frozenset({"while_statement", "for_statement", "do_statement", "switch_statement"})
_NOT_STATEMENTS = frozenset({"compound_statement", "comment", "else_clause", "case_statement"})


SHAPE_LIMIT = 16          # body_shape stops counting past this (no wrapper is that big)
SHAPE_TOPLEVEL = 4        # ... and is not measured for bodies with more top-level statements


def body_shape(body: Node | None) -> tuple[int, bool]:
    """(statements at every depth, a loop or switch anywhere) of a function body; the
    count stops past SHAPE_LIMIT and at the first loop or switch (enough to tell a small
    wrapper).

    Blocks, comments and `else` are not statements; `#if` blocks are looked into (both
    branches may be compiled in), expressions are not (a GNU statement expression aside)."""
    if body is None:
        return 0, False
    size, branchy = 0, False
    stack = list(body.named_children)
    while stack and not branchy and size <= SHAPE_LIMIT:
        n = stack.pop()
        t = n.type
        if t in _LOOPS:
            branchy = True
        if t == "declaration" or (t.endswith("_statement") and t not in _NOT_STATEMENTS):
            size += 1
        if t in ("expression_statement", "declaration", "return_statement", "goto_statement",
                 "break_statement", "continue_statement", "comment"):
            continue
        stack.extend(n.named_children)
    return size, branchy

