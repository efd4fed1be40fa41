"""Atomic file output: write to a temporary file beside the target, then rename."""
from __future__ import annotations

import os
import sys
import tempfile


def write_text(path: str, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_output(path: str, text: str) -> None:
    """A command's output file (or "-"): a path that cannot be written is the user's
    input error (one line, exit 2), not an internal one."""
    from analyzer.errors import InputError
    if path != "-" and os.path.isdir(path):
        raise InputError(f"{path}: is a directory")
    try:
        write_text(path, text)
    except OSError as e:
        raise InputError(f"{path}: cannot write: {e.strerror or e}") from None


def write_bytes(path: str, data: bytes) -> None:
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".skbdrop-", suffix=".tmp", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
