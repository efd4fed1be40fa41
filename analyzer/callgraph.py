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

from .facts import FileFacts
from .model import CallGraph, Edge, Node


def node_id(path: str, name: str, static: bool) -> str:
    return f"{path}:{name}" if static else name


def full_graph(facts: Mapping[str, FileFacts], index) -> nx.DiGraph:
    g = nx.DiGraph()
    for path in sorted(facts):
        f = facts[path]
        local = {fn.name: fn for fn in f.functions}
        for fn in f.functions:
            nid = node_id(path, fn.name, fn.static)
            if nid not in g:
                g.add_node(nid, name=fn.name, file=path, line=fn.line, static=fn.static)
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
                targets = [node_id(p, d.name, d.static) for p, d in index.resolve(callee, path)]
            for t in targets:
                if t != cid and not g.has_edge(cid, t):
                    g.add_edge(cid, t, file=path, line=line, kind="call")
        for op in f.ops:
            src = "." + op.field
            for p, d in index.resolve(op.value, path):
                t = node_id(p, d.name, d.static)
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
    for nid in with_sites:
        if nid in keep:
            continue
        keep.add(nid)
        keep |= nx.ancestors(g, nid)
    sub = g.subgraph(keep)
    nodes = tuple(sorted(
        (Node(id=n, name=d.get("name", n), file=d.get("file", ""), line=d.get("line", 0),
              static=bool(d.get("static")), has_sites=n in with_sites, entry=g.in_degree(n) == 0)
         for n, d in sub.nodes(data=True)), key=lambda x: x.id))
    edges = tuple(sorted(
        (Edge(caller=a, callee=b, file=d["file"], line=d["line"], kind=d["kind"])
         for a, b, d in sub.edges(data=True)), key=lambda e: (e.caller, e.callee)))
    return CallGraph(nodes=nodes, edges=edges)


def to_networkx(cg: CallGraph) -> nx.DiGraph:
    """The Analysis call graph back as a networkx DiGraph (for reporters)."""
    g = nx.DiGraph()
    for n in cg.nodes:
        g.add_node(n.id, name=n.name, file=n.file, line=n.line, static=n.static,
                   has_sites=n.has_sites, entry=n.entry)
    for e in cg.edges:
        g.add_edge(e.caller, e.callee, file=e.file, line=e.line, kind=e.kind)
    return g
