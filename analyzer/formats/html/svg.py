"""Small SVG charts for the report (no JavaScript, no external library).

Every text is XML-escaped here; the result is safe to inline in HTML.
"""
from __future__ import annotations

import math
from html import escape

# Okabe–Ito palette: distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#009E73", "#D55E00", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]


def _nice_max(v: float) -> float:
    """The smallest 4 x step >= v, step one of 1, 2, 2.5, 5 times a power of ten."""
    if v <= 0:
        return 4.0
    step = v / 4
    mag = 10 ** math.floor(math.log10(step))
    for m in (1, 2, 2.5, 5, 10):
        if step <= m * mag + 1e-9:
            if mag >= 1 or m * mag >= 1:
                return 4 * m * mag
            return 4.0          # counts: never a fractional tick
    return 40 * mag


def _fmt(v: float) -> str:
    return f"{int(v):,}" if float(v).is_integer() else f"{v:.1f}"


def line_chart(title: str, labels: list[str], series: list[tuple[str, list[float]]],
               *, y_max: float | None = None, unit: str = "", width: int = 640,
               height: int = 280) -> str:
    """Lines over categorical x labels (e.g. kernel versions)."""
    left, right, top, bottom = 56, 16, 36, 48
    pw, ph = width - left - right, height - top - bottom
    vmax = y_max if y_max is not None else _nice_max(max((v for _, vs in series for v in vs), default=1))
    n = max(len(labels), 1)

    inset = 40                   # keep the first and last labels inside the picture

    def x(i: int) -> float:
        return left + (pw / 2 if n == 1 else inset + (pw - 2 * inset) * i / (n - 1))

    def y(v: float) -> float:
        return top + ph - ph * (v / vmax if vmax else 0)

    parts = [_head(title, width, height)]
    parts += _y_axis(left, top, pw, ph, vmax, unit)
    for i, lab in enumerate(labels):
        parts.append(f'<text x="{x(i):.1f}" y="{top + ph + 18}" text-anchor="middle" '
                     f'class="lab">{escape(lab)}</text>')
    for k, (name, vals) in enumerate(series):
        col = PALETTE[k % len(PALETTE)]
        pts = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(vals))
        if len(vals) > 1:
            parts.append(f'<polyline fill="none" stroke="{col}" stroke-width="2.5" points="{pts}"/>')
        for i, v in enumerate(vals):
            parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="4" fill="{col}">'
                         f"<title>{escape(name)} {escape(labels[i])}: {_fmt(v)}{escape(unit)}</title></circle>")
            parts.append(f'<text x="{x(i):.1f}" y="{y(v) - 8:.1f}" text-anchor="middle" '
                         f'class="val">{_fmt(v)}{escape(unit)}</text>')
    parts += _legend([s[0] for s in series], left, height - 12)
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(title: str, labels: list[str], series: list[tuple[str, list[float]]],
              *, width: int = 640, height: int = 300) -> str:
    """Grouped bars: one group per label, one bar per series."""
    left, right, top, bottom = 64, 16, 36, 48
    pw, ph = width - left - right, height - top - bottom
    vmax = _nice_max(max((v for _, vs in series for v in vs), default=1))
    n, m = max(len(labels), 1), max(len(series), 1)
    gw = pw / n
    bw = gw * 0.8 / m
    parts = [_head(title, width, height)]
    parts += _y_axis(left, top, pw, ph, vmax, "")
    for i, lab in enumerate(labels):
        gx = left + gw * i + gw * 0.1
        parts.append(f'<text x="{left + gw * i + gw / 2:.1f}" y="{top + ph + 18}" '
                     f'text-anchor="middle" class="lab">{escape(lab)}</text>')
        for k, (name, vals) in enumerate(series):
            v = vals[i]
            h = ph * v / vmax if vmax else 0
            bx = gx + k * bw
            parts.append(f'<rect x="{bx:.1f}" y="{top + ph - h:.1f}" width="{max(bw - 2, 1):.1f}" '
                         f'height="{h:.1f}" fill="{PALETTE[k % len(PALETTE)]}">'
                         f"<title>{escape(name)} {escape(lab)}: {_fmt(v)}</title></rect>")
            if bw >= 28:
                parts.append(f'<text x="{bx + bw / 2 - 1:.1f}" y="{top + ph - h - 4:.1f}" '
                             f'text-anchor="middle" class="val">{_fmt(v)}</text>')
    parts += _legend([s[0] for s in series], left, height - 12)
    parts.append("</svg>")
    return "".join(parts)


def _head(title: str, width: int, height: int) -> str:
    t = escape(title)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'width="100%" style="max-width:{width}px" role="img" aria-label="{t}" class="chart">'
            f"<title>{t}</title>"
            "<style>.lab,.val,.leg,.tick{font:12px system-ui,sans-serif;fill:#222}"
            ".ttl{font:bold 14px system-ui,sans-serif;fill:#111}.grid{stroke:#ddd}</style>"
            f'<text x="8" y="20" class="ttl">{t}</text>')


def _y_axis(left: int, top: int, pw: int, ph: int, vmax: float, unit: str) -> list[str]:
    out = []
    for k in range(5):
        v = vmax * k / 4
        yy = top + ph - ph * k / 4
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{yy:.1f}" y2="{yy:.1f}" class="grid"/>')
        out.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end" class="tick">'
                   f"{_fmt(v)}{escape(unit)}</text>")
    out.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + ph}" stroke="#888"/>')
    return out


def _legend(names: list[str], x0: int, y0: int) -> list[str]:
    out, x = [], x0
    for k, name in enumerate(names):
        out.append(f'<rect x="{x}" y="{y0 - 10}" width="12" height="12" fill="{PALETTE[k % len(PALETTE)]}"/>')
        out.append(f'<text x="{x + 16}" y="{y0}" class="leg">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    return out
