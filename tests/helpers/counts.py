"""The report's totals counted from an analysis's sites and reasons by the README's rules,
independently of analyzer/model/rules.py: what the HTML report (fixture and 6.12), the
browser walk and the real-tree scan tests compare the product's own numbers with."""
from __future__ import annotations


def counted_totals(a) -> dict[str, int]:
    """The index's totals counted from the analysis's sites and reasons (not its summary,
    whose values are the product's own), by the README's rules ("JSON", "What a scan
    finds"): a drop is unspecified when it can give no reason but NOT_SPECIFIED, incomplete
    when it can give a specific one and its set is not fully known; enum bounds (``_MAX``,
    ``_NUM``, the mask, private ``_`` names, subsystem 0) and NOT_DROPPED_YET/CONSUMED are
    not reasons. Which reasons the .c code names is not in the analysis: the unresolved
    ones are the summary's list, and they are not "never produced"."""
    shift = a.kernel.subsys_shift or 16
    drops = [x for x in a.sites if x.kind == "drop"]

    def bound(r):
        if r.name in ("SKB_DROP_REASON_MAX", "SKB_DROP_REASON_SUBSYS_MASK", "SKB_NOT_DROPPED_YET",
                      "SKB_CONSUMED") or r.name.startswith("_") or r.name.endswith(("_MAX", "_NUM")):
            return True
        return r.subsystem != "core" and r.value >> shift == 0
    defined = [r for r in a.reasons if not bound(r)]
    used = {r for x in a.sites for r in x.reasons}
    unresolved = {u.reason for u in a.summary.reasons_unresolved}
    unspec = sum(1 for x in drops if not set(x.reasons) - {"NOT_SPECIFIED"})
    return {"drop_sites": len(drops), "with_reason": len(drops) - unspec, "unspecified": unspec,
            "consume_sites": sum(1 for x in a.sites if x.kind == "consume"),
            "reasons_defined": len(defined),
            "reasons_never_produced": sum(1 for r in defined if r.short not in used | unresolved),
            "reasons_unresolved": len(unresolved),
            "incomplete": sum(1 for x in drops if not x.complete and set(x.reasons) - {"NOT_SPECIFIED"})}
