"""Thin CLI: parse arguments, call one function, map known errors to exit codes.

Exit codes: 0 success; 1 findings (check, verify, diff --fail-on); 2 usage or input
error (one line on stderr); 3 internal error; 130 interrupted (Ctrl-C: one line, no partial
output or temporary file left). A closed stdout (`| head`) ends the command quietly.
Each subcommand lives in its own module as ``command(args) -> int``.
"""
from __future__ import annotations

import os
import signal
import sys


def _interrupted() -> int:
    """The one line of a Ctrl-C, and its exit code. A second Ctrl-C must not add a
    traceback. Run as the program (``python -m analyzer.cli`` or the ``skbdrop`` script),
    the process leaves now with 130: everything it was doing has cleaned up on its way
    out (atomic writes, staged report directories, cache entries, stopped workers), and
    CPython would otherwise turn the exit into death by SIGINT when the Ctrl-C had landed
    inside code run by exec() of a string (dataclasses and namedtuple make their methods
    so), caught or not."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.stderr.write("skbdrop: interrupted\n")
    return 130


def _leave(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


try:
    import argparse
    import importlib

    from analyzer import __version__
    from analyzer.errors import InputError
    from analyzer.model.data import SCHEMA
except KeyboardInterrupt:              # Ctrl-C while the program is still loading
    # the program is `-m analyzer.cli` or the `skbdrop` script (whose wrapper imports
    # this module, then calls main); anyone else importing it gets the exception
    if __name__ != "__main__" and os.path.basename(sys.argv[0] or "") != "skbdrop":
        raise
    _leave(_interrupted())

# subcommand -> module implementing ``command(args) -> int``
MODULES = {
    "scan": "analyzer.commands.scan",
    "report": "analyzer.commands.report",
    "header": "analyzer.commands.header",
    "export": "analyzer.commands.export",
    "verify": "analyzer.commands.verify",
    "diff": "analyzer.commands.diff",
    "check": "analyzer.commands.check",
    "explain": "analyzer.commands.explain",
    "schema": "analyzer.commands.schema",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2
        sys.stderr.write(f"skbdrop: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="skbdrop", description="Where the Linux kernel drops packets, and why.")
    p.add_argument("--version", action="version",
                   version=f"skbdrop {__version__} (analysis schema {SCHEMA})")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def common_scan(sp):
        sp.add_argument("--jobs", "-j", type=int, default=None,
                        help="worker processes (default: all cores)")
        sp.add_argument("--no-cache", action="store_true", help="do not read or write the cache")

    s = sub.add_parser("scan", help="analyse a kernel tree, write the analysis JSON")
    s.add_argument("kernel", metavar="KERNEL",
                   help="directory, .tar.xz/.tar.gz, REPO@REV, or debian:6.1|debian:6.12")
    s.add_argument("-o", "--output", default="-", help="output file (default: stdout)")
    s.add_argument("--timings", action="store_true",
                   help="print the wall time of each stage on stderr")
    common_scan(s)

    s = sub.add_parser("report", help="HTML coverage report per kernel version")
    s.add_argument("kernels", metavar="KERNEL", nargs="+", help="KERNEL specs or analysis.json files")
    s.add_argument("-o", "--output", required=True, metavar="DIR")
    common_scan(s)

    s = sub.add_parser("header", help="uapi-style C header of the reason table")
    s.add_argument("kernel", metavar="KERNEL|analysis.json")
    s.add_argument("-o", "--output", default="-")
    common_scan(s)

    s = sub.add_parser("export", help="reason or site table as JSON or CSV")
    s.add_argument("kernel", metavar="KERNEL|analysis.json")
    s.add_argument("--format", choices=["json", "csv"], default="json")
    s.add_argument("--table", choices=["reasons", "sites"], default="reasons")
    s.add_argument("-o", "--output", default="-")
    common_scan(s)

    s = sub.add_parser("verify", help="compare the catalogue with a running kernel's BTF or tracepoint")
    s.add_argument("kernel", metavar="KERNEL|analysis.json")
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--btf", metavar="FILE")
    g.add_argument("--tracefs-format", metavar="FILE")
    s.add_argument("--format", choices=["text", "json"], default="text")
    common_scan(s)

    s = sub.add_parser("diff", help="what changed between two kernels")
    s.add_argument("old", metavar="OLD")
    s.add_argument("new", metavar="NEW")
    s.add_argument("--format", choices=["text", "json"], default="text")
    s.add_argument("--fail-on", choices=["never", "renumbered", "removed", "any"], default="never")
    common_scan(s)

    s = sub.add_parser("check", help="judge a patch against its base tree")
    s.add_argument("--base", metavar="KERNEL")
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--patch", metavar="FILE|DIR|-")
    g.add_argument("--git", nargs=2, metavar=("REPO", "BASE..HEAD"))
    s.add_argument("--squash", action="store_true")
    s.add_argument("--format", choices=["text", "json", "sarif"], default="text")
    s.add_argument("--fail-on", choices=["error", "warning", "info", "never"], default="warning")
    s.add_argument("--paths", default="net/,drivers/net/,include/net/,include/linux/skbuff.h")
    s.add_argument("--terse", action="store_true")
    s.add_argument("-o", "--output", default="-")
    common_scan(s)

    s = sub.add_parser("explain", help="from a drop reason or runtime drop events to source sites")
    s.add_argument("kernel", metavar="KERNEL|analysis.json")
    s.add_argument("reason", nargs="?", metavar="REASON")
    s.add_argument("--trace", metavar="FILE|-")
    s.add_argument("--format", choices=["text", "json"], default="text")
    s.add_argument("-o", "--output", metavar="DIR")
    common_scan(s)

    s = sub.add_parser("schema", help="print a JSON Schema of skbdrop's JSON (no NAME: list them)")
    s.add_argument("name", nargs="?", metavar="NAME",
                   help="analysis, export-reasons, export-sites, check, explain, diff or verify")
    s.add_argument("-o", "--output", default="-")
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        code = _main(argv)
        if argv is None:
            # the program (not a caller in-process): the work is done and its output in
            # place; a Ctrl-C from here to the exit changes nothing
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        return code
    except KeyboardInterrupt:
        code = _interrupted()
        if argv is None:
            _leave(code)
        return code


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        mod = importlib.import_module(MODULES[args.cmd])
        code = int(mod.command(args) or 0)
        sys.stdout.flush()          # a closed pipe shows here, not at interpreter exit
        return code
    except InputError as e:
        sys.stderr.write("skbdrop: " + " ".join(str(e).split()) + "\n")
        return 2
    except BrokenPipeError:
        _stdout_to_devnull()
        return 0
    except Exception as e:  # noqa: BLE001 - last resort, no traceback for users
        if os.environ.get("SKBDROP_DEBUG"):
            raise
        sys.stderr.write(f"skbdrop: internal error: {type(e).__name__}: {e} "
                         "(rerun with SKBDROP_DEBUG=1 and report it)\n")
        return 3


def _stdout_to_devnull() -> None:
    """The reader went away (`| head`): what is still buffered goes nowhere, quietly,
    also when the interpreter flushes stdout on exit."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    raise SystemExit(main())
