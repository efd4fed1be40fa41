"""Source text for the report's file pages.

The report never parses C; it only shows the text. Files come from the kernel tree
(``analyzer.tree.open_tree``) when the report was asked for a KERNEL spec, or from the
tree recorded in ``kernel.source`` of an analysis.json when that still exists locally.
Without a tree, the file page shows the site lines alone (``Site.source``).
"""
from __future__ import annotations

import os
import re

from markupsafe import Markup, escape

from analyzer.errors import InputError


class DirReader:
    """Reads files of a kernel tree that is a plain directory."""

    def __init__(self, root: str):
        self.root = os.path.abspath(root)

    def read(self, relpath: str) -> bytes:
        p = os.path.normpath(os.path.join(self.root, relpath))
        if not p.startswith(self.root + os.sep):
            raise FileNotFoundError(relpath)
        with open(p, "rb") as f:
            return f.read()


class SourceReader:
    """``text(relpath) -> str | None``; None when the file cannot be read."""

    def __init__(self, backend):
        self.backend = backend

    def text(self, relpath: str) -> str | None:
        try:
            data = self.backend.read(relpath)
        except (OSError, KeyError, ValueError, LookupError, InputError):
            return None
        if data is None:
            return None
        if isinstance(data, str):
            return data
        return data.decode("utf-8", errors="replace")


def _open_tree(spec: str):
    try:
        from analyzer.source import tree  # KERNEL specs
    except ImportError:
        tree = None
    if tree is not None and hasattr(tree, "open_tree"):
        try:
            return tree.open_tree(spec)
        except Exception:  # noqa: BLE001 - no source is a degraded report, not an error
            pass
    if os.path.isdir(spec):
        return DirReader(spec)
    return None


def open_source(spec: str, kernel_source: str) -> SourceReader | None:
    """A reader for the tree behind one report input, or None.

    ``spec`` is what the user passed (KERNEL spec or analysis.json). For a JSON file the
    recorded ``kernel.source`` is used only when it is at hand: an existing local path,
    or a ``debian:VER`` tree already in the cache. A report from JSON never downloads.
    """
    if spec.endswith(".json") and os.path.isfile(spec):
        m = re.match(r"debian:(\d+\.\d+(?:\.\d+(?:-[0-9A-Za-z.+~]+)?)?)(?:\s|$)",
                     kernel_source or "")
        if m:                      # Debian's tree, when it is still in the cache
            try:
                from analyzer.source.tree import debian_tree
                return SourceReader(debian_tree(m.group(1), fetch=False))
            except (ImportError, InputError, OSError):
                return None
        if kernel_source and os.path.exists(kernel_source):
            b = _open_tree(kernel_source)
            return SourceReader(b) if b else None
        return None
    b = _open_tree(spec)
    return SourceReader(b) if b else None


def matches_sites(lines: list[str], sites) -> bool:
    """True when every site's recorded source line is the line the tree has there."""
    for s in sites:
        if s.line < 1 or s.line > len(lines):
            return False
        if s.source and " ".join(lines[s.line - 1].split()) != " ".join(s.source.split()):
            return False
    return True


def text_escape(s: str) -> str:
    """Escape for HTML text content (not attributes): ``&`` and ``<`` are all it takes;
    leaving ``>`` and quotes alone keeps pages of C (``->`` everywhere) small."""
    return s.replace("&", "&amp;").replace("<", "&lt;")


def render_lines(lines: list[str], marks: dict[int, tuple[str, str]],
                 notes: dict[int, Markup], anchors: set[int]) -> Markup:
    """The body of ``<pre class="src">``: one ``<i>`` per line (numbered by a CSS
    counter; the shortest element, as there are millions of lines in a report), ids on
    the lines other pages link to, and a note after each site line.

    ``lines`` are raw text; ``marks``: line -> (css class, short label for screen
    readers). Runs of plain lines are joined in one go: this loop is the report's
    hottest (2.5 million lines for 6.12).
    """
    esc = text_escape("\n".join(lines)).split("\n") if lines else []
    out: list[str] = []
    ap = out.append
    prev = 0                                     # lines[:prev] are written
    for ln in sorted(set(marks) | anchors):
        if ln < 1 or ln > len(esc):
            continue
        if ln - 1 > prev:
            ap("<i>" + "</i><i>".join(esc[prev:ln - 1]) + "</i>")
        text = esc[ln - 1]
        m = marks.get(ln)
        if m is None:
            ap(f'<i id="L{ln}">{text}</i>')
        else:
            ap(f'<i id="L{ln}" class="{m[0]}"><span class="sr">{escape(m[1])}: </span>{text}</i>')
            note = notes.get(ln)
            if note:
                ap(f'<span class="ann">{note}</span>')
        prev = ln
    if prev < len(esc):
        ap("<i>" + "</i><i>".join(esc[prev:]) + "</i>")
    return Markup("".join(out))


def render_sparse(sites, notes: dict[int, Markup], marks: dict[int, tuple[str, str]]) -> Markup:
    """Site lines only (no tree at hand): explicit numbers, a gap marker between them."""
    out: list[str] = []
    prev = None
    for s in sorted({s.line: s for s in sites}.values(), key=lambda s: s.line):
        if prev is not None and s.line > prev + 1:
            out.append('<i class="gap" data-n="">…</i>')
        cls, label = marks.get(s.line, ("", ""))
        out.append(f'<i id="L{s.line}" class="{cls}" data-n="{s.line}">'
                   f'<span class="sr">{escape(label)}: </span>{text_escape(s.source)}</i>')
        note = notes.get(s.line)
        if note:
            out.append(f'<span class="ann">{note}</span>')
        prev = s.line
    return Markup("".join(out))


def split_lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln.rstrip("\r") for ln in lines]
