"""The compiler oracle: drop-reason values as gcc computes them from a tree's own headers.

Independent of the scanner (no tree-sitter, no analyzer import): it is what the
scanner's catalogue is checked against.  See docs kernel-layouts.md, "Oracles for values".

    compiler_values(root)  -> {enumerator: value}       every enumerator, flat
    compiler_enums(root)   -> OracleResult              per enum, in source order, with files

How: write a tiny C file that includes the tree's catalogue headers (or, for 5.17-5.19,
the ``enum skb_drop_reason`` text cut out of include/linux/skbuff.h) plus every other
header that uses ``SKB_DROP_REASON_SUBSYS_SHIFT``, with every other ``#include <...>``
they make replaced by an empty stub.  ``gcc -E`` expands the X-macros; the enum bodies of
the expanded text give the enumerator names (and their file, from the line markers).  A
second C program holding just those typedefs and enums prints each enumerator with
printf("%s %lld\\n"); its output is the answer.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

CORE_ENUM = "skb_drop_reason"
SUBSYS_ENUM = "skb_drop_reason_subsys"
SHIFT = "SKB_DROP_REASON_SUBSYS_SHIFT"

PREAMBLE = """\
#include <stddef.h>
#define __force
#define __rcu
#define __bitwise
#define __user
#define __iomem
#define __must_check
#define __always_inline inline
#define __packed __attribute__((packed))
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef signed char s8;
typedef short s16;
typedef int s32;
typedef long long s64;
typedef u8 __u8;
typedef u16 __u16;
typedef u32 __u32;
typedef u64 __u64;
typedef _Bool bool;
"""


class OracleError(Exception):
    """The tree's catalogue could not be compiled (one line)."""


@dataclass(frozen=True)
class Enum:
    name: str                      # enum tag ("" for an anonymous enum)
    file: str                      # kernel-relative path it is declared in
    enumerators: tuple[str, ...]   # in declaration order
    values: tuple[int, ...]


@dataclass(frozen=True)
class OracleResult:
    layout: str                    # skbuff-enum | dropreason | dropreason-xmacro | dropreason-core
    enums: tuple[Enum, ...]        # catalogue enums first, then subsystem headers' enums
    subsystem_files: tuple[str, ...]
    shift: int | None = None       # SKB_DROP_REASON_SUBSYS_SHIFT, where the tree defines it

    def enum(self, name: str) -> Enum | None:
        for e in self.enums:
            if e.name == name:
                return e
        return None

    def values(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for e in self.enums:
            out.update(zip(e.enumerators, e.values))
        return out


# --- locating the catalogue -------------------------------------------------------------

def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        return f.read()


def detect_layout(root: str) -> str:
    """The catalogue layout of the tree at ``root`` (raises OracleError if none)."""
    inc = os.path.join(root, "include")
    if os.path.isfile(os.path.join(inc, "net", "dropreason-core.h")):
        return "dropreason-core"
    dr = os.path.join(inc, "net", "dropreason.h")
    if os.path.isfile(dr) and "enum skb_drop_reason" in _read(dr):
        return "dropreason-xmacro" if "DEFINE_DROP_REASON" in _read(dr) else "dropreason"
    sk = os.path.join(inc, "linux", "skbuff.h")
    if os.path.isfile(sk) and re.search(r"\benum\s+skb_drop_reason\s*\{",
                                        _blank_comments(_read(sk))):
        return "skbuff-enum"
    raise OracleError(f"{root}: no enum skb_drop_reason found")


def _blank_comments(text: str) -> str:
    """``text`` with comments replaced by spaces (same length, newlines kept)."""
    return re.sub(r"/\*.*?\*/|//[^\n]*", lambda m: re.sub(r"[^\n]", " ", m.group(0)),
                  text, flags=re.S)


def extract_enum_text(text: str, name: str) -> str:
    """The text ``enum NAME { ... };`` cut out of a C file (its comments kept; an
    ``enum NAME {`` inside a comment does not count)."""
    code = _blank_comments(text)
    m = re.search(r"\benum\s+" + re.escape(name) + r"\s*\{", code)
    if not m:
        raise OracleError(f"enum {name} not found")
    depth = 0
    for i in range(m.end() - 1, len(code)):
        if code[i] == "{":
            depth += 1
        elif code[i] == "}":
            depth -= 1
            if depth == 0:
                end = code.find(";", i)
                if end < 0:
                    break
                return text[m.start():end + 1]
    raise OracleError(f"enum {name}: unbalanced braces")


def subsystem_headers(root: str, layout: str) -> list[str]:
    """Kernel-relative paths of headers (outside the core catalogue) using the SHIFT."""
    if layout != "dropreason-core" and layout != "dropreason-xmacro":
        return []
    core = {"include/net/dropreason.h", "include/net/dropreason-core.h"}
    grep = shutil.which("grep")
    out: list[str] = []
    if grep:
        p = subprocess.run([grep, "-rlI", "--include=*.h", "-F", SHIFT, "."], cwd=root,
                           capture_output=True, text=True)
        if p.returncode not in (0, 1):
            raise OracleError(f"grep failed: {p.stderr.strip()[:200]}")
        names = [ln[2:] if ln.startswith("./") else ln for ln in p.stdout.splitlines()]
    else:  # pragma: no cover - grep is always there on Debian
        names = []
        for d, _, files in os.walk(root):
            for f in files:
                if f.endswith(".h"):
                    full = os.path.join(d, f)
                    if SHIFT in _read(full):
                        names.append(os.path.relpath(full, root))
    for rel in sorted(names):
        if rel in core:
            continue
        # only headers that build enumerators on the shift, not ones merely testing it
        txt = _blank_comments(_read(os.path.join(root, rel)))
        if re.search(r"\benum\b[^;{]*\{[^}]*" + SHIFT, txt, re.S):
            out.append(rel)
    return out


# --- preprocessing ------------------------------------------------------------------------

_INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)


def _gcc() -> str:
    gcc = shutil.which("gcc") or shutil.which("cc")
    if not gcc:
        raise OracleError("gcc not found")
    return gcc


def _run(cmd: list[str], cwd: str) -> str:
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, errors="replace")
    if p.returncode != 0:
        first = next((ln for ln in p.stderr.splitlines() if "error" in ln), p.stderr.strip())
        raise OracleError(f"{os.path.basename(cmd[0])} failed: {first[:300]}")
    return p.stdout


def _expanded(root: str, layout: str, subs: list[str], work: str) -> str:
    """gcc -E of the catalogue (and subsystem headers), line markers kept."""
    stub = os.path.join(work, "stub")
    os.makedirs(stub)
    inc = os.path.join(root, "include")
    if layout == "skbuff-enum":
        text = extract_enum_text(_read(os.path.join(inc, "linux", "skbuff.h")), CORE_ENUM)
        src = os.path.join(work, "include", "linux", "skbuff.h")  # keep the real rel path
        os.makedirs(os.path.dirname(src))
        with open(src, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(text + "\n")
        headers = ["linux/skbuff.h"]
        incdirs = [os.path.join(work, "include")]
        wanted: set[str] = set()
    else:
        headers = (["net/dropreason-core.h"] if layout == "dropreason-core" else []) + \
            ["net/dropreason.h"]
        incdirs = [stub, inc]
        wanted = {"net/dropreason.h", "net/dropreason-core.h"}
    files = [os.path.join(inc, h) for h in headers if layout != "skbuff-enum"]
    files += [os.path.join(root, s) for s in subs]
    # every include the catalogue headers make, other than themselves, becomes an empty stub
    for path in files:
        for name in _INCLUDE.findall(_read(path)):
            if name in wanted:
                continue
            dst = os.path.join(stub, name)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            open(dst, "w").close()
    main = os.path.join(work, "catalogue.c")
    with open(main, "w") as f:
        f.write(PREAMBLE)
        if layout != "skbuff-enum":
            f.write("#define _LINUX_SKBUFF_H\n")
        for h in headers:
            f.write(f"#include <{h}>\n")
        for s in subs:
            f.write(f'#include "{os.path.join(root, s)}"\n')
        f.write(f"#ifdef {SHIFT}\nenum {_SHIFT_ENUM} {{ {_SHIFT_ENUM}_value = {SHIFT} }};\n#endif\n")
    cmd = [_gcc(), "-E", "-std=gnu11"]
    for d in incdirs:
        cmd += ["-I", d]
    return _run(cmd + [main], work)


_SHIFT_ENUM = "__oracle_subsys_shift"
_MARKER = re.compile(r'^#\s+(\d+)\s+"([^"]*)"')


def _relname(path: str, root: str, work: str) -> str:
    for base in (root, work):
        b = os.path.abspath(base) + os.sep
        if os.path.abspath(path).startswith(b):
            rel = os.path.relpath(os.path.abspath(path), base)
            if base == work and rel.startswith("stub" + os.sep):
                return ""
            return rel
    return ""


def _split_top(body: str, sep: str = ",") -> list[str]:
    out, depth, cur = [], 0, []
    for c in body:
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c == sep and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    out.append("".join(cur))
    return out


@dataclass(frozen=True)
class _Decl:
    kind: str      # "enum" | "typedef"
    name: str
    file: str
    text: str
    enumerators: tuple[str, ...] = ()


def _declarations(expanded: str, root: str, work: str) -> list[_Decl]:
    """Top-level enums and typedefs of the expanded text, with the file each came from."""
    # flatten into (file, text) chunks so that each character knows its file
    chars: list[str] = []
    owner: list[str] = []
    cur = ""
    for line in expanded.splitlines():
        m = _MARKER.match(line)
        if m:
            cur = _relname(m.group(2), root, work)
            continue
        if line.startswith("#"):
            continue
        chars.append(line + "\n")
        owner.extend([cur] * (len(line) + 1))
    text = "".join(chars)
    decls: list[_Decl] = []
    i, n, depth = 0, len(text), 0
    stmt_start = 0
    while i < n:
        c = text[i]
        if c == '"' or c == "'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                # a function body ends a top-level statement without ';'
                head = text[stmt_start:i]
                if "(" in head.split("{", 1)[0] and not head.lstrip().startswith(("enum", "typedef", "struct", "union")):
                    stmt_start = i + 1
        elif c == ";" and depth == 0:
            stmt = text[stmt_start:i + 1].strip()
            f = owner[stmt_start + (len(text[stmt_start:i]) - len(text[stmt_start:i].lstrip()))] \
                if stmt else ""
            stmt_start = i + 1
            m = re.match(r"enum\s+(\w*)\s*\{(.*)\}\s*;\Z", stmt, re.S)
            if m:
                names = []
                for item in _split_top(m.group(2)):
                    item = item.strip()
                    if item:
                        names.append(re.match(r"\w+", item).group(0))
                decls.append(_Decl("enum", m.group(1), f, stmt, tuple(names)))
            elif stmt.startswith("typedef"):
                tm = re.search(r"(\w+)\s*;\Z", stmt)
                decls.append(_Decl("typedef", tm.group(1) if tm else "", f, stmt))
        i += 1
    return decls


def _evaluate(decls: list[_Decl], work: str) -> dict[str, int]:
    prog = [PREAMBLE.replace("#include <stddef.h>\n", "#include <stddef.h>\n#include <stdio.h>\n")]
    known = {"u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64", "__u8", "__u16", "__u32",
             "__u64", "bool"}
    for d in decls:
        if d.kind == "typedef" and d.name in known:
            continue
        prog.append(d.text)
    prog.append("int main(void)\n{")
    for d in decls:
        for e in d.enumerators:
            prog.append(f'\tprintf("%s %lld\\n", "{e}", (long long){e});')
    prog.append("\treturn 0;\n}\n")
    src = os.path.join(work, "values.c")
    exe = os.path.join(work, "values")
    with open(src, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write("\n".join(prog))
    _run([_gcc(), "-std=gnu11", "-w", "-o", exe, src], work)
    out: dict[str, int] = {}
    for line in _run([exe], work).splitlines():
        name, val = line.split()
        out[name] = int(val)
    return out


def compiler_enums(root: str) -> OracleResult:
    """Every catalogue and subsystem enum of the tree at ``root``, valued by gcc."""
    root = os.path.abspath(root)
    if not os.path.isdir(root):
        raise OracleError(f"{root}: not a directory")
    layout = detect_layout(root)
    subs = subsystem_headers(root, layout)
    with tempfile.TemporaryDirectory(prefix="skbdrop-oracle-") as work:
        expanded = _expanded(root, layout, subs, work)
        # system headers and the preamble are not the tree's: leave their declarations out
        decls, seen = [], set()
        for d in _declarations(expanded, root, work):
            if not ((d.file and d.file != "catalogue.c") or d.name == _SHIFT_ENUM):
                continue
            key = (d.kind, d.name or d.text)
            if key in seen:     # a header without an include guard, included twice
                continue
            seen.add(key)
            decls.append(d)
        values = _evaluate(decls, work)
    cat_files = {"include/net/dropreason.h", "include/net/dropreason-core.h",
                 "include/linux/skbuff.h"}
    enums = []
    for d in decls:
        if d.kind != "enum":
            continue
        if d.file in cat_files and d.name not in (CORE_ENUM, SUBSYS_ENUM):
            continue
        if d.file not in cat_files and d.file not in subs:
            continue
        enums.append(Enum(d.name, d.file, d.enumerators, tuple(values[e] for e in d.enumerators)))
    if not any(e.name == CORE_ENUM for e in enums):
        raise OracleError(f"{root}: enum {CORE_ENUM} not found after preprocessing")
    shift = values.get(f"{_SHIFT_ENUM}_value")
    return OracleResult(layout, tuple(enums), tuple(subs), shift)


def compiler_values(root: str) -> dict[str, int]:
    """Every enumerator of ``enum skb_drop_reason``, ``enum skb_drop_reason_subsys`` and the
    subsystem reason enums of the tree at ``root``: name -> value, as gcc computes them."""
    return compiler_enums(root).values()


# --- the gold of a layout fixture ---------------------------------------------------------

CORE_LEFT_OUT = ("SKB_DROP_REASON_SUBSYS_MASK",)
SUBSYS_SENTINEL = "SKB_DROP_REASON_SUBSYS_NUM"


def catalogue_gold(root: str) -> dict:
    """What a scan of ``root`` must report for its catalogue, computed by gcc:

    ``{"layout": L, "reasons": {NAME: value}, "subsystems": {ENUMERATOR: id}}``

    reasons: every enumerator of ``enum skb_drop_reason`` except the mask
    SKB_DROP_REASON_SUBSYS_MASK (so SKB_NOT_DROPPED_YET, SKB_CONSUMED and
    SKB_DROP_REASON_MAX, which the kernel's own name table and BTF list, are in),
    plus every subsystem reason: an enumerator of an enum in a
    subsystem header whose value lies in a registered subsystem's space
    (id << SKB_DROP_REASON_SUBSYS_SHIFT, id > 0), leaving out `*_MAX` sentinels
    (OVS_DROP_MAX) and internal names starting with "_" (mac80211's ___RX_DROP_U_*
    duplicates of the public RX_DROP_U_* names, the base slots __OVS_DROP_REASON and
    ___RX_DROP_UNUSABLE). A public base slot is a reason: RX_DROP_MONITOR (value
    id << SHIFT) is [0] of mac80211's own name table (drop_reasons_monitor in
    net/mac80211/main.c) and mac80211 returns it (net/mac80211/rx.c).
    subsystems: every enumerator of ``enum skb_drop_reason_subsys`` except the count
    SKB_DROP_REASON_SUBSYS_NUM (CORE = 0 is in).
    (MAX is kept because the kernel prints it -- FNe(MAX) is in the tracepoint's and
    drop_reasons[]'s name lists; NUM and the mask are printed nowhere.)
    """
    res = compiler_enums(root)
    core = res.enum(CORE_ENUM)
    reasons = {n: v for n, v in zip(core.enumerators, core.values) if n not in CORE_LEFT_OUT}
    subsystems: dict[str, int] = {}
    sub = res.enum(SUBSYS_ENUM)
    if sub is not None:
        subsystems = {n: v for n, v in zip(sub.enumerators, sub.values) if n != SUBSYS_SENTINEL}
    ids = {v for v in subsystems.values() if v > 0}
    shift = res.shift if res.shift is not None else 16
    for en in res.enums:
        if en.file not in res.subsystem_files:
            continue
        for n, v in zip(en.enumerators, en.values):
            if n.startswith("_") or n.endswith("_MAX"):
                continue
            if (v >> shift) in ids:
                reasons[n] = v
    return {"layout": res.layout,
            "reasons": dict(sorted(reasons.items(), key=lambda kv: (kv[1], kv[0]))),
            "subsystems": dict(sorted(subsystems.items(), key=lambda kv: (kv[1], kv[0])))}


if __name__ == "__main__":  # python3 tests/helpers/oracle.py TREE  -> "ENUM NAME VALUE" lines
    import sys
    try:
        res = compiler_enums(sys.argv[1])
    except (OracleError, IndexError) as exc:
        sys.stderr.write(f"oracle: {exc or 'usage: oracle.py TREE'}\n")
        raise SystemExit(2)
    print("layout", res.layout)
    for en in res.enums:
        for name, val in zip(en.enumerators, en.values):
            print(en.file, en.name or "-", name, val)
