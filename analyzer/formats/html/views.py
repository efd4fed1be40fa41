"""Derived views of one Analysis for the HTML report.

Only formatting helpers live here: how a site is classed (reasoned / unspecified /
incomplete / consume), the directory tree with counts, the functions that hold sites,
the page path of every object, and the call graph as a networkx DiGraph. Nothing here
reads C.
"""
from __future__ import annotations

import posixpath
import re
from collections import deque
from dataclasses import dataclass, field

import networkx as nx

from analyzer.model import NOT_SPECIFIED, Analysis, Node, Reason, Site, UnresolvedReason

# Site classes, in the order the legend shows them.
REASONED, INCOMPLETE, UNSPECIFIED, CONSUME = "reasoned", "incomplete", "unspecified", "consume"
CLASS_LABEL = {
    REASONED: "specific reason",
    INCOMPLETE: "reason set not fully known",
    UNSPECIFIED: "unspecified (NOT_SPECIFIED)",
    CONSUME: "consume (not a drop)",
}


# Enumerators of the catalogue that are not reasons a drop reports (the scanner's
# Summary.reasons_defined / reasons_never_produced leave them out the same way).
SENTINELS = frozenset({"SKB_NOT_DROPPED_YET", "SKB_CONSUMED", "SKB_DROP_REASON_MAX",
                       "SKB_DROP_REASON_SUBSYS_MASK"})


def is_unspecified(site: Site) -> bool:
    """A drop site that reports no reason but NOT_SPECIFIED (plain ``kfree_skb``), or
    none known at all: as the scanner's Summary.unspecified counts them."""
    return not (set(site.reasons) - {NOT_SPECIFIED})


def site_class(site: Site) -> str:
    if site.kind != "drop":
        return CONSUME
    if is_unspecified(site):
        return UNSPECIFIED
    if not site.complete:
        return INCOMPLETE
    return REASONED


@dataclass
class Counts:
    drop: int = 0
    reasoned: int = 0          # complete and specific
    incomplete: int = 0        # specific reasons, but the set is not fully known
    unspecified: int = 0
    consume: int = 0

    def add_site(self, site: Site) -> None:
        c = site_class(site)
        if c == CONSUME:
            self.consume += 1
            return
        self.drop += 1
        setattr(self, c, getattr(self, c) + 1)

    def add(self, other: "Counts") -> None:
        for k in ("drop", "reasoned", "incomplete", "unspecified", "consume"):
            setattr(self, k, getattr(self, k) + getattr(other, k))

    @property
    def with_reason(self) -> int:
        return self.drop - self.unspecified

    @property
    def coverage(self) -> float | None:
        """Drop sites with a specific reason / all drop sites (None without drop sites)."""
        return self.with_reason / self.drop if self.drop else None

    @property
    def coverage_pct(self) -> str:
        c = self.coverage
        return "n/a" if c is None else f"{100 * c:.1f}%"

    @property
    def sort_coverage(self) -> float:
        c = self.coverage
        return -1.0 if c is None else round(100 * c, 3)


_UNSAFE = re.compile(r"[^A-Za-z0-9_.+\-]")


def safe_segment(s: str) -> str:
    s = _UNSAFE.sub("_", s) or "_"
    if s in (".", ".."):
        s = s.replace(".", "_")
    return s[:120]


def safe_path(p: str) -> str:
    return "/".join(safe_segment(x) for x in p.split("/") if x)


class PagePaths:
    """Unique page paths (relative to the kernel's report root) for every object."""

    def __init__(self) -> None:
        self._used: set[str] = set()
        self._by_key: dict[tuple[str, str], str] = {}

    def get(self, kind: str, key: str) -> str | None:
        return self._by_key.get((kind, key))

    def assign(self, kind: str, key: str, wanted: str) -> str:
        if (kind, key) in self._by_key:
            return self._by_key[(kind, key)]
        path, n = wanted, 1
        while path.lower() in self._used:       # case-insensitive file systems too
            n += 1
            base, ext = posixpath.splitext(wanted)
            path = f"{base}~{n}{ext}"
        self._used.add(path.lower())
        self._by_key[(kind, key)] = path
        return path


@dataclass
class FileView:
    path: str                          # kernel-relative path
    page: str
    counts: Counts
    sites: list[Site]


@dataclass
class DirView:
    path: str                          # "" for the root
    name: str
    page: str
    counts: Counts = field(default_factory=Counts)
    dirs: dict[str, "DirView"] = field(default_factory=dict)
    files: list[FileView] = field(default_factory=list)

    def children(self) -> list["DirView | FileView"]:
        return sorted(self.dirs.values(), key=lambda d: d.name) + \
            sorted(self.files, key=lambda f: f.path)


@dataclass
class FunctionView:
    key: str                           # call-graph node id, or "file:name" when not in the graph
    name: str
    file: str
    line: int | None                   # definition line when known
    page: str
    node: Node | None
    sites: list[Site]
    counts: Counts


@dataclass
class ReasonView:
    reason: Reason
    page: str
    sites: list[Site]


class KernelView:
    """Everything the templates need about one Analysis."""

    def __init__(self, analysis: Analysis):
        self.a = analysis
        self.paths = PagePaths()
        for p in ("index.html", "files.html", "reasons.html", "functions.html",
                  "search.js"):
            self.paths.assign("fixed", p, p)
        self.totals = Counts()
        self.files: dict[str, FileView] = {}
        self.root = DirView("", "", "index.html")
        self._build_files()
        self.graph = build_graph(analysis)
        self.nodes: dict[str, Node] = {n.id: n for n in analysis.callgraph.nodes}
        self.functions: dict[str, FunctionView] = {}
        self.site_function: dict[tuple[str, int, int], FunctionView] = {}
        self._build_functions()
        self.reasons: dict[str, ReasonView] = {}
        self._build_reasons()
        self.family = {m.name: m for m in analysis.family}

    # --- files and directories ---------------------------------------------------
    def _build_files(self) -> None:
        by_file: dict[str, list[Site]] = {}
        for s in self.a.sites:
            by_file.setdefault(s.file, []).append(s)
        for path in sorted(by_file):
            sites = sorted(by_file[path], key=lambda s: (s.line, s.column))
            c = Counts()
            for s in sites:
                c.add_site(s)
            fv = FileView(path, self.paths.assign("file", path, f"f/{safe_path(path)}.html"), c, sites)
            self.files[path] = fv
            self.totals.add(c)
            d = self.root
            d.counts.add(c)
            parts = path.split("/")[:-1]
            for i, part in enumerate(parts):
                sub = "/".join(parts[: i + 1])
                if part not in d.dirs:
                    d.dirs[part] = DirView(sub, part, self.paths.assign(
                        "dir", sub, f"f/{safe_path(sub)}/index.html"))
                d = d.dirs[part]
                d.counts.add(c)
            d.files.append(fv)

    def dir_chain(self, path: str) -> list[DirView]:
        """The directories from the root down to ``path`` (a dir path), as far as they
        hold sites (a function's definition can be in a file without any)."""
        out, d = [self.root], self.root
        for part in [p for p in path.split("/") if p]:
            if part not in d.dirs:
                break
            d = d.dirs[part]
            out.append(d)
        return out

    def all_dirs(self) -> list[DirView]:
        out, todo = [], [self.root]
        while todo:
            d = todo.pop()
            out.append(d)
            todo.extend(d.dirs.values())
        return sorted(out, key=lambda d: d.path)

    # --- functions -----------------------------------------------------------------
    def node_id_for(self, file: str, function: str) -> str | None:
        for cand in (f"{file}:{function}", function):
            if cand in self.nodes:
                return cand
        return None

    def _build_functions(self) -> None:
        for fv in self.files.values():
            for s in fv.sites:
                nid = self.node_id_for(s.file, s.function)
                key = nid or f"{s.file}:{s.function}"
                f = self.functions.get(key)
                if f is None:
                    node = self.nodes.get(nid) if nid else None
                    static = node.static if node else True
                    # the page sits with the site's file; a global name can be defined in
                    # several files (the graph merges them), or its file be unknown
                    same = node is not None and node.file == s.file
                    # statics: fn/<dir>/<file>.<name>.html (one directory per kernel
                    # directory, not per file: thousands fewer mkdirs)
                    wanted = (f"fn/{safe_path(s.file)}.{safe_segment(s.function)}.html"
                              if static else f"fn/{safe_segment(s.function)}.html")
                    f = FunctionView(key, s.function, s.file, node.line if same else None,
                                     self.paths.assign("function", key, wanted), node, [], Counts())
                    self.functions[key] = f
                f.sites.append(s)
                f.counts.add_site(s)
                self.site_function[(s.file, s.line, s.column)] = f

    def function_of(self, site: Site) -> FunctionView:
        return self.site_function[(site.file, site.line, site.column)]

    def function_page(self, node_id: str) -> str | None:
        f = self.functions.get(node_id)
        return f.page if f else None

    # --- reasons -------------------------------------------------------------------
    def _build_reasons(self) -> None:
        self.reason_names = {r.name: r.short for r in self.a.reasons}
        by_reason: dict[str, list[Site]] = {}
        for s in self.a.sites:
            for r in s.reasons:
                by_reason.setdefault(r, []).append(s)
        for r in sorted(self.a.reasons, key=lambda r: (r.value, r.name)):
            if r.short in self.reasons:
                continue
            page = self.paths.assign("reason", r.short, f"r/{safe_segment(r.short)}.html")
            self.reasons[r.short] = ReasonView(r, page, by_reason.get(r.short, []))

    def reason_page_by_name(self, name: str) -> str | None:
        r = self.reason_names.get(name)
        return self.reasons[r].page if r in self.reasons else None

    def reason_page(self, short: str) -> str | None:
        rv = self.reasons.get(short)
        return rv.page if rv else None

    def never_produced(self) -> list[ReasonView]:
        """Reasons (sentinels left out) that no site can report and no .c file names
        (the ones the code names are unresolved(), not "never produced")."""
        named = {u.reason for u in self.a.summary.reasons_unresolved}
        return [rv for rv in self.reasons.values()
                if rv.reason.name not in SENTINELS and not rv.sites and rv.reason.short not in named]

    def unresolved(self) -> list[tuple[ReasonView, UnresolvedReason]]:
        """Reasons the .c code names that no site produces, with the cause."""
        return [(self.reasons[u.reason], u) for u in self.a.summary.reasons_unresolved
                if u.reason in self.reasons]

    def unresolved_of(self, short: str) -> UnresolvedReason | None:
        return next((u for u in self.a.summary.reasons_unresolved if u.reason == short), None)


# --- call graph -------------------------------------------------------------------------
def build_graph(a: Analysis) -> nx.DiGraph:
    g = nx.DiGraph()
    for n in a.callgraph.nodes:
        g.add_node(n.id)
    for e in a.callgraph.edges:
        if g.has_edge(e.caller, e.callee):
            continue
        g.add_edge(e.caller, e.callee, kind=e.kind, file=e.file, line=e.line)
    return g


@dataclass
class CallerTree:
    """Callers of some functions, breadth first up to entry points, each node once."""
    roots: list[str]
    parent: dict[str, str | None]        # node -> the callee through which it was reached
    depth: dict[str, int]
    truncated: bool
    order: list[str]                     # discovery order

    def children(self, node: str) -> list[str]:
        return [n for n in self.order if self.parent.get(n) == node]

    def chain(self, node: str) -> list[str]:
        """node -> ... -> root, following the callee links (a call chain top-down)."""
        out = [node]
        while self.parent.get(out[-1]) is not None:
            out.append(self.parent[out[-1]])
        return out


def is_pointer(nid: str) -> bool:
    """A call-graph pseudo-node for calls through a function pointer field (``.handler``:
    every ``x->handler(...)`` calls it, every ``.handler = f`` makes it call ``f``)."""
    return nid.startswith(".")


def callers_bfs(g: nx.DiGraph, roots: list[str], cap: int) -> CallerTree:
    """Callers breadth first; pointer pseudo-nodes end a path (whoever calls through
    ``->handler`` has not been shown to reach this particular function)."""
    parent: dict[str, str | None] = {}
    depth: dict[str, int] = {}
    order: list[str] = []
    q: deque[str] = deque()
    for r in roots:
        if r not in parent:
            parent[r], depth[r] = None, 0
            order.append(r)
            q.append(r)
    truncated = False
    while q:
        n = q.popleft()
        if n not in g or (is_pointer(n) and parent[n] is not None):
            continue
        for p in sorted(g.predecessors(n)):
            if p in parent:
                continue
            if len(order) >= cap:
                truncated = True
                break
            parent[p], depth[p] = n, depth[n] + 1
            order.append(p)
            q.append(p)
        if truncated:
            break
    return CallerTree(list(roots), parent, depth, truncated, order)


def is_entry(g: nx.DiGraph, nodes: dict[str, Node], nid: str) -> bool:
    """An entry point: the scanner says so, or nothing calls it; a function pointer
    (pseudo-node) counts as one, as its callers are not followed."""
    if is_pointer(nid):
        return True
    n = nodes.get(nid)
    if n is not None and n.entry:
        return True
    return nid in g and g.in_degree(nid) == 0


def chain_to_entry(g: nx.DiGraph, nodes: dict[str, Node], root: str, cap: int = 400) -> tuple[list[str], bool]:
    """The shortest call chain from an entry point down to ``root`` (entry first), and
    whether it really starts at an entry point (False: the search stopped at ``cap``
    functions, the chain ends at the farthest caller found)."""
    if is_entry(g, nodes, root):
        return [root], True
    tree = callers_bfs(g, [root], cap)
    for n in tree.order[1:]:
        if is_entry(g, nodes, n):
            return tree.chain(n), True
    far = max(tree.order, key=lambda n: (tree.depth[n], n))
    return tree.chain(far), False
