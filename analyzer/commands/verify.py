"""`skbdrop verify`: the catalogue against a running kernel (its BTF or its tracepoint).

Mismatch kinds, named from the catalogue's side:
  missing  in the catalogue, not in the running kernel
  extra    in the running kernel, not in the catalogue
  value    in both, at another value (delta = runtime - catalogue)
Bounds (``SKB_DROP_REASON_MAX``, ``…_SUBSYS_MASK``, subsystem bases and ``…_MAX``) are
not reasons and are not compared.  A subsystem whose enum is not in the BTF given
(module not loaded, or only vmlinux's BTF passed) is listed as unchecked, not as
missing.  Exit 1 on any mismatch.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

from analyzer.source.btf import Enum, read_enums, read_trace_format
from analyzer.errors import InputError
from analyzer.commands.header import Catalogue, load, require_catalogue
from analyzer.model import CORE, Analysis
from analyzer.model.data import SCHEMA
from analyzer.model.rules import (NOT_DROP_REASONS, index_in_subsystem, is_bound_name, shift_of,
                                  subsystem_of)

CORE_ENUM = "skb_drop_reason"
SUBSYS_ENUM = "skb_drop_reason_subsys"
# Core enumerators declared before the DEFINE_DROP_REASON() X-macro list, so absent
# from the tracepoint's __print_symbolic table (5.18+: include/net/dropreason*.h).
NOT_IN_TRACEPOINT = NOT_DROP_REASONS


@dataclass(frozen=True, order=True)
class Mismatch:
    enum: str
    kind: str                  # missing | extra | value
    name: str
    catalogue: int | None
    runtime: int | None

    @property
    def delta(self) -> int | None:
        if self.catalogue is None or self.runtime is None:
            return None
        return self.runtime - self.catalogue


@dataclass(frozen=True)
class Unchecked:
    subsystem: str
    why: str


@dataclass(frozen=True)
class Result:
    against: str               # "btf" | "tracefs"
    file: str
    compared: int              # names compared (in both)
    mismatches: tuple[Mismatch, ...] = ()
    unchecked: tuple[Unchecked, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.mismatches


def _compare(enum: str, cat: dict[str, int], run: dict[str, int]) -> tuple[int, list[Mismatch]]:
    out = []
    both = 0
    for n, v in cat.items():
        if n not in run:
            out.append(Mismatch(enum, "missing", n, v, None))
        else:
            both += 1
            if run[n] != v:
                out.append(Mismatch(enum, "value", n, v, run[n]))
    for n, v in run.items():
        if n not in cat:
            out.append(Mismatch(enum, "extra", n, None, v))
    return both, out


def verify_btf(a: Analysis, cat: Catalogue, enums: dict[str, Enum], path: str) -> Result:
    shift = shift_of(a)
    compared = 0
    mism: list[Mismatch] = []
    unchecked: list[Unchecked] = []
    notes: list[str] = []
    module_only = CORE_ENUM not in enums       # e.g. /sys/kernel/btf/openvswitch
    if module_only:
        sub_names = {r.name for sv in cat.subsystems for r in sv.reasons}
        if not any(sub_names & e.as_dict().keys() for e in enums.values()):
            raise InputError(f"{path}: BTF has no enum {CORE_ENUM} and no subsystem's reasons "
                             "(not a kernel's BTF, or a kernel before 5.17)")
        unchecked.append(Unchecked(CORE, f"no enum {CORE_ENUM} in this BTF (a module's BTF: "
                                         "pass /sys/kernel/btf/vmlinux for the core reasons)"))
    else:
        core_run = {n: v for n, v in enums[CORE_ENUM].values if not is_bound_name(n)}
        n, m = _compare(CORE_ENUM, {r.name: r.value for r in cat.core}, core_run)
        compared += n
        mism += m

    subs_cat = {sv.subsystem.enumerator: sv.subsystem.id for sv in cat.subsystems
                if sv.subsystem.enumerator}
    if SUBSYS_ENUM in enums:
        subs_run = {n: v for n, v in enums[SUBSYS_ENUM].values if not is_bound_name(n)}
    else:
        subs_run = {}
        if subs_cat and not module_only:
            notes.append(f"BTF has no enum {SUBSYS_ENUM} (a kernel before 6.4)")
    if subs_cat and not any(v == 0 for v in subs_cat.values()) and "SKB_DROP_REASON_SUBSYS_CORE" in subs_run:
        subs_cat["SKB_DROP_REASON_SUBSYS_CORE"] = 0      # catalogue without its core entry
    if (subs_cat and not module_only) or subs_run:
        n, m = _compare(SUBSYS_ENUM, subs_cat, subs_run)
        compared += n
        mism += m

    for sv in cat.subsystems:
        if sv.subsystem.name == CORE or not sv.reasons:
            continue
        names = {r.name: r.value for r in sv.reasons}
        best, overlap = None, 0
        for e in enums.values():
            k = len(names.keys() & e.as_dict().keys())
            if k > overlap:
                best, overlap = e, k
        if best is None:
            unchecked.append(Unchecked(sv.subsystem.name,
                                       "no enum with its reasons in this BTF (module not loaded "
                                       "or its BTF not given)"))
            continue
        rid = subs_run.get(sv.subsystem.enumerator, sv.subsystem.id)
        run = {n: v for n, v in best.values
               if n in names or (not is_bound_name(n) and subsystem_of(v, shift) == rid
                                   and index_in_subsystem(v, shift) != 0)}
        n, m = _compare(best.name, names, run)
        compared += n
        mism += m
    return Result("btf", path, compared, tuple(sorted(mism, key=_order)), tuple(unchecked),
                  tuple(notes))


def verify_tracefs(a: Analysis, cat: Catalogue, path: str) -> Result:
    tf = read_trace_format(path)
    vals, symbolic = tf.numeric()
    notes = []
    if symbolic:
        notes.append(f"{len(symbolic)} entries left symbolic by the kernel (e.g. "
                     f"{symbolic[0][0]}): their values are not compared")
        for _v, name in symbolic:
            vals.setdefault(name, None)   # type: ignore[arg-type]
    run = {n: v for n, v in vals.items() if n != "MAX"}
    catd = {r.short: r.value for r in cat.core if r.name not in NOT_IN_TRACEPOINT}
    compared, mism = _compare("kfree_skb", catd, run)
    mism = [m for m in mism if not (m.kind == "value" and m.runtime is None)]
    unchecked = tuple(Unchecked(sv.subsystem.name, "the tracepoint lists core reasons only")
                      for sv in cat.subsystems if sv.subsystem.name != CORE and sv.reasons)
    return Result("tracefs", path, compared, tuple(sorted(mism, key=_order)), unchecked,
                  tuple(notes))


def _order(m: Mismatch):
    v = m.catalogue if m.catalogue is not None else m.runtime
    rank = {CORE_ENUM: 0, "kfree_skb": 0, SUBSYS_ENUM: 1}.get(m.enum, 2)
    return (rank, m.enum, v if v is not None else -1, m.kind, m.name)


def verify(a: Analysis, spec: str, *, btf: str | None = None, tracefs_format: str | None = None) -> Result:
    cat = require_catalogue(a, spec)
    if btf:
        return verify_btf(a, cat, read_enums(btf), btf)
    if tracefs_format:
        return verify_tracefs(a, cat, tracefs_format)
    raise InputError("verify needs --btf FILE or --tracefs-format FILE")


# --- output -------------------------------------------------------------------------------

def to_text(a: Analysis, res: Result) -> str:
    what = "BTF" if res.against == "btf" else "tracepoint format"
    lines = [f"skbdrop verify: catalogue of Linux {a.kernel.version} ({a.kernel.source}) "
             f"against {what} {res.file}"]
    for m in res.mismatches:
        if m.kind == "missing":
            lines.append(f"missing  {m.enum}: {m.name} = {m.catalogue} in the catalogue, "
                         "not in the running kernel")
        elif m.kind == "extra":
            lines.append(f"extra    {m.enum}: {m.name} = {m.runtime} in the running kernel, "
                         "not in the catalogue")
        else:
            lines.append(f"value    {m.enum}: {m.name} = {m.catalogue} in the catalogue, "
                         f"{m.runtime} in the running kernel ({m.delta:+d})")
    for u in res.unchecked:
        lines.append(f"unchecked subsystem {u.subsystem}: {u.why}")
    for n in res.notes:
        lines.append(f"note: {n}")
    k = {kind: sum(1 for m in res.mismatches if m.kind == kind) for kind in ("missing", "extra", "value")}
    if res.ok:
        lines.append(f"ok: {res.compared} names compared, no mismatch")
    else:
        lines.append(f"{len(res.mismatches)} mismatches ({k['missing']} missing, {k['extra']} extra, "
                     f"{k['value']} with another value); {res.compared} names in both")
    return "\n".join(lines) + "\n"


def to_json(a: Analysis, res: Result) -> str:
    doc = {"schema": SCHEMA, "kernel": {"version": a.kernel.version, "source": a.kernel.source},
           "against": {"kind": res.against, "file": res.file},
           "compared": res.compared, "ok": res.ok,
           "mismatches": [{**asdict(m), "delta": m.delta} for m in res.mismatches],
           "unchecked": [asdict(u) for u in res.unchecked],
           "notes": list(res.notes)}
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def command(args) -> int:
    from analyzer.formats.atomic import write_text
    for p in (args.btf, args.tracefs_format):
        if p and not os.path.exists(p):
            raise InputError(f"{p}: no such file")
    a = load(args.kernel, args, sources=False)
    res = verify(a, args.kernel, btf=args.btf, tracefs_format=args.tracefs_format)
    text = to_json(a, res) if getattr(args, "format", "text") == "json" else to_text(a, res)
    write_text("-", text)
    return 0 if res.ok else 1
