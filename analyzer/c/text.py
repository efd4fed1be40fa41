"""What the facts stage reads from the text itself: kernel-style function regions,
macro definitions, the arguments of a call written in text."""
from __future__ import annotations

import bisect
import re
from functools import lru_cache

from analyzer.c.facts import MacroCall, MacroFact

# --------------------------------------------------------------------------------------
# Kernel-style function regions: a body opens with "{" and closes with "}" in column 0.

_SIG_STOP = re.compile(r"[;}]\s*$|^\s*#|^\s*$|^\s*\*|\*/\s*$|^\s*/[*/]")
_CALLLIKE = re.compile(r"([A-Za-z_]\w*)\s*\(")
COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_MACRO_DEF_FN = re.compile(r"^(BPF_CALL_\d|SYSCALL_DEFINE\d|COMPAT_SYSCALL_DEFINE\d|"
                           r"BPF_STRUCT_OPS\w*|TRACE_EVENT\w*)$")


def function_regions(lines: list[str]) -> list[tuple[int, int, str | None, int]]:
    """(first body line, last line, name, first signature line), 1-based, in order."""
    out = []
    n = len(lines)
    # the lines that can open a body (a "{" somewhere) and those that close one ("}" in
    # column 0), picked out once; the walk below then jumps from one to the next
    text = "\n".join(lines)
    cands = _lines_with(text, "{")
    closes = _lines_starting(text, "}")
    i = 0
    for c in cands:
        if c < i:
            continue
        i = c
        ln = lines[i]
        opens_alone = ln.startswith("{")
        opens_inline = (not opens_alone and ln[:1] not in ("", " ", "\t", "#", "/", "*", "}")
                        and ln.rstrip().endswith("{") and "(" in ln and "=" not in ln
                        and not ln.startswith(("struct", "union", "enum", "typedef")))
        if not (opens_alone or opens_inline):
            continue
        j = i - 1 if opens_alone else i
        sig_lines = []
        if opens_inline:
            sig_lines.append(ln.rstrip()[:-1])
            j = i - 1
        while j >= 0 and len(sig_lines) < 12:
            s = lines[j]
            if _SIG_STOP.search(s) and not s.rstrip().endswith(","):
                break
            if s.startswith("}") :
                break
            sig_lines.insert(0, s)
            j -= 1
        sig = " ".join(sig_lines)
        name = name_from_signature(sig) if not sig.rstrip().endswith("=") else None
        if opens_alone and ln.count("{") == ln.count("}"):
            k = i                                  # `{}` or `{ return 0; }` on one line
        else:
            x = bisect.bisect_right(closes, i)
            k = closes[x] if x < len(closes) else n
        out.append((i + 1, k + 1, name, j + 2))
        i = k + 1
    return out


def _lines_with(text: str, ch: str) -> list[int]:
    """The 0-based numbers of the lines of TEXT that hold CH, found with str.find (one
    step per such line, not per line: most lines of C have no brace)."""
    out = []
    row, last = 0, 0
    find, count = text.find, text.count
    i = find(ch)
    while i >= 0:
        row += count("\n", last, i)
        out.append(row)
        last = find("\n", i)
        if last < 0:
            break
        i = find(ch, last)
    return out


def _lines_starting(text: str, ch: str) -> list[int]:
    """The 0-based numbers of the lines of TEXT that begin with CH."""
    out = [0] if text.startswith(ch) else []
    row, last = 0, 0
    find, count = text.find, text.count
    needle = "\n" + ch
    i = find(needle)
    while i >= 0:
        row += count("\n", last, i + 1)
        out.append(row)
        last = i + 1
        i = find(needle, last)
    return out


_PAREN = re.compile(r"[()]")


def _after_close(s: str, start: int) -> int:
    """The index after the ")" that closes a "(" just before START, or len(S)."""
    depth = 1
    for m in _PAREN.finditer(s, start):
        depth += 1 if m.group() == "(" else -1
        if not depth:
            return m.end()
    return len(s)


def name_from_signature(sig: str) -> str | None:
    sig = COMMENT.sub(" ", sig)
    if "(" not in sig:
        return None
    best = None
    for m in _CALLLIKE.finditer(sig):
        name = m.group(1)
        k = _after_close(sig, m.end())
        inner = sig[m.end():k - 1]
        before = sig[:m.start()]
        if before.count("(") != before.count(")"):
            continue                                   # nested, not depth 0
        if name in ("if", "for", "while", "switch", "return", "sizeof"):
            return None
        if _MACRO_DEF_FN.match(name):
            first = inner.split(",")[0].strip()
            if re.fullmatch(r"\w+", first):
                return ("__do_sys_" + first) if "SYSCALL" in name else first
            return name
        if looks_like_params(inner):
            best = name
            break
    return best


def looks_like_params(inner: str) -> bool:
    inner = inner.strip()
    if inner in ("", "void", "..."):
        return True
    for part in split_top(inner):
        part = part.strip()
        if part == "...":
            continue
        if _NOT_PARAM.search(part):
            return False
        words = _WORD.findall(part)
        if len(words) >= 2 or "*" in part or "(" in part:
            return True
    return False


def call_args(text: str, start: int) -> list[str]:
    """The top-level arguments of the call whose "(" ends just before START."""
    k = _after_close(text, start)
    inner = text[start:k - 1]
    return split_top(inner) if inner.strip() else []


def split_top(s: str) -> list[str]:
    """S split at its commas outside brackets."""
    if "," not in s:
        return [s]
    parts, depth, last = [], 0, 0
    for m in _SPLIT_CH.finditer(s):
        ch = m.group()
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0:
            parts.append(s[last:m.start()])
            last = m.end()
    parts.append(s[last:])
    return parts


_SPLIT_CH = re.compile(r"[(\[{)\]},]")
_NOT_PARAM = re.compile(r"[&.]|->|^\d|\"")
_WORD = re.compile(r"[A-Za-z_]\w*")



# --------------------------------------------------------------------------------------
_DEFINE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+(\w+)(\([^)]*\))?(.*)$")
_MACRO_KEEP = re.compile(r"skb|drop|reason|consume")
_PASTE_KEEP = re.compile(r"SKB_|DROP|reason")


def function_macros(text: str):
    """(line, name, params, body) of every function-like `#define`, continuation lines
    joined, the body as written (comments kept), in file order."""
    return iter(_function_macros(text))


@lru_cache(maxsize=2)
def _function_macros(text: str) -> tuple[tuple[int, str, tuple[str, ...], str], ...]:
    # computed once per file (macro_facts and statement_macros both ask), visiting only
    # the lines that hold "define"
    if "define" not in text:
        return ()
    lines = text.split("\n")
    out = []
    line, last, next_line = 0, 0, 0
    for m in _DEFINE_WORD.finditer(text):
        line += text.count("\n", last, m.start())
        last = m.start()
        if line < next_line:
            continue                       # a second "define" on a line, or a continuation
        i = line
        dm = _DEFINE.match(lines[i])
        if dm:
            body = dm.group(3)
            while body.endswith("\\") and i + 1 < len(lines):
                i += 1
                body = body[:-1] + " " + lines[i]
            if dm.group(2) is not None:
                params = tuple(p.strip() for p in dm.group(2)[1:-1].split(",") if p.strip())
                out.append((line + 1, dm.group(1), params, body))
        next_line = i + 1
    return tuple(out)


_DEFINE_WORD = re.compile("define")


def macro_facts(text: str) -> list[MacroFact]:
    out = []
    if "define" not in text:
        return out
    for line, name, params, body in function_macros(text):
        # calls of the family, accessors, and token pasting of reason names
        # (`#define FQDR(reason) SKB_DROP_REASON_FQ_##reason`)
        if ("(" in body and _MACRO_KEEP.search(body)) or ("##" in body and _PASTE_KEEP.search(body)):
            body = COMMENT.sub(" ", body).strip()
            out.append(MacroFact(name=name, params=params, body=body, line=line,
                                 calls=macro_calls(body), sole_call=sole_call(body)))
    return out


_BODY_CALL = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
_SOLE_CALL = re.compile(r"^\s*\(*\s*([A-Za-z_]\w*)\s*\((.*)\)\s*\)*\s*;?\s*$", re.S)


def macro_calls(body: str) -> tuple[MacroCall, ...]:
    """Every `name(...)` written in a macro body, with its argument texts."""
    return tuple(MacroCall(m.group(1), tuple(a.strip() for a in call_args(body, m.end())))
                 for m in _BODY_CALL.finditer(body))


def sole_call(body: str) -> MacroCall | None:
    """The call a macro body consists of (``(foo(a, b))``, ``foo(a);``), else None."""
    m = _SOLE_CALL.match(body.strip())
    if m is None:
        return None
    return MacroCall(m.group(1), tuple(a.strip() for a in split_top(m.group(2))))


# --------------------------------------------------------------------------------------
# Lines of C a patch adds (``check``): what they name.

IDENT = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\b")
_REASON_TOKEN = re.compile(r"\b(SKB_DROP_REASON_[A-Z0-9_]+|SKB_CONSUMED|SKB_NOT_DROPPED_YET)\b"
                           r"|\bSKB_DR_(?:SET|OR|INIT)\(\s*\w+\s*,\s*([A-Z0-9_]+)\s*\)")


def identifiers(text: str) -> list[str]:
    return IDENT.findall(text)


def names_any(text: str, names) -> bool:
    """TEXT names one of NAMES as a whole word."""
    names = sorted(n for n in names if n)
    return bool(names) and re.search(r"\b(" + "|".join(map(re.escape, names)) + r")\b",
                                     text) is not None


def calls_any(text: str, names) -> bool:
    """TEXT calls one of NAMES."""
    names = sorted(n for n in names if n)
    return bool(names) and re.search(r"\b(" + "|".join(map(re.escape, names)) + r")\s*\(",
                                     text) is not None


def reason_mentions(line: str) -> list[tuple[str, str | None, int]]:
    """Drop reasons a line of code names, outside comments and #define/#undef lines:
    (enumerator, the short name when written ``SKB_DR_SET(var, SHORT)`` else None,
    1-based column)."""
    code = COMMENT.sub(" ", line)
    if code.lstrip().startswith(("*", "/*", "#define", "#undef")):
        return []
    return [(m.group(1) or f"SKB_DROP_REASON_{m.group(2)}", m.group(2), m.start() + 1)
            for m in _REASON_TOKEN.finditer(code)]


def call_positions(read, wanted) -> dict[tuple[str, int, str], tuple[int, str]]:
    """(file, line, callee) -> (1-based column of ``callee(`` on that line, 0 if not
    there; the stripped line) for WANTED, reading each file once with READ (path ->
    bytes). Lines past the end, and files READ cannot give, are left out."""
    out: dict[tuple[str, int, str], tuple[int, str]] = {}
    lines_of: dict[str, list[str]] = {}
    for file, line, callee in wanted:
        if file not in lines_of:
            try:
                lines_of[file] = read(file).decode("utf-8", "replace").split("\n")
            except Exception:  # noqa: BLE001 - a missing line is not worth failing for
                lines_of[file] = [""]
        lines = lines_of[file]
        if 0 < line <= len(lines):
            src = lines[line - 1]
            out[(file, line, callee)] = (src.find(callee + "(") + 1, src.strip())
    return out


# --------------------------------------------------------------------------------------
_STATEMENT_BODY = re.compile(r"^\s*(?:do\b|\{)")
_ASSIGNED_LOCAL = re.compile(r"(?<![.>\w])\s*([a-z_]\w*)\s*=(?!=)")


def statement_macros(text: str) -> dict[str, list[tuple[int, tuple[str, ...], str]]]:
    """Function-like macros whose body is a statement with an effect on the caller's
    variables or control (`#define CALL_RXH(rxh) do { res = rxh(rx); if (res != RX_CONTINUE)
    goto rxh_next; } while (0)`): name -> [(line, params, body)], in file order."""
    out: dict[str, list] = {}
    if "#" not in text or "define" not in text:
        return out
    for line, name, params, body in function_macros(text):
        body = COMMENT.sub(" ", body).strip()
        if _STATEMENT_BODY.match(body) and "#" not in body:
            # it assigns a variable of its user (not a parameter, not a field) or
            # jumps to a label of its user
            if "..." not in params and ("goto" in body or any(
                    n not in params for n in _ASSIGNED_LOCAL.findall(body))):
                out.setdefault(name, []).append((line, params, body))
    return out
