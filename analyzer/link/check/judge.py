"""Findings of one patch from the analyses before and after it."""
from __future__ import annotations

from typing import Callable

from analyzer.link.check.context import Context
from analyzer.link.check.drops import site_findings
from analyzer.link.check.reasons import (catalogue_findings, consistency_findings,
                                         unknown_reason_findings)
from analyzer.link.check.scope import DEFAULT_PATHS
from analyzer.model import Analysis
from analyzer.model.findings import Finding
from analyzer.source.patch import AppliedFile, Patch


def judge(a: Analysis, b: Analysis, applied: dict[str, AppliedFile], patch: Patch, *,
          paths: tuple[str, ...] = DEFAULT_PATHS,
          later_mentions: frozenset[str] = frozenset(),
          read: Callable[[str], str | None] | None = None,
          elsewhere: Callable[[set[str]], set[str]] | None = None) -> list[Finding]:
    """Findings of one patch: ``a`` before it, ``b`` after it, ``applied`` its files;
    ``read`` gives the text of files the patch does not touch (catalogue checks);
    ``elsewhere`` says which reasons files outside the analyses use."""
    ctx = Context(a, b, applied, patch, paths, read, elsewhere)
    out: list[Finding] = []
    renames = catalogue_findings(ctx, out, later_mentions)
    site_findings(ctx, out, renames)
    unknown_reason_findings(ctx, out)
    consistency_findings(ctx, out)
    uniq = {}
    for f in out:
        uniq.setdefault((f.code, f.file, f.line, f.column, f.message), f)
    return sorted(uniq.values(), key=Finding.sort_key)
