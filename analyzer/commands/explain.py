"""``skbdrop explain``: from a drop reason, or from runtime drop events, to source sites.

    skbdrop explain KERNEL REASON              every site that can produce REASON
    skbdrop explain KERNEL --trace FILE|-      map tracefs / perf script / dropwatch /
                                               pwru drop events to candidate sites

Only formats an Analysis (plus the aggregated events of analyzer.events); never parses C.

Candidate sites for an event (function F, reason R):
  * the drop sites in F whose reason set contains R;
  * the drop sites in the static functions F calls, transitively: they can be inlined
    into F, and the tracepoint's ``location`` then names F (e.g. ``__udp_queue_rcv_skb``
    into ``udp_queue_rcv_one_skb``);
  * sites of either kind whose reason set is incomplete (``complete: false``), last.
Ranked: sites whose set contains R before incomplete ones; direct before inlined
(through static functions first, shallower first); a reason that is certain at the site
(the only one of a complete set) before one of several; then file and line.
Events with no candidate get a likely cause.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass, field

from analyzer.formats.atomic import write_text
from analyzer.errors import InputError
from analyzer.events.readers import Aggregate, read_events
from analyzer.model import CORE, Analysis, Reason, Site
from analyzer.model.graph import Graph, bare, node_file
from analyzer.model.rules import index_in_subsystem, is_bound, shift_of, subsystem_of

MAX_INLINE_DEPTH = 6      # static callees followed from the event's function
MAX_CANDIDATES = 12       # candidates kept per (function, reason)
MAX_CHAINS = 3            # call chains per site in REASON mode
MAX_CHAIN_DEPTH = 12
MAX_CHAIN_VISIT = 20000   # callers visited per site when looking for entry points
CORE_PREFIX = "SKB_DROP_REASON_"

# certainty labels
CERTAIN = "certain"
ONE_OF = "one of several"
POSSIBLE = "possible (reason set incomplete)"

# deferred-free locations (see docs kernel-layouts.md, "The family")
DEFERRED = {
    "net_tx_action": "deferred free: dev_kfree_skb_irq/any from irq context is freed later in "
                     "net_tx_action; the real site is in the driver that queued it",
    "__dev_xmit_skb": "qdisc drop: the skb was dropped by a qdisc's enqueue; the site is in "
                      "net/sched/",
    "__rtnl_unlock": "deferred free of rtnl_kfree_skbs() lists",
    "skb_release_data": "freed with its parent skb (frag_list)",
}


# --------------------------------------------------------------------------- data
@dataclass(frozen=True)
class ReasonRef:
    """A reason as an event printed it, decoded against the Analysis catalogue."""
    text: str | None                 # as printed (None: the tool gives no reason)
    short: str | None                # catalogue short name when known
    value: int | None
    subsystem: str | None
    problem: str | None = None       # why it could not be decoded

    @property
    def label(self) -> str:
        if self.short:
            return self.short
        return self.text if self.text is not None else "(no reason)"


@dataclass(frozen=True)
class Candidate:
    rank: int
    site: Site
    via: tuple[str, ...]             # F, callee, …, site.function for inlined sites; () when direct
    certainty: str

    def to_dict(self) -> dict:
        s = self.site
        return {"rank": self.rank, "file": s.file, "line": s.line, "column": s.column,
                "function": s.function, "callee": s.callee, "via": list(self.via),
                "certainty": self.certainty, "reasons": list(s.reasons), "complete": s.complete,
                "resolution": s.resolution, "reason_arg": s.reason_arg, "source": s.source}


@dataclass
class Row:
    function: str | None
    module: str | None
    reason: ReasonRef
    count: int
    offsets: list[str]
    candidates: list[Candidate] = field(default_factory=list)
    more: int = 0                    # candidates left out past MAX_CANDIDATES
    cause: str | None = None         # for rows without candidates

    def to_dict(self) -> dict:
        return {"function": self.function, "module": self.module,
                "reason": asdict(self.reason) | {"label": self.reason.label},
                "count": self.count, "offsets": self.offsets,
                "status": "matched" if self.candidates else "unmatched",
                "cause": self.cause, "candidates": [c.to_dict() for c in self.candidates],
                "more_candidates": self.more}


# --------------------------------------------------------------------------- index
class Index:
    """Lookups over one Analysis, built once; the call graph is walked by model/graph.py."""

    def __init__(self, a: Analysis):
        self.a = a
        self.shift = shift_of(a)
        self.by_short = a.reason_by_short()
        self.by_name = {r.name: r for r in a.reasons}
        self.by_value = a.reason_by_value()
        self.subsys_by_id = {s.id: s for s in a.subsystems}
        self.sites_by_func: dict[str, list[Site]] = {}
        self.sites_by_reason: dict[str, list[Site]] = {}
        for s in a.sites:
            if s.kind != "drop":
                continue
            self.sites_by_func.setdefault(s.function, []).append(s)
            for r in s.reasons:
                self.sites_by_reason.setdefault(r, []).append(s)
        self.graph = Graph.of(a)
        self.nodes = self.graph.nodes
        self.family = {f.name for f in a.family}
        self._inl_cache: dict[str, dict] = {}
        self.max_core = max((r.value for r in a.reasons if r.subsystem == CORE and r.value >= 0
                             and subsystem_of(r.value, self.shift) == 0
                             and not is_bound(r, self.shift)), default=-1)

    # -- reasons -------------------------------------------------------------------
    def decode(self, text: str | None) -> ReasonRef:
        if text is None:
            return ReasonRef(None, None, None, None)
        t = text.strip()
        num = None
        try:
            num = int(t, 16) if t.lower().startswith("0x") else int(t) if t.isdigit() else None
        except ValueError:
            num = None
        if num is not None:
            r = self.by_value.get(num)
            if r is not None:
                return ReasonRef(text, r.short, r.value, r.subsystem)
            sid, idx = subsystem_of(num, self.shift), index_in_subsystem(num, self.shift)
            if sid:
                sub = self.subsys_by_id.get(sid)
                if sub is None:
                    return ReasonRef(text, None, num, None,
                                     f"subsystem id {sid} (value {num}) is not defined in this kernel")
                return ReasonRef(text, None, num, sub.name,
                                 f"reason {idx} of subsystem {sub.name} (value {num}) is not in this "
                                 f"kernel's catalogue")
            return ReasonRef(text, None, num, "core",
                             f"reason number {num} is outside this kernel's core catalogue "
                             f"(0..{self.max_core})")
        r = self.lookup_name(t)
        if r is not None:
            return ReasonRef(text, r.short, r.value, r.subsystem)
        return ReasonRef(text, None, None, None, f"unknown reason name {t} for this kernel")

    def lookup_name(self, t: str) -> Reason | None:
        u = t.upper()
        for cand in (t, u, u[len(CORE_PREFIX):] if u.startswith(CORE_PREFIX) else None,
                     u[4:] if u.startswith("SKB_") else None):
            if cand and cand in self.by_short:
                return self.by_short[cand]
        return self.by_name.get(t) or self.by_name.get(u) or self.by_name.get(CORE_PREFIX + u)

    # -- functions -----------------------------------------------------------------
    def inlined(self, function: str) -> dict[str, tuple[tuple[str, ...], bool]]:
        """Functions the compiler can inline into ``function`` (see Graph.inlined)."""
        cached = self._inl_cache.get(function)
        if cached is None:
            cached = self._inl_cache[function] = self.graph.inlined(
                function, site_files={s.file for s in self.sites_by_func.get(function, ())},
                family=self.family, max_depth=MAX_INLINE_DEPTH)
        return cached

    def known_function(self, function: str) -> bool:
        return function in self.graph.ids_by_name or function in self.sites_by_func

    def chains_to(self, s: Site, limit: int = MAX_CHAINS) -> list[list[str]]:
        """Up to ``limit`` shortest call chains from an entry point down to the site's function."""
        start = self.graph.node_of(s.file, s.function)
        if start is None:
            return []
        return self.graph.chains_to(start, limit, max_depth=MAX_CHAIN_DEPTH,
                                    max_seen=MAX_CHAIN_VISIT)


# --------------------------------------------------------------------------- matching
def certainty(site: Site, short: str | None) -> str:
    if short is not None and short in site.reasons:
        return CERTAIN if (site.complete and len(site.reasons) == 1) else ONE_OF
    return POSSIBLE


def candidates_for(ix: Index, function: str | None, reason: ReasonRef) -> tuple[list[Candidate], int]:
    """Ranked candidate sites for one (function, reason)."""
    short = reason.short
    scored: list[tuple[tuple, Site, tuple[str, ...], str]] = []

    def consider(site: Site, depth: int, via: tuple[str, ...], penalty: int = 0) -> None:
        if short is not None and short in site.reasons:
            cert = certainty(site, short)
            tier = 0 if cert == CERTAIN else 1
        elif not site.complete:
            cert, tier = POSSIBLE, 2
        elif short is None and reason.text is None:      # the tool printed no reason
            cert, tier = ONE_OF if len(site.reasons) != 1 else CERTAIN, 1
        else:
            return
        # contains the reason before incomplete; direct before inlined (static chains first,
        # shallower first); certain before one of several; then source order
        scored.append(((tier == 2, depth > 0, penalty, depth, tier, site.file, site.line, site.column),
                       site, via, cert))

    if function is None:
        if short is None:
            return [], 0
        for s in ix.sites_by_reason.get(short, ()):
            consider(s, 0, ())
    else:
        for s in ix.sites_by_func.get(function, ()):
            consider(s, 0, ())
        for nid, (chain, static) in sorted(ix.inlined(function).items(), key=lambda kv: (len(kv[1][0]), kv[0])):
            node = ix.nodes[nid]
            nf = node_file(node)
            for s in ix.sites_by_func.get(bare(node.name), ()):
                if s.file == nf:
                    consider(s, len(chain) - 1, chain, 0 if static else 1)
    scored.sort(key=lambda t: t[0])
    out = [Candidate(i + 1, s, via, cert) for i, (_, s, via, cert) in enumerate(scored[:MAX_CANDIDATES])]
    return out, max(0, len(scored) - MAX_CANDIDATES)


def unmatched_cause(ix: Index, function: str | None, reason: ReasonRef, offsets: list[str]) -> str:
    if reason.problem:
        return reason.problem + " (version mismatch: explain against the tree the kernel was built from)"
    if function is None:
        if offsets and offsets[0] and not offsets[0].startswith("+"):
            return f"location {offsets[0]} is an address, not a symbol: symbolize it (kallsyms) first"
        return "no function in the event (pwru without --output-caller?) and no site has this reason"
    if function in DEFERRED:
        return DEFERRED[function]
    if not ix.known_function(function):
        return (f"{function} is not in this tree's analysis (no drop site, not in the call graph): "
                f"version mismatch, a module or driver not scanned, an out-of-tree module, or a "
                f"function the scan did not index")
    direct = ix.sites_by_func.get(function, [])
    inl = ix.inlined(function)
    nin = sum(1 for nid in inl for s in ix.sites_by_func.get(bare(ix.nodes[nid].name), ())
              if s.file == node_file(ix.nodes[nid]))
    if not direct and not nin:
        return (f"no drop call found in {function} or the {len(inl)} static functions it can inline: "
                f"wrapper not recognised (it calls a drop function the family lacks), or a drop through "
                f"a function pointer")
    if reason.short is None:
        return "the event carries no reason"
    return (f"{function} has {len(direct)} drop sites (+{nin} inlined), none with {reason.short} in its "
            f"reason set: reason set incomplete, or version mismatch")


def explain_events(ix: Index, agg: Aggregate) -> list[Row]:
    """One Row per distinct (function, decoded reason), most events first."""
    merged: dict[tuple, Row] = {}
    decoded: dict[str | None, ReasonRef] = {}
    for (func, rtext), count in agg.counts.items():
        ref = decoded.get(rtext)
        if ref is None:
            ref = decoded[rtext] = ix.decode(rtext)
        key = (func, ref.short if ref.short else ("?", rtext))
        row = merged.get(key)
        offs = agg.offsets.get((func, rtext), [])
        if row is None:
            merged[key] = Row(func, agg.modules.get(func) if func else None, ref, count, list(offs))
        else:
            row.count += count
            row.offsets.extend(o for o in offs if o not in row.offsets)
    rows = sorted(merged.values(), key=lambda r: (-r.count, r.function or "", r.reason.label))
    for r in rows:
        r.offsets.sort()
        if r.reason.problem is None:
            r.candidates, r.more = candidates_for(ix, r.function, r.reason)
        if not r.candidates:
            r.cause = unmatched_cause(ix, r.function, r.reason, r.offsets)
    return rows


# --------------------------------------------------------------------------- reports
def kernel_dict(a: Analysis) -> dict:
    return asdict(a.kernel)


def trace_report(a: Analysis, agg: Aggregate, rows: list[Row], source: str, interrupted: bool) -> dict:
    matched = sum(r.count for r in rows if r.candidates)
    return {
        "schema": 1, "tool": {"name": "skbdrop", "version": a.tool_version}, "mode": "trace",
        "kernel": kernel_dict(a),
        "input": {"source": source, "lines": agg.lines, "events": agg.events, "format": agg.detected,
                  "formats": dict(sorted(agg.formats.items())),
                  "skipped": dict(sorted(agg.skipped.items())),
                  "samples": dict(sorted(agg.samples.items())),
                  "distinct": len(agg.counts), "beyond_key_cap": agg.dropped_keys,
                  "lost": agg.lost,
                  "interrupted": interrupted},
        "summary": {"events": agg.events, "matched_events": matched,
                    "unmatched_events": agg.events - agg.dropped_keys - matched,
                    "rows": len(rows), "unmatched_rows": sum(1 for r in rows if not r.candidates)},
        "rows": [r.to_dict() for r in rows],
    }


def reason_report(ix: Index, ref: ReasonRef) -> dict:
    a = ix.a
    sites = sorted(ix.sites_by_reason.get(ref.short, ()), key=lambda s: (s.file, s.line, s.column))
    r = ix.by_short[ref.short]
    out = []
    for s in sites:
        out.append({"file": s.file, "line": s.line, "column": s.column, "function": s.function,
                    "callee": s.callee, "certainty": certainty(s, ref.short), "reasons": list(s.reasons),
                    "complete": s.complete, "resolution": s.resolution, "reason_arg": s.reason_arg,
                    "source": s.source, "chains": ix.chains_to(s)})
    incomplete = sum(1 for s in a.sites if s.kind == "drop" and not s.complete)
    return {"schema": 1, "tool": {"name": "skbdrop", "version": a.tool_version}, "mode": "reason",
            "kernel": kernel_dict(a),
            "reason": {"name": r.name, "short": r.short, "value": r.value, "subsystem": r.subsystem,
                       "doc": r.doc, "file": r.file, "line": r.line},
            "summary": {"sites": len(out), "certain": sum(1 for s in out if s["certainty"] == CERTAIN),
                        "functions": len({s["function"] for s in out}),
                        "incomplete_sites_elsewhere": incomplete},
            "sites": out}


def _w(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def text_trace(rep: dict) -> str:
    k, inp, sm = rep["kernel"], rep["input"], rep["summary"]
    out = [f"skbdrop explain: {inp['events']} drop events from {inp['source']} "
           f"(format: {inp['format']}), explained against Linux {k['version']} ({k['source']})"]
    skipped = ", ".join(f"{v} {c}" for c, v in inp["skipped"].items())
    out.append(f"input: {inp['lines']} lines" + (f"; skipped: {skipped}" if skipped else "")
               + ("; INTERRUPTED, partial input" if inp["interrupted"] else ""))
    if inp["lost"]:
        out.append(f"note: the tracer reported {inp['lost']} lost events (ring buffer overrun); "
                   f"counts are lower bounds")
    if inp["beyond_key_cap"]:
        out.append(f"note: {inp['beyond_key_cap']} events beyond the cap of distinct "
                   f"(function, reason) pairs were counted but not explained")
    if not inp["events"]:
        out.append("no drop events found in the input" + (
            f" (first skipped line: {next(iter(inp['samples'].values()))!r})" if inp["samples"] else ""))
        return "\n".join(out) + "\n"
    out.append(f"{sm['matched_events']} events matched source sites, {sm['unmatched_events']} did not "
               f"({sm['rows']} distinct function/reason pairs)")
    out.append("")
    out.append(f"{'EVENTS':>7}  {'FUNCTION':<32} {'REASON':<24} CANDIDATE SITES")
    for r in rep["rows"]:
        fn = (r["function"] or "?") + (f" [{r['module']}]" if r["module"] else "")
        head = f"{r['count']:>7}  {_w(fn, 32):<32} {_w(r['reason']['label'], 24):<24} "
        if not r["candidates"]:
            out.append(head + "UNMATCHED: " + r["cause"])
            continue
        out.append(head + f"{len(r['candidates']) + r['more_candidates']} "
                   + ("(" + ", ".join(r["offsets"][:3]) + ")" if r["offsets"] else ""))
        for c in r["candidates"]:
            via = f" inlined via {' → '.join(c['via'])}" if c["via"] else ""
            out.append(f"{'':>9}{c['rank']:>2}. {c['file']}:{c['line']}  [{c['certainty']}]  "
                       f"in {c['function']}{via}")
            if c["source"]:
                out.append(f"{'':>13}{_w(c['source'], 100)}")
        if r["more_candidates"]:
            out.append(f"{'':>13}… {r['more_candidates']} more")
    return "\n".join(out) + "\n"


def text_reason(rep: dict) -> str:
    r, k, sm = rep["reason"], rep["kernel"], rep["summary"]
    out = [f"{r['name']} = {r['value']} ({r['subsystem']}) in Linux {k['version']}: {r['doc']}".rstrip(": "),
           f"{sm['sites']} drop sites in {sm['functions']} functions can produce it "
           f"({sm['certain']} certain, {sm['sites'] - sm['certain']} one of several)."]
    if sm["incomplete_sites_elsewhere"]:
        out.append(f"({sm['incomplete_sites_elsewhere']} drop sites in the tree have an incomplete reason "
                   f"set and might also produce it.)")
    out.append("")
    for s in rep["sites"]:
        out.append(f"{s['file']}:{s['line']}:{s['column']}  {s['function']}  [{s['certainty']}]  "
                   f"{s['callee']}({s['reason_arg'] or ''})")
        if s["source"]:
            out.append(f"    {_w(s['source'], 100)}")
        for ch in s["chains"]:
            out.append("    from " + " → ".join(ch) if len(ch) > 1 else
                       f"    ({ch[0]} is itself an entry point)")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- HTML
def write_html(rep: dict, outdir: str) -> str:
    from analyzer.formats import jinja
    if os.path.lexists(outdir) and not os.path.isdir(outdir):
        raise InputError(f"{outdir}: exists and is not a directory")
    try:
        os.makedirs(outdir, exist_ok=True)
    except OSError as e:
        raise InputError(f"{outdir}: cannot create: {e.strerror}") from None
    env = jinja.environment()
    has_css = True
    dst = os.path.join(outdir, "assets")
    try:
        os.makedirs(dst, exist_ok=True)
        for name, data in jinja.assets():
            with open(os.path.join(dst, name), "wb") as f:
                f.write(data)
    except OSError as e:
        raise InputError(f"{outdir}: cannot write: {e.strerror or e}") from None
    tpl = env.get_template("explain.html")
    html = tpl.render(rep=rep, has_css=has_css)
    path = os.path.join(outdir, "explain.html")
    try:
        write_text(path, html)
        write_text(os.path.join(outdir, "explain.json"), json.dumps(rep, indent=1, ensure_ascii=False) + "\n")
    except OSError as e:
        raise InputError(f"{outdir}: cannot write: {e.strerror or e}") from None
    return path


# --------------------------------------------------------------------------- command
def open_trace(spec: str):
    """The byte stream of FILE or stdin (see ``decompressed``)."""
    if spec == "-":
        stream, name = sys.stdin.buffer, "stdin"
    else:
        if os.path.isdir(spec):
            raise InputError(f"{spec}: is a directory, not a trace file")
        try:
            stream, name = open(spec, "rb"), spec
        except OSError as e:
            raise InputError(f"{spec}: cannot open: {e.strerror}") from None
    return stream, name


def decompressed(stream):
    """gzip / xz input is decompressed on the fly (peeks; called after the analysis is
    loaded so a pipe is not waited on before the scan)."""
    peek = getattr(stream, "peek", None)
    head = peek(6)[:6] if peek else b""
    if head.startswith(b"\x1f\x8b"):
        import gzip
        return gzip.GzipFile(fileobj=stream, mode="rb")
    if head.startswith(b"\xfd7zXZ"):
        import lzma
        return lzma.LZMAFile(stream, mode="rb")
    return stream


def run_trace(a: Analysis, stream, source: str) -> dict:
    agg = Aggregate()
    interrupted = False
    try:
        read_events(decompressed(stream), agg)
    except KeyboardInterrupt:
        interrupted = True                 # trace_pipe stopped with Ctrl-C: explain what we have
    except (OSError, EOFError, ValueError) as e:   # incl. a corrupt or truncated gzip/xz stream
        agg.skip("unreadable input", f"{type(e).__name__}: {e}")
        agg.fold()
        interrupted = True
    ix = Index(a)
    rows = explain_events(ix, agg)
    return trace_report(a, agg, rows, source, interrupted)


def command(args) -> int:
    reason = getattr(args, "reason", None)
    trace = getattr(args, "trace", None)
    if reason and trace:
        raise InputError("explain: give REASON or --trace FILE, not both")
    if not reason and not trace:
        raise InputError("explain: give a REASON (name or number) or --trace FILE|-")
    stream = source = None
    if trace:
        stream, source = open_trace(trace)      # fail early, before a long scan
    from analyzer.pipeline import load_analysis
    a = load_analysis(args.kernel, jobs=getattr(args, "jobs", None),
                      use_cache=not getattr(args, "no_cache", False), progress=sys.stderr.isatty())
    if not a.reasons:
        raise InputError(f"{args.kernel}: the analysis has no drop-reason catalogue")
    if trace:
        try:
            rep = run_trace(a, stream, source)
        finally:
            if stream is not sys.stdin.buffer:
                try:
                    stream.close()
                except OSError:
                    pass
        text = text_trace
    else:
        ix = Index(a)
        ref = ix.decode(reason)
        if ref.short is None:
            raise InputError(f"explain: {ref.problem or 'unknown reason ' + reason} "
                             f"(Linux {a.kernel.version})")
        rep = reason_report(ix, ref)
        text = text_reason
    if getattr(args, "output", None):
        path = write_html(rep, args.output)
        sys.stderr.write(f"skbdrop: wrote {path}\n")
        return 0
    if args.format == "json":
        write_text("-", json.dumps(rep, indent=1, ensure_ascii=False) + "\n")
    else:
        write_text("-", text(rep))
    return 0
