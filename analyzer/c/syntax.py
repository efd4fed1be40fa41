"""Small helpers over tree-sitter nodes (the parser itself is in parse.py)."""
from __future__ import annotations

import re

from analyzer.c.facts import KEEP_CALL, Param
from analyzer.c.parse import Node

# --------------------------------------------------------------------------------------
def keep_call(callee: str, arglist: Node | None) -> bool:
    """Calls whose arguments are kept: possible family members, or reasons passed on
    (an argument that names one). The argument list's whole text is looked at first:
    most calls name none, and then no argument needs looking at."""
    if KEEP_CALL.search(callee):
        return True
    if arglist is None or not REASONISH.search(arglist.text):
        return False
    return any(REASONISH.search(a.text) for a in arg_list(arglist))


REASONISH = re.compile(rb"reason|SKB_DROP|SKB_CONSUMED|SKB_NOT_DROPPED|skb")


def node_text(node: Node) -> str:
    return node.text.decode("utf-8", "replace")


def norm(s: str) -> str:
    """Runs of whitespace as one space, none at the ends (re's \\s and str.split() agree
    on what whitespace is)."""
    return " ".join(s.split())


def arg_list(arglist: Node) -> list[Node]:
    return [c for c in arglist.named_children if c.type != "comment"]


def declarator_name(fn: Node) -> str | None:
    d = fn.child_by_field_name("declarator")
    while d is not None:
        if d.type == "identifier":
            return node_text(d)
        if d.type == "function_declarator":
            inner = d.child_by_field_name("declarator")
            if inner is not None and inner.type == "identifier":
                return node_text(inner)
            d = inner
            continue
        d = d.child_by_field_name("declarator")
    return None


def function_declarator(fn: Node) -> Node | None:
    d = fn.child_by_field_name("declarator")
    while d is not None and d.type != "function_declarator":
        d = d.child_by_field_name("declarator")
    return d


def params_of(fn: Node) -> list[Param]:
    fd = function_declarator(fn)
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
                name = node_text(d)
                break
            if d.type == "pointer_declarator":
                pointer = True
            nd = d.child_by_field_name("declarator")
            if nd is None:
                ids = [c for c in d.named_children if c.type == "identifier"]
                name = node_text(ids[0]) if ids else ""
                break
            d = nd
        out.append(Param(name=name, type=norm(node_text(t)) if t is not None else "", pointer=pointer))
    return out


def strip(node: Node) -> Node:
    while node.type in ("parenthesized_expression", "cast_expression"):
        inner = (node.child_by_field_name("value") if node.type == "cast_expression"
                 else (node.named_children[0] if node.named_children else None))
        if inner is None:
            break
        node = inner
    return node


