"""Derived views of one Analysis for the HTML report.

Only formatting helpers live here: the directory tree with counts (site classes from
model/rules.py), the functions that hold sites, the page path of every object, and the
call graph (model/graph.py). Nothing here reads C.
"""
from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from analyzer.model import Analysis, Node, Reason, Site
from analyzer.model.graph import Graph
from analyzer.model.rules import (CONSUME, INCOMPLETE, REASONED, UNSPECIFIED, is_sentinel,
                                  shift_of, site_class)

# Site classes (model/rules.py), labelled in the order the legend shows them.
CLASS_LABEL = {
    REASONED: "specific reason",
    INCOMPLETE: "reason set not fully known",
    UNSPECIFIED: "unspecified (NOT_SPECIFIED)",
    CONSUME: "consume (not a drop)",
}


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
        self.graph = Graph.of(analysis)
        self.shift = shift_of(analysis)
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
        """Reasons (sentinels left out) that no site can report."""
        return [rv for rv in self.reasons.values()
                if not is_sentinel(rv.reason, self.shift) and not rv.sites]
