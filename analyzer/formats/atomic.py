"""Atomic file output: write to a temporary file beside the target, then rename
(analyzer.writes); "-" is standard output."""
from __future__ import annotations

import os
import sys

from analyzer.writes import replace_file


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
    replace_file(path, data, prefix=".skbdrop-", suffix=".tmp", umask_mode=True)
