"""`skbdrop scan KERNEL`: the analysis JSON."""
from __future__ import annotations

import sys

import msgspec

from analyzer import timing
from analyzer.formats import atomic
from analyzer.model import FilesInfo, KernelInfo, Summary
from analyzer.pipeline import scan_text


class _Head(msgspec.Struct):
    """What this command prints besides the JSON (skipped files, the summary line), read
    back from the text: a rescan answered by the analysis cache has no Analysis object."""
    files: FilesInfo
    summary: Summary
    kernel: KernelInfo
    reasons: list[msgspec.Raw]


def command(args) -> int:
    if getattr(args, "timings", False):
        timing.enable()
    text = scan_text(args.kernel, jobs=args.jobs, use_cache=not args.no_cache, progress=True)
    with timing.stage("write"):
        atomic.write_output(args.output, text)
    timing.report()
    a = msgspec.json.decode(text, type=_Head)
    for s in a.files.skipped:
        sys.stderr.write(f"skbdrop: warning: skipped {s.file}: {s.error}\n")
    if args.output != "-" and sys.stderr.isatty():
        s = a.summary
        sys.stderr.write(f"{a.kernel.version}: {s.drop_sites} drop sites ({s.with_reason} with a reason, "
                         f"{s.unspecified} unspecified), {s.consume_sites} consume sites, "
                         f"{len(a.reasons)} reasons -> {args.output}\n")
    return 0
