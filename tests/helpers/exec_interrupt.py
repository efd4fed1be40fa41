"""Run as ``python -m exec_interrupt ARGS``: the skbdrop program, with a command whose
Ctrl-C lands inside code run by exec() of a string (as it may inside dataclasses or
namedtuple, which make their methods so). Used by tests/test_hostile.py."""
import analyzer.commands.schema as schema
from analyzer.cli import main


def _command(args):
    exec("raise KeyboardInterrupt")


schema.command = _command
raise SystemExit(main())
