"""The call graph of an Analysis, walked one way: callers breadth first (one walk, with
its limits as arguments), call chains from entry points, and the functions the compiler
can inline into a function. The report and ``explain`` both ask here.

Node ids are function names, ``file:name`` for static functions, and ``.member`` for the
pseudo-node of calls through an ops member (every ``x->member(...)`` calls it, every
``.member = f`` gives it an ``ops`` edge to ``f``).
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from analyzer.model.data import Analysis, CallGraph, Node


def bare(name: str) -> str:
    """A function's name without a ``file:`` qualification."""
    return name.rsplit(":", 1)[-1]


def node_file(n: Node) -> str:
    """The file defining a node; a ``file:name`` id names it even when ``file`` is empty."""
    return n.file or (n.id.rsplit(":", 1)[0] if ":" in n.id else "")


def node_static(n: Node) -> bool:
    """Static: flagged so, or qualified by its file (ids of static functions are ``file:name``)."""
    return n.static or ":" in n.id


def is_pointer(nid: str) -> bool:
    """A pseudo-node for calls through a function pointer field (``.handler``)."""
    return nid.startswith(".")


@dataclass
class CallerTree:
    """Callers of some functions, breadth first, each node once."""
    roots: list[str]
    parent: dict[str, str | None] = field(default_factory=dict)  # node -> callee it was reached from
    depth: dict[str, int] = field(default_factory=dict)
    truncated: bool = False
    order: list[str] = field(default_factory=list)               # discovery order

    def children(self, node: str) -> list[str]:
        return [n for n in self.order if self.parent.get(n) == node]

    def chain(self, node: str) -> list[str]:
        """node -> ... -> root, following the callee links (a call chain top-down)."""
        out = [node]
        while self.parent.get(out[-1]) is not None:
            out.append(self.parent[out[-1]])
        return out


class Graph:
    """Lookups over a call graph, built once."""

    def __init__(self, nodes: Iterable[Node], edges: Iterable[tuple[str, str, str]]):
        self.nodes: dict[str, Node] = {n.id: n for n in nodes}
        self.ids: set[str] = set(self.nodes)
        self.kinds: dict[tuple[str, str], str] = {}
        succ: dict[str, list[str]] = {}
        callers: dict[str, set[str]] = {}
        callees: dict[str, set[str]] = {}
        for caller, callee, kind in edges:
            self.ids.update((caller, callee))
            if kind == "call":
                callees.setdefault(caller, set()).add(callee)
            callers.setdefault(callee, set()).add(caller)
            if (caller, callee) not in self.kinds:
                self.kinds[(caller, callee)] = kind
                succ.setdefault(caller, []).append(callee)
        self.succ = succ
        self.callers = {k: sorted(v) for k, v in callers.items()}
        self.callees = {k: sorted(v) for k, v in callees.items()}
        self.ids_by_name: dict[str, list[str]] = {}
        self.id_by_file_name: dict[tuple[str, str], str] = {}
        for n in self.nodes.values():
            self.ids_by_name.setdefault(bare(n.name), []).append(n.id)
            self.id_by_file_name[(node_file(n), bare(n.name))] = n.id

    @classmethod
    def of(cls, a: Analysis | CallGraph) -> "Graph":
        cg = a.callgraph if isinstance(a, Analysis) else a
        return cls(cg.nodes, ((e.caller, e.callee, e.kind) for e in cg.edges))

    def __contains__(self, nid: str) -> bool:
        return nid in self.ids

    def successors(self, nid: str) -> list[str]:
        return self.succ.get(nid, [])

    def kind(self, caller: str, callee: str) -> str:
        return self.kinds.get((caller, callee), "call")

    def node_of(self, file: str, function: str) -> str | None:
        """The node of a function defined in FILE (a global whose node lacks its file too)."""
        nid = self.id_by_file_name.get((file, function))
        if nid is None and function in self.nodes and not node_static(self.nodes[function]):
            nid = function
        return nid

    # --- callers -----------------------------------------------------------------------
    def walk_callers(self, tree: CallerTree, *, through_pointers: bool = True,
                     cap: int | None = None, max_depth: int | None = None,
                     max_seen: int | None = None) -> Iterator[str]:
        """Fill TREE with the callers of its roots, breadth first, yielding each node as
        it is reached (the roots first); a node's callers are added when the walk goes on
        after it. Without THROUGH_POINTERS a pointer pseudo-node ends a path (whoever
        calls through ``->handler`` is not shown to reach this function). CAP: nodes in
        the tree at most (then ``truncated``); MAX_DEPTH, MAX_SEEN: nodes deeper, or
        reached once more than MAX_SEEN nodes are known, are not expanded."""
        q: deque[str] = deque()
        for r in tree.roots:
            if r not in tree.parent:
                tree.parent[r], tree.depth[r] = None, 0
                tree.order.append(r)
                q.append(r)
        while q:
            n = q.popleft()
            yield n
            if not through_pointers and is_pointer(n) and tree.parent[n] is not None:
                continue
            if max_depth is not None and tree.depth[n] >= max_depth:
                continue
            if max_seen is not None and len(tree.parent) > max_seen:
                continue
            for p in self.callers.get(n, ()):
                if p in tree.parent:
                    continue
                if cap is not None and len(tree.order) >= cap:
                    tree.truncated = True
                    return
                tree.parent[p], tree.depth[p] = n, tree.depth[n] + 1
                tree.order.append(p)
                q.append(p)

    def callers_tree(self, roots: list[str], cap: int) -> CallerTree:
        """Callers up to CAP nodes, pointer pseudo-nodes not followed (the report)."""
        tree = CallerTree(list(roots))
        for _ in self.walk_callers(tree, through_pointers=False, cap=cap):
            pass
        return tree

    def is_entry(self, nid: str) -> bool:
        """An entry point: the scanner says so, or nothing calls it; a pointer pseudo-node
        counts as one, as its callers are not followed."""
        if is_pointer(nid):
            return True
        n = self.nodes.get(nid)
        if n is not None and n.entry:
            return True
        return nid in self and not self.callers.get(nid)

    def chain_to_entry(self, root: str, cap: int = 400) -> tuple[list[str], bool]:
        """The shortest call chain from an entry point down to ROOT (entry first), and
        whether it really starts at an entry point (False: the search stopped at CAP
        functions, the chain ends at the farthest caller found)."""
        if self.is_entry(root):
            return [root], True
        tree = self.callers_tree([root], cap)
        for n in tree.order[1:]:
            if self.is_entry(n):
                return tree.chain(n), True
        far = max(tree.order, key=lambda n: (tree.depth[n], n))
        return tree.chain(far), False

    def chains_to(self, start: str, limit: int, *, max_depth: int,
                  max_seen: int) -> list[list[str]]:
        """Up to LIMIT shortest call chains (names, entry first) from a function without
        callers or marked entry down to START, through pointer pseudo-nodes."""
        tree = CallerTree([start])
        ends: list[str] = []
        for nid in self.walk_callers(tree, max_depth=max_depth, max_seen=max_seen):
            if len(ends) >= limit:
                break
            node = self.nodes.get(nid)
            if not self.callers.get(nid) or (node is not None and node.entry):
                ends.append(nid)
        return [[bare(self.nodes[c].name) if c in self.nodes else bare(c) for c in tree.chain(e)]
                for e in ends]

    # --- inlining ----------------------------------------------------------------------
    def resolve_callee(self, caller_id: str, callee: str) -> list[str]:
        if callee in self.nodes:
            return [callee]
        # an unresolved name: prefer a static of the caller's file, else any static
        ids = [i for i in self.ids_by_name.get(bare(callee), ()) if node_static(self.nodes[i])]
        cf = node_file(self.nodes[caller_id]) if caller_id in self.nodes else None
        same = [i for i in ids if node_file(self.nodes[i]) == cf]
        return same or ids

    def inlined(self, function: str, *, site_files: set[str], family: set[str],
                max_depth: int) -> dict[str, tuple[tuple[str, ...], bool]]:
        """Functions the compiler can inline into FUNCTION: its callees defined in the
        same file (static ones, and global ones gcc may inline within their translation
        unit) and static inline functions from headers, transitively. FAMILY members are
        not entered (their own frees report their own location). SITE_FILES: where the
        function's sites are, for a function whose node lacks its file.
        node id -> (chain of names from FUNCTION to it, every link static)."""
        start = self.ids_by_name.get(function, [])
        out: dict[str, tuple[tuple[str, ...], bool]] = {}
        seen = set(start)
        q = deque()
        for i in start:
            f = node_file(self.nodes[i])
            q.append((i, (function,), True, {f} if f else site_files))
        while q:
            nid, chain, all_static, here = q.popleft()
            if len(chain) > max_depth:
                continue
            for c in self.callees.get(nid, ()):
                for cid in self.resolve_callee(nid, c):
                    if cid in seen:
                        continue
                    node = self.nodes.get(cid)
                    if node is None:
                        continue
                    name = bare(node.name)
                    if name in family or name.startswith("."):
                        continue
                    nf, ns = node_file(node), node_static(node)
                    if not (ns or (nf and nf in here)):
                        continue
                    seen.add(cid)
                    ch = chain + (name,)
                    st = all_static and ns
                    out[cid] = (ch, st)
                    q.append((cid, ch, st, {nf} if nf else here))
        return out
