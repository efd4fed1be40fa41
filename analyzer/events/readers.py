"""Readers for runtime drop events, streaming and aggregating as they go.

Formats, detected line by line (a stream may even mix them):

``tracefs``
    ``trace`` / ``trace_pipe`` lines of the ``skb:kfree_skb`` tracepoint::

        python3-7931 [001] ..s1. 441.13: kfree_skb: skbaddr=… rx_sk=… protocol=2048 location=tcp_v4_rcv+0x91/0x13f0 reason: NO_SOCKET

``perf``
    ``perf script`` of that event (``… skb:kfree_skb: skbaddr=… location=tcp_v4_rcv+0x91 reason: NO_SOCKET``),
    and ``perf trace -e skb:kfree_skb`` lines (``skb:kfree_skb(skbaddr: …, location: tcp_v4_rcv+0x91, …
    reason: NO_SOCKET)``).
``dropwatch``
    packet alert mode blocks (``drop at: SYMBOL+0xOFF/0xLEN (0xPC)`` … ``drop reason: NAME``,
    a blank line ends a block) and summary mode lines (``N drops at SYMBOL+off (0xPC) [software]``,
    no reason).
``pwru``
    text lines whose function column is ``kfree_skb_reason(REASON)`` /
    ``sk_skb_reason_drop(REASON)`` (or ``… (NUMBER)``), with the caller column of
    ``--output-caller`` after it; and ``--output-json`` lines with ``func`` / ``caller_func``.

A reason is kept as the text the tool printed (a name, ``0x10001`` or ``65537``); it is
decoded once per distinct value by the explainer, not per event.

Memory is bounded whatever the input length: events are folded into counts per
(function, reason) as they are read (``Aggregate``), only a few offsets and sample lines
are kept, input lines longer than ``MAX_LINE`` are skipped in chunks, and the number of
distinct keys is capped (``max_keys``; the excess is counted, not stored).
"""
from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from typing import BinaryIO

MAX_LINE = 16384          # bytes; longer lines are skipped as garbage
MAX_OFFSETS = 8           # distinct offsets remembered per key
MAX_KEYS = 100_000        # distinct (function, reason) pairs remembered
SAMPLE_LEN = 160

FORMATS = ("tracefs", "perf", "dropwatch", "pwru")

# skipped-line categories (all counted, none fatal)
NOT_EVENT = "not a drop event"
CONSUME = "consume event (not a drop)"
COMMENT = "comment or header"
BLANK = "blank"
TRUNCATED = "truncated or malformed drop event"
BINARY = "binary or undecodable"
OVERLONG = "overlong line"
HARDWARE = "hardware drop (no source site)"
LOST = "lost-events marker"

_LOC_REASON = re.compile(r"location=(\S*)(?:\s+\[(\w+)\])?(?:\s+reason:\s*(\S+))?")
_LOST = re.compile(r"\[LOST (\d+) EVENTS\]")
_PERF_TRACE = re.compile(r"location:\s*([^,\s)]+)(?:.*?\breason:\s*([\w]+))?")
_DW_SUMMARY = re.compile(r"^\s*(\d+) drops at (?:location )?(\S+)(?: \((0x[0-9a-fA-F]+)\))?(?: \[(\w+)\])?")
_DW_AT = re.compile(r"^drop at:\s+(\S+)(?:\s+\((.*)\))?")
_DW_REASON = re.compile(r"^(?:drop )?reason:\s*(\S+)")
_PWRU = re.compile(r"(?:kfree_skb_reason|sk_skb_reason_drop)\s?\(\s*([^()\s]+)\s*\)(?:\(\w+\))?(?:\s+(\S+))?")
_SYMBOL = re.compile(r"^[A-Za-z_][\w.]*(?:\+0x[0-9a-fA-F]+(?:/0x[0-9a-fA-F]+)?)?(?:\s?\[\w+\])?$")
_CLONE = re.compile(r"\.(?:cold|isra|constprop|part|llvm|lto_priv|localalias)(?:\.\d+)*")


@dataclass(frozen=True)
class Location:
    """A parsed ``%pS``-style location."""
    function: str | None        # None when the location is a bare address
    offset: int | None
    size: int | None
    module: str | None
    raw: str


def parse_location(text: str, module: str | None = None, hex_offset: bool = True) -> Location:
    """``tcp_v4_rcv+0x91/0x13f0`` → (tcp_v4_rcv, 0x91, 0x13f0). GCC clone suffixes
    (``.cold``, ``.isra.0``, ``.constprop.0`` …) are dropped: the source function is the
    one without them. A bare address gives ``function=None``."""
    t = text.strip()
    if t.startswith("[") and t.endswith("]"):
        t = t[1:-1]
    elif t.endswith("]") and "[" in t:          # "vxlan_xmit[vxlan]" (pwru), "f+0x1/0x2 [mod]"
        t, _, mod = t[:-1].rpartition("[")
        t = t.rstrip()
        module = module or mod
    name, plus, rest = t.partition("+")
    off = size = None
    if plus:
        o, slash, s = rest.partition("/")
        try:
            off = int(o, 16) if (hex_offset or o.startswith("0x")) else int(o)
            size = int(s, 16) if slash else None
        except ValueError:
            return Location(None, None, None, module, text)
    if not name or name.startswith("0x") or (len(name) >= 8 and all(c in "0123456789abcdefABCDEF" for c in name)):
        return Location(None, off, size, module, text)
    if not (name[0].isalpha() or name[0] == "_") or not all(c.isalnum() or c in "_." for c in name):
        return Location(None, off, size, module, text)
    if "." in name:
        name = _CLONE.sub("", name)
    return Location(name, off, size, module, text)


@dataclass
class Aggregate:
    """Counts per (function, reason text), folded in as events arrive."""
    max_keys: int = MAX_KEYS
    counts: dict = field(default_factory=dict)          # (function|None, reason|None) -> count
    offsets: dict = field(default_factory=dict)         # key -> [offset strings]
    modules: dict = field(default_factory=dict)         # function -> module
    formats: dict = field(default_factory=dict)         # format -> events
    skipped: dict = field(default_factory=dict)         # category -> lines
    samples: dict = field(default_factory=dict)         # category -> first line seen
    lines: int = 0
    events: int = 0
    dropped_keys: int = 0                               # events beyond max_keys distinct keys
    lost: int = 0                                       # events the tracer says it lost
    raw: dict = field(default_factory=dict)             # (fmt, location text, reason, module) -> count

    def add_raw(self, fmt: str, loc_text: str | None, reason: str | None, count: int = 1,
                module: str | None = None) -> None:
        """The per-event fast path: count the texts as printed; parsing the location is
        done once per distinct text, in ``fold``."""
        key = (fmt, loc_text, reason, module)
        raw = self.raw
        c = raw.get(key)
        if c is None:
            if len(raw) >= self.max_keys:
                self.fold()
                raw = self.raw
            raw[key] = count
        else:
            raw[key] = c + count
        self.events += count

    def fold(self) -> None:
        """Move the raw counts into ``counts`` (per function and reason)."""
        raw, self.raw = self.raw, {}
        for (fmt, loc_text, reason, module), n in raw.items():
            loc = parse_location(loc_text, module) if loc_text is not None else None
            self.add(fmt, loc, reason, n, counted=True)

    def add(self, fmt: str, loc: Location | None, reason: str | None, count: int = 1,
            counted: bool = False) -> None:
        func = loc.function if loc else None
        key = (func, reason)
        if not counted:
            self.events += count
        self.formats[fmt] = self.formats.get(fmt, 0) + count
        c = self.counts.get(key)
        if c is None:
            if len(self.counts) >= self.max_keys:
                self.dropped_keys += count
                return
            self.counts[key] = count
        else:
            self.counts[key] = c + count
        if loc is not None:
            if func is None:
                off = loc.raw
            elif loc.offset is None:
                off = None
            else:
                off = f"+0x{loc.offset:x}" + (f"/0x{loc.size:x}" if loc.size is not None else "")
            if off is not None:
                lst = self.offsets.get(key)
                if lst is None:
                    self.offsets[key] = [off]
                elif off not in lst and len(lst) < MAX_OFFSETS:
                    lst.append(off)
            if loc.module and func:
                self.modules.setdefault(func, loc.module)

    def skip(self, category: str, line: str) -> None:
        self.skipped[category] = self.skipped.get(category, 0) + 1
        if category not in self.samples:
            s = line.rstrip("\r\n")
            self.samples[category] = s[:SAMPLE_LEN] + ("…" if len(s) > SAMPLE_LEN else "")

    @property
    def detected(self) -> str:
        """The format(s) seen, most events first ("none" when there were no events)."""
        if not self.formats:
            return "none"
        return "+".join(k for k, _ in sorted(self.formats.items(), key=lambda kv: (-kv[1], kv[0])))


class Reader:
    """Feed lines (``feed``), then ``close``; ``aggregate`` holds the result."""

    def __init__(self, aggregate: Aggregate | None = None):
        self.agg = aggregate or Aggregate()
        self._dw: list | None = None        # pending dropwatch packet block: [loc, reason, hw]

    # -- dropwatch block state -------------------------------------------------------
    def _flush_dw(self) -> None:
        b = self._dw
        if b is None:
            return
        self._dw = None
        sym, reason, hw, line = b
        if hw:
            self.agg.skip(HARDWARE, line)
        else:
            self.agg.add_raw("dropwatch", sym, reason)

    def feed(self, line: str) -> None:
        agg = self.agg
        agg.lines += 1
        dw = self._dw
        if dw is not None:                      # inside a dropwatch packet block
            if line.startswith("drop reason:") or line.startswith("reason:"):
                m = _DW_REASON.match(line)
                if m:
                    dw[1] = m.group(1)
                    return
            elif not line or line.isspace():
                self._flush_dw()
                return
            elif (":" in line and not line.startswith("drop at:") and not line.startswith("{")
                  and "kfree_skb" not in line and "reason_drop" not in line):
                if line.startswith("origin:") and "hardware" in line:
                    dw[2] = True
                return                          # origin:, timestamp:, protocol:, length: …
            self._flush_dw()
        if "kfree_skb:" in line:
            m = _LOC_REASON.search(line)
            if m is None or not m.group(1) or m.group(3) is None:
                agg.skip(TRUNCATED, line)
                return
            agg.add_raw("perf" if "skb:kfree_skb:" in line else "tracefs", m.group(1), m.group(3), 1,
                        m.group(2))
            return
        if "skb:kfree_skb(" in line:            # perf trace -e skb:kfree_skb
            m = _PERF_TRACE.search(line)
            if m is None or m.group(2) is None:
                agg.skip(TRUNCATED, line)
                return
            agg.add_raw("perf", m.group(1), m.group(2))
            return
        s = line.strip()
        if not s:
            agg.skip(BLANK, line)
            return
        if s.startswith("drop at:"):
            m = _DW_AT.match(s)
            if m is None:
                agg.skip(TRUNCATED, line)
                return
            sym, paren = m.group(1), m.group(2) or ""
            hw = not paren.startswith("0x") and bool(paren)     # "drop at: TRAP (GROUP)" = hardware
            self._dw = [sym, None, hw, line]
            return
        if " drops at " in s:
            m = _DW_SUMMARY.match(s)
            if m is None:
                agg.skip(TRUNCATED, line)
                return
            if m.group(4) == "hardware":
                agg.skip(HARDWARE, line)
                return
            agg.add_raw("dropwatch", m.group(2), None, int(m.group(1)))
            return
        i = s.find("sk_skb_reason_drop")
        if i < 0:
            i = s.find("kfree_skb_reason")
        if i >= 0:
            if s.startswith("{"):
                self._pwru_json(s, line)
                return
            m = _PWRU.match(s, i) if (i == 0 or not (s[i - 1].isalnum() or s[i - 1] == "_")) else None
            if m is None:
                agg.skip(NOT_EVENT, line)       # e.g. a pwru line of another function
                return
            caller = m.group(2)
            agg.add_raw("pwru", caller if caller and _SYMBOL.match(caller) else None, m.group(1))
            return
        if "consume_skb:" in line:
            agg.skip(CONSUME, line)
            return
        if "LOST" in s:
            m = _LOST.search(s)
            if m:                               # trace_pipe: "CPU:1 [LOST 123 EVENTS]"
                agg.lost += int(m.group(1))
                agg.skip(LOST, line)
                return
        if s.startswith("#"):
            agg.skip(COMMENT, line)
            return
        if "\x00" in s or "\ufffd" in s:
            agg.skip(BINARY, line)
            return
        agg.skip(NOT_EVENT, line)

    def _pwru_json(self, s: str, line: str) -> None:
        try:
            d = json.loads(s)
        except ValueError:
            self.agg.skip(TRUNCATED, line)
            return
        func = d.get("func") if isinstance(d, dict) else None
        m = _PWRU.search(func) if isinstance(func, str) else None
        if m is None:
            self.agg.skip(NOT_EVENT, line)
            return
        caller = d.get("caller_func")
        ok = isinstance(caller, str) and _SYMBOL.match(caller)
        self.agg.add_raw("pwru", caller if ok else None, m.group(1))

    def close(self) -> Aggregate:
        self._flush_dw()
        self.agg.fold()
        return self.agg


CHUNK = 1 << 16
# dropwatch packet-block attribute lines that never change an event: removed per chunk in C
# (they are still counted as lines); "origin: hardware" stays, it marks hardware drops
_DW_NOISE = re.compile(r"^(?:origin: software|input port [^\n]*|timestamp: [^\n]*|protocol: 0x[0-9a-fA-F]+"
                       r"|length: \d+|original length: \d+)\r?\n", re.M)


def read_events(stream: BinaryIO, aggregate: Aggregate | None = None) -> Aggregate:
    """Read every line of ``stream`` (bytes) into an Aggregate.

    The stream is read in chunks (``read1`` when it has one, so a pipe such as
    ``trace_pipe`` is handled as data arrives) and split into lines in C; undecodable
    bytes become U+FFFD; a line longer than MAX_LINE is counted once and skipped without
    being held in memory."""
    r = Reader(aggregate)
    agg = r.agg
    feed = r.feed
    read = getattr(stream, "read1", None) or stream.read
    rest = b""
    skipping = False                    # inside an overlong line
    while True:
        chunk = read(CHUNK)
        if not chunk:
            break
        if skipping:
            nl = chunk.find(b"\n")
            if nl < 0:
                continue
            skipping = False
            chunk = chunk[nl + 1:]
        buf = rest + chunk if rest else chunk
        cut = buf.rfind(b"\n")
        if cut < 0:
            if len(buf) > MAX_LINE:
                agg.lines += 1
                agg.skip(OVERLONG, "")
                rest, skipping = b"", True
            else:
                rest = buf
            continue
        rest = buf[cut + 1:]
        if len(rest) > MAX_LINE:
            agg.lines += 1
            agg.skip(OVERLONG, "")
            rest, skipping = b"", True
        text = buf[:cut + 1].decode("utf-8", "replace")
        if "drop at:" in text:
            text, n = _DW_NOISE.subn("", text)
            agg.lines += n
            if not text:
                continue
        text = text[:-1]                # the final newline
        for line in text.split("\n"):
            if len(line) > MAX_LINE:
                agg.lines += 1
                agg.skip(OVERLONG, "")
                continue
            feed(line)
    if rest:
        feed(rest.decode("utf-8", "replace"))
    return r.close()


def read_text(text: str) -> Aggregate:
    """Convenience for tests: aggregate a string."""
    return read_events(io.BytesIO(text.encode("utf-8", "surrogateescape")))
