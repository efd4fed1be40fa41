"""The cyclic garbage collector paused over work that builds or holds many small acyclic
objects (a tree's facts, the link, check's index, a loaded analysis): each of its full
passes walks all of them (0.5 s per pass over 6.12's facts) and frees nothing, while
reference counting still frees them. Imports nothing of the package."""
from __future__ import annotations

import gc
from contextlib import contextmanager


@contextmanager
def without_gc():
    """The collector off inside, back to what it was after (nesting is fine)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
