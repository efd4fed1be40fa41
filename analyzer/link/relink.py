"""The incremental re-link ``check`` needs: the analyses of a base tree before and after a
change, linked (link/analysis.py, the code ``scan`` uses) over the files the change can
affect rather than the whole tree.

The two analyses are *focused*: linked over the same set of files, namely the touched
ones, the catalogue headers, the family members they reach and the files their reason
terms flow through (definitions of reason-returning callees, callers that pass a reason
parameter, callers of touched reason-returning functions). Both sides share the
approximation, so what differs is the change. What the focus needs to know about the rest
of the tree (who defines and calls what, which files use which reason, the family) is a
:class:`LinkIndex` built once per base tree from the facts (c/collect.py) and kept in the
cache; the facts of single files come through the tree's manifest and the facts cache
(:class:`analyzer.c.collect.FactsOf`), so only patched files are parsed.
"""
from __future__ import annotations

import os
import threading
import weakref
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Mapping

from analyzer.c.collect import Facts, FactsOf, collect_facts, known_keys
from analyzer.c.facts import FileFacts
from analyzer.c.text import identifiers
from analyzer.errors import InputError
from analyzer.forks import Child, ChildFailed
from analyzer.gcpause import without_gc
from analyzer.link import catalogue as cat_mod
from analyzer.link.analysis import link
from analyzer.link.family import derive_family
from analyzer.link.resolver import Index, Resolver
from analyzer.model import Analysis, KernelInfo
from analyzer.source.cache import code_version
from analyzer.source.manifest import Manifest, tree_fingerprint, tree_name
from analyzer.source import cache as cache_mod, codec
from analyzer.source.tree import Tree

SOURCE_SUFFIXES = (".c", ".h")
MAX_FOCUS = 400          # files in the focused analysis, at most
REASON_PREFIX = "SKB_DROP_REASON_"


class NameIndex:
    """name -> files, kept as one text of sorted lines `NAME<TAB>FILE<NUL>FILE…` and
    searched in place (a binary search over the text, as look(1) does): loading costs
    nothing, where a dict of 100,000 names takes most of a second to unpickle and even
    the line offsets took 0.06 s to rebuild."""

    def __init__(self, mapping: Mapping[str, Iterable[str]]):
        self.text = "\n".join(k + "\t" + "\0".join(sorted(v)) for k, v in sorted(mapping.items()))

    @classmethod
    def from_text(cls, text: str) -> "NameIndex":
        """The index of TEXT (as kept in the cache)."""
        if text and text.count("\t") < text.count("\n") + 1:
            raise codec.BadEntry("name index line without a tab")
        self = cls.__new__(cls)
        self.text = text
        return self

    def get(self, name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        t = self.text
        # LO is always the start of a line; every line before it has a key < NAME
        lo, hi = 0, len(t)
        while lo < hi:
            mid = (lo + hi) // 2
            start = t.rfind("\n", lo, mid)
            start = lo if start < 0 else start + 1      # the line holding MID
            tab = t.find("\t", start)
            if t[start:tab] < name:
                end = t.find("\n", start)
                lo = len(t) + 1 if end < 0 else end + 1
            else:
                hi = start
        if lo >= len(t):
            return default
        tab = t.find("\t", lo)
        if t[lo:tab] != name:
            return default
        end = t.find("\n", tab)
        files = t[tab + 1:end if end >= 0 else len(t)]
        return tuple(files.split("\0")) if files else ()


@dataclass
class LinkIndex:
    """What the focused re-link needs to know about the whole base tree."""
    defs: NameIndex                         # function -> files defining it
    callers: NameIndex                      # function -> files calling it
    mentions: NameIndex                     # reason constant -> files using it
    catalogue: tuple[str, ...]              # files the catalogue is built from
    family: dict[str, tuple[str, str]]      # family member -> (file, how it joined)
    skipped: dict[str, str]
    scanned: int


# the cached form of a LinkIndex: name indexes as their text, the rest by type hints
_INDEX_DATA = dict[str, str]
_INDEX_REST = tuple[tuple[str, ...], dict[str, tuple[str, str]], dict[str, str], int]


def _index_to_data(ix: LinkIndex) -> list:
    return [codec.encoder(_INDEX_DATA)({"defs": ix.defs.text, "callers": ix.callers.text,
                                        "mentions": ix.mentions.text}),
            codec.encoder(_INDEX_REST)((ix.catalogue, ix.family, ix.skipped, ix.scanned))]


def _index_from_data(v) -> LinkIndex:
    if type(v) is not list or len(v) != 2:
        raise codec.BadEntry("not a link index")
    texts = codec.decoder(_INDEX_DATA)(v[0])
    if set(texts) != {"defs", "callers", "mentions"}:
        raise codec.BadEntry("not a link index")
    catalogue, family, skipped, scanned = codec.decoder(_INDEX_REST)(v[1])
    return LinkIndex(defs=NameIndex.from_text(texts["defs"]),
                     callers=NameIndex.from_text(texts["callers"]),
                     mentions=NameIndex.from_text(texts["mentions"]),
                     catalogue=catalogue, family=family, skipped=skipped, scanned=scanned)


def terms_of(f: FileFacts) -> Iterable[tuple]:
    """(function, reason term) of every reason term of a file's facts."""
    for c in f.calls:
        for terms in c.arg_terms:
            for t in terms:
                yield c.function, t
    for fn in f.functions:
        for t in fn.return_terms + fn.value_returns:
            yield fn.name, t
        for _i, terms in fn.out_writes:
            for t in terms:
                yield fn.name, t


def build_index(facts: Facts) -> LinkIndex:
    with without_gc():          # many small objects, no cycles (as in link)
        return _build_index(facts)


def _build_index(facts: Facts) -> LinkIndex:
    defs: dict[str, set[str]] = defaultdict(set)
    callers: dict[str, set[str]] = defaultdict(set)
    mentions: dict[str, set[str]] = defaultdict(set)
    for path in sorted(facts):
        f = facts[path]
        for name in {fn.name for fn in f.functions}:
            defs[name].add(path)
        for callee in {e[1] for e in f.edges}.union(c.callee for c in f.calls):
            callers[callee].add(path)
        for _fn, t in terms_of(f):
            if t[0] == "const":
                mentions[t[1]].add(path)
        for mac in f.macros:
            for tok in identifiers(mac.body):
                if tok.startswith(REASON_PREFIX):
                    mentions[tok].add(path)
    texts = {p: f.catalogue_text for p, f in facts.items() if f.catalogue_text}
    ix = Index(facts)
    fam = derive_family(facts, ix, Resolver(ix, cat_mod.build(texts)))
    return LinkIndex(
        defs=NameIndex(defs), callers=NameIndex(callers), mentions=NameIndex(mentions),
        catalogue=tuple(sorted(cat_mod.files_read(texts))),
        family={m.name: (m.file, m.via) for m in fam},
        skipped=dict(facts.skipped), scanned=facts.scanned)


def index_path(tree: Tree, use_cache: bool = True, keys: dict[str, str] | None = None
               ) -> tuple[str, str] | None:
    """Where the cache keeps the link index of TREE, and the tree's fingerprint (a
    directory's from KEYS, every file's content key: see tree_fingerprint)."""
    root = cache_mod.usable_root() if use_cache else None
    fp = tree_fingerprint(tree, keys) if root else None
    if fp is None:
        return None
    return _index_file(root, fp), fp


def _index_file(root: str, name: str) -> str:
    """The file NAME (a fingerprint, or a tree's note) of the link-index directory."""
    return os.path.join(root, f"link-index-{code_version('analysis')}", f"{name}.json")


def _last_file(root: str, tree: Tree) -> tuple[str, str] | None:
    """Where the fingerprint of the index a directory tree last had is noted (a guess
    that check confirms: see Relinker.index), and the note's entry key; None for other
    trees, whose fingerprint costs nothing."""
    if getattr(tree, "kind", "") != "dir":
        return None
    name = "last-" + tree_name(tree.root)
    return _index_file(root, name), name


def _remember(tree: Tree, fp: str) -> None:
    root = cache_mod.usable_root()
    where = root and _last_file(root, tree)
    if where:
        data = cache_mod.dump_entry("check-index", where[1], fp)
        try:
            if cache_mod.read_file(where[0]) != data:
                cache_mod.write_atomic(where[0], data)
        except OSError:
            pass


def _last_index(tree: Tree) -> tuple[str, str] | None:
    """(index file, fingerprint) of the index TREE last had, if it is noted."""
    root = cache_mod.usable_root()
    where = root and _last_file(root, tree)
    data = cache_mod.read_file(where[0]) if where else None
    if data is None:
        return None
    try:
        fp = cache_mod.load_entry("check-index", where[1], data)
    except codec.BadEntry:
        return None
    if type(fp) is not str or not fp.isalnum():
        return None
    return _index_file(root, fp), fp


def prepare_index(tree: Tree, facts: Facts, *, background: bool = False) -> "IndexJob | None":
    """Keep the link index of TREE in the cache if it is not there (scan calls this with
    the facts it has loaded anyway, so that the first `check` of the tree does not load
    them all again: 1.3 s here instead of 4 s there). BACKGROUND: in a forked child while
    the caller links (the caller must be single-threaded); the caller waits for it (or
    stops it) with the returned job."""
    where = index_path(tree, keys=facts.keys)
    if where is not None:
        _remember(tree, where[1])
    if where is None or os.path.exists(where[0]):
        return None
    if not background or not hasattr(os, "fork") or threading.active_count() > 1:
        _save_index(where[0], where[1], build_index(facts))
        return None
    return IndexJob(Child(lambda: _save_index(where[0], where[1], build_index(facts))))


class IndexJob:
    """The child of prepare_index(background=True). An index it did not keep is only a
    cost (the first check builds it), so its failure is not the caller's."""

    def __init__(self, child: Child):
        self.child = child

    def wait(self) -> None:
        try:
            self.child.join()
        except ChildFailed:
            pass

    def stop(self) -> None:
        """Interrupted: end the child now."""
        self.child.stop()


def _load_index(where: tuple[str, str] | None) -> "LinkIndex | None":
    """The index kept at WHERE (index_path), None if there is none or it does not load
    (data only; a corrupt or foreign index is rebuilt)."""
    if where is None:
        return None
    path, fp = where
    data = cache_mod.read_file(path)
    if data is None:
        return None
    try:
        return _index_from_data(cache_mod.load_entry("check-index", fp, data))
    except (codec.BadEntry, RecursionError):
        return None


class _TreeState:
    """The fingerprint of a directory tree as it is now (its manifest loaded, then
    known_keys: a stat of each of its files), worked out in a forked child on the other
    core (a thread shared the interpreter lock with the linking and saved nothing), and
    the fingerprint of the index taken on trust meanwhile (TRUSTED)."""

    def __init__(self, tree: Tree, trusted: str):
        self.tree, self.trusted = tree, trusted
        self.confirmed = False
        self._fp: str | None = None
        self._child: Child | None = Child(self._now)
        # a check that ends before it asks (a patch that does not apply) still reaps it
        self._reap = weakref.finalize(self, self._child.stop)

    def _now(self) -> str:
        manifest = Manifest.load(self.tree)
        keys = known_keys(self.tree, manifest) if manifest is not None else None
        return "" if keys is None else (tree_fingerprint(self.tree, keys) or "")

    def stop(self) -> None:
        self._reap()                   # the child stopped and reaped, once
        self._child = None

    def fingerprint(self) -> str | None:
        if self._child is not None:
            self._reap.detach()        # joined here: its pid is not ours to signal after
            try:
                self._fp = self._child.join() or None
            except ChildFailed:
                self._fp = None
            self._child = None
        return self._fp


def _save_index(path: str, fp: str, ix: "LinkIndex") -> None:
    try:
        cache_mod.write_atomic(path, cache_mod.dump_entry("check-index", fp, _index_to_data(ix)))
    except OSError:
        pass


class Relinker:
    """A base tree, and the focused analyses before and after a change of its files."""

    def __init__(self, tree: Tree, *, jobs: int | None = None, use_cache: bool = True,
                 progress: bool = False):
        self.tree, self.jobs, self.use_cache, self.progress = tree, jobs, use_cache, progress
        self.kernel = KernelInfo(version=tree.version, source=tree.source, layout="")
        self.files = FactsOf(tree, use_cache=use_cache)
        self._index: LinkIndex | None = None
        self._facts: dict[str, FileFacts] = {}
        self._state: _TreeState | None = None     # the check of an index taken on trust
        if use_cache:
            self._trust()

    def _trust(self) -> None:
        """Take the index this tree had last time (see index()), the child that checks
        it started first: it works while this process applies and parses the patch."""
        where = _last_index(self.tree)
        if where is None or not os.path.exists(where[0]) or threading.active_count() > 1 \
                or not hasattr(os, "fork"):
            return
        state = _TreeState(self.tree, where[1])
        ix = _load_index(where)
        if ix is None:
            state.stop()
            return
        self._state, self._index = state, ix

    def read(self, path: str) -> str | None:
        """The base text of PATH, None if the tree has no such file."""
        try:
            data = self.tree.read(path)
        except (InputError, OSError):
            return None
        return data.decode("utf-8", "surrogateescape")

    # --- the index --------------------------------------------------------------------
    def index(self) -> LinkIndex:
        if self._index is not None:
            return self._index
        # a directory's index is keyed by every file's content (its manifest: a stat of
        # each file, no read); an edited file, a checkout of another branch, is a new key.
        # Loading the manifest and the stat of 60,000 files were most of a later check,
        # so the index this tree had last time (noted by _remember) is taken from the
        # start (_trust) while a forked child works out the tree's fingerprint on the
        # other core; pair() confirms it before it answers and starts again with the
        # tree's real state if the tree changed (confirmed()).
        manifest = Manifest.load(self.tree) if self.use_cache else None
        keys = known_keys(self.tree, manifest) if manifest is not None else None
        where = index_path(self.tree, self.use_cache, keys)
        ix = _load_index(where)
        if ix is not None:
            _remember(self.tree, where[1])
            self._index = ix
            return ix
        facts = collect_facts(self.tree, jobs=self.jobs, use_cache=self.use_cache,
                              progress=self.progress, manifest=manifest)
        ix = build_index(facts)
        self._facts.update(facts)
        where = index_path(self.tree, self.use_cache, facts.keys)
        if where is not None:
            _save_index(where[0], where[1], ix)
            _remember(self.tree, where[1])
        self._index = ix
        return ix

    def base_facts(self, paths: Iterable[str]) -> dict[str, FileFacts]:
        """Facts of base files: from memory, or through the manifest and the facts cache,
        or parsed now."""
        out, wanted = {}, []
        for p in paths:
            if p in self._facts:
                out[p] = self._facts[p]
            else:
                wanted.append(p)
        if wanted:
            got = self.files.get(wanted)
            self._facts.update(got)
            out.update(got)
        return out

    # --- focus and link ---------------------------------------------------------------
    def focus(self, seeds: dict[str, object]) -> set[str]:
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
            for func, t in terms_of(f):
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
            for ff in self.base_facts([file]).values():
                todo.extend(c.callee for c in ff.calls if c.function == n and c.callee in fam)
                for mac in ff.macros:
                    if mac.name == n:
                        todo.extend(c.callee for c in mac.calls if c.callee in fam)
        seen: set = set()
        while work and len(focus) < MAX_FOCUS:
            path, func, t = work.pop()
            key = (path, func, t)
            if key in seen or t[0] in ("const", "unknown"):
                continue
            seen.add(key)
            if t[0] in ("call", "out"):
                name = t[1]
                for p, ff in self.base_facts(ix.defs.get(name, ())[:8]).items():
                    focus.add(p)
                    for fn in ff.functions:
                        if fn.name != name:
                            continue
                        if t[0] == "call":
                            work.extend((p, name, tt) for tt in fn.return_terms + fn.value_returns)
                        else:
                            for i, terms in fn.out_writes:
                                if i == t[2]:
                                    work.extend((p, name, tt) for tt in terms)
            elif t[0] in ("neg", "sign", "subsys", "except"):
                work.append((path, func, t[-1]))       # a filter or negation of a term
            elif t[0] == "param" and func and func not in fam:
                for p, ff in self.base_facts(ix.callers.get(func, ())[:40]).items():
                    focus.add(p)
                    for c in ff.calls:
                        if c.callee == func and t[1] < len(c.arg_terms):
                            work.extend((p, c.function, tt) for tt in c.arg_terms[t[1]])
        return focus

    def _link(self, facts: Mapping[str, FileFacts]) -> Analysis:
        ix = self.index()
        return link(Facts(facts), self.kernel, skipped=ix.skipped, scanned=ix.scanned)

    def confirmed(self) -> bool:
        """Is the index in use the one of the tree as it is now? When it was taken on
        trust (_trust) and the tree has changed since, it is dropped, index() finds or
        builds the right one from then on, and the answer is False (once)."""
        st = self._state
        if st is None or st.confirmed:
            return True
        if st.fingerprint() == st.trusted:
            st.confirmed = True
            return True
        self._index = self._state = None
        return False

    def pair(self, before, after):
        got = self._pair(before, after)
        return got if self.confirmed() else self._pair(before, after)

    def _pair(self, before, after):
        changed = sorted(set(before) | set(after))
        def parse(texts):
            return self.files.parse({p: t.encode("utf-8", "surrogateescape")
                                     for p, t in texts.items()
                                     if t is not None and p.endswith(SOURCE_SUFFIXES)})
        fb, fa = parse(before), parse(after)
        seeds: dict[str, object] = {}
        base_changed = self.base_facts([p for p in changed if p not in before])
        for p in changed:
            seeds[p] = fa.get(p) or fb.get(p) or base_changed.get(p)
        # terms of the other side lead to files as well
        extra = {f"{p}\0before": fb.get(p) or base_changed.get(p) for p in changed}
        focus = self.focus({**seeds, **{k: v for k, v in extra.items() if v is not None}})
        focus = {p for p in focus if "\0" not in p}
        common = self.base_facts(sorted(p for p in focus if p not in changed))

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
        self.confirmed()
        ix = self.index()
        out = set()
        for n in names:
            for key in (n, f"SKB_DROP_REASON_{n}"):
                if any(p not in paths for p in ix.mentions.get(key, ())):
                    out.add(n)
        return out
