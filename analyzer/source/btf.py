"""Enums of a BTF blob, read through `bpftool btf dump file FILE -j`.

Accepts a raw BTF blob (``/sys/kernel/btf/vmlinux``, a module's BTF, an ELF file
with a .BTF section) — dumped with bpftool — or a JSON dump bpftool already wrote
(``{"types": [...]}``, possibly trimmed to the enums). Which one it is, is told
from the first bytes. Also reads the ``format`` file of the ``skb/kfree_skb``
tracepoint.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass

from analyzer.errors import InputError

BTF_MAGIC = 0xEB9F
_ELF = b"\x7fELF"
VMLINUX_BTF = "/sys/kernel/btf/vmlinux"


@dataclass(frozen=True)
class Enum:
    name: str
    values: tuple[tuple[str, int], ...]     # in declaration order

    def as_dict(self) -> dict[str, int]:
        return dict(self.values)


def _kind(head: bytes) -> str:
    if head[:2] in (b"\x9f\xeb", b"\xeb\x9f"):   # BTF magic, either byte order
        return "btf"
    if head[:4] == _ELF:
        return "elf"
    if head.lstrip()[:1] in (b"{", b"["):
        return "json"
    return "other"


BPFTOOL_FALLBACKS = ("/usr/sbin/bpftool", "/sbin/bpftool")   # not always on a user's PATH


def _bpftool() -> str:
    exe = shutil.which("bpftool") or next(
        (p for p in BPFTOOL_FALLBACKS if os.access(p, os.X_OK)), None)
    if not exe:
        raise InputError("bpftool not found: install it (Debian package bpftool) to read raw BTF, "
                         "or pass a saved `bpftool btf dump file FILE -j` JSON")
    return exe


def _dump(path: str) -> dict:
    exe = _bpftool()
    r = subprocess.run([exe, "btf", "dump", "file", path, "-j"], capture_output=True, text=True)
    real = os.path.realpath(path)
    if r.returncode != 0 and real.startswith("/sys/kernel/btf/") \
            and real != os.path.realpath(VMLINUX_BTF) and os.path.exists(VMLINUX_BTF):
        # a module's split BTF needs the kernel's as its base
        r = subprocess.run([exe, "-B", VMLINUX_BTF, "btf", "dump", "file", path, "-j"],
                           capture_output=True, text=True)
    if r.returncode != 0:
        msg = r.stderr or r.stdout or ""
        try:   # with -j, bpftool reports {"error": "..."} on stdout
            msg = json.loads(r.stdout).get("error", msg)
        except (ValueError, AttributeError):
            pass
        msg = " ".join(str(msg).split())[:200]
        raise InputError(f"{path}: bpftool cannot read it as BTF: {msg or 'exit ' + str(r.returncode)}"
                         " (a module's BTF saved to a file needs its base: dump it with "
                         "`bpftool -B /sys/kernel/btf/vmlinux btf dump file F -j`)")
    try:
        return json.loads(r.stdout)
    except ValueError:
        raise InputError(f"{path}: bpftool wrote no JSON") from None


def _from_json(doc, path: str) -> dict[str, Enum]:
    types = doc.get("types") if isinstance(doc, dict) else doc
    if not isinstance(types, list):
        raise InputError(f"{path}: not a bpftool BTF JSON dump (no \"types\" list)")
    out: dict[str, Enum] = {}
    for t in types:
        if not isinstance(t, dict) or t.get("kind") not in ("ENUM", "ENUM64"):
            continue
        name = t.get("name") or "(anon)"
        try:
            vals = tuple((str(v["name"]), int(v["val"])) for v in t.get("values", []))
        except (KeyError, TypeError, ValueError):
            raise InputError(f"{path}: enum {name}: malformed values in BTF JSON") from None
        if name == "(anon)":
            name = f"(anon #{t.get('id', len(out))})"
        out.setdefault(name, Enum(name, vals))
    return out


def read_enums(path: str) -> dict[str, Enum]:
    """Every named enum in the BTF (name -> Enum); anonymous ones keyed "(anon #id)"."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
    kind = _kind(head)
    if kind in ("btf", "elf"):
        return _from_json(_dump(path), path)
    if kind == "json":
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except (ValueError, UnicodeDecodeError) as e:
            raise InputError(f"{path}: not BTF and not valid JSON ({type(e).__name__})") from None
        return _from_json(doc, path)
    raise InputError(f"{path}: not BTF (no BTF magic 0xeb9f, not ELF, not a bpftool JSON dump)")


# --- the tracepoint's format file -------------------------------------------------------

_PAIR = re.compile(r'\{\s*([^,{}]+?)\s*,\s*"((?:[^"\\]|\\.)*)"\s*\}')


@dataclass(frozen=True)
class TraceFormat:
    event: str
    system: str | None
    symbols: tuple[tuple[str, str], ...]   # (value text, name) of __print_symbolic(REC->reason, …)

    def numeric(self) -> tuple[dict[str, int], list[tuple[str, str]]]:
        """name -> value for numeric entries; the (value text, name) pairs left symbolic."""
        vals: dict[str, int] = {}
        symbolic = []
        for v, n in self.symbols:
            try:
                vals.setdefault(n, int(v, 0))
            except ValueError:
                symbolic.append((v, n))
        return vals, symbolic


def _print_symbolic_args(text: str, field: str) -> str | None:
    """The text of `__print_symbolic(REC->field, …)` up to its closing parenthesis."""
    m = re.search(r"__print_symbolic\(\s*REC->" + re.escape(field) + r"\s*,", text)
    if not m:
        return None
    depth, i = 1, m.end()
    in_str = False
    while i < len(text):
        c = text[i]
        if in_str:
            if c == "\\":
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return text[m.end():i]
        i += 1
    return text[m.end():]


def read_trace_format(path: str, event: str = "kfree_skb") -> TraceFormat:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
    m = re.search(r"^name:\s*(\S+)", text, re.M)
    if not m:
        raise InputError(f"{path}: not a tracefs event format file (no \"name:\" line)")
    if m.group(1) != event:
        raise InputError(f"{path}: format of event {m.group(1)!r}, expected {event!r} "
                         f"(events/skb/{event}/format)")
    args = _print_symbolic_args(text, "reason")
    if args is None:
        raise InputError(f"{path}: event {event} has no __print_symbolic(REC->reason, ...) table "
                         "(a kernel before 5.17?)")
    sysm = re.search(r"^system:\s*(\S+)", text, re.M)
    pairs = tuple((v.strip(), n) for v, n in _PAIR.findall(args))
    if not pairs:
        raise InputError(f"{path}: empty reason table in __print_symbolic")
    return TraceFormat(event, sysm.group(1) if sysm else None, pairs)


# --- btf:FILE as a KERNEL: the reason table of a kernel without its source ---------------

CORE_ENUM = "skb_drop_reason"
SUBSYS_ENUM = "skb_drop_reason_subsys"
SUBSYS_PREFIX = "SKB_DROP_REASON_SUBSYS_"
MASK = "SKB_DROP_REASON_SUBSYS_MASK"


def _kernel_release(path: str) -> str:
    """The kernel release a BTF file belongs to: the running kernel's for /sys/kernel/btf/*,
    the "Linux version …" banner of an ELF vmlinux, else "unknown"."""
    real = os.path.realpath(path)
    if real.startswith("/sys/kernel/btf/"):
        return os.uname().release
    try:
        with open(path, "rb") as f:
            if f.read(4) != _ELF:
                return "unknown"
            f.seek(0)
            tail = b""
            while chunk := f.read(1 << 24):
                m = re.search(rb"Linux version (\d+\.\d+[\w.+~-]*)", tail + chunk)
                if m:
                    return m.group(1).decode("ascii", "replace")
                tail = chunk[-64:]
    except OSError:
        pass
    return "unknown"


def _subsystem_enum(e: Enum, ids: dict[int, str], shift: int) -> int | None:
    """The subsystem id whose reasons enum E holds, or None: every enumerator is in that
    subsystem's range (or aliases SKB_NOT_DROPPED_YET/SKB_CONSUMED, 0 and 1, as mac80211's
    RX_CONTINUE/RX_QUEUED do), one of them sits at the subsystem's base (id << shift)."""
    sids = {v >> shift for _, v in e.values if v > 1}
    if len(sids) != 1:
        return None
    sid = next(iter(sids))
    if sid == 0 or sid not in ids or not any(v == sid << shift for _, v in e.values):
        return None
    return sid


def analysis_from_btf(path: str):
    """An Analysis holding only the catalogue (names and values, no docs, no sites) read
    from BTF through bpftool: `skbdrop header btf:/sys/kernel/btf/vmlinux`."""
    from analyzer import __version__
    from analyzer.link.catalogue import core_short
    from analyzer.model import CORE, Analysis, KernelInfo, Reason, Subsystem
    from analyzer.model.rules import BTF_LAYOUT
    if not os.path.exists(path):
        raise InputError(f"btf:{path}: no such file")
    enums = read_enums(path)
    core = enums.get(CORE_ENUM)
    if core is None:
        raise InputError(f"btf:{path}: no enum {CORE_ENUM} in this BTF (a module's BTF, or a "
                         "kernel before 5.17: pass the kernel's own, /sys/kernel/btf/vmlinux)")
    vals = core.as_dict()
    shift = None
    ids: dict[int, str] = {}
    subsystems = []
    if SUBSYS_ENUM in enums:
        mask = vals.get(MASK, 0xFFFF0000)
        shift = (mask & -mask).bit_length() - 1 if mask else 16
        for name, v in enums[SUBSYS_ENUM].values:
            if name.startswith(SUBSYS_PREFIX) and name != SUBSYS_PREFIX + "NUM":
                short = name[len(SUBSYS_PREFIX):].lower()
                ids[v] = short
                subsystems.append(Subsystem(name=short, enumerator=name, id=v, file=path, line=0))
    reasons = [Reason(name=n, short=core_short(n), value=v, subsystem=CORE, doc="", file=path,
                      line=0) for n, v in core.values if n != MASK]
    if shift is not None:
        seen = {r.value for r in reasons}
        for ename in sorted(enums):
            e = enums[ename]
            if ename in (CORE_ENUM, SUBSYS_ENUM) or _subsystem_enum(e, ids, shift) is None:
                continue
            for n, v in e.values:
                sid, idx = v >> shift, v & ((1 << shift) - 1)
                if (n.startswith("_") or n.endswith("_MAX") or sid not in ids or sid == 0
                        or idx == 0 or v in seen):
                    continue
                seen.add(v)
                reasons.append(Reason(name=n, short=n, value=v, subsystem=ids[sid], doc="",
                                      file=path, line=0))
    reasons.sort(key=lambda r: (r.value, r.name))
    subsystems.sort(key=lambda s: s.id)
    return Analysis(kernel=KernelInfo(version=_kernel_release(path), source=f"btf:{path}",
                                      layout=BTF_LAYOUT, subsys_shift=shift),
                    reasons=tuple(reasons), subsystems=tuple(subsystems),
                    tool_version=__version__)
