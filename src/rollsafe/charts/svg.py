"""Line charts as inline SVG strings: no JavaScript, no chart library.

A chart is a few polylines over shared axes, with an optional band (an interval),
horizontal reference lines (a threshold, zero), vertical markers (the decision
point) and an optional x window that clips what is drawn. The dashboard embeds the
SVG in its pages (a live update replaces it) and the HTML incident report in its
single offline file. Numbers are escaped by construction (only floats are
formatted into coordinates) and labels through `html.escape`, so a journal
string such as ``<script>`` renders as text.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

Point = tuple[float, float]

WIDTH, HEIGHT = 420, 180
LEFT, RIGHT, TOP, BOTTOM = 52, 10, 34, 24

PALETTE = {"baseline": "#4c78a8", "canary": "#e45756", "stable": "#4c78a8", "all": "#4c78a8"}
_EXTRA = ("#54a24b", "#b279a2", "#f58518", "#72b7b2")


@dataclass
class Line:
    label: str
    points: Sequence[Point]
    colour: str
    dashed: bool = False


@dataclass
class Chart:
    title: str
    unit: str = ""
    lines: list[Line] = field(default_factory=list)
    band: tuple[Sequence[Point], Sequence[Point], str] | None = None
    """Lower and upper points of a shaded interval, and its colour."""
    references: list[tuple[float, str]] = field(default_factory=list)
    """Horizontal lines: value and label (a threshold, zero)."""
    log_y: bool = False
    markers: list[tuple[float, str]] = field(default_factory=list)
    """Vertical lines: x and label (the point a rollout was decided)."""
    window: tuple[float, float] | None = None
    """Only points with x inside (low, high) are drawn, when set."""


CSS = (
    "svg .title{font-size:12px;font-weight:600;fill:#1d2330}"
    "svg .tick,svg .legend{font-size:10px;fill:#5b6577}"
    "svg .axis{stroke:#9aa3b2}svg .reference{stroke:#8a1212;stroke-dasharray:3 3}"
    "svg .marker{stroke:#7a5600;stroke-width:1.5;stroke-dasharray:5 2}"
    "svg .marker-label{font-size:10px;fill:#7a5600;font-weight:600}"
)
"""The rules the SVG's classes need; pages that embed charts include them."""


def colour_of(arm: str, position: int) -> str:
    return PALETTE.get(arm, _EXTRA[position % len(_EXTRA)])


def render(chart: Chart) -> str:
    """The chart as an ``<svg>`` element (or a note when it has no data yet)."""
    if chart.window is not None:
        chart = _clipped(chart, chart.window)
    points = [p for line in chart.lines for p in line.points]
    if chart.band is not None:
        points += [*chart.band[0], *chart.band[1]]
    title = html.escape(chart.title)
    if not points:
        return (
            f'<figure class="chart empty"><figcaption>{title}</figcaption>'
            "<p>no data yet</p></figure>"
        )
    values = [y for _, y in points] + [value for value, _ in chart.references]
    transform = _log if chart.log_y else float
    ys = [transform(v) for v in values if not chart.log_y or v > 0]
    xs = [x for x, _ in points] + [x for x, _ in chart.markers]
    x0, x1 = min(xs), max(xs)
    y0, y1 = (min(ys), max(ys)) if ys else (0.0, 1.0)
    if not chart.log_y:
        y0 = min(y0, 0.0)
    if x1 - x0 < 1e-9:
        x1 = x0 + 1.0
    if y1 - y0 < 1e-12:
        y1 = y0 + (abs(y0) or (0.01 if chart.unit == "%" else 1.0))
    pad = (y1 - y0) * 0.08
    y0, y1 = y0 - (pad if y0 != 0 else 0), y1 + pad

    def sx(x: float) -> float:
        return LEFT + (x - x0) / (x1 - x0) * (WIDTH - LEFT - RIGHT)

    def sy(y: float) -> float:
        value = transform(y) if not chart.log_y or y > 0 else y0
        return TOP + (1 - (value - y0) / (y1 - y0)) * (HEIGHT - TOP - BOTTOM)

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="{title}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="{LEFT}" y="14" class="title">{title}</text>',
        f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}" '
        'class="axis"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" class="axis"/>',
    ]
    for fraction in (0.0, 0.5, 1.0):
        raw = y0 + fraction * (y1 - y0)
        label = _label(10**raw if chart.log_y else raw, chart.unit)
        y = TOP + (1 - fraction) * (HEIGHT - TOP - BOTTOM)
        parts.append(
            f'<text x="{LEFT - 4}" y="{y + 3:.1f}" class="tick" text-anchor="end">{label}</text>'
        )
    parts.append(
        f'<text x="{LEFT}" y="{HEIGHT - 8}" class="tick">{x0:.0f}s</text>'
        f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" class="tick" '
        f'text-anchor="end">{x1:.0f}s</text>'
    )
    if chart.band is not None:
        low, high, colour = chart.band
        outline = [*((sx(x), sy(y)) for x, y in high), *((sx(x), sy(y)) for x, y in reversed(low))]
        if outline:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in outline)
            parts.append(
                f'<polygon points="{path}" fill="{colour}" fill-opacity="0.18" stroke="none"/>'
            )
    for value, label in chart.references:
        if chart.log_y and value <= 0:
            continue
        y = sy(value)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" class="reference"/>'
            f'<text x="{WIDTH - RIGHT - 2}" y="{y - 3:.1f}" class="tick" text-anchor="end">'
            f"{html.escape(label)}</text>"
        )
    for x, label in chart.markers:
        mx = sx(x)
        anchor = "end" if mx > (LEFT + WIDTH) / 2 else "start"
        offset = -3 if anchor == "end" else 3
        parts.append(
            f'<line x1="{mx:.1f}" y1="{TOP}" x2="{mx:.1f}" y2="{HEIGHT - BOTTOM}" class="marker" '
            f'data-marker="{html.escape(label)}"/>'
            f'<text x="{mx + offset:.1f}" y="{HEIGHT - BOTTOM - 4}" class="marker-label" '
            f'text-anchor="{anchor}">{html.escape(label)}</text>'
        )
    legend_x = LEFT
    for position, line in enumerate(chart.lines):
        if not line.points:
            continue
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in line.points)
        dash = ' stroke-dasharray="4 3"' if line.dashed else ""
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{line.colour}" stroke-width="1.8"{dash}'
            f' data-series="{html.escape(line.label)}"/>'
        )
        lx = legend_x + (position % 4) * 90
        ly = 19 + (position // 4) * 10
        parts.append(
            f'<rect x="{lx}" y="{ly}" width="8" height="3" fill="{line.colour}"/>'
            f'<text x="{lx + 11}" y="{ly + 4}" class="legend">{html.escape(line.label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _clipped(chart: Chart, window: tuple[float, float]) -> Chart:
    low, high = window

    def inside(points: Sequence[Point]) -> list[Point]:
        return [(x, y) for x, y in points if low <= x <= high]

    band = None
    if chart.band is not None:
        band = (inside(chart.band[0]), inside(chart.band[1]), chart.band[2])
    return Chart(
        chart.title,
        chart.unit,
        [Line(line.label, inside(line.points), line.colour, line.dashed) for line in chart.lines],
        band,
        list(chart.references),
        chart.log_y,
        [(x, label) for x, label in chart.markers if low <= x <= high],
        None,
    )


def _log(value: float) -> float:
    return math.log10(value)


def _label(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value * 100:.3g}%"
    if unit == "s":
        return f"{value * 1000:.3g}ms" if abs(value) < 1 else f"{value:.3g}s"
    if unit == "B":
        for factor, suffix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
            if abs(value) >= factor:
                return f"{value / factor:.3g}{suffix}"
        return f"{value:.0f}B"
    return f"{value:.3g}"
