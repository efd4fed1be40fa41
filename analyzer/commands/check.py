"""``skbdrop check``: judge a patch (or a series, or a git range) against its base tree.

Each patch is applied in memory to the base's files (no working tree changes); only
the touched files are re-parsed (the rest of the facts come from the cache); the
analysis before and after the patch are compared and the differences that matter
become typed findings (see findings.py). A patch that touches no relevant file is
judged without opening the tree at all.

The two analyses are *focused*: linked over the same set of files, namely the touched
ones, the catalogue headers, the family members they reach and the files their reason
terms flow through (definitions of reason-returning callees, callers that pass a
reason parameter, callers of touched reason-returning functions). Both sides share
the approximation, so what differs is the patch. What the focus needs to know about
the rest of the tree (who defines and calls what, which files use which reason) is a
small index built once per base tree from the cached facts and kept in the cache
(``check-index/``); a check is then well under a second on 6.12.

Site matching uses the patch itself: a site on an unchanged line is the same site
before and after (the old-to-new line map of the applied diff); sites on removed and
added lines in the same function are paired first by callee, then by function
(``kfree_skb(skb)`` becoming ``kfree_skb_reason(skb, R)`` is the same site); what is
left after the patch is new. Sites in files the patch does not touch keep their
positions and are compared one to one (their reasons may change through callees).
"""
from __future__ import annotations

import json
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Callable, Iterable

from analyzer import __version__
from analyzer.errors import InputError
from analyzer.model.findings import Finding, at_least, count, make
from analyzer.model import NOT_SPECIFIED, Analysis, KernelInfo, Reason, Site
from analyzer.source.cache import code_version
from analyzer.source.patch import AppliedFile, Patch, PatchedTree, git_range, read_series, synthetic_patch

DEFAULT_PATHS = ("net/", "drivers/net/", "include/net/", "include/linux/skbuff.h")
# The reason catalogue and its string tables, found by name (no parsing needed).
CATALOGUE_FILE = re.compile(
    r"^(include/net/dropreason[^/]*\.h|include/linux/skbuff\.h|include/trace/events/skb\.h"
    r"|net/core/skbuff\.c|net/[^/]+/drop\.h)$")
SOURCE_FILE = re.compile(r"\.[ch]$")
SENTINELS = frozenset({"SKB_DROP_REASON_MAX", "SKB_DROP_REASON_SUBSYS_MASK",
                       "SKB_NOT_DROPPED_YET"})
SUGGESTIONS = 5


# --- scope --------------------------------------------------------------------------

def parse_paths(spec: str | Iterable[str]) -> tuple[str, ...]:
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out = tuple(p.strip().lstrip("./") if p.strip().startswith("./") else p.strip()
                for p in items if p.strip())
    if not out:
        raise InputError("--paths: no path given")
    return out


def in_scope(path: str, paths: tuple[str, ...]) -> bool:
    for p in paths:
        if p.endswith("/"):
            if path.startswith(p):
                return True
        elif path == p or path.startswith(p + "/"):
            return True
    return False


def relevant_files(patch: Patch, paths: tuple[str, ...]) -> tuple[str, ...]:
    """C files of the patch that count: inside --paths, or part of the catalogue."""
    out = []
    for p in patch.paths():
        if SOURCE_FILE.search(p) and (in_scope(p, paths) or CATALOGUE_FILE.match(p)):
            out.append(p)
    return tuple(out)


# --- engines: where analyses come from -------------------------------------------------

class Engine:
    """Base tree access, and the analyses before and after a change. Tests use toy ones."""

    def read(self, path: str) -> str | None:            # base file text, None if absent
        raise NotImplementedError

    def kernel(self) -> KernelInfo:
        raise NotImplementedError

    def pair(self, before: dict[str, str | None],
             after: dict[str, str | None]) -> tuple[Analysis, Analysis]:
        """Analyses of the base with ``before`` and with ``after`` applied (path -> text,
        None for a deleted file), computed the same way so that they compare."""
        raise NotImplementedError

    def mentioned_outside(self, names: set[str], paths: set[str]) -> set[str]:
        """The reason names (full or short) that files other than ``paths`` use."""
        return set()


class _Files:
    """A tree of a few files (the patched ones), for collect_facts."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files

    def iter_files(self):
        for p in sorted(self.files):
            yield p, self.files[p], None


_CAT_TEXT = re.compile(r"\benum\s+skb_drop_reason(?:_subsys)?\s*\{|SKB_DROP_REASON_SUBSYS_SHIFT"
                       r"|#\s*define\s+DEFINE_DROP_REASON\b")
MAX_FOCUS = 400          # files in the focused analysis, at most
FOCUS_ROUNDS = 4


@dataclass
class TreeIndex:
    """What the focused analysis needs to know about the whole base tree, cached."""
    keys: dict[str, str]                    # path -> content key (facts cache)
    stats: dict[str, tuple[int, int]]       # path -> (size, mtime_ns) for directory trees
    defs: dict[str, tuple[str, ...]]        # function -> files defining it
    callers: dict[str, tuple[str, ...]]     # function -> files calling it
    mentions: dict[str, tuple[str, ...]]    # reason constant -> files using it
    catalogue: tuple[str, ...]              # files the catalogue is built from
    family: dict[str, tuple[str, str]]      # family member -> (file, how it joined)
    skipped: dict[str, str]
    scanned: int


def _terms_of(f) -> Iterable[tuple]:
    for c in f.calls:
        for terms in c.arg_terms:
            for t in terms:
                yield c.function, t
    for fn in f.functions:
        for t in fn.return_terms:
            yield fn.name, t
        for _i, terms in fn.out_writes:
            for t in terms:
                yield fn.name, t


def build_index(facts) -> TreeIndex:
    from analyzer.link import catalogue as cat_mod
    from analyzer.link.family import derive_family
    from analyzer.link.analysis import Index, Resolver
    defs: dict[str, set[str]] = defaultdict(set)
    callers: dict[str, set[str]] = defaultdict(set)
    mentions: dict[str, set[str]] = defaultdict(set)
    cat_files = []
    for path in sorted(facts):
        f = facts[path]
        for fn in f.functions:
            defs[fn.name].add(path)
        for _caller, callee, _line in f.edges:
            callers[callee].add(path)
        for c in f.calls:
            callers[c.callee].add(path)
        for _fn, t in _terms_of(f):
            if t[0] == "const":
                mentions[t[1]].add(path)
        for mac in f.macros:
            for tok in re.findall(r"\bSKB_DROP_REASON_[A-Z0-9_]+\b", mac.body):
                mentions[tok].add(path)
        if f.catalogue_text and not path.startswith(("tools/", "Documentation/")) \
                and _CAT_TEXT.search(f.catalogue_text):
            cat_files.append(path)
    texts = {p: facts[p].catalogue_text for p in cat_files}
    ix = Index(facts)
    fam = derive_family(facts, ix, Resolver(ix, cat_mod.build(texts)))
    return TreeIndex(
        keys={}, stats={},
        defs={k: tuple(sorted(v)) for k, v in defs.items()},
        callers={k: tuple(sorted(v)) for k, v in callers.items()},
        mentions={k: tuple(sorted(v)) for k, v in mentions.items()},
        catalogue=tuple(cat_files), family={m.name: (m.file, m.via) for m in fam},
        skipped=dict(facts.skipped), scanned=facts.scanned)


class ScanEngine(Engine):
    """The real thing, focused: the files a change touches, the catalogue, the family,
    and the files their reasons flow through (callees returning reasons, callers
    passing them), linked before and after the change with the same file set. The
    facts come from the scanner's cache; only patched files are parsed. What the
    focused analysis needs to know about the rest of the tree is an index built once
    per base tree (from the cached facts) and kept in the cache."""

    def __init__(self, spec: str, *, jobs: int | None = None, use_cache: bool = True,
                 progress: bool = False):
        from analyzer.source.tree import open_tree
        self.spec, self.jobs, self.use_cache, self.progress = spec, jobs, use_cache, progress
        self.tree = open_tree(spec)
        self._kernel = KernelInfo(version=self.tree.version, source=self.tree.source, layout="")
        self._index: TreeIndex | None = None
        self._facts: dict = {}
        self._full = None

    def kernel(self) -> KernelInfo:
        return self._kernel

    def read(self, path: str) -> str | None:
        try:
            data = self.tree.read(path)
        except (InputError, OSError):
            return None
        return data.decode("utf-8", "surrogateescape")

    # --- the index --------------------------------------------------------------------
    def _fingerprint(self) -> str | None:
        import hashlib
        import os
        t = self.tree
        kind = getattr(t, "kind", "")
        if kind == "git":
            raw = f"git:{t.commit}"
        elif kind == "tar":
            path = getattr(t, "path", None) or t.source
            try:
                st = os.stat(path)
            except OSError:
                return None
            raw = f"tar:{os.path.abspath(path)}:{st.st_size}:{st.st_mtime_ns}"
        elif kind == "dir":
            root = getattr(t, "root", t.source)
            try:
                st = os.stat(os.path.join(root, "Makefile"))
            except OSError:
                return None
            raw = f"dir:{root}:{t.version}:{st.st_mtime_ns}"
        else:
            return None
        return hashlib.blake2b(f"{code_version('analysis')}:{raw}".encode(),
                               digest_size=16).hexdigest()

    def index(self) -> TreeIndex:
        if self._index is not None:
            return self._index
        import os
        from analyzer.source import cache as cache_mod, codec
        root = cache_mod.usable_root() if self.use_cache else None
        fp = self._fingerprint() if root else None
        path = os.path.join(root, "check-index", f"{fp}.json") if fp else None
        data = cache_mod.read_file(path) if path else None
        if data is not None:
            try:        # data only; a corrupt or foreign index is rebuilt
                self._index = codec.decoder(TreeIndex)(cache_mod.load_entry("check-index", fp, data))
                return self._index
            except (codec.BadEntry, RecursionError):
                pass
        from analyzer.source.cache import content_key
        from analyzer.c.collect import collect_facts
        facts = collect_facts(self.tree, jobs=self.jobs, use_cache=self.use_cache,
                              progress=self.progress)
        ix = build_index(facts)
        root = getattr(self.tree, "root", None)
        for p, f in facts.items():
            if root is not None:
                try:
                    full = os.path.join(root, p)
                    st = os.stat(full)
                    ix.stats[p] = (st.st_size, st.st_mtime_ns)
                except OSError:
                    pass
            self._facts[p] = f
        # content keys: read again only what the facts cache needs (relevant files)
        for p in facts:
            try:
                data = self.tree.read(p)
            except (InputError, OSError):
                continue
            ix.keys[p] = content_key(data)
        self._full = facts
        if path:
            try:
                cache_mod.write_atomic(path, cache_mod.dump_entry(
                    "check-index", fp, codec.encoder(TreeIndex)(ix)))
            except OSError:
                pass
        self._index = ix
        return ix

    def _base_facts_of(self, paths: Iterable[str]) -> dict:
        """Facts of base files, from memory, the facts cache, or parsed now."""
        import os
        from analyzer.source.cache import FactsCache, usable_root
        from analyzer.c.collect import collect_facts
        ix = self.index()
        cache = FactsCache(usable_root() if self.use_cache else None)
        out, missing = {}, {}
        root = getattr(self.tree, "root", None)
        for p in paths:
            if p in self._facts:
                out[p] = self._facts[p]
                continue
            key = ix.keys.get(p)
            fresh = True
            if root is not None and p in ix.stats:
                try:
                    st = os.stat(os.path.join(root, p))
                    fresh = (st.st_size, st.st_mtime_ns) == ix.stats[p]
                except OSError:
                    fresh = False
            hit = cache.get(key) if key and fresh else None
            if hit is not None:
                out[p] = self._facts[p] = hit if hit.path == p else _replace_path(hit, p)
                continue
            text = self.read(p)
            if text is not None:
                missing[p] = text.encode("utf-8", "surrogateescape")
        if missing:
            got = collect_facts(_Files(missing), jobs=1, use_cache=self.use_cache)
            for p, f in got.items():
                out[p] = self._facts[p] = f
        return out

    # --- focus and link ---------------------------------------------------------------
    def _focus(self, seeds: dict[str, object]) -> set[str]:
        """The files to link: the seeds (path -> facts), the catalogue, the family
        members they can reach, and the files their reason terms flow through (the
        definitions of functions whose returns or out-parameters give a reason, the
        callers of functions whose reason is a parameter), followed term by term."""
        ix = self.index()
        fam = ix.family
        focus = set(seeds) | set(ix.catalogue)
        focus |= {f for f, via in fam.values() if via == "tracepoint" or f.endswith(".h")}
        work: list[tuple[str, str | None, tuple]] = []
        called: set[str] = set()
        for path, f in seeds.items():
            if f is None:
                continue
            for func, t in _terms_of(f):
                work.append((path, func, t))
            called.update(c.callee for c in f.calls)
            called.update(c for _a, c, _l in f.edges)
            # callers of the seeds' reason-returning functions: their drops can change
            for fn in f.functions:
                if (fn.returns_reason or fn.out_writes) and fn.name not in ix.family:
                    focus.update(p for p in ix.callers.get(fn.name, ())[:40]
                                 if p not in seeds)
        # family members the seeds call, and the members those are built on
        todo = sorted(n for n in called if n in fam)
        done: set[str] = set()
        while todo:
            n = todo.pop()
            if n in done:
                continue
            done.add(n)
            file = fam[n][0]
            focus.add(file)
            for ff in self._base_facts_of([file]).values():
                todo.extend(c.callee for c in ff.calls if c.function == n and c.callee in fam)
                for mac in ff.macros:
                    if mac.name == n:
                        todo.extend(m for m in fam
                                    if re.search(rf"\b{re.escape(m)}\s*\(", mac.body))
        seen: set = set()
        while work and len(focus) < MAX_FOCUS:
            path, func, t = work.pop()
            key = (path, func, t)
            if key in seen or t[0] in ("const", "unknown"):
                continue
            seen.add(key)
            if t[0] in ("call", "out"):
                name = t[1]
                for p, ff in self._base_facts_of(ix.defs.get(name, ())[:8]).items():
                    focus.add(p)
                    for fn in ff.functions:
                        if fn.name != name:
                            continue
                        if t[0] == "call":
                            work.extend((p, name, tt) for tt in fn.return_terms)
                        else:
                            for i, terms in fn.out_writes:
                                if i == t[2]:
                                    work.extend((p, name, tt) for tt in terms)
            elif t[0] == "param" and func and func not in fam:
                for p, ff in self._base_facts_of(ix.callers.get(func, ())[:40]).items():
                    focus.add(p)
                    for c in ff.calls:
                        if c.callee == func and t[1] < len(c.arg_terms):
                            work.extend((p, c.function, tt) for tt in c.arg_terms[t[1]])
        return focus

    def _link(self, facts) -> Analysis:
        from analyzer.c.collect import Facts
        from analyzer.link.analysis import link
        ix = self.index()
        fx = Facts(facts)
        return link(fx, self._kernel, skipped=ix.skipped, scanned=ix.scanned)

    def pair(self, before, after):
        from analyzer.c.collect import collect_facts
        changed = sorted(set(before) | set(after))
        def parse(texts):
            data = {p: t.encode("utf-8", "surrogateescape") for p, t in texts.items()
                    if t is not None and SOURCE_FILE.search(p)}
            return collect_facts(_Files(data), jobs=1, use_cache=self.use_cache) if data else {}
        fb, fa = parse(before), parse(after)
        seeds: dict[str, object] = {}
        base_changed = self._base_facts_of([p for p in changed if p not in before])
        for p in changed:
            seeds[p] = fa.get(p) or fb.get(p) or base_changed.get(p)
        # terms of the other side lead to files as well
        extra = {f"{p}\0before": fb.get(p) or base_changed.get(p) for p in changed}
        focus = self._focus({**seeds, **{k: v for k, v in extra.items() if v is not None}})
        focus = {p for p in focus if "\0" not in p}
        common = self._base_facts_of(sorted(p for p in focus if p not in changed))

        def side(over, parsed):
            facts = dict(common)
            for p in changed:
                if p in over:
                    if over[p] is not None and p in parsed:
                        facts[p] = parsed[p]
                elif p in base_changed:
                    facts[p] = base_changed[p]
            return facts
        return self._link(side(before, fb)), self._link(side(after, fa))

    def mentioned_outside(self, names: set[str], paths: set[str]) -> set[str]:
        ix = self.index()
        out = set()
        for n in names:
            for key in (n, f"SKB_DROP_REASON_{n}"):
                if any(p not in paths for p in ix.mentions.get(key, ())):
                    out.add(n)
        return out


def _replace_path(f, path):
    from dataclasses import replace
    return replace(f, path=path)


# --- results ---------------------------------------------------------------------------

@dataclass(frozen=True)
class PatchResult:
    patch: Patch
    relevant: tuple[str, ...]          # the files that counted
    findings: tuple[Finding, ...]
    lines: int                         # diff lines of the patch (for the totals line)
    analysed: bool                     # False: judged without parsing anything


@dataclass(frozen=True)
class CheckReport:
    base: str
    kernel: KernelInfo | None
    paths: tuple[str, ...]
    results: tuple[PatchResult, ...]
    fail_on: str = "warning"

    def findings(self) -> tuple[Finding, ...]:
        return tuple(f for r in self.results for f in r.findings)

    def failed(self) -> bool:
        return any(at_least(f.severity, self.fail_on) for f in self.findings())

    def exit_code(self) -> int:
        return 1 if self.failed() else 0


# --- the check ----------------------------------------------------------------------------

def check_series(engine_factory: Callable[[], Engine], base_spec: str, patches: list[Patch], *,
                 paths: tuple[str, ...] = DEFAULT_PATHS, squash: bool = False,
                 fail_on: str = "warning") -> CheckReport:
    """Judge ``patches`` in order, each against the base plus the patches before it."""
    rel = [relevant_files(p, paths) for p in patches]
    if not any(rel):
        # nothing relevant: no tree is opened, nothing is parsed
        results = tuple(PatchResult(p, (), (), _diff_lines(p), False) for p in patches)
        return CheckReport(base_spec, None, paths, results, fail_on)
    engine = engine_factory()
    tree = PatchedTree(engine.read)
    if squash and len(patches) > 1:
        before: dict[str, str | None] = {}
        for p in patches:
            for path in p.paths():
                if SOURCE_FILE.search(path) and path not in before:
                    before[path] = tree.current(path)
            tree.apply(p, only=lambda x: SOURCE_FILE.search(x) is not None)
        after = {path: tree.current(path) for path in before}
        name = f"{patches[0].name}..{patches[-1].name}"
        patches = [synthetic_patch(name, before, after, subject=f"squash of {len(patches)} patches")]
        rel = [relevant_files(patches[0], paths)]
        tree = PatchedTree(engine.read)
    results = []
    for i, p in enumerate(patches):
        if not rel[i]:
            # nothing to judge, but later patches of the series build on its changes
            tree.apply(p, only=lambda x: SOURCE_FILE.search(x) is not None)
            results.append(PatchResult(p, (), (), _diff_lines(p), False))
            continue
        before = dict(tree.texts)
        applied = tree.apply(p, only=lambda x: SOURCE_FILE.search(x) is not None)
        after = dict(tree.texts)
        a, b = engine.pair(before, after)
        later = _later_mentions(patches[i + 1:])
        findings = judge(a, b, applied, p, paths=paths, later_mentions=later, read=tree.current,
                         elsewhere=lambda names, touched=set(after): engine.mentioned_outside(
                             names, touched))
        results.append(PatchResult(p, rel[i], tuple(findings), _diff_lines(p), True))
    return CheckReport(base_spec, engine.kernel(), paths, tuple(results), fail_on)


def _diff_lines(p: Patch) -> int:
    return sum(len(h.lines) for f in p.files for h in f.hunks)


IDENT = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\b")


def _later_mentions(patches: list[Patch]) -> frozenset[str]:
    out: set[str] = set()
    for p in patches:
        for f in p.files:
            if f.new_path and CATALOGUE_FILE.match(f.new_path) and f.new_path.endswith(".h"):
                continue
            for h in f.hunks:
                for ln in h.lines:
                    if ln.kind == "+":
                        out.update(IDENT.findall(ln.text))
    return frozenset(out)


# --- comparing two analyses -----------------------------------------------------------------

def is_unspecified(s: Site) -> bool:
    if s.kind != "drop":
        return False
    if s.resolution == "unspecified":
        return True
    return bool(s.reasons) and set(s.reasons) <= {NOT_SPECIFIED} and s.complete


def _specific(s: Site) -> set[str]:
    return {r for r in s.reasons if r != NOT_SPECIFIED}


def _is_sentinel(r: Reason) -> bool:
    return r.name in SENTINELS or r.name.startswith("__") or r.short in ("MAX", "CONSUMED") \
        or (r.subsystem != "core" and r.name.endswith("_MAX"))


@dataclass
class _Ctx:
    a: Analysis
    b: Analysis
    applied: dict[str, AppliedFile]
    patch: Patch
    paths: tuple[str, ...]
    read: Callable[[str], str | None] | None = None     # current text of untouched files
    elsewhere: Callable[[set[str]], set[str]] | None = None   # reasons used outside the analysis
    by_old: dict[str, AppliedFile] = field(default_factory=dict)

    def __post_init__(self):
        for af in self.applied.values():
            if af.old_path:
                self.by_old[af.old_path] = af

    # locations ------------------------------------------------------------------------
    def at_new(self, file: str, line: int) -> dict:
        af = self.applied.get(file)
        if af is None:
            return {"patch": self.patch.name, "patch_line": 0, "marker": ""}
        pl = af.patch_line_new.get(line, 0)
        marker = "+" if line in af.added else (" " if pl else "")
        return {"patch": self.patch.name, "patch_line": pl, "marker": marker}

    def at_old(self, file: str, line: int) -> dict:
        af = self.by_old.get(file)
        if af is None:
            return {"patch": self.patch.name, "patch_line": 0, "marker": ""}
        pl = af.patch_line_old.get(line, 0)
        marker = "-" if line in af.removed else (" " if pl else "")
        return {"patch": self.patch.name, "patch_line": pl, "marker": marker}

    def new_source(self, file: str, line: int, fallback: str = "") -> str:
        af = self.applied.get(file)
        if af is not None:
            return af.new_line(line)
        if self.read is not None and file not in self.by_old:
            from analyzer.source.patch import _nth_line
            return _nth_line(self.read(file), line) or fallback
        return fallback

    def old_source(self, file: str, line: int, fallback: str = "") -> str:
        af = self.by_old.get(file)
        return af.old_line(line) if af is not None else fallback


def judge(a: Analysis, b: Analysis, applied: dict[str, AppliedFile], patch: Patch, *,
          paths: tuple[str, ...] = DEFAULT_PATHS,
          later_mentions: frozenset[str] = frozenset(),
          read: Callable[[str], str | None] | None = None,
          elsewhere: Callable[[set[str]], set[str]] | None = None) -> list[Finding]:
    """Findings of one patch: ``a`` before it, ``b`` after it, ``applied`` its files;
    ``read`` gives the text of files the patch does not touch (catalogue checks)."""
    ctx = _Ctx(a, b, applied, patch, paths, read, elsewhere)
    out: list[Finding] = []
    renames = _catalogue(ctx, out, later_mentions)
    _sites(ctx, out, renames)
    _unknown_reasons(ctx, out)
    _consistency(ctx, out)
    uniq = {}
    for f in out:
        uniq.setdefault((f.code, f.file, f.line, f.column, f.message), f)
    return sorted(uniq.values(), key=Finding.sort_key)


def match_sites(ctx: _Ctx) -> tuple[list[tuple[Site, Site]], list[Site], list[Site]]:
    """(pairs, new sites, gone sites) between ctx.a and ctx.b."""
    a_by_file: dict[str, list[Site]] = defaultdict(list)
    b_by_file: dict[str, list[Site]] = defaultdict(list)
    for s in ctx.a.sites:
        a_by_file[s.file].append(s)
    for s in ctx.b.sites:
        b_by_file[s.file].append(s)
    pairs: list[tuple[Site, Site]] = []
    new: list[Site] = []
    gone: list[Site] = []
    touched_old = set(ctx.by_old)
    touched_new = {p for p, af in ctx.applied.items() if af.new_path}
    # files the patch does not touch: same positions
    for f in set(a_by_file) | set(b_by_file):
        if f in touched_old or f in touched_new:
            continue
        bmap = {(s.line, s.column, s.callee): s for s in b_by_file.get(f, ())}
        for s in a_by_file.get(f, ()):
            t = bmap.pop((s.line, s.column, s.callee), None)
            if t is None:
                gone.append(s)
            else:
                pairs.append((s, t))
        new.extend(bmap.values())
    # touched files: follow the diff
    for af in ctx.applied.values():
        olds = a_by_file.get(af.old_path, []) if af.old_path else []
        news = b_by_file.get(af.new_path, []) if af.new_path else []
        bpos = {(s.line, s.callee): s for s in news}
        used_b: set[int] = set()
        rem_a: list[Site] = []
        for s in olds:
            nl = af.old_to_new.get(s.line)
            t = bpos.get((nl, s.callee)) if nl else None
            if t is not None and id(t) not in used_b:
                pairs.append((s, t))
                used_b.add(id(t))
            else:
                rem_a.append(s)
        rem_b = [s for s in news if id(s) not in used_b]
        # pair what moved or changed: same function and callee, then same function
        for key in (lambda s: (s.function, s.callee, s.kind), lambda s: (s.function, s.kind)):
            ga: dict = defaultdict(list)
            gb: dict = defaultdict(list)
            for s in rem_a:
                ga[key(s)].append(s)
            for s in rem_b:
                gb[key(s)].append(s)
            taken_a, taken_b = set(), set()
            for k in sorted(ga.keys() & gb.keys(), key=str):
                for s, t in _pair_by_context(af, ga[k], gb[k]):
                    pairs.append((s, t))
                    taken_a.add(id(s))
                    taken_b.add(id(t))
            rem_a = [s for s in rem_a if id(s) not in taken_a]
            rem_b = [s for s in rem_b if id(s) not in taken_b]
        gone.extend(rem_a)
        new.extend(rem_b)
    return pairs, new, gone


def _context(text: str | None, line: int, before: int = 2) -> str:
    if not text:
        return ""
    lines = text.split("\n")
    return "\n".join(ln.strip() for ln in lines[max(0, line - 1 - before):line])


def _pair_by_context(af: AppliedFile, olds: list[Site], news: list[Site]):
    """Pair removed and added sites of one group: most similar lines (and the two lines
    before them) first, then the nearest in the file; deterministic."""
    if len(olds) == 1 and len(news) == 1:
        return [(olds[0], news[0])]
    import difflib
    scored = []
    for i, s in enumerate(olds):
        cs = _context(af.old_text, s.line)
        for j, t in enumerate(news):
            ct = _context(af.new_text, t.line)
            ratio = difflib.SequenceMatcher(None, cs, ct, autojunk=False).ratio()
            scored.append((-round(ratio, 6), abs(s.line - t.line), i, j))
    scored.sort()
    used_i, used_j, out = set(), set(), []
    for _r, _d, i, j in scored:
        if i in used_i or j in used_j:
            continue
        used_i.add(i)
        used_j.add(j)
        out.append((olds[i], news[j]))
    return out


def _nearby(b: Analysis, site: Site) -> list[str]:
    """Reasons other drop sites of the same function use, most used first."""
    c: Counter = Counter()
    for s in b.sites:
        if s.file == site.file and s.function == site.function and s.kind == "drop" \
                and (s.line, s.column) != (site.line, site.column):
            c.update(_specific(s))
    return [r for r, _ in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))][:SUGGESTIONS]


def _fix_for(b: Analysis, site: Site, suggestions: list[str]) -> str:
    names = {m.name for m in b.family}
    reason = f"SKB_DROP_REASON_{suggestions[0]}" if suggestions else "SKB_DROP_REASON_..."
    if site.reason_arg is not None:
        return f"pass a specific reason instead of {site.reason_arg.strip()}, e.g. {reason}"
    variant = site.callee + "_reason"
    if variant not in names:
        variant = "kfree_skb_reason"
    return f"use {variant}(..., {reason})"


def _sites(ctx: _Ctx, out: list[Finding], renames: dict[str, str]) -> None:
    pairs, new, _gone = match_sites(ctx)
    # reasons the catalogue lost are reported once, as REMOVED, not at every site
    dropped = {r.short for r in ctx.a.reasons} - {r.short for r in ctx.b.reasons}

    for s in new:
        if not in_scope(s.file, ctx.paths) or s.kind != "drop":
            continue
        src = ctx.new_source(s.file, s.line, s.source)
        if is_unspecified(s):
            sug = _nearby(ctx.b, s)
            how = (f"{s.callee}({s.reason_arg})" if s.reason_arg is not None
                   else f"{s.callee}()")
            msg = f"new drop without a reason: {how} in {s.function}() reports NOT_SPECIFIED"
            if sug:
                msg += "; reasons used nearby in this function: " + ", ".join(sug)
            out.append(make("SKBDROP_NEW_UNSPECIFIED", s.file, s.line, msg, function=s.function,
                            column=s.column, fix=_fix_for(ctx.b, s, sug), suggestions=tuple(sug),
                            source=src, **ctx.at_new(s.file, s.line)))

    _family_members(ctx, out)

    for s, t in pairs:
        if t.kind != "drop" or not in_scope(t.file, ctx.paths):
            continue
        src = ctx.new_source(t.file, t.line, t.source)
        if s.kind != "drop":
            continue
        before = {renames.get(r, r) for r in _specific(s)}
        after = _specific(t)
        if is_unspecified(t) and before:
            msg = (f"{t.function}(): this drop reported {', '.join(sorted(before))} "
                   f"before the patch and now reports only NOT_SPECIFIED")
            out.append(make("SKBDROP_BECAME_UNSPECIFIED", t.file, t.line, msg, function=t.function,
                            column=t.column, fix="keep passing the reason, e.g. "
                            f"kfree_skb_reason(skb, SKB_DROP_REASON_{sorted(before)[0]})",
                            suggestions=tuple(sorted(before)), source=src,
                            **ctx.at_new(t.file, t.line)))
            continue
        lost = before - after - dropped
        # an empty, incomplete set after the patch says nothing about what was lost
        if lost and (after or t.complete):
            note = "" if t.complete else f" (the new set may be incomplete: {t.cause or 'unresolved'})"
            msg = (f"{t.function}(): this drop can no longer report {', '.join(sorted(lost))}"
                   f"; now: {', '.join(sorted(after)) or 'NOT_SPECIFIED'}{note}")
            out.append(make("SKBDROP_REASONS_LOST", t.file, t.line, msg, function=t.function,
                            column=t.column, fix="restore the paths that set "
                            + ", ".join(f"SKB_DROP_REASON_{r}" for r in sorted(lost))
                            + " or drop the reasons if they became meaningless",
                            suggestions=tuple(sorted(lost)), source=src,
                            **ctx.at_new(t.file, t.line)))


def _member_line(ctx: _Ctx, file: str, start: int, names: set[str]) -> int:
    """The line of the member's body that calls the family (an added one first)."""
    af = ctx.applied.get(file)
    if af is None or af.new_text is None:
        return start
    lines = af.new_text.split("\n")
    pat = re.compile(r"\b(" + "|".join(sorted(map(re.escape, names))) + r")\s*\(") if names \
        else None
    body = range(start + 1, min(start + 40, len(lines)) + 1)
    hits = [n for n in body if pat is not None and pat.search(lines[n - 1])]
    added = [n for n in hits if n in af.added]
    return (added or hits or [start])[0]


def _family_members(ctx: _Ctx, out: list[Finding]) -> None:
    """Small helpers that drop with a fixed reason are family members, not sites: a
    touched helper whose fixed reason became NOT_SPECIFIED (or a new such helper) is
    judged like a site."""
    fa = {m.name: m for m in ctx.a.family}
    names = {m.name for m in ctx.b.family}
    for m in ctx.b.family:
        if m.kind != "drop" or m.reason is None or m.file not in ctx.applied \
                or not in_scope(m.file, ctx.paths):
            continue
        old = fa.get(m.name)
        line = _member_line(ctx, m.file, m.line, names - {m.name})
        loc = ctx.at_new(m.file, line)
        src = ctx.new_source(m.file, line)
        if old is None:
            if m.reason == NOT_SPECIFIED and loc["marker"] == "+":
                out.append(make("SKBDROP_NEW_UNSPECIFIED", m.file, line,
                                f"new drop helper {m.name}() frees the skb without a reason: "
                                "its callers report NOT_SPECIFIED", function=m.name,
                                fix="give the helper a reason parameter, or use "
                                    "kfree_skb_reason() with a specific reason",
                                source=src, **loc))
            continue
        if old.reason is None or old.reason == m.reason or old.reason == NOT_SPECIFIED:
            continue
        if m.reason == NOT_SPECIFIED:
            out.append(make("SKBDROP_BECAME_UNSPECIFIED", m.file, line,
                            f"{m.name}(): this drop reported {old.reason} before the patch and "
                            "now reports only NOT_SPECIFIED", function=m.name,
                            fix=f"keep passing the reason, e.g. kfree_skb_reason(skb, "
                                f"SKB_DROP_REASON_{old.reason})",
                            suggestions=(old.reason,), source=src, **loc))
        else:
            out.append(make("SKBDROP_REASONS_LOST", m.file, line,
                            f"{m.name}(): this drop can no longer report {old.reason}; "
                            f"now: {m.reason}", function=m.name,
                            fix=f"restore SKB_DROP_REASON_{old.reason} or drop it if it became "
                                "meaningless", suggestions=(old.reason,), source=src, **loc))


REASON_TOKEN = re.compile(r"\b(SKB_DROP_REASON_[A-Z0-9_]+|SKB_CONSUMED|SKB_NOT_DROPPED_YET)\b"
                          r"|\bSKB_DR_(?:SET|OR|INIT)\(\s*\w+\s*,\s*([A-Z0-9_]+)\s*\)")
NOT_REASONS = frozenset({"SKB_DROP_REASON_SUBSYS_SHIFT", "SKB_DROP_REASON_SUBSYS_MASK",
                         "SKB_DROP_REASON_SUBSYS_NUM", "SKB_DROP_REASON_MAX"})


def _enclosing(b: Analysis, file: str, line: int) -> str:
    best = None
    for n in b.callgraph.nodes:
        if n.file == file and n.line <= line and (best is None or n.line > best.line):
            best = n
    fn = [s.function for s in b.sites if s.file == file and s.line == line]
    return fn[0] if fn else (best.name if best is not None else "")


def _unknown_reasons(ctx: _Ctx, out: list[Finding]) -> None:
    """Added lines naming a reason the patched catalogue does not define (no build)."""
    known = {r.name for r in ctx.b.reasons} | {s.enumerator for s in ctx.b.subsystems}
    for af in ctx.applied.values():
        if not af.new_path or af.new_text is None or not in_scope(af.new_path, ctx.paths):
            continue
        lines = af.new_text.split("\n")
        for n in sorted(af.added):
            text = lines[n - 1] if n - 1 < len(lines) else ""
            code = _COMMENT.sub(" ", text)
            if code.lstrip().startswith(("*", "/*", "#define", "#undef")):
                continue
            for m in REASON_TOKEN.finditer(code):
                name = m.group(1) or f"SKB_DROP_REASON_{m.group(2)}"
                if name in known or name in NOT_REASONS:
                    continue
                if m.group(2) and m.group(2) in {r.short for r in ctx.b.reasons}:
                    continue
                func = _enclosing(ctx.b, af.new_path, n)
                what = "drop reason subsystem" if name.startswith("SKB_DROP_REASON_SUBSYS_") \
                    else "drop reason"
                out.append(make("SKBDROP_UNKNOWN_REASON", af.new_path, n,
                                (f"{func}(): " if func else "")
                                + f"{what} {name} is not defined in this tree",
                                function=func, column=m.start() + 1,
                                fix=f"add {name} to the catalogue with a kernel-doc comment, "
                                    "or use an existing reason",
                                source=text, **ctx.at_new(af.new_path, n)))


def _produced(an: Analysis) -> dict[str, list[Site]]:
    out: dict[str, list[Site]] = defaultdict(list)
    for s in an.sites:
        if s.kind == "drop":
            for r in s.reasons:
                out[r].append(s)
    return out


def _catalogue(ctx: _Ctx, out: list[Finding], later: frozenset[str]) -> dict[str, str]:
    """Catalogue findings; returns old short name -> new short name for renames."""
    ra = {r.name: r for r in ctx.a.reasons if not _is_sentinel(r)}
    rb = {r.name: r for r in ctx.b.reasons if not _is_sentinel(r)}
    removed = [ra[n] for n in ra.keys() - rb.keys()]
    added = [rb[n] for n in rb.keys() - ra.keys()]
    renames: dict[str, str] = {}
    added_by_slot = {(r.subsystem, r.value): r for r in added}
    added_left = {r.name for r in added}
    for r in sorted(removed, key=lambda r: (r.subsystem, r.value)):
        loc = ctx.at_old(r.file, r.line)
        src = ctx.old_source(r.file, r.line)
        twin = added_by_slot.get((r.subsystem, r.value))
        if twin is not None and twin.name in added_left:
            added_left.discard(twin.name)
            renames[r.short] = twin.short
            out.append(make("SKBDROP_REASON_RENAMED", twin.file, twin.line,
                            f"drop reason {r.name} ({r.value}) renamed to {twin.name}: "
                            "user space knows the old name",
                            fix=f"keep {r.name}", source=ctx.new_source(twin.file, twin.line),
                            **ctx.at_new(twin.file, twin.line)))
            continue
        out.append(make("SKBDROP_REASON_REMOVED", r.file, r.line,
                        f"drop reason {r.name} ({r.value}) removed: user space that knows it breaks",
                        fix=f"keep {r.name} (unused reasons may stay)", source=src,
                        **{**loc, "marker": loc["marker"] or "-"}))

    produced_b = _produced(ctx.b)
    produced_a = _produced(ctx.a)
    new_names = {r.name for r in added}
    for r in sorted(added, key=lambda r: (r.file, r.line)):
        if r.name not in added_left:
            continue
        loc = ctx.at_new(r.file, r.line)
        src = ctx.new_source(r.file, r.line)
        if not r.doc.strip() and _documented_subsystem(ctx.a, r.subsystem):
            out.append(make("SKBDROP_UNDOCUMENTED_REASON", r.file, r.line,
                            f"new drop reason {r.name} has no kernel-doc comment",
                            fix=f"add /** @{r.name}: <why the packet was dropped> */ "
                                "before it", source=src, **loc))
        if r.short not in produced_b and r.short not in later and r.name not in later \
                and not _mentioned(ctx, r):
            out.append(make("SKBDROP_UNUSED_REASON", r.file, r.line,
                            f"new drop reason {r.name} is produced by no drop site"
                            + (" in this patch or the rest of the series" if later else ""),
                            fix="add the reason in the patch that first uses it",
                            source=src, **loc))

    # values user space sees (a subsystem whose id moved is reported once, below)
    sa = {s.name: s for s in ctx.a.subsystems}
    sb = {s.name: s for s in ctx.b.subsystems}
    moved_subsys = {n for n in sa if n not in sb or sb[n].id != sa[n].id}
    for sub in sorted({r.subsystem for r in ra.values()} - moved_subsys):
        moved = sorted(((ra[n], rb[n]) for n in ra.keys() & rb.keys()
                        if ra[n].subsystem == sub and ra[n].value != rb[n].value),
                       key=lambda p: p[0].value)
        if not moved:
            continue
        cause = sorted((r for r in added if r.subsystem == sub), key=lambda r: r.value)
        where = cause[0] if cause else moved[0][1]
        shown = ", ".join(f"{o.short} {o.value}->{n.value}" for o, n in moved[:6])
        more = f", ... ({len(moved) - 6} more)" if len(moved) > 6 else ""
        label = "core" if sub == "core" else sub
        out.append(make("SKBDROP_REASON_RENUMBERED", where.file, where.line,
                        f"{len(moved)} {label} drop reason value(s) change: {shown}{more}",
                        fix="add new reasons at the end of the list, just before the _MAX entry",
                        source=ctx.new_source(where.file, where.line),
                        **ctx.at_new(where.file, where.line)))
    for name in sorted(sa):
        s = sa[name]
        t = sb.get(name)
        if t is None:
            loc = ctx.at_old(s.file, s.line)
            out.append(make("SKBDROP_SUBSYS_CHANGED", s.file, s.line,
                            f"drop reason subsystem {s.enumerator} (id {s.id}) removed",
                            fix=f"keep {s.enumerator}", source=ctx.old_source(s.file, s.line),
                            **{**loc, "marker": loc["marker"] or "-"}))
        elif t.id != s.id:
            out.append(make("SKBDROP_SUBSYS_CHANGED", t.file, t.line,
                            f"drop reason subsystem {t.enumerator} id changes {s.id} -> {t.id}: "
                            "every reason of the subsystem changes value",
                            fix="add new subsystems just before SKB_DROP_REASON_SUBSYS_NUM",
                            source=ctx.new_source(t.file, t.line), **ctx.at_new(t.file, t.line)))

    # the last producer of a reason went away (information only)
    cands = []
    for short, sites in sorted(produced_a.items()):
        if short == NOT_SPECIFIED or short in produced_b or short in renames:
            continue
        r = next((x for x in ctx.b.reasons if x.short == short), None)
        if r is None or r.name in new_names or _is_sentinel(r):
            continue
        s = sites[0]
        if s.file not in ctx.by_old or not in_scope(s.file, ctx.paths):
            continue
        cands.append((r, s))
    used = ctx.elsewhere({r.short for r, _ in cands}) if ctx.elsewhere and cands else set()
    for r, s in cands:
        if r.short in used:
            continue
        loc = ctx.at_old(s.file, s.line)
        out.append(make("SKBDROP_REASON_ORPHANED", s.file, s.line,
                        f"{s.function}(): the last drop site of {r.name} is gone; no site "
                        "reports it any more", function=s.function, column=s.column,
                        fix=f"keep a site that reports {r.short} or remove the reason",
                        source=ctx.old_source(s.file, s.line, s.source),
                        **{**loc, "marker": loc["marker"] or "-"}))
    return renames


def _documented_subsystem(a: Analysis, subsystem: str) -> bool:
    """The convention applies where the list before the patch was documented."""
    if subsystem == "core":
        return True
    return any(r.doc.strip() for r in a.reasons if r.subsystem == subsystem)


def _mentioned(ctx: _Ctx, r: Reason) -> bool:
    """The reason appears in an added line of a non-catalogue file of the patch."""
    pat = re.compile(rf"\b({re.escape(r.name)}|{re.escape(r.short)})\b")
    for af in ctx.applied.values():
        if not af.new_path or af.new_path == r.file or af.new_text is None:
            continue
        if CATALOGUE_FILE.match(af.new_path) and af.new_path.endswith(".h"):
            continue
        lines = af.new_text.split("\n")
        for n in af.added:
            if n - 1 < len(lines) and pat.search(lines[n - 1]):
                return True
    return False


# --- catalogue consistency (enum vs X-macro vs string list) ---------------------------------

_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)


def _define_body(text: str, name_re: str) -> tuple[str, int] | None:
    m = re.search(rf"^[ \t]*#[ \t]*define[ \t]+{name_re}\b.*$", text, re.M)
    if not m:
        return None
    body, pos = [], m.start()
    for line in text[pos:].split("\n"):
        body.append(line.rstrip("\\"))
        if not line.rstrip().endswith("\\"):
            break
    return "\n".join(body), text.count("\n", 0, pos) + 1


def xmacro_entries(text: str) -> tuple[list[str], int] | None:
    """The DEFINE_DROP_REASON(FN, FNe) list as full enumerator names, and its line."""
    d = _define_body(text, r"DEFINE_DROP_REASON")
    if d is None:
        return None
    body, line = d
    body = _COMMENT.sub(" ", body)
    names = re.findall(r"\bFNe?\(\s*([A-Z0-9_]+)\s*\)", body.split(")", 1)[1] if ")" in body else body)
    return [f"SKB_DROP_REASON_{n}" for n in names], line


def em_entries(text: str) -> tuple[list[tuple[str, str]], int] | None:
    """The 5.17-style EM(SKB_DROP_REASON_X, X) / EMe(...) string list."""
    d = _define_body(text, r"TRACE_SKB_DROP_REASON")
    if d is None:
        return None
    body, line = d
    pairs = re.findall(r"\bEMe?\(\s*([A-Z0-9_]+)\s*,\s*([A-Z0-9_]+)\s*\)", _COMMENT.sub(" ", body))
    return pairs, line


def enum_entries(text: str, enum: str = "skb_drop_reason") -> tuple[list[str], int] | None:
    m = re.search(rf"\benum\s+{enum}\s*\{{", text)
    if not m:
        return None
    end = text.find("};", m.end())
    if end < 0:
        return None
    body = _COMMENT.sub(" ", text[m.end():end])
    body = "\n".join(ln for ln in body.split("\n") if not ln.strip().startswith("#"))
    names = []
    for part in body.split(","):
        mm = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)", part)
        if mm:
            names.append(mm.group(1))
    return names, text.count("\n", 0, m.start()) + 1


def _line_of_name(text: str, name: str, default: int, regex: bool = False) -> int:
    """Line of the first definition-like use of NAME (an enumerator or an X-macro entry)
    at or after the line DEFAULT, else DEFAULT."""
    pat = re.compile(name if regex else rf"^\s*{re.escape(name)}\s*[,=]", re.M)
    start = sum(len(x) + 1 for x in text.split("\n")[:max(default - 1, 0)])
    m = pat.search(text, start)
    return text.count("\n", 0, m.start()) + 1 if m else default


def consistency_problems(texts: dict[str, str]) -> list[tuple[str, int, str]]:
    """(file, line, message) for disagreements between the enum and the name lists."""
    enum = None
    for path in sorted(texts):
        e = enum_entries(texts[path])
        if e is not None:
            enum = (path, e)
            break
    if enum is None:
        return []
    epath, (names, eline) = enum
    reasons = [n for n in names if n.startswith("SKB_DROP_REASON_") and n not in SENTINELS
               or n == "SKB_DROP_REASON_MAX"]
    reasons = [n for n in reasons if n != "SKB_DROP_REASON_SUBSYS_MASK"]
    probs = []
    for path in sorted(texts):
        x = xmacro_entries(texts[path])
        if x is not None:
            listed, xline = x
            missing = [n for n in reasons if n not in listed]
            extra = [n for n in listed if n not in names]
            for n in missing:
                probs.append((epath, _line_of_name(texts[epath], n, eline),
                              f"{n} is in enum skb_drop_reason but not in "
                              "DEFINE_DROP_REASON(): the tracepoint cannot print its name"))
            for n in extra:
                short = n[len("SKB_DROP_REASON_"):]
                probs.append((path, _line_of_name(texts[path], rf"FNe?\(\s*{short}\s*\)", xline,
                                                  regex=True),
                              f"DEFINE_DROP_REASON() lists {n}, which enum "
                              "skb_drop_reason does not define"))
            if not missing and not extra and listed != reasons:
                first = next(i for i, (p, q) in enumerate(zip(listed, reasons)) if p != q)
                probs.append((path, xline, f"DEFINE_DROP_REASON() and enum skb_drop_reason "
                              f"list the reasons in different orders (first at {listed[first]})"))
        em = em_entries(texts[path])
        if em is not None:
            pairs, mline = em
            listed = [p for p, _ in pairs]
            for n in reasons:
                if n != "SKB_DROP_REASON_MAX" and n not in listed:
                    probs.append((path, mline, f"{n} is in enum skb_drop_reason but not in "
                                  "TRACE_SKB_DROP_REASON: the tracepoint cannot print its name"))
            for full, short in pairs:
                if full not in names and full != "SKB_DROP_REASON_MAX":
                    probs.append((path, mline, f"TRACE_SKB_DROP_REASON lists {full}, which enum "
                                  "skb_drop_reason does not define"))
                elif full != f"SKB_DROP_REASON_{short}":
                    probs.append((path, mline, f"TRACE_SKB_DROP_REASON prints {full} as {short}"))
    return probs


def _consistency(ctx: _Ctx, out: list[Finding]) -> None:
    touched = [af for af in ctx.applied.values()
               if CATALOGUE_FILE.match(af.new_path or af.old_path or "")]
    if not touched:
        return
    cat_files = {r.file for r in ctx.b.reasons if r.subsystem == "core"} | \
        {r.file for r in ctx.a.reasons if r.subsystem == "core"} | {"include/trace/events/skb.h"}
    cat_files |= {af.new_path for af in touched if af.new_path}
    before, after = {}, {}
    for path in cat_files:
        af = ctx.applied.get(path) or ctx.by_old.get(path)
        if af is not None:
            if af.old_text is not None and af.old_path == path:
                before[path] = af.old_text
            if af.new_text is not None and af.new_path == path:
                after[path] = af.new_text
        elif ctx.read is not None:
            t = ctx.read(path)
            if t is not None:
                before[path] = after[path] = t
    old = {m for _, _, m in consistency_problems(before)}
    for path, line, msg in consistency_problems(after):
        if msg in old:
            continue
        loc = ctx.at_new(path, line)
        out.append(make("SKBDROP_CATALOGUE_MISMATCH", path, line, msg,
                        fix="list every reason in the enum and in the X-macro, in the same order",
                        source=ctx.new_source(path, line), **loc))


# --- output -------------------------------------------------------------------------------

def _loc(f: Finding) -> str:
    return f"{f.file}:{f.line}" if f.line else f.file


def to_text(rep: CheckReport, *, terse: bool = False) -> str:
    L: list[str] = []
    multi = len(rep.results) > 1
    for r in rep.results:
        if multi and not terse:
            L.append(f"---- {r.patch.name}" + (f": {r.patch.subject}" if r.patch.subject else ""))
        for f in r.findings:
            if terse:
                L.append(f"{_loc(f)}: {f.severity.upper()}:{f.code}: {f.message}")
                continue
            L.append(f"{f.severity.upper()}:{f.code}: {f.message}")
            head = f"#{f.patch_line}: " if f.patch_line else ""
            L.append(f"{head}FILE: {_loc(f)}:")
            if f.source:
                L.append(f"{f.marker or ' '}{f.source}")
            if f.fix:
                L.append(f"  fix: {f.fix}")
            L.append("")
        if not terse:
            c = count(r.findings)
            L.append(f"total: {c['error']} errors, {c['warning']} warnings, {c['info']} infos, "
                     f"{r.lines} lines checked")
            if not r.analysed:
                L.append("no file in the checked paths: judged without parsing the tree")
            elif not r.findings:
                L.append(f"{r.patch.name} has no obvious drop-reason problems.")
            else:
                L.append(f"{r.patch.name} has drop-reason problems, please review.")
            L.append("")
    return "\n".join(L).rstrip("\n") + "\n"


def to_dict(rep: CheckReport) -> dict:
    return {
        "schema": 1,
        "tool": {"name": "skbdrop", "version": __version__},
        "base": rep.base,
        "kernel": None if rep.kernel is None else {"version": rep.kernel.version,
                                                   "source": rep.kernel.source,
                                                   "layout": rep.kernel.layout},
        "paths": list(rep.paths),
        "fail_on": rep.fail_on,
        "patches": [{
            "name": r.patch.name, "subject": r.patch.subject,
            "files": list(r.patch.paths()), "relevant": list(r.relevant),
            "analysed": r.analysed, "lines": r.lines,
            "findings": [f.to_dict() for f in r.findings],
            "summary": count(r.findings)} for r in rep.results],
        "summary": {**count(rep.findings()), "failed": rep.failed()},
    }


def to_json(rep: CheckReport) -> str:
    return json.dumps(to_dict(rep), indent=1, ensure_ascii=False) + "\n"


# --- command -------------------------------------------------------------------------------

def run(args, *, engine_factory: Callable[[str], Engine] | None = None) -> CheckReport:
    paths = parse_paths(args.paths)
    squash = bool(getattr(args, "squash", False))
    if getattr(args, "git", None):
        repo, rng = args.git
        base_rev, patches = git_range(repo, rng, squash=squash)
        base = args.base or f"{repo}@{base_rev}"
    else:
        if not args.base:
            raise InputError("check: --base KERNEL is required with --patch")
        base = args.base
        patches = read_series(args.patch)
    if not patches:
        raise InputError("check: no patch to check")

    def factory() -> Engine:
        if engine_factory is not None:
            return engine_factory(base)
        return ScanEngine(base, jobs=getattr(args, "jobs", None),
                          use_cache=not getattr(args, "no_cache", False),
                          progress=sys.stderr.isatty())
    return check_series(factory, base, patches, paths=paths, squash=squash,
                        fail_on=getattr(args, "fail_on", "warning"))


def render(rep: CheckReport, fmt: str, *, terse: bool = False) -> str:
    if fmt == "json":
        return to_json(rep)
    if fmt == "sarif":
        from analyzer.formats.sarif import to_sarif_json
        return to_sarif_json(rep)
    return to_text(rep, terse=terse)


def command(args) -> int:
    from analyzer.formats.atomic import write_output
    rep = run(args)
    write_output(getattr(args, "output", "-") or "-", render(rep, args.format,
                                                           terse=getattr(args, "terse", False)))
    return rep.exit_code()
