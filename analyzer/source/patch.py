"""Patches: read a patch or a series, apply unified diffs in memory.

The diff text is parsed with :mod:`unidiff`; nothing here writes to a working tree.
A patch series is several patches in one mbox (``git format-patch --stdout``), a
directory of ``git format-patch`` files, or the commits of a git range.

Applying keeps the line bookkeeping the checker needs: for every line of the new
file that appears in the diff, its line number in the patch text (checkpatch's
``#LINE``), which new lines were added, which old lines were removed, and the old to
new line map for unchanged lines.
"""
from __future__ import annotations

import difflib
import email
import email.header
import email.policy
import os
import re
import subprocess
from dataclasses import dataclass, field

import unidiff
from unidiff.constants import LINE_TYPE_NO_NEWLINE

from analyzer.errors import InputError

DEV_NULL = "/dev/null"
_GIT_FROM = re.compile(r"^From [0-9a-f]{40} ", re.M)
_MBOX_FROM = re.compile(r"^From \S+ .*\d{4}$", re.M)


class PatchError(InputError):
    """A patch that cannot be read or does not apply (exit 2)."""


# --- the patch as data --------------------------------------------------------------

@dataclass(frozen=True)
class DiffLine:
    kind: str                 # " " context, "-" removed, "+" added
    text: str                 # without the prefix, without the line end
    old_no: int | None        # 1-based line in the old file
    new_no: int | None        # 1-based line in the new file
    patch_no: int             # 1-based line in the patch text (0 if unknown)
    eol: bool = True          # False after "\ No newline at end of file"


@dataclass(frozen=True)
class Hunk:
    index: int                # 1-based within its file
    header: str               # "@@ -a,b +c,d @@"
    old_start: int
    old_len: int
    new_start: int
    new_len: int
    lines: tuple[DiffLine, ...]


@dataclass(frozen=True)
class FileChange:
    old_path: str | None      # None for a new file
    new_path: str | None      # None for a deleted file
    hunks: tuple[Hunk, ...]
    binary: bool = False

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or "?"


@dataclass(frozen=True)
class Patch:
    name: str                 # file name, "<stdin>", or a commit id
    subject: str
    files: tuple[FileChange, ...]
    uri: str | None = None    # the patch file, when it is one (for SARIF)
    line_offset: int = 0      # lines before this patch in its file (mbox series)

    def paths(self) -> tuple[str, ...]:
        out: list[str] = []
        for f in self.files:
            for p in (f.old_path, f.new_path):
                if p and p not in out:
                    out.append(p)
        return tuple(out)


@dataclass(frozen=True)
class AppliedFile:
    """One file after the patch: text and the line bookkeeping."""
    old_path: str | None
    new_path: str | None
    old_text: str | None
    new_text: str | None
    added: frozenset[int]                 # new line numbers added by the patch
    removed: frozenset[int]               # old line numbers removed by the patch
    old_to_new: dict[int, int]            # unchanged lines (whole file)
    patch_line_new: dict[int, int]        # new line -> patch line (lines shown in the diff)
    patch_line_old: dict[int, int]        # old line -> patch line (removed and context lines)

    def new_line(self, n: int) -> str:
        return nth_line(self.new_text, n)

    def old_line(self, n: int) -> str:
        return nth_line(self.old_text, n)


def nth_line(text: str | None, n: int) -> str:
    if not text or n < 1:
        return ""
    lines = text.split("\n")
    return lines[n - 1] if n <= len(lines) else ""


# --- parsing ----------------------------------------------------------------------

def _strip_prefix(p: str | None) -> str | None:
    if p is None:
        return None
    p = p.strip()
    if p == DEV_NULL or not p:
        return None
    if p.startswith('"') and p.endswith('"'):
        p = p[1:-1]
    if p[:2] in ("a/", "b/"):
        p = p[2:]
    return p


def _inside(p: str | None, name: str) -> str | None:
    """A patch names files of the tree: an absolute path or one with `..` is refused (the
    patch is bad input), so nothing outside the base is ever read."""
    if p is None:
        return None
    parts = p.replace("\\", "/").split("/")
    if p.startswith("/") or ".." in parts or "\0" in p:
        raise PatchError(f"{name}: {p}: path outside the tree")
    return p


def parse_patch(text: str, name: str, *, subject: str = "", uri: str | None = None,
                line_offset: int = 0, allow_empty: bool = False) -> Patch:
    """Parse one patch (mail headers, commit message and diffstat are skipped)."""
    try:
        ps = unidiff.PatchSet(text)
    except unidiff.UnidiffParseError as e:
        raise PatchError(f"{name}: not a unified diff: {e}") from None
    files = []
    for pf in ps:
        old = None if pf.is_added_file else _inside(_strip_prefix(pf.source_file), name)
        new = None if pf.is_removed_file else _inside(_strip_prefix(pf.target_file), name)
        hunks = []
        for i, h in enumerate(pf, 1):
            lines: list[DiffLine] = []
            for ln in h:
                if ln.line_type == LINE_TYPE_NO_NEWLINE:
                    if lines:
                        last = lines[-1]
                        lines[-1] = DiffLine(last.kind, last.text, last.old_no, last.new_no,
                                             last.patch_no, eol=False)
                    continue
                if ln.line_type not in (" ", "-", "+"):
                    continue
                value = ln.value[:-1] if ln.value.endswith("\n") else ln.value
                patch_no = ln.diff_line_no + line_offset if ln.diff_line_no else 0
                lines.append(DiffLine(ln.line_type, value, ln.source_line_no,
                                      ln.target_line_no, patch_no))
            header = (f"@@ -{h.source_start},{h.source_length} "
                      f"+{h.target_start},{h.target_length} @@")
            hunks.append(Hunk(i, header, h.source_start, h.source_length, h.target_start,
                              h.target_length, tuple(lines)))
        files.append(FileChange(old, new, tuple(hunks), binary=bool(pf.is_binary_file)))
    if not files and not allow_empty:
        raise PatchError(f"{name}: no diff found")
    if not subject:
        subject = _subject_of(text)
    return Patch(name=name, subject=subject, files=tuple(files), uri=uri, line_offset=line_offset)


def _subject_of(text: str) -> str:
    m = re.search(r"^Subject:\s*(.*(?:\n[ \t].*)*)", text, re.M)
    if not m:
        return ""
    raw = " ".join(part.strip() for part in m.group(1).split("\n"))
    try:
        return str(email.header.make_header(email.header.decode_header(raw)))
    except Exception:  # noqa: BLE001 - a broken header is still a usable subject
        return raw


def _mail_body(chunk: str) -> tuple[str, str, bool]:
    """(subject, text to diff-parse, exact): decode a mail if its body is encoded."""
    if not re.match(r"^(From |[A-Za-z-]+: )", chunk):
        return "", chunk, True
    msg = email.message_from_string(chunk, policy=email.policy.compat32)
    subject = _subject_of(chunk)
    cte = (msg.get("Content-Transfer-Encoding") or "").lower()
    if msg.is_multipart() or cte in ("base64", "quoted-printable"):
        parts = [p for p in msg.walk() if not p.is_multipart()]
        texts = []
        for p in parts:
            payload = p.get_payload(decode=True) or b""
            texts.append(payload.decode("utf-8", "surrogateescape"))
        return subject, "\n".join(texts), False
    return subject, chunk, True


def split_series(text: str) -> list[tuple[int, str]]:
    """Split an mbox into (line offset, text) chunks, one per message."""
    starts = [m.start() for m in _GIT_FROM.finditer(text)]
    if len(starts) < 2:
        starts = [m.start() for m in _MBOX_FROM.finditer(text)]
    if len(starts) < 2:
        return [(0, text)]
    if starts[0] != 0 and text[:starts[0]].strip():
        starts.insert(0, 0)
    out = []
    for i, s in enumerate(starts):
        e = starts[i + 1] if i + 1 < len(starts) else len(text)
        out.append((text.count("\n", 0, s), text[s:e]))
    return out


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def read_series(spec: str, *, stdin=None) -> list[Patch]:
    """Patches from FILE (one patch or an mbox), DIR (format-patch files) or '-'."""
    if spec == "-":
        import sys
        data = (stdin or sys.stdin.buffer).read()
        return _patches_from_text(_decode(data), "<stdin>", None)
    if os.path.isdir(spec):
        names = sorted(n for n in os.listdir(spec)
                       if n.endswith((".patch", ".diff", ".mbox", ".eml"))
                       and os.path.isfile(os.path.join(spec, n)))
        if not names:
            raise PatchError(f"{spec}: no *.patch or *.diff files in this directory")
        out: list[Patch] = []
        for n in names:
            p = os.path.join(spec, n)
            out.extend(_patches_from_text(_read(p), p, p))
        return out
    if not os.path.exists(spec):
        raise PatchError(f"{spec}: no such file")
    return _patches_from_text(_read(spec), spec, spec)


def _read(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return _decode(f.read())
    except OSError as e:
        raise PatchError(f"{path}: {e.strerror}") from None


def _patches_from_text(text: str, name: str, uri: str | None) -> list[Patch]:
    chunks = split_series(text)
    out = []
    for i, (offset, chunk) in enumerate(chunks, 1):
        subject, body, exact = _mail_body(chunk)
        pname = name if len(chunks) == 1 else f"{name}#{i}"
        patch = parse_patch(body, pname, subject=subject, uri=uri,
                            line_offset=offset if exact else 0)
        if not exact:  # decoded body: line numbers are the decoded text's
            patch = Patch(patch.name, patch.subject, patch.files, uri=None, line_offset=0)
        out.append(patch)
    return out


# --- git ----------------------------------------------------------------------------

def _git(repo: str, *args: str) -> str:
    try:
        r = subprocess.run(["git", "-C", repo, "-c", "core.quotePath=false", *args],
                           capture_output=True, check=False)
    except FileNotFoundError:
        raise PatchError("git is not installed") from None
    if r.returncode != 0:
        msg = _decode(r.stderr).strip().splitlines()
        raise PatchError(f"git {' '.join(args[:2])}: {msg[-1] if msg else 'failed'}")
    return _decode(r.stdout)


def git_range(repo: str, rng: str, *, squash: bool = False) -> tuple[str, list[Patch]]:
    """(base revision, patches) for BASE..HEAD in REPO; one patch per commit, or one."""
    if not os.path.isdir(repo):
        raise PatchError(f"{repo}: not a directory")
    if ".." not in rng or rng.startswith("..") or rng.endswith(".."):
        raise PatchError(f"{rng}: expected a range BASE..HEAD")
    base, head = rng.split("...", 1) if "..." in rng else rng.split("..", 1)
    base_id = _git(repo, "rev-parse", "--verify", "-q", base + "^{commit}").strip()
    head_id = _git(repo, "rev-parse", "--verify", "-q", head + "^{commit}").strip()
    diff_opts = ("--no-color", "--no-ext-diff", "--no-renames", "--full-index", "-U3")
    if squash:
        text = _git(repo, "diff", *diff_opts, base_id, head_id)
        return base_id, [parse_patch(text, f"{base_id[:12]}..{head_id[:12]}",
                                     subject=f"squash of {rng}", allow_empty=True)]
    commits = _git(repo, "rev-list", "--reverse", "--first-parent",
                   f"{base_id}..{head_id}").split()
    out = []
    for c in commits:
        subject = _git(repo, "log", "-1", "--format=%s", c).strip()
        text = _git(repo, "diff", *diff_opts, f"{c}^", c)
        out.append(parse_patch(text, c[:12], subject=subject, allow_empty=True))
    return base_id, out


# --- applying ------------------------------------------------------------------------

def _split(text: str) -> tuple[list[str], bool]:
    """Lines without ends, and whether the text ends with a newline."""
    if text == "":
        return [], True
    ends = text.endswith("\n")
    lines = text.split("\n")
    if ends:
        lines.pop()
    return lines, ends


def apply_file(fc: FileChange, old_text: str | None, patch_name: str = "") -> AppliedFile:
    """Apply one file's hunks to ``old_text`` (None for a new file)."""
    where = f"{patch_name}: " if patch_name else ""
    if fc.old_path is not None and old_text is None:
        raise PatchError(f"{where}{fc.old_path}: the file does not exist in the base tree")
    if fc.old_path is None and old_text is not None:
        raise PatchError(f"{where}{fc.new_path}: the patch creates a file that already exists")
    old_lines, old_eol = _split(old_text or "")
    new_lines: list[str] = []
    new_eol = old_eol
    added: set[int] = set()
    removed: set[int] = set()
    old_to_new: dict[int, int] = {}
    pl_new: dict[int, int] = {}
    pl_old: dict[int, int] = {}
    pos = 0            # next old line (0-based) not yet copied
    offset = 0         # how far the hunks moved so far
    for h in fc.hunks:
        want = [ln.text for ln in h.lines if ln.kind in (" ", "-")]
        # the stated place (0-based); an empty old side means "insert after old_start"
        stated = (h.old_start - 1 if h.old_len else h.old_start) + offset
        at = _find(old_lines, want, stated, pos)
        if at is None:
            raise PatchError(
                f"{where}{fc.old_path or fc.new_path}: hunk #{h.index} ({h.header}) does not "
                f"apply: {_why(old_lines, want, max(stated, pos))}")
        offset = at - (h.old_start - 1 if h.old_len else h.old_start)
        while pos < at:                       # unchanged lines before the hunk
            new_lines.append(old_lines[pos])
            old_to_new[pos + 1] = len(new_lines)
            pos += 1
        for ln in h.lines:
            if ln.kind == " ":
                new_lines.append(old_lines[pos])
                old_to_new[pos + 1] = len(new_lines)
                pl_new[len(new_lines)] = ln.patch_no
                pl_old[pos + 1] = ln.patch_no
                pos += 1
            elif ln.kind == "-":
                removed.add(pos + 1)
                pl_old[pos + 1] = ln.patch_no
                pos += 1
            else:
                new_lines.append(ln.text)
                added.add(len(new_lines))
                pl_new[len(new_lines)] = ln.patch_no
        last_new = [ln for ln in h.lines if ln.kind in (" ", "+")]
        if last_new and pos >= len(old_lines):
            new_eol = last_new[-1].eol
    while pos < len(old_lines):
        new_lines.append(old_lines[pos])
        old_to_new[pos + 1] = len(new_lines)
        pos += 1
    if fc.new_path is None:
        new_text = None
        if new_lines:
            raise PatchError(f"{where}{fc.old_path}: the patch deletes the file but "
                             f"{len(new_lines)} lines would remain")
    else:
        new_text = "\n".join(new_lines) + ("\n" if new_lines and new_eol else "")
    return AppliedFile(fc.old_path, fc.new_path, old_text, new_text, frozenset(added),
                       frozenset(removed), old_to_new, pl_new, pl_old)


def _find(lines: list[str], want: list[str], stated: int, lo: int) -> int | None:
    """Where ``want`` matches ``lines``: at ``stated`` or the nearest place (no fuzz)."""
    n = len(want)
    hi = len(lines) - n
    if n == 0:
        return min(max(stated, lo), len(lines))
    stated = min(max(stated, lo), max(hi, lo))
    for d in range(0, max(hi - lo, 0) + 1):
        for at in ((stated - d, stated + d) if d else (stated,)):
            if lo <= at <= hi and lines[at:at + n] == want:
                return at
    return None


def _why(lines: list[str], want: list[str], at: int) -> str:
    for i, w in enumerate(want):
        j = at + i
        if j >= len(lines):
            return f"the file has only {len(lines)} lines"
        if lines[j] != w:
            return f"line {j + 1} differs (expected {w.strip()[:60]!r})"
    return "the context is not found"


@dataclass
class PatchedTree:
    """The base's file texts with patches applied on top, in memory."""
    read_base: object                       # callable(path) -> str | None
    texts: dict[str, str | None] = field(default_factory=dict)   # path -> current text

    def current(self, path: str) -> str | None:
        if path in self.texts:
            return self.texts[path]
        return self.read_base(path)

    def apply(self, patch: Patch, only=None) -> dict[str, AppliedFile]:
        """Apply ``patch`` (files for which ``only(path)`` holds); returns the applied files
        keyed by their new path (old path for deletions)."""
        out: dict[str, AppliedFile] = {}
        staged: dict[str, str | None] = {}
        for fc in patch.files:
            if fc.binary or not fc.hunks and fc.old_path and fc.new_path == fc.old_path:
                continue
            if only is not None and not only(fc.path):
                continue
            old = None
            if fc.old_path is not None:
                old = staged[fc.old_path] if fc.old_path in staged else self.current(fc.old_path)
            af = apply_file(fc, old, patch.name)
            if fc.old_path and fc.old_path != fc.new_path:
                staged[fc.old_path] = None
            if fc.new_path:
                staged[fc.new_path] = af.new_text
            out[fc.path] = af
        self.texts.update(staged)
        return out


def synthetic_patch(name: str, before: dict[str, str | None], after: dict[str, str | None],
                    subject: str = "") -> Patch:
    """One patch from whole-file texts (used to squash a series): diff, then parse."""
    parts = []
    for path in sorted(set(before) | set(after)):
        a, b = before.get(path), after.get(path)
        if a == b:
            continue
        al = (a or "").splitlines(keepends=True)
        bl = (b or "").splitlines(keepends=True)
        for seq in (al, bl):
            if seq and not seq[-1].endswith("\n"):
                seq[-1] += "\n\\ No newline at end of file\n"
        parts.append(f"diff --git a/{path} b/{path}\n")
        if a is None:
            parts.append("new file mode 100644\n")
        elif b is None:
            parts.append("deleted file mode 100644\n")
        parts.extend(difflib.unified_diff(al, bl, fromfile=f"a/{path}" if a is not None else DEV_NULL,
                                          tofile=f"b/{path}" if b is not None else DEV_NULL, n=3))
    if not parts:
        return Patch(name=name, subject=subject, files=())
    # the diff text exists only here: its line numbers mean nothing to the user
    from dataclasses import replace
    p = parse_patch("".join(parts), name, subject=subject)
    files = tuple(replace(f, hunks=tuple(replace(h, lines=tuple(replace(ln, patch_no=0)
                                                                for ln in h.lines))
                                         for h in f.hunks)) for f in p.files)
    return replace(p, files=files)
