"""The call graph around drop sites (networkx).

Nodes are functions: "name" for functions with external linkage, "path:name" for static
ones (two static helpers of one name in two files are two nodes). Calls through an ops
member (`ops->ndo_start_xmit(…)`) go to a node ".ndo_start_xmit", and each designated
initialiser `.ndo_start_xmit = f` adds an edge of kind "ops" from that node to f. The
Analysis keeps the callers of every function with a site, transitively.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import networkx as nx

from analyzer.c.facts import FileFacts
from analyzer.model import CallGraph, Edge, Node


def node_id(path: str, name: str, static: bool) -> str:
    return f"{path}:{name}" if static else name


def full_graph(facts: Mapping[str, FileFacts], index) -> nx.DiGraph:
    g = nx.DiGraph()
    global_targets: dict[str, list[str]] = {}

    def targets_of(name: str, path: str, local: dict) -> list[str]:
        fn = local.get(name)
        if fn is not None:
            return [node_id(path, name, fn.static)]
        t = global_targets.get(name)
        if t is None:
            t = global_targets[name] = [node_id(p, d.name, d.static)
                                        for p, d in index.resolve(name, "")]
        return t

    # every defined function first, so that edges never create attribute-less nodes
    for path in sorted(facts):
        for fn in facts[path].functions:
            nid = node_id(path, fn.name, fn.static)
            if nid not in g:
                g.add_node(nid, name=fn.name, file=path, line=fn.line, static=fn.static)
    for path in sorted(facts):
        f = facts[path]
        local = {fn.name: fn for fn in f.functions}
        for caller, callee, line in f.edges:
            cf = local.get(caller)
            cid = node_id(path, caller, cf.static) if cf is not None else caller
            if cid not in g:
                g.add_node(cid, name=caller, file=path, line=line, static=False)
            if callee.startswith("."):
                targets = [callee]
                if callee not in g:
                    g.add_node(callee, name=callee, file="", line=0, static=False)
            else:
                targets = targets_of(callee, path, local)
            for t in targets:
                if t not in g:
                    g.add_node(t, name=t.rsplit(":", 1)[-1], file=t.rsplit(":", 1)[0] if ":" in t else "",
                               line=0, static=":" in t)
                if t != cid and not g.has_edge(cid, t):
                    g.add_edge(cid, t, file=path, line=line, kind="call")
        for op in f.ops:
            src = "." + op.field
            for t in targets_of(op.value, path, local):
                if t not in g:
                    continue
                if src not in g:
                    g.add_node(src, name=src, file="", line=0, static=False)
                if not g.has_edge(src, t):
                    g.add_edge(src, t, file=path, line=op.line, kind="ops")
    return g


def build_callgraph(facts: Mapping[str, FileFacts], index,
                    site_functions: Iterable[tuple[str, str | None]]) -> CallGraph:
    g = full_graph(facts, index)
    keep: set[str] = set()
    with_sites: set[str] = set()
    for path, name in site_functions:
        if name is None:
            continue
        fn = index.function(path, name)
        nid = node_id(path, name, fn.static if fn is not None else False)
        if nid not in g:
            g.add_node(nid, name=name, file=path, line=0, static=False)
        with_sites.add(nid)
    # all callers of all site functions at once: one breadth-first walk up the edges
    keep = set(with_sites)
    frontier = list(with_sites)
    pred = g.pred
    while frontier:
        nxt = []
        for n in frontier:
            for p in pred[n]:
                if p not in keep:
                    keep.add(p)
                    nxt.append(p)
        frontier = nxt
    attrs = g.nodes
    nodes = tuple(sorted(
        (Node(id=n, name=attrs[n].get("name", n), file=attrs[n].get("file", ""),
              line=attrs[n].get("line", 0), static=bool(attrs[n].get("static")),
              has_sites=n in with_sites, entry=not pred[n])
         for n in keep), key=lambda x: x.id))
    edges = tuple(sorted(
        (Edge(caller=a, callee=b, file=d["file"], line=d["line"], kind=d["kind"])
         for b in keep for a, d in pred[b].items()), key=lambda e: (e.caller, e.callee)))
    return CallGraph(nodes=nodes, edges=edges)

