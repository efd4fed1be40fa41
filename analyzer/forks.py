"""A function run in a forked child process while the parent goes on.

The child shares everything the parent has computed (copy-on-write), runs the job,
reports one line back on a pipe ("ok RESULT" or "error WHY") and leaves with os._exit:
no exit handlers, no buffered output of the parent written twice. The parent joins it
(its result, or its failure raised) or stops it (SIGTERM, then reaped). Used by the
report (function pages) and the scan (check's link index). Imports nothing of the
package. The caller must be single-threaded when it forks.
"""
from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable


class ChildFailed(RuntimeError):
    """The child's job raised, or the child died without reporting."""


class Child:
    def __init__(self, job: Callable[[], str | None]):
        """Fork and run JOB in the child; what it returns is join()'s result. A
        terminal's Ctrl-C reaches both: the child ends on its own (its job unfinished),
        the parent stops and reaps it."""
        for stream in (sys.stdout, sys.stderr):      # nothing buffered is written twice
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        r, w = os.pipe()
        # Ctrl-C is held off over the fork: the child must not take it before it is
        # inside its try (it would run on through the parent's code); each side lets
        # it in again once it is ready for it
        held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            pid = os.fork()
        except BaseException:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
            raise
        if pid == 0:                                   # the child: the job, one line, gone
            code = 1
            try:
                os.close(r)
                signal.pthread_sigmask(signal.SIG_SETMASK, held)
                os.write(w, ("ok " + (job() or "")).encode())
                code = 0
            except BaseException as e:                 # noqa: BLE001 - reported to the parent
                try:
                    os.write(w, f"error {type(e).__name__}: {e}".encode()[:4000])
                except OSError:
                    pass
            finally:
                os._exit(code)
        self.pid, self._r = pid, r
        os.close(w)
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)   # a Ctrl-C held off lands here
        except BaseException:
            self.stop()
            raise

    def join(self) -> str:
        """Wait for the child; its result, or ChildFailed. Interrupted while waiting:
        the child is stopped first."""
        chunks = []
        try:
            while True:
                b = os.read(self._r, 65536)
                if not b:
                    break
                chunks.append(b)
            _pid, status = os.waitpid(self.pid, 0)
        except BaseException:
            self.stop()
            raise
        finally:
            self._close()
        msg = b"".join(chunks).decode("utf-8", "replace")
        if os.waitstatus_to_exitcode(status) != 0 or not msg.startswith("ok "):
            raise ChildFailed(msg or f"exit status {status}")
        return msg[3:]

    def stop(self) -> None:
        """End the child now and reap it (a cache entry it was writing is removed: the
        cache's writes hold SIGTERM off until the file is whole or gone)."""
        try:
            os.kill(self.pid, signal.SIGTERM)
            os.waitpid(self.pid, 0)
        except (OSError, ChildProcessError):
            pass
        self._close()

    def _close(self) -> None:
        if self._r is not None:
            os.close(self._r)
            self._r = None
