"""Typed findings of ``skbdrop check``: a stable code, a severity, a location, a message.

Like pyflakes' messages: the checker creates :class:`Finding` objects; text, JSON and
SARIF reporters only format them. Codes are a contract (CI configurations and SARIF
baselines refer to them): add new ones, never rename.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

SEVERITIES = ("info", "warning", "error")           # increasing
_RANK = {s: i for i, s in enumerate(SEVERITIES)}


def at_least(severity: str, threshold: str) -> bool:
    """True if ``severity`` is ``threshold`` or worse (``never`` matches nothing)."""
    if threshold == "never":
        return False
    return _RANK[severity] >= _RANK[threshold]


@dataclass(frozen=True)
class Rule:
    code: str
    severity: str
    name: str              # CamelCase, for SARIF's reportingDescriptor.name
    title: str             # one line
    help: str              # what it means and how to fix it


RULES: tuple[Rule, ...] = (
    Rule("SKBDROP_NEW_UNSPECIFIED", "warning", "NewDropWithoutReason",
         "New drop site without a specific drop reason",
         "The patch adds a call that frees an skb as a drop (it fires the kfree_skb "
         "tracepoint) with no specific reason: plain kfree_skb(), dev_kfree_skb_any(), "
         "kfree_skb_list(), or an explicit SKB_DROP_REASON_NOT_SPECIFIED. Users of "
         "drop monitors then see NOT_SPECIFIED. Use the _reason variant with the "
         "SKB_DROP_REASON_* that says why; reasons already used in the same function are "
         "suggested. If the skb is not dropped but consumed (freed after successful "
         "processing), use consume_skb()."),
    Rule("SKBDROP_BECAME_UNSPECIFIED", "warning", "DropLostItsReason",
         "A drop site that had a specific reason now drops without one",
         "After the patch this drop site can only report NOT_SPECIFIED, but before it "
         "reported a specific reason. Keep passing the reason (e.g. kfree_skb_reason("
         "skb, reason) instead of kfree_skb(skb))."),
    Rule("SKBDROP_REASONS_LOST", "warning", "DropReasonsLost",
         "A drop site can no longer report some of its reasons",
         "Reasons this drop site reported before the patch can no longer reach it. "
         "If the change is intended, the reasons may now be unused; otherwise restore "
         "the assignments or the parameter that carried them."),
    Rule("SKBDROP_UNKNOWN_REASON", "error", "UnknownDropReason",
         "A drop site names a reason the catalogue does not define",
         "The reason is not an enumerator of enum skb_drop_reason (or of a subsystem's "
         "drop reason list) in this tree, so the code does not build. Add the reason to "
         "the catalogue (with a kernel-doc comment) or use an existing one."),
    Rule("SKBDROP_UNDOCUMENTED_REASON", "warning", "UndocumentedDropReason",
         "A new drop reason has no kernel-doc comment",
         "Every enumerator of enum skb_drop_reason is documented with a kernel-doc "
         "comment '/** @SKB_DROP_REASON_X: why the packet was dropped */' right before "
         "it; the text is what users read when they see the reason."),
    Rule("SKBDROP_UNUSED_REASON", "warning", "UnusedDropReason",
         "A new drop reason is produced by no drop site",
         "The patch (or series) adds a reason that no drop site can report. Add the "
         "reason in the patch that first uses it, or use it."),
    Rule("SKBDROP_REASON_ORPHANED", "info", "DropReasonOrphaned",
         "The last drop site of a reason was removed",
         "Before the patch some drop site could report this reason; after it none can. "
         "Consider removing the reason or keeping a site that reports it."),
    Rule("SKBDROP_REASON_REMOVED", "error", "DropReasonRemoved",
         "A drop reason was removed",
         "User space (drop monitors, BPF programs, perf scripts) knows the reason by its "
         "name and value; removing it breaks them. Keep the reason (it may stay unused)."),
    Rule("SKBDROP_REASON_RENAMED", "error", "DropReasonRenamed",
         "A drop reason was renamed",
         "The tracepoint prints reasons by name; scripts matching the old name stop "
         "working. Keep the old name."),
    Rule("SKBDROP_REASON_RENUMBERED", "warning", "DropReasonsRenumbered",
         "Drop reason values change",
         "The value of existing reasons changes, so BPF programs and tools built against "
         "the old headers decode drops wrongly. Add new reasons at the end of the list "
         "(before SKB_DROP_REASON_MAX) unless the renumbering is intended."),
    Rule("SKBDROP_SUBSYS_CHANGED", "error", "DropSubsystemChanged",
         "A drop reason subsystem id changed or was removed",
         "The subsystem id is the high 16 bits of every reason value of that subsystem; "
         "changing or removing it renumbers all of them. Add new subsystems before "
         "SKB_DROP_REASON_SUBSYS_NUM and keep existing ids."),
    Rule("SKBDROP_CATALOGUE_MISMATCH", "error", "DropCatalogueMismatch",
         "The reason enum, the X-macro list and the string table disagree",
         "Each reason must appear in enum skb_drop_reason and, in the same order, in the "
         "DEFINE_DROP_REASON() X-macro (or the tracepoint's EM()/EMe() list) that "
         "generates the names user space sees; otherwise the tracepoint prints a number "
         "or the wrong name."),
)
RULE_BY_CODE = {r.code: r for r in RULES}


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str
    file: str
    line: int                      # line in the new file (old file for removals); 0 = none
    message: str
    function: str = ""
    column: int = 0
    fix: str = ""
    suggestions: tuple[str, ...] = ()
    patch: str = ""                # the patch (name) the finding belongs to
    patch_line: int = 0            # line in the patch text (checkpatch's #LINE), 0 = not in it
    source: str = ""               # the source line
    marker: str = "+"              # how the line appears in the patch: "+", " ", "-", "" (not in it)

    def sort_key(self) -> tuple:
        return (self.file, self.line, self.column, self.code, self.message)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["suggestions"] = list(self.suggestions)
        return d

    @property
    def rule(self) -> Rule:
        return RULE_BY_CODE[self.code]


def make(code: str, file: str, line: int, message: str, **kw) -> Finding:
    """A finding with its rule's default severity."""
    return Finding(code=code, severity=RULE_BY_CODE[code].severity, file=file, line=line,
                   message=message, **kw)


def count(findings) -> dict[str, int]:
    out = {s: 0 for s in SEVERITIES}
    for f in findings:
        out[f.severity] += 1
    return out
