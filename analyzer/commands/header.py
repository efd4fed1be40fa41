"""`skbdrop header`: the reason table as a uapi-style C header.

The kernel's ``enum skb_drop_reason`` is not uapi and its values move between
releases, so the header is a *snapshot of one kernel version*: every name is
prefixed (``SKBDROP_REASON_…``) so it can sit next to the kernel's own header or a
BPF ``vmlinux.h`` in one translation unit, and the version it came from is written
into it.  Only formats an :class:`~analyzer.model.Analysis`; never reads C.

The catalogue helpers here (:func:`catalogue`, :func:`require_catalogue`,
:func:`load`) are shared by ``export``, ``verify`` and ``diff``.
"""
from __future__ import annotations

import re
import sys
import textwrap
from dataclasses import dataclass

from analyzer.errors import NoCatalogue
from analyzer.model import CORE, Analysis, Reason, Subsystem
from analyzer.model.rules import DEFAULT_SHIFT, from_btf, is_bound, subsystem_of

PREFIX = "SKBDROP_REASON_"
GUARD = "SKBDROP_DROP_REASONS_H"
TEMPLATE = "uapi_header.h.j2"

@dataclass(frozen=True)
class SubsysView:
    subsystem: Subsystem
    reasons: tuple[Reason, ...]


@dataclass(frozen=True)
class Catalogue:
    """The reason catalogue as the header and the tables see it."""
    core: tuple[Reason, ...]             # core reasons by value, sentinels removed
    subsystems: tuple[SubsysView, ...]   # by id (the core subsystem included when declared)
    core_max: int                        # SKB_DROP_REASON_MAX
    shift: int | None                    # SKB_DROP_REASON_SUBSYS_SHIFT, None before 6.4
    mask: int | None                     # SKB_DROP_REASON_SUBSYS_MASK
    subsys_num: int = 0                  # SKB_DROP_REASON_SUBSYS_NUM

    @property
    def reasons(self) -> tuple[Reason, ...]:
        return self.core + tuple(r for s in self.subsystems for r in s.reasons)


def catalogue(a: Analysis) -> Catalogue:
    by_name = {r.name: r for r in a.reasons}
    tree_shift = a.kernel.subsys_shift or DEFAULT_SHIFT      # older analysis files lack it
    core = tuple(sorted((r for r in a.reasons if r.subsystem == CORE and not is_bound(r, tree_shift)),
                        key=lambda r: (r.value, r.name)))
    if "SKB_DROP_REASON_MAX" in by_name:
        core_max = by_name["SKB_DROP_REASON_MAX"].value
    else:  # the kernel's MAX is the enumerator after the last reason of the X-macro list
        core_max = max((r.value for r in core), default=-1) + 1
    subs = []
    num = None
    for s in sorted(a.subsystems, key=lambda s: (s.id, s.name)):
        if s.enumerator.endswith("_NUM"):
            num = s.id        # SKB_DROP_REASON_SUBSYS_NUM is a bound, not a subsystem
            continue
        rs = () if s.name == CORE else tuple(sorted(
            (r for r in a.reasons if r.subsystem == s.name and not is_bound(r, tree_shift)),
            key=lambda r: (r.value, r.name)))
        subs.append(SubsysView(s, rs))
    shift = mask = None
    if a.subsystems:
        shift = tree_shift
        mask = (by_name["SKB_DROP_REASON_SUBSYS_MASK"].value
                if "SKB_DROP_REASON_SUBSYS_MASK" in by_name else 0xFFFF0000)
        for sv in subs:   # the layout must agree with the values the scanner computed
            for r in sv.reasons:
                if subsystem_of(r.value, shift) != sv.subsystem.id:
                    raise ValueError(f"{r.name} = {r.value:#x} is not in subsystem "
                                     f"{sv.subsystem.name} (id {sv.subsystem.id})")
    if num is None:
        num = max((sv.subsystem.id for sv in subs), default=-1) + 1
    return Catalogue(core, tuple(subs), core_max, shift, mask, num)


def require_catalogue(a: Analysis, spec: str) -> Catalogue:
    cat = catalogue(a)
    if not cat.core:
        raise NoCatalogue(f"{spec}: no drop-reason catalogue (kernel {a.kernel.version or '?'}, "
                          f"layout {a.kernel.layout or 'none'}): need a Linux tree 5.17 or later")
    return cat


def load(spec: str, args, *, sources: bool = True) -> Analysis:
    """The Analysis for a CLI argument (`KERNEL|analysis.json`, and `btf:FILE` when
    SOURCES is False: the caller needs the reason table only)."""
    from analyzer.pipeline import load_analysis
    return load_analysis(spec, jobs=getattr(args, "jobs", None),
                         use_cache=not getattr(args, "no_cache", False),
                         progress=sys.stderr.isatty(), sources=sources)


def version_code(version: str) -> int | None:
    """LINUX_VERSION_CODE of "6.12.117": KERNEL_VERSION(a, b, min(c, 255))."""
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", version or "")
    if not m:
        return None
    a, b, c = int(m[1]), int(m[2]), int(m[3] or 0)
    return (a << 16) + (b << 8) + min(c, 255)


def subsys_ident(s: Subsystem) -> str:
    """SKB_DROP_REASON_SUBSYS_OPENVSWITCH -> SUBSYS_OPENVSWITCH."""
    e = s.enumerator or f"SKB_DROP_REASON_SUBSYS_{s.name.upper()}"
    return e[len("SKB_DROP_REASON_"):] if e.startswith("SKB_DROP_REASON_") else e


# --- rendering ------------------------------------------------------------------------

def _comment_safe(text: str) -> str:
    # no comment terminator, no trigraphs (-std=c99 enables them), ASCII only
    text = text.replace("*/", "* /").replace("/*", "/ *").replace("??", "?\\?")
    return text.encode("ascii", "replace").decode("ascii")


def _kdoc(ident: str, doc: str, indent: str, extra: str = "") -> list[str]:
    """A kernel-doc comment `/** @IDENT: doc */`, wrapped, as lines."""
    body = " ".join(doc.split())
    body = _comment_safe(f"@{ident}: {body}" if body else f"@{ident}:")
    if extra:
        body += f" ({extra})"
    one = f"{indent}/** {body} */"
    if len(one) <= 90:
        return [one]
    lines = textwrap.wrap(body, width=78 - len(indent), break_long_words=False,
                          break_on_hyphens=False)
    return [f"{indent}/**"] + [f"{indent} * {ln}" for ln in lines] + [f"{indent} */"]


@dataclass(frozen=True)
class _Entry:
    ident: str
    value: int
    short: str
    kernel_name: str
    comment: tuple[str, ...]


def _entries(cat: Catalogue) -> tuple[list[_Entry], list[tuple[SubsysView | None, list[_Entry]]]]:
    seen: dict[str, str] = {}

    def ident(short: str, kernel_name: str) -> str:
        name = PREFIX + short
        if name in seen and seen[name] != kernel_name:
            raise ValueError(f"{kernel_name} and {seen[name]} both map to {name}")
        seen[name] = kernel_name
        return name

    for reserved in ("MAX", "COUNT", "SUBSYS_SHIFT", "SUBSYS_MASK"):
        seen[PREFIX + reserved] = "(header)"
    groups: list[tuple[SubsysView | None, list[_Entry]]] = []
    core = []
    for r in cat.core:
        i = ident(r.short, r.name)
        core.append(_Entry(i, r.value, r.short, r.name, tuple(_kdoc(i, r.doc, "\t", r.name))))
    groups.append((None, core))
    for sv in cat.subsystems:
        if not sv.reasons:
            continue
        es = []
        for r in sv.reasons:
            i = ident(r.short, r.name)
            es.append(_Entry(i, r.value, r.short, r.name, tuple(_kdoc(i, r.doc, "\t", r.name))))
        groups.append((sv, es))
    return core, groups


def _environment():
    from analyzer.formats import jinja
    return jinja.environment()


def render(a: Analysis, spec: str = "") -> str:
    """The header text for an Analysis (deterministic: depends on the Analysis only)."""
    cat = require_catalogue(a, spec or a.kernel.source)
    _core, groups = _entries(cat)
    all_entries = [e for _, es in groups for e in es]
    names_by_value: dict[int, _Entry] = {}
    for e in all_entries:
        names_by_value.setdefault(e.value, e)
    subsystems = []
    for sv in cat.subsystems:
        n = len(cat.core) if sv.subsystem.name == CORE else len(sv.reasons)
        subsystems.append({
            "ident": PREFIX + subsys_ident(sv.subsystem), "id": sv.subsystem.id,
            "name": sv.subsystem.name,
            "comment": _kdoc(PREFIX + subsys_ident(sv.subsystem),
                             f"subsystem {sv.subsystem.name}, {n} reasons", "\t",
                             sv.subsystem.enumerator)})
    if cat.shift is not None and not any(s["id"] == 0 for s in subsystems):
        subsystems.insert(0, {"ident": PREFIX + "SUBSYS_CORE", "id": 0, "name": CORE,
                              "comment": _kdoc(PREFIX + "SUBSYS_CORE",
                                               f"subsystem core, {len(cat.core)} reasons", "\t",
                                               "SKB_DROP_REASON_SUBSYS_CORE")})
    ver = a.kernel.version or "unknown"
    text = _environment().get_template(TEMPLATE).render(
        guard=GUARD, prefix=PREFIX, version=ver,
        version_c=_comment_safe(ver).replace("\\", "").replace('"', ""),
        version_code=version_code(ver),
        source=_comment_safe(a.kernel.source), layout=a.kernel.layout,
        tool_version=a.tool_version,
        groups=[{"subsystem": None if sv is None else {
                    "name": sv.subsystem.name, "id": sv.subsystem.id,
                    "ident": PREFIX + subsys_ident(sv.subsystem),
                    "file": sv.reasons[0].file if sv.reasons else sv.subsystem.file,
                    "base": None if cat.shift is None else sv.subsystem.id << cat.shift},
                 "entries": es} for sv, es in groups],
        entries=all_entries, unique=sorted(names_by_value.values(), key=lambda e: e.value),
        core_max=cat.core_max, core_count=len(cat.core), subsystems=subsystems,
        subsys_num=cat.subsys_num,
        shift=cat.shift, mask=cat.mask, count=len(all_entries),
        docs_absent=from_btf(a) or not any(r.doc for r in cat.reasons),
        from_btf=from_btf(a),
        core_file=cat.core[0].file if cat.core else "")
    return re.sub(r"[ \t]+\n", "\n", text)


def command(args) -> int:
    from analyzer.formats.atomic import write_output
    a = load(args.kernel, args, sources=False)
    text = render(a, args.kernel)
    write_output(args.output, text)
    return 0
