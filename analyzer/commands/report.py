"""``skbdrop report KERNEL [KERNEL...] -o DIR``: the static HTML coverage report.

Formats Analysis objects only (see html_data for the derived views). The site is plain
files with relative links: it works from ``file://``, with no server and no network.
The output is built in a staging directory beside DIR and swapped in at the end, so an
interrupted run leaves DIR as it was; DIR is only replaced when skbdrop made it (it
holds the marker file ``.skbdrop-report``).

Layout (one kernel): index.html, files.html, functions.html, reasons.html,
f/<dir>/index.html (directories), f/<file>.html (annotated source), fn/<name>.html
(global functions), fn/<dir>/<file>.<name>.html (static ones), r/<REASON>.html,
search.js (the client-side search index), assets/. Several kernels: index.html
(versions), trend.html, diff-<a>-<b>.html, and one such tree per kernel in k/<version>/.
Pages exist only for files and functions that hold sites.
"""
from __future__ import annotations

import json
import os
import posixpath
import re
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import quote

import jinja2
from markupsafe import Markup, escape

from analyzer import __version__
from analyzer.errors import InputError
from analyzer.forks import Child, ChildFailed
from analyzer.formats import jinja
from analyzer.formats.html.views import CLASS_LABEL, KernelView, safe_segment
from analyzer.model.graph import is_pointer
from analyzer.model.rules import CONSUME, INCOMPLETE, REASONED, UNSPECIFIED, site_class
from analyzer.formats.html.graph import GEdge, GNode, render_many, to_dot
from analyzer.formats.html.source import (SourceReader, matches_sites, open_source, render_lines,
                          render_sparse, split_lines)
from analyzer.model import Analysis

MARKER = ".skbdrop-report"
CALLER_CAP = 100           # callers listed on a function page
GRAPH_CAP = 60             # nodes in a reason page's call-chain picture
CHAIN_CAP = 25             # text call chains listed on a reason page
_SEVERITY = {REASONED: 0, CONSUME: 1, INCOMPLETE: 2, UNSPECIFIED: 3}


# --- output directory ------------------------------------------------------------------
class OutputDir:
    """Validate DIR up front; build in a staging dir; swap in on commit."""

    def __init__(self, path: str):
        # a symlink to a directory: the report replaces the directory, not the link
        self.path = os.path.realpath(path) if os.path.islink(path) else os.path.abspath(path)
        if os.path.lexists(self.path):
            if not os.path.isdir(self.path):
                raise InputError(f"{path}: exists and is not a directory")
            try:
                entries = os.listdir(self.path)
            except OSError as e:
                raise InputError(f"{path}: cannot read: {e.strerror}") from None
            if entries and MARKER not in entries:
                raise InputError(f"{path}: directory is not empty and was not made by "
                                 "skbdrop report; not overwriting it")
        parent = os.path.dirname(self.path)
        try:
            os.makedirs(parent, exist_ok=True)
            self.staging = tempfile.mkdtemp(prefix=f".{os.path.basename(self.path)}.skbdrop-",
                                            dir=parent)
        except OSError as e:
            raise InputError(f"{path}: output directory not writable: "
                             f"{e.strerror or e}") from None

    def commit(self) -> None:
        old = None
        if os.path.lexists(self.path):
            old = tempfile.mkdtemp(prefix=f".{os.path.basename(self.path)}.old-",
                                   dir=os.path.dirname(self.path))
            os.rmdir(old)
            os.rename(self.path, old)
        os.chmod(self.staging, 0o755)
        os.rename(self.staging, self.path)
        if old:
            shutil.rmtree(old, ignore_errors=True)

    def abort(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


# --- rendering ---------------------------------------------------------------------------
def _env() -> jinja2.Environment:
    env = jinja.environment()
    env.globals.update(CLASS_LABEL=CLASS_LABEL, site_class=site_class)
    return env


class Ctx:
    """Links from one page: ``r(path)`` for a report-root path, ``k(path)`` for a path in
    this kernel's tree."""

    def __init__(self, page: str, kroot: str):
        self.page = page
        self.kroot = kroot
        self._up = "../" * page.count("/")

    def r(self, target: str) -> str:
        # page paths are made of safe characters (html_data.safe_path): no quoting needed
        # for them; anything else is percent-quoted
        if not _SAFE_URL.match(target):
            path, _, anchor = target.partition("#")
            target = quote(path, safe="/~+") + ("#" + quote(anchor) if anchor else "")
        return self._up + target

    def k(self, target: str) -> str:
        return self.r(self.kroot + target)

    def kbase(self) -> str:
        """This kernel's root, relative to the page, ending in a slash."""
        return (self._up + self.kroot) or "./"


_SAFE_URL = re.compile(r"^[A-Za-z0-9_.+~/\-]*(#[A-Za-z0-9_.-]*)?$")


@dataclass
class ReportInput:
    spec: str
    analysis: Analysis
    source: SourceReader | None = None


@dataclass
class Result:
    index: str
    pages: int = 0
    bytes: int = 0
    kernels: list[str] = field(default_factory=list)
    seconds: float = 0.0


class Writer:
    def __init__(self, root: str, env: jinja2.Environment, progress):
        self.root = root
        self.env = env
        self.pages = 0
        self.bytes = 0
        self.progress = progress
        self._dirs: set[str] = set()

    def write(self, rel: str, data: bytes) -> None:
        p = os.path.join(self.root, rel)
        d = os.path.dirname(p)
        if d not in self._dirs:
            os.makedirs(d, exist_ok=True)
            self._dirs.add(d)
        with open(p, "wb") as f:
            f.write(data)
        self.bytes += len(data)

    def page(self, template: str, rel: str, **ctx) -> None:
        html = self.env.get_template(template).render(p=Ctx(rel, ctx["kroot"]), **ctx)
        self.write(rel, html.encode("utf-8"))
        self.pages += 1
        if self.progress is not None:
            self.progress.update(1)


def _slug(version: str, used: set[str]) -> str:
    s = safe_segment(version or "kernel")
    out, n = s, 1
    while out in used:
        n += 1
        out = f"{s}-{n}"
    used.add(out)
    return out


def build_report(inputs: list[ReportInput], out_dir: str, *, progress: bool = False) -> Result:
    """Write the report for ``inputs`` into ``out_dir`` (an existing, empty directory)."""
    t0 = time.monotonic()
    env = _env()
    views = [KernelView(i.analysis) for i in inputs]
    total = sum(_page_count(v) for v in views) + (2 + len(views) if len(views) > 1 else 0)
    bar = None
    if progress:
        try:
            from tqdm import tqdm
            bar = tqdm(total=total, unit="page", file=sys.stderr, desc="report", leave=False)
        except ImportError:
            bar = None
    w = Writer(out_dir, env, bar)
    try:
        for name, data in jinja.assets():
            w.write(f"assets/{name}", data)
        multi = len(views) > 1
        used: set[str] = set()
        kernels = []
        for inp, v in zip(inputs, views):
            kroot = f"k/{_slug(v.a.kernel.version, used)}/" if multi else ""
            kernels.append({"view": v, "kroot": kroot, "version": v.a.kernel.version})
        for k in kernels:
            inp = inputs[kernels.index(k)]
            _kernel_pages(w, k["view"], k["kroot"], inp.source, multi, kernels if multi else [])
        if multi:
            _multi_pages(w, kernels)
        w.write(MARKER, json.dumps({"tool": "skbdrop", "version": __version__,
                                    "kernels": [k["version"] for k in kernels]},
                                   indent=1).encode() + b"\n")
    finally:
        if bar is not None:
            bar.close()
    return Result(index=os.path.join(out_dir, "index.html"), pages=w.pages, bytes=w.bytes,
                  kernels=[v.a.kernel.version for v in views], seconds=time.monotonic() - t0)


def _page_count(v: KernelView) -> int:
    return 4 + len(v.all_dirs()) - 1 + len(v.files) + len(v.functions) + len(v.reasons)


# --- one kernel --------------------------------------------------------------------------
def _kernel_pages(w: Writer, v: KernelView, kroot: str, source: SourceReader | None,
                  multi: bool, kernels: list[dict]) -> None:
    a = v.a
    base = dict(v=v, a=a, kernels=kernels, multi=multi, kroot=kroot,
                search_js=kroot + "search.js")
    nodes = v.nodes
    g = v.graph

    def node_url(nid: str) -> str | None:
        """Kernel-relative page of a call-graph node: its function page, else its
        definition line in a file page."""
        f = v.functions.get(nid)
        if f:
            return f.page
        n = nodes.get(nid)
        if n and n.file in v.files and n.line:
            return f"{v.files[n.file].page}#L{n.line}"
        return None

    def node_label(nid: str) -> str:
        if is_pointer(nid):
            return f"->{nid[1:]}()"
        n = nodes.get(nid)
        if n is None:
            return nid.rsplit(":", 1)[-1]
        return n.name

    entry_memo: dict[str, bool] = {}

    def entry(nid: str) -> bool:
        e = entry_memo.get(nid)
        if e is None:
            e = entry_memo[nid] = g.is_entry(nid)
        return e

    helpers = dict(node_url=node_url, node_label=node_label, is_entry=entry,
                   node_file=lambda nid: nodes[nid].file if nid in nodes else "")

    # index, flat lists ---------------------------------------------------------------
    worst = sorted((f for f in v.files.values() if f.counts.unspecified),
                   key=lambda f: (-f.counts.unspecified, f.path))[:15]
    w.page("index.html", kroot + "index.html", **base, **helpers, d=v.root,
           chain=[], never=v.never_produced(), unresolved=v.unresolved(), worst=worst)
    w.page("files.html", kroot + "files.html", **base, **helpers)
    w.page("functions.html", kroot + "functions.html", **base, **helpers)
    w.page("reasons.html", kroot + "reasons.html", **base, **helpers)
    for d in v.all_dirs():
        if d.path:
            w.page("dir.html", kroot + d.page, **base, **helpers, d=d,
                   chain=v.dir_chain(d.path))

    # reason graphs: planned first, laid out by one dot run in the background while the
    # file and function pages are written ------------------------------------------------
    rlist = list(v.reasons.values())
    dots, plans = [], []
    for rv in rlist:
        roots = sorted({v.function_of(s).key for s in rv.sites if s.kind == "drop"})
        tree = g.callers_tree([r for r in roots if r in g], GRAPH_CAP)
        chains = [g.chain_to_entry(r) for r in roots[:CHAIN_CAP] if r in g]
        chains.sort(key=lambda c: (not c[1], len(c[0]), c[0]))
        plan = dict(rv=rv, roots=roots, tree=tree, chains=chains,
                    truncated=tree.truncated, svg=None)
        plans.append(plan)
        if len(tree.order) >= 2:
            page_ctx = Ctx(kroot + rv.page, kroot)
            gnodes, inset = [], set(tree.order)
            for n in tree.order:
                url = node_url(n)
                kind = ("site" if n in roots else "pointer" if is_pointer(n)
                        else "entry" if entry(n) else "plain")
                gnodes.append(GNode(n, node_label(n), page_ctx.k(url) if url else None, kind))
            gedges = [GEdge(s, t, g.kind(s, t))
                      for s in tree.order for t in g.successors(s) if t in inset] \
                if len(tree.order) > 1 else []
            dots.append(to_dot(rv.reason.short, gnodes, gedges))
            plan["dot_index"] = len(dots) - 1
    # functions ----------------------------------------------------------------------
    frag_memo: dict[str, tuple[str | None, str]] = {}

    def frag(c: str) -> tuple[str | None, str]:
        """A caller's list item, less the page-relative part of its link."""
        f = frag_memo.get(c)
        if f is None:
            u = node_url(c)
            inner = str(escape(node_label(c))) + ("</a>" if u else "")
            if ":" in c and c in nodes:
                inner += f' <span class="muted">({escape(nodes[c].file)})</span>'
            if is_pointer(c):
                inner += ' <span class="tag ptr">called through a function pointer</span>'
            elif entry(c):
                inner += ' <span class="tag entry">entry point</span>'
            f = frag_memo[c] = (u, inner)
        return f

    def function_pages() -> None:
        for key, fv in v.functions.items():
            tree = g.callers_tree([key], CALLER_CAP) if key in g else None
            kids: dict[str, list[str]] = {}
            if tree:
                for n in tree.order[1:]:
                    kids.setdefault(tree.parent[n], []).append(n)
            entries = [n for n in (tree.order[1:] if tree else []) if entry(n)]
            fam = sorted({s.callee for s in fv.sites})
            drop_callees = []
            if key in g:
                drop_callees = sorted(c for c in g.successors(key)
                                      if c in v.functions and c != key)
            ctx = Ctx(kroot + fv.page, kroot)
            callers = _caller_tree_html(key, kids, ctx, frag) if tree else Markup("")
            w.page("function.html", kroot + fv.page, **base, **helpers, fn=fv, tree=tree,
                   callers=callers, entries=entries, fam=fam, drop_callees=drop_callees)

    # the function pages (the most) are written by a forked child while this process
    # writes the others: the child shares everything computed so far, copy-on-write
    # (and a share of the file pages: the two halves then take about as long)
    child = None
    anchors = _anchors(v, a)
    files = list(v.files)
    mine, theirs = files, []
    if len(v.functions) >= FORK_PAGES and hasattr(os, "fork"):
        mine, theirs = [p for i, p in enumerate(files) if i % SHARE], files[::SHARE]

        def child_pages() -> str:
            """Its pages and bytes, for the parent's count."""
            w.progress = None
            pages, size = w.pages, w.bytes
            function_pages()
            _file_pages(w, v, anchors, kroot, source, base, helpers, theirs)
            return f"{w.pages - pages} {w.bytes - size}"
        child = Child(child_pages)
    try:
        _other_pages(w, v, anchors, kroot, source, base, helpers, plans, dots, mine)
    except BaseException:
        if child is not None:
            child.stop()
        raise
    if child is None:
        function_pages()
    else:
        try:
            pages, size = child.join().split()
        except ChildFailed as e:
            raise RuntimeError(f"the process writing the function pages failed: {e}") from None
        w.pages += int(pages)
        w.bytes += int(size)
        if w.progress is not None:
            w.progress.update(int(pages))
    _search_index(w, v, a, kroot)


def _other_pages(w: Writer, v: KernelView, anchors: dict[str, set[int]], kroot: str, source,
                 base: dict, helpers: dict, plans: list[dict], dots: list,
                 files: list[str]) -> None:
    """The pages of FILES and the reason pages of one kernel (the reason graphs laid out
    meanwhile)."""
    pool = ThreadPoolExecutor(max_workers=1)
    dot_job = pool.submit(render_many, dots)
    _file_pages(w, v, anchors, kroot, source, base, helpers, files)
    _reason_pages(w, kroot, base, helpers, plans, dot_job)
    pool.shutdown()


def _anchors(v: KernelView, a) -> dict[str, set[int]]:
    """Per file, the lines other pages link to (definitions of graph nodes and reasons)."""
    anchors: dict[str, set[int]] = {}
    for n in a.callgraph.nodes:
        if n.file in v.files and n.line:
            anchors.setdefault(n.file, set()).add(n.line)
    for r in a.reasons:
        if r.file in v.files and r.line:
            anchors.setdefault(r.file, set()).add(r.line)
    return anchors


def _file_pages(w: Writer, v: KernelView, anchors: dict[str, set[int]], kroot: str, source,
                base: dict, helpers: dict, files: list[str]) -> None:
    env = w.env
    note_tpl = env.get_template("_site_note.html")
    for path in files:
        fv = v.files[path]
        notes_by_line: dict[int, list[str]] = {}
        worst: dict[int, str] = {}
        for s in fv.sites:
            c = site_class(s)
            # the worst class colours a line that holds several sites
            if s.line not in worst or _SEVERITY[c] > _SEVERITY[worst[s.line]]:
                worst[s.line] = c
            notes_by_line.setdefault(s.line, []).append(
                note_tpl.render(s=s, c=c, p=Ctx(kroot + fv.page, kroot), v=v,
                                fn=v.function_of(s)))
        marks = {ln: (f"site s-{c}", CLASS_LABEL[c]) for ln, c in worst.items()}
        notes = {ln: Markup("".join(x)) for ln, x in notes_by_line.items()}
        text = source.text(path) if source else None
        lines = split_lines(text) if text is not None else None
        stale = lines is not None and not matches_sites(lines, fv.sites)
        if lines is not None and not stale:
            body = render_lines(lines, marks, notes, anchors.get(path, set()))
            full = True
        else:
            body = render_sparse(fv.sites, notes, marks)
            full = False
        dchain = v.dir_chain(posixpath.dirname(path))
        fns = sorted({v.function_of(s).key: v.function_of(s) for s in fv.sites}.values(),
                     key=lambda f: (f.line or 0, f.name))
        w.page("file.html", kroot + fv.page, **base, **helpers, f=fv, body=body,
               full=full, stale=stale, chain=dchain, fns=fns)



def _reason_pages(w: Writer, kroot: str, base: dict, helpers: dict, plans: list[dict],
                  dot_job) -> None:
    svgs = dot_job.result()
    for plan in plans:
        if "dot_index" in plan:
            plan["svg"] = svgs[plan["dot_index"]]
        rv = plan["rv"]
        w.page("reason.html", kroot + rv.page, **base, **helpers, **plan)



def _search_index(w: Writer, v: KernelView, a, kroot: str) -> None:
    entries = []
    for path, fv in v.files.items():
        entries.append(["file", path, fv.counts.coverage_pct, fv.page])
    for key, fv in v.functions.items():
        static = fv.node.static if fv.node else True
        entries.append(["function", fv.name, fv.file if static else "", fv.page])
    for short, rv in v.reasons.items():
        entries.append(["reason", short, str(rv.reason.value), rv.page])
    js = ("window.SKBDROP_SEARCH=" +
          json.dumps({"version": a.kernel.version, "entries": entries},
                     ensure_ascii=True, separators=(",", ":")) + ";\n")
    w.write(kroot + "search.js", js.encode("utf-8"))


FORK_PAGES = 1000        # function pages from which a second process writes them
SHARE = 4                # the child also writes every SHARE-th file page (balance)


def _caller_tree_html(root: str, kids: dict[str, list[str]], ctx: Ctx, frag) -> Markup:
    """Nested lists of callers (written here, not in a recursive template macro: a
    function page can list a hundred callers and there are thousands of pages).
    ``frag(node) -> (kernel-relative url or None, inner html)`` is memoised by the caller."""
    out: list[str] = ["<ul>"]
    stack: list[tuple[str, int]] = [(root, 0)]      # (node, index of the next child)
    while stack:
        n, i = stack.pop()
        ks = kids.get(n, ())
        if i >= len(ks):
            if stack:
                out.append("</ul></li>" if ks else "</li>")
            continue
        stack.append((n, i + 1))
        c = ks[i]
        u, inner = frag(c)
        out.append(f'<li><a href="{ctx.k(u)}">{inner}' if u else f"<li>{inner}")
        if kids.get(c):
            out.append("<ul>")
        stack.append((c, 0))
    out.append("</ul>")
    return Markup("".join(out))


# --- several kernels ---------------------------------------------------------------------
def _multi_pages(w: Writer, kernels: list[dict]) -> None:
    from analyzer.formats.html.diff import compare
    from analyzer.formats.html.svg import bar_chart, line_chart
    labels = [k["version"] for k in kernels]
    rows = []
    for k in kernels:
        v = k["view"]
        rows.append(dict(k=k, s=v.a.summary, c=v.totals, reasons=len(v.a.reasons),
                         never=len(v.never_produced()), unresolved=len(v.unresolved())))
    cov = [round(100 * r["c"].coverage, 1) if r["c"].coverage is not None else 0.0 for r in rows]
    chart_cov = Markup(line_chart("Coverage: drop sites with a specific reason (%)", labels,
                                  [("coverage", cov)], y_max=100, unit="%"))
    chart_counts = Markup(bar_chart("Sites per version", labels, [
        ("drop sites", [r["c"].drop for r in rows]),
        ("with a specific reason", [r["c"].with_reason for r in rows]),
        ("unspecified", [r["c"].unspecified for r in rows]),
        ("consume sites", [r["c"].consume for r in rows])]))
    chart_reasons = Markup(bar_chart("Reasons per version", labels, [
        ("defined", [r["reasons"] for r in rows]),
        ("used, no site found", [r["unresolved"] for r in rows]),
        ("used nowhere in .c code", [r["never"] for r in rows])]))
    diffs = []
    for old, new in zip(kernels, kernels[1:]):
        cmp = compare(old["view"].a, new["view"].a)
        page = f"diff-{safe_segment(old['version'])}-{safe_segment(new['version'])}.html"
        n = 1
        while any(d["page"] == page for d in diffs):
            n += 1
            page = page.replace(".html", f"-{n}.html")
        diffs.append(dict(old=old, new=new, cmp=cmp, page=page))
    last = kernels[-1]
    base = dict(kernels=kernels, multi=True, kroot=last["kroot"],
                search_js=last["kroot"] + "search.js", v=last["view"], a=last["view"].a)
    for name in ("index.html", "trend.html"):
        w.page("overview.html" if name == "index.html" else "trend.html", name,
               **base, rows=rows, diffs=diffs, chart_cov=chart_cov,
               chart_counts=chart_counts, chart_reasons=chart_reasons)
    for d in diffs:
        w.page("diff.html", d["page"], **base, d=d, cmp=d["cmp"])


# --- command -------------------------------------------------------------------------------
def command(args) -> int:
    from analyzer.pipeline import load_analysis
    out = OutputDir(args.output)
    tty = sys.stderr.isatty()
    try:
        inputs = []
        for spec in args.kernels:
            if tty:
                sys.stderr.write(f"skbdrop: loading {spec}\n")
            a = load_analysis(spec, jobs=getattr(args, "jobs", None),
                              use_cache=not getattr(args, "no_cache", False), progress=tty)
            inputs.append(ReportInput(spec, a, open_source(spec, a.kernel.source)))
        res = build_report(inputs, out.staging, progress=tty)
        out.commit()
    except BaseException:
        out.abort()
        raise
    index = os.path.join(out.path, "index.html")
    print(f"skbdrop report: {', '.join(res.kernels)}: {res.pages:,} pages, "
          f"{res.bytes / 1e6:.1f} MB in {res.seconds:.1f} s: {index}")
    return 0
