"""Small inline-SVG charts for report.html: no JavaScript library, no network, nothing to install.

Each function returns one <svg> element as a string; every label goes through html.escape.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

STYLE = """svg.figure { background: #fff; border: 1px solid #eee; }
svg text { font: 11px system-ui, sans-serif; fill: #333; } svg .title { font-weight: 600; font-size: 13px; }
svg .axis { stroke: #444; } svg .grid { stroke: #eee; } svg .tick { fill: #666; }
"""  # the charts' classes: report.html's stylesheet carries it, a standalone .svg file its own copy
WIDTH, HEIGHT = 560, 320
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 28, 48
COLORS = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#7f7f7f",
    "#bcbd22",
    "#393b79",
    "#ad494a",
)


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    step = 10 ** math.floor(math.log10((hi - lo) / count))
    for mult in (1, 2, 5, 10):
        if (hi - lo) / (step * mult) <= count:
            step *= mult
            break
    first = math.ceil(lo / step) * step
    return [round(first + i * step, 10) for i in range(int((hi - first) / step) + 1)]


def _span(values: Sequence[float], pad: float = 0.08) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if hi == lo:
        return lo - 1, hi + 1
    margin = (hi - lo) * pad
    return lo - margin, hi + margin


def _frame(
    title: str,
    x_label: str,
    y_label: str,
    xs: tuple[float, float],
    ys: tuple[float, float],
    log_x: bool = False,
    extra_height: int = 0,
    x_ticks: bool = True,
) -> tuple[list[str], object, object]:
    """The axes, grid and labels; returns (svg parts, x to pixels, y to pixels). extra_height: room for a legend below."""
    x0, x1 = xs
    y0, y1 = ys

    def sx(v: float) -> float:
        if log_x:
            v, lo, hi = math.log10(v), math.log10(x0), math.log10(x1)
        else:
            lo, hi = x0, x1
        return LEFT + (v - lo) / (hi - lo) * (WIDTH - LEFT - RIGHT)

    def sy(v: float) -> float:
        return HEIGHT - BOTTOM - (v - y0) / (y1 - y0) * (HEIGHT - TOP - BOTTOM)

    parts = [
        f'<svg class="figure" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT + extra_height}" width="{WIDTH}" height="{HEIGHT + extra_height}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="{WIDTH / 2}" y="18" text-anchor="middle" class="title">{html.escape(title)}</text>',
        f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}" class="axis"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" class="axis"/>',
        f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 10}" text-anchor="middle">{html.escape(x_label)}</text>',
        f'<text x="14" y="{(TOP + HEIGHT - BOTTOM) / 2}" text-anchor="middle" transform="rotate(-90 14 {(TOP + HEIGHT - BOTTOM) / 2})">{html.escape(y_label)}</text>',
    ]
    for t in _ticks(y0, y1):
        parts.append(f'<text x="{LEFT - 6}" y="{sy(t) + 4:.1f}" text-anchor="end" class="tick">{t:g}</text>')
        parts.append(f'<line x1="{LEFT}" y1="{sy(t):.1f}" x2="{WIDTH - RIGHT}" y2="{sy(t):.1f}" class="grid"/>')
    if not x_ticks:
        return parts, sx, sy
    ticks = (
        [10**e for e in range(math.floor(math.log10(x0)), math.ceil(math.log10(x1)) + 1) if x0 <= 10**e <= x1]
        if log_x
        else _ticks(x0, x1)
    )
    for t in ticks:
        parts.append(f'<text x="{sx(t):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" class="tick">{t:g}</text>')
    return parts, sx, sy


LEGEND_COLUMNS, LEGEND_ROW = 3, 16


def palette(labels: Sequence[str]) -> dict[str, str]:
    """One colour per label, so the same model has the same colour in every figure."""
    return {label: COLORS[i % len(COLORS)] for i, label in enumerate(dict.fromkeys(labels))}


def _color(colors: dict[str, str] | None, label: str, i: int) -> str:
    return (colors or {}).get(label, COLORS[i % len(COLORS)])


def _legend(labels: Sequence[str], colors: dict[str, str] | None) -> tuple[int, list[str]]:
    """(height it needs, svg parts): colour keys in rows of three below the x-axis label."""
    rows = math.ceil(len(labels) / LEGEND_COLUMNS)
    column = (WIDTH - LEFT - RIGHT) / LEGEND_COLUMNS
    parts = []
    for i, label in enumerate(labels):
        x = LEFT + column * (i % LEGEND_COLUMNS)
        y = HEIGHT + 12 + LEGEND_ROW * (i // LEGEND_COLUMNS)
        parts.append(f'<circle cx="{x + 5:.1f}" cy="{y - 4}" r="5" fill="{_color(colors, label, i)}"/>')
        parts.append(f'<text x="{x + 14:.1f}" y="{y}" class="label">{html.escape(label)}</text>')
    return rows * LEGEND_ROW + 16, parts


def scatter(
    title: str,
    x_label: str,
    y_label: str,
    points: Sequence[tuple[str, float, float]],
    log_x: bool = False,
    colors: dict[str, str] | None = None,
    x_line: tuple[float, str] | None = None,
) -> str:
    """Points (label, x, y), one colour per label, named in a legend below the axes; x_line: (x, label) drawn
    as a dashed vertical line (a budget). Points with a missing figure (None), or one a log axis cannot show (0 or
    less), are left out; with none left there is no chart ("")."""
    points = [p for p in points if p[1] is not None and p[2] is not None and (p[1] > 0 or not log_x)]
    if x_line is not None and log_x and x_line[0] <= 0:
        x_line = None
    if not points:
        return ""
    xs = [p[1] for p in points] + ([x_line[0]] if x_line else [])
    if log_x:
        lo, hi = min(xs), max(xs)
        x_span = (lo / 1.6, hi * 1.6)
    else:
        x_span = _span(xs)
    legend_height, legend = _legend(list(dict.fromkeys(p[0] for p in points)), colors)
    parts, sx, sy = _frame(
        title, x_label, y_label, x_span, _span([p[2] for p in points]), log_x, extra_height=legend_height
    )
    if x_line is not None:
        x = sx(x_line[0])
        parts.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{HEIGHT - BOTTOM}" class="axis" stroke-dasharray="4 3"/>'
        )
        parts.append(f'<text x="{x + 4:.1f}" y="{TOP + 12}" class="label">{html.escape(x_line[1])}</text>')
    for i, (label, x, y) in enumerate(points):
        color = _color(colors, label, i)
        parts.append(
            f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="5" fill="{color}" fill-opacity="0.85"><title>{html.escape(label)}: {x:g}, {y:g}</title></circle>'
        )
    parts += legend
    parts.append("</svg>")
    return "".join(parts)


def distributions(
    title: str, y_label: str, series: Sequence[tuple[str, Sequence[float]]], colors: dict[str, str] | None = None
) -> str:
    """One box (p10-p90 whiskers, quartile box, median line) per named sample series."""
    values = [v for _, s in series for v in s]
    n = len(series)
    parts, _, sy = _frame(title, "", y_label, (0, n), _span([0.0, *values], pad=0.05), x_ticks=False)
    slot = (WIDTH - LEFT - RIGHT) / n
    for i, (label, samples) in enumerate(series):
        ordered = sorted(samples)
        q = {p: ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] for p in (10, 25, 50, 75, 90)}
        cx = LEFT + slot * (i + 0.5)
        w = min(40.0, slot * 0.5)
        color = _color(colors, label, i)
        parts += [
            f'<line x1="{cx:.1f}" y1="{sy(q[10]):.1f}" x2="{cx:.1f}" y2="{sy(q[90]):.1f}" stroke="{color}"/>',
            f'<rect x="{cx - w / 2:.1f}" y="{sy(q[75]):.1f}" width="{w:.1f}" height="{max(1.0, sy(q[25]) - sy(q[75])):.1f}" fill="{color}" fill-opacity="0.35" stroke="{color}">'
            f"<title>{html.escape(label)}: median {q[50]:.3f}, p10 {q[10]:.3f}, p90 {q[90]:.3f}</title></rect>",
            f'<line x1="{cx - w / 2:.1f}" y1="{sy(q[50]):.1f}" x2="{cx + w / 2:.1f}" y2="{sy(q[50]):.1f}" stroke="{color}" stroke-width="2"/>',
            f'<text x="{cx:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" class="tick">{html.escape(label)}</text>',
        ]
    parts.append("</svg>")
    return "".join(parts)


def lines(
    title: str,
    x_label: str,
    y_label: str,
    series: Sequence[tuple[str, Sequence[float]]],
    colors: dict[str, str] | None = None,
) -> str:
    """One polyline per named series over x = 1, 2, ... (per-round medians)."""
    longest = max(len(s) for _, s in series)
    legend_height, legend = _legend([label for label, _ in series], colors)
    parts, sx, sy = _frame(
        title,
        x_label,
        y_label,
        (0.5, longest + 0.5),
        _span([v for _, s in series for v in s]),
        extra_height=legend_height,
    )
    for i, (label, values) in enumerate(series):
        color = _color(colors, label, i)
        pts = " ".join(f"{sx(j + 1):.1f},{sy(v):.1f}" for j, v in enumerate(values))
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>')
        parts += [f'<circle cx="{sx(j + 1):.1f}" cy="{sy(v):.1f}" r="3" fill="{color}"/>' for j, v in enumerate(values)]
    parts += legend
    parts.append("</svg>")
    return "".join(parts)


def standalone(chart: str) -> str:
    """A chart as a file of its own (an .svg), its stylesheet inside."""
    head, sep, rest = chart.partition(">")
    return f"{head}{sep}<style>{STYLE}</style>{rest}\n"
