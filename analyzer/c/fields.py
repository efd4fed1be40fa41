"""Which struct member a field expression names, for reasons stored in objects.

Rule (issue 12, idiom 2): field-sensitive, flow-insensitive. A read of a member sees the
union of every store into the same member anywhere in the tree. A member is *tracked*
only when its name says it holds a reason (`reason`, `drop_reason`, …: TRACKED); other
field reads stay unknown, as before.

Field identity is "CONTAINER.MEMBER", so that a common member name (`reason`: Bluetooth,
LLC, mac80211 mesh use it for their own codes) does not union unrelated stores.
CONTAINER is found cheaply, from the syntax around the expression:

  * `((struct T *)x)->m`          the cast: "T"
  * `acc(skb)->m`                 the accessor: "acc()" (link time turns it into T when
                                  acc is a function returning `struct T *` or a macro whose
                                  body casts to `struct T *`)
  * `x->m`, `x.m`, `x[i].m`       x's declared type in the enclosing blocks, the function's
                                  parameters, or the file scope: "T" for `struct T`, else
                                  the typedef name
  * anything else (`a->b->m`)     "?": unknown. A read of "?.m" is incomplete; a store into
                                  "?.m" that carries a catalogue reason makes every read of
                                  a member m incomplete (it could be any of them).
"""
from __future__ import annotations

import re

from analyzer.c.parse import Node

TRACKED = re.compile(r"reason")
_TAG = re.compile(r"\b(?:struct|union)\s+(\w+)")
_WORD = re.compile(r"[A-Za-z_]\w*")
_QUALIFIERS = {"const", "volatile", "static", "register", "extern", "unsigned", "signed",
               "__rcu", "__percpu", "__iomem", "__user", "__packed"}
UNKNOWN = "?"


def tracked_member(node: Node) -> str | None:
    """The member name of a field_expression if it holds reasons, else None."""
    f = node.child_by_field_name("field")
    if f is None:
        return None
    name = f.text.decode("utf-8", "replace")
    return name if TRACKED.search(name) else None


def field_key(node: Node) -> str | None:
    """ "CONTAINER.MEMBER" of a field_expression whose member is tracked, else None."""
    member = tracked_member(node)
    if member is None:
        return None
    return container(node.child_by_field_name("argument")) + "." + member


def type_tag(type_text: str) -> str | None:
    m = _TAG.search(type_text)
    if m:
        return m.group(1)
    words = [w for w in _WORD.findall(type_text) if w not in _QUALIFIERS]
    return words[-1] if words else None


def container(base: Node | None) -> str:
    while base is not None and base.type == "parenthesized_expression" and base.named_children:
        base = base.named_children[0]
    if base is None:
        return UNKNOWN
    t = base.type
    if t == "cast_expression":
        typ = base.child_by_field_name("type")
        tag = type_tag(typ.text.decode("utf-8", "replace")) if typ is not None else None
        return tag or UNKNOWN
    if t == "call_expression":
        fn = base.child_by_field_name("function")
        if fn is not None and fn.type == "identifier":
            return fn.text.decode("utf-8", "replace") + "()"
        return UNKNOWN
    if t == "subscript_expression":
        return container(base.child_by_field_name("argument"))
    if t == "pointer_expression":            # (*p).m
        return container(base.child_by_field_name("argument"))
    if t == "identifier":
        return declared_tag(base.text.decode("utf-8", "replace"), base) or UNKNOWN
    return UNKNOWN


def declared_tag(name: str, node: Node) -> str | None:
    """The struct tag (or typedef name) NAME is declared with, by C's block scoping:
    enclosing blocks, then the function's parameters, then the file scope."""
    n = node.parent
    while n is not None:
        t = n.type
        if t == "compound_statement" or t == "translation_unit":
            for c in n.named_children:
                if c.type == "declaration" and c.start_byte < node.start_byte:
                    tag = _decl_tag(c, name)
                    if tag:
                        return tag
        elif t == "for_statement":
            init = n.child_by_field_name("initializer")
            if init is not None and init.type == "declaration":
                tag = _decl_tag(init, name)
                if tag:
                    return tag
        elif t == "function_definition":
            d = n.child_by_field_name("declarator")
            while d is not None and d.type != "function_declarator":
                d = d.child_by_field_name("declarator")
            plist = d.child_by_field_name("parameters") if d is not None else None
            for p in (plist.named_children if plist is not None else []):
                if p.type == "parameter_declaration" and _declarator_name(
                        p.child_by_field_name("declarator")) == name:
                    typ = p.child_by_field_name("type")
                    return type_tag(typ.text.decode("utf-8", "replace")) if typ is not None else None
        n = n.parent
    return None


def _decl_tag(decl: Node, name: str) -> str | None:
    for d in decl.children_by_field_name("declarator"):
        if _declarator_name(d) == name:
            typ = decl.child_by_field_name("type")
            return type_tag(typ.text.decode("utf-8", "replace")) if typ is not None else None
    return None


def _declarator_name(d: Node | None) -> str | None:
    while d is not None:
        if d.type == "identifier":
            return d.text.decode("utf-8", "replace")
        nd = d.child_by_field_name("declarator")
        if nd is None:
            ids = [c for c in d.named_children if c.type == "identifier"]
            return ids[0].text.decode("utf-8", "replace") if ids else None
        d = nd
    return None


def return_struct(fn: Node) -> str:
    """T when the function definition FN returns `struct T *` (an accessor), else ""."""
    typ = fn.child_by_field_name("type")
    decl = fn.child_by_field_name("declarator")
    if typ is None or decl is None or decl.type != "pointer_declarator":
        return ""
    m = _TAG.search(typ.text.decode("utf-8", "replace"))
    return m.group(1) if m else ""
