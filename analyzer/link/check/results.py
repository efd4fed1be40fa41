"""What a check returns: findings per patch, and the exit code they give."""
from __future__ import annotations

from dataclasses import dataclass

from analyzer.model import KernelInfo
from analyzer.model.findings import Finding, at_least
from analyzer.source.patch import Patch


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
