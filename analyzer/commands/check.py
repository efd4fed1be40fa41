"""``skbdrop check``: judge a patch (or a series, or a git range) against its base tree.

Each patch is applied in memory to the base's files (no working tree changes); the base
tree's facts come from the scan's own cache and manifest (c/collect.py), only the
touched files are parsed, and the analyses before and after the patch are linked by the
scan's link code over the files the patch can affect (link/relink.py). Their
differences that matter become typed findings (link/check/, model/findings.py). A patch
that touches no relevant file is judged without opening the tree at all.

Site matching uses the patch itself: a site on an unchanged line is the same site
before and after (the old-to-new line map of the applied diff); sites on removed and
added lines in the same function are paired first by callee, then by function
(``kfree_skb(skb)`` becoming ``kfree_skb_reason(skb, R)`` is the same site); what is
left after the patch is new. Sites in files the patch does not touch keep their
positions and are compared one to one (their reasons may change through callees).
"""
from __future__ import annotations

import sys
from typing import Callable

from analyzer.errors import InputError
from analyzer.formats.check_report import to_dict, to_json, to_text  # noqa: F401 - the command's API
from analyzer.link.check.judge import judge
from analyzer.link.check.results import CheckReport, PatchResult
from analyzer.link.check.scope import (DEFAULT_PATHS, diff_lines, is_source, later_mentions,
                                       parse_paths, relevant_files)
from analyzer.link.relink import Relinker
from analyzer.model import Analysis, KernelInfo
from analyzer.source.patch import Patch, PatchedTree, git_range, read_series, synthetic_patch
from analyzer.source.tree import open_tree

__all__ = ["DEFAULT_PATHS", "CheckReport", "Engine", "PatchResult", "ScanEngine", "check_series",
           "command", "render", "run", "to_dict", "to_json", "to_text"]


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


class ScanEngine(Engine):
    """The real thing: the base tree re-linked around each change (link/relink.py)."""

    def __init__(self, spec: str, *, jobs: int | None = None, use_cache: bool = True,
                 progress: bool = False):
        self.relinker = Relinker(open_tree(spec), jobs=jobs, use_cache=use_cache,
                                 progress=progress)

    def kernel(self) -> KernelInfo:
        return self.relinker.kernel

    def read(self, path: str) -> str | None:
        return self.relinker.read(path)

    def pair(self, before, after):
        return self.relinker.pair(before, after)

    def mentioned_outside(self, names: set[str], paths: set[str]) -> set[str]:
        return self.relinker.mentioned_outside(names, paths)


def check_series(engine_factory: Callable[[], Engine], base_spec: str, patches: list[Patch], *,
                 paths: tuple[str, ...] = DEFAULT_PATHS, squash: bool = False,
                 fail_on: str = "warning") -> CheckReport:
    """Judge ``patches`` in order, each against the base plus the patches before it."""
    rel = [relevant_files(p, paths) for p in patches]
    if not any(rel):
        # nothing relevant: no tree is opened, nothing is parsed
        results = tuple(PatchResult(p, (), (), diff_lines(p), False) for p in patches)
        return CheckReport(base_spec, None, paths, results, fail_on)
    engine = engine_factory()
    tree = PatchedTree(engine.read)
    if squash and len(patches) > 1:
        before: dict[str, str | None] = {}
        for p in patches:
            for path in p.paths():
                if is_source(path) and path not in before:
                    before[path] = tree.current(path)
            tree.apply(p, only=is_source)
        after = {path: tree.current(path) for path in before}
        name = f"{patches[0].name}..{patches[-1].name}"
        patches = [synthetic_patch(name, before, after, subject=f"squash of {len(patches)} patches")]
        rel = [relevant_files(patches[0], paths)]
        tree = PatchedTree(engine.read)
    results = []
    for i, p in enumerate(patches):
        if not rel[i]:
            # nothing to judge, but later patches of the series build on its changes
            tree.apply(p, only=is_source)
            results.append(PatchResult(p, (), (), diff_lines(p), False))
            continue
        before = dict(tree.texts)
        applied = tree.apply(p, only=is_source)
        after = dict(tree.texts)
        a, b = engine.pair(before, after)
        later = later_mentions(patches[i + 1:])
        findings = judge(a, b, applied, p, paths=paths, later_mentions=later, read=tree.current,
                         elsewhere=lambda names, touched=set(after): engine.mentioned_outside(
                             names, touched))
        results.append(PatchResult(p, rel[i], tuple(findings), diff_lines(p), True))
    return CheckReport(base_spec, engine.kernel(), paths, tuple(results), fail_on)


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
