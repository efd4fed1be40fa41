"""Writing a file whole or not at all: a temporary file beside the target, then rename.

The one place for both writers: the cache's entries (source/cache.py: a private
directory made on demand, Ctrl-C and SIGTERM held off) and the commands' outputs
(formats/atomic.py: the permissions a plain open() would give). Imports nothing of the
package, so any stage may use it.
"""
from __future__ import annotations

import os
import signal
import tempfile

_INTERRUPTS = {signal.SIGINT, signal.SIGTERM}


def replace_file(path: str, data: bytes, *, prefix: str, suffix: str,
                 make_dirs: int | None = None, umask_mode: bool = False,
                 hold_signals: bool = False) -> None:
    """Write DATA to a temporary file (PREFIX…SUFFIX) in PATH's directory, then rename it
    over PATH; on any failure or interrupt the temporary file is removed.

    make_dirs     create PATH's directory first, with this mode, when it is missing
    umask_mode    give the file the mode open() would (0o666 less the umask), not
                  mkstemp's 0o600
    hold_signals  hold off SIGINT and SIGTERM for the few system calls this takes (they
                  arrive right after), so an interrupt never leaves a temporary file
                  behind, whichever instruction it lands on
    """
    d = os.path.dirname(os.path.abspath(path))
    if make_dirs is not None:
        os.makedirs(d, mode=make_dirs, exist_ok=True)
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _INTERRUPTS) if hold_signals else None
    try:
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=d)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            if umask_mode:
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
    finally:
        if held is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
