"""The call graph around drop sites.

Nodes are functions: "name" for functions with external linkage, "path:name" for static
ones (two static helpers of one name in two files are two nodes). Calls through an ops
member (`ops->ndo_start_xmit(…)`) go to a node ".ndo_start_xmit", and each designated
initialiser `.ndo_start_xmit = f` adds an edge of kind "ops" from that node to f. The
Analysis keeps the callers of every function with a site, transitively.

The whole-tree graph (~300,000 edges on 6.12) is built in plain dicts: networkx's
per-edge bookkeeping made it a third of a warm scan, and the one walk needed (all callers,
breadth first) is a few lines.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from analyzer.c.facts import FileFacts
from analyzer.model import CallGraph, Edge, Node


def node_id(path: str, name: str, static: bool) -> str:
    return f"{path}:{name}" if static else name


class _Graph:
    """attrs: node -> (name, file, line, static), the first description wins;
    pred: callee -> {caller: (file, line, kind)}, the first edge between two nodes wins."""

    def __init__(self):
        self.attrs: dict[str, tuple[str, str, int, bool]] = {}
        self.pred: dict[str, dict[str, tuple[str, int, str]]] = {}

    def node(self, nid: str, name: str, file: str, line: int, static: bool) -> None:
        if nid not in self.attrs:
            self.attrs[nid] = (name, file, line, static)
            self.pred[nid] = {}

    def edge(self, a: str, b: str, file: str, line: int, kind: str) -> None:
        p = self.pred[b]
        if a not in p:
            p[a] = (file, line, kind)


def full_graph(facts: Mapping[str, FileFacts], index) -> _Graph:
    g = _Graph()
    attrs = g.attrs
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
            g.node(node_id(path, fn.name, fn.static), fn.name, path, fn.line, fn.static)
    pred = g.pred
    for path in sorted(facts):
        f = facts[path]
        local = {fn.name: fn for fn in f.functions}
        # per file, each caller and callee name is worked out once (edges repeat them);
        # a node is made at its first use, as the first description wins anyway
        callers: dict[str, str] = {}
        callees: dict[str, list[str]] = {}
        for caller, callee, line in f.edges:
            cid = callers.get(caller)
            if cid is None:
                cf = local.get(caller)
                cid = callers[caller] = node_id(path, caller, cf.static) if cf is not None else caller
                if cid not in attrs:
                    g.node(cid, caller, path, line, False)
            targets = callees.get(callee)
            if targets is None:
                if callee.startswith("."):
                    targets = [callee]
                else:
                    targets = targets_of(callee, path, local)
                for t in targets:
                    if t not in attrs:
                        g.node(t, t.rsplit(":", 1)[-1], t.rsplit(":", 1)[0] if ":" in t else "",
                               0, ":" in t)
                callees[callee] = targets
            for t in targets:
                if t != cid:
                    p = pred[t]
                    if cid not in p:
                        p[cid] = (path, line, "call")
        for op in f.ops:
            src = "." + op.field
            for t in targets_of(op.value, path, local):
                if t not in attrs:
                    continue
                if src not in attrs:
                    g.node(src, src, "", 0, False)
                g.edge(src, t, path, op.line, "ops")
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
        g.node(nid, name, path, 0, False)
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
    attrs = g.attrs
    nodes = tuple(sorted(
        (Node(id=n, name=attrs[n][0], file=attrs[n][1], line=attrs[n][2],
              static=bool(attrs[n][3]), has_sites=n in with_sites, entry=not pred[n])
         for n in keep), key=lambda x: x.id))
    edges = tuple(sorted(
        (Edge(caller=a, callee=b, file=d[0], line=d[1], kind=d[2])
         for b in keep for a, d in pred[b].items()), key=lambda e: (e.caller, e.callee)))
    return CallGraph(nodes=nodes, edges=edges)

