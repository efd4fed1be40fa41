"""`skbdrop scan KERNEL`: the analysis JSON."""
from __future__ import annotations

import sys

from analyzer import timing
from analyzer.formats import atomic
from analyzer.pipeline import scan


def command(args) -> int:
    if getattr(args, "timings", False):
        timing.enable()
    a = scan(args.kernel, jobs=args.jobs, use_cache=not args.no_cache, progress=True,
             require_sources=True)
    for s in a.files.skipped:
        sys.stderr.write(f"skbdrop: warning: skipped {s.file}: {s.error}\n")
    with timing.stage("json"):
        text = a.to_json()
    with timing.stage("write"):
        atomic.write_output(args.output, text)
    timing.report()
    if args.output != "-" and sys.stderr.isatty():
        s = a.summary
        sys.stderr.write(f"{a.kernel.version}: {s.drop_sites} drop sites ({s.with_reason} with a reason, "
                         f"{s.unspecified} unspecified), {s.consume_sites} consume sites, "
                         f"{len(a.reasons)} reasons -> {args.output}\n")
    return 0
