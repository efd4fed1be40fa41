"""Call-chain pictures: a small DOT graph per page, laid out by Graphviz ``dot``.

All graphs of a report go through one ``dot`` process (dot reads several graphs from
one input and writes one SVG document each), so the cost is the layout, not process
start-up. Without ``dot`` the pages keep their text call chains and show no picture.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

from markupsafe import Markup

_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def dot_quote(s: str) -> str:
    s = _BAD.sub("", s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
    return f'"{s}"'


@dataclass
class GNode:
    id: str
    label: str
    url: str | None = None
    kind: str = "plain"          # plain | entry | site | focus


@dataclass
class GEdge:
    src: str
    dst: str
    kind: str = "call"           # call | ops


_STYLE = {
    "plain": 'shape=box style="rounded" color="#555555"',
    "entry": 'shape=box style="rounded,bold" color="#0072B2" penwidth=2',
    "site": 'shape=box style="rounded,filled" fillcolor="#FBE3D6" color="#D55E00"',
    "pointer": 'shape=box style="rounded,dashed" color="#6a3d9a" fontcolor="#6a3d9a"',
    "focus": 'shape=box style="rounded,filled,bold" fillcolor="#FFE9A8" color="#8a6d00"',
}


def to_dot(name: str, nodes: list[GNode], edges: list[GEdge]) -> str:
    # DOT ids are n0, n1, ...: dot writes ids unescaped into <title>, labels escaped.
    ids = {n.id: f"n{i}" for i, n in enumerate(nodes)}
    out = [f"digraph {dot_quote(re.sub(r'[^A-Za-z0-9_]', '_', name))} {{",
           'graph [rankdir=LR fontname="Helvetica" fontsize=10 nodesep=0.15 ranksep=0.35];',
           'node [fontname="Helvetica" fontsize=10 height=0.25 margin="0.06,0.03"];',
           'edge [color="#777777" arrowsize=0.6];']
    for n in nodes:
        attrs = [f"label={dot_quote(n.label)}", _STYLE.get(n.kind, _STYLE["plain"]),
                 f"tooltip={dot_quote(n.id)}"]
        if n.url:
            attrs.append(f"URL={dot_quote(n.url)}")
        out.append(f"{ids[n.id]} [{' '.join(attrs)}];")
    for e in edges:
        if e.src not in ids or e.dst not in ids:
            continue
        style = ' style="dashed" label="ops" fontsize=8' if e.kind == "ops" else ""
        out.append(f"{ids[e.src]} -> {ids[e.dst]} [{style.strip()}];")
    out.append("}")
    return "\n".join(out) + "\n"


_ROOT_SIZE = re.compile(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"')


def _clean(svg: str) -> str:
    i = svg.find("<svg")
    svg = svg[i:] if i >= 0 else svg
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.S)
    return _ROOT_SIZE.sub(lambda m: f'<svg role="img" class="callgraph" style="max-width:{m.group(1)}pt"'
                          f' width="100%"', svg, count=1).strip()


def render_many(dots: list[str], timeout: float = 120.0) -> list[Markup | None]:
    """SVG (as inline-able markup) for each DOT graph; None for all when dot is missing."""
    if not dots:
        return []
    exe = shutil.which("dot")
    if not exe:
        return [None] * len(dots)
    try:
        p = subprocess.run([exe, "-Tsvg"], input="".join(dots).encode("utf-8"),
                           capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return [None] * len(dots)
    text = p.stdout.decode("utf-8", errors="replace")
    docs = [d for d in re.split(r"(?=<\?xml )", text) if d.strip()]
    if p.returncode != 0 or len(docs) != len(dots):
        # fall back to one process per graph so one bad graph does not lose all of them
        if len(dots) == 1:
            return [None]
        return [x for d in dots for x in render_many([d], timeout)]
    return [Markup(_clean(d)) for d in docs]
