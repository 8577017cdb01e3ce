"""Charts drawn on the server as inline SVG: no script, no external service, readable on any intranet browser.

Each function takes plain numbers and returns markup; colours come from classes in static/app.css, so a chart
prints and matches the board's red, amber and green.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup, escape


@dataclass(frozen=True)
class Slice:
    label: str
    value: int
    css: str


def _nice_step(top: float, ticks: int = 4) -> int:
    """A round step (1, 2, 5, 10, 20...) that covers `top` in about `ticks` steps."""
    raw = max(top / ticks, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    return int(next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw))


def donut(slices: Sequence[Slice], *, title: str, centre_label: str) -> Markup:
    """Shares of a whole (the RAG distribution) as a ring, the total in the middle and a legend beside it."""
    total = sum(s.value for s in slices)
    radius, stroke, size, width = 52, 22, 140, 370
    circumference = 2 * math.pi * radius
    parts = [
        f'<svg class="chart donut" width="{width}" height="{size}" viewBox="0 0 {width} {size}" role="img"'
        f' aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<circle class="donut-empty" cx="70" cy="70" r="{radius}" fill="none" stroke-width="{stroke}"/>',
    ]
    offset = 0.0
    for part in slices:
        if not part.value:
            continue
        length = circumference * part.value / total
        parts.append(
            f'<circle class="{part.css}" cx="70" cy="70" r="{radius}" fill="none" stroke-width="{stroke}"'
            f' stroke-dasharray="{length:.2f} {circumference - length:.2f}" stroke-dashoffset="{-offset:.2f}"'
            f' transform="rotate(-90 70 70)"><title>{escape(part.label)} {part.value}</title></circle>'
        )
        offset += length
    parts.append(f'<text class="donut-total" x="70" y="72" text-anchor="middle">{total}</text>')
    parts.append(f'<text class="donut-caption" x="70" y="92" text-anchor="middle">{escape(centre_label)}</text>')
    for index, part in enumerate(slices):
        y = 36 + index * 30
        share = f"{part.value / total:.0%}" if total else "-"
        parts.append(f'<rect class="{part.css}" x="160" y="{y - 12}" width="14" height="14" rx="2"/>')
        parts.append(f'<text class="legend" x="182" y="{y}">{escape(part.label)}</text>')
        parts.append(
            f'<text class="legend-value" x="{width - 8}" y="{y}" text-anchor="end">{part.value}（{share}）</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def trend(points: Sequence[tuple[date, int]], *, title: str) -> Markup:
    """A count over days (open hazards at the end of each day) as a line with its area, y from zero."""
    width, height = 900, 220
    # Room above the plot for the last value's label, which sits over its point.
    left, right, top, bottom = 40, 16, 28, 26
    plot_w, plot_h = width - left - right, height - top - bottom
    highest = max((value for _, value in points), default=0)
    step = _nice_step(highest)
    y_max = max(step * math.ceil(highest / step), step)
    count = len(points)

    def x(index: int) -> float:
        return left + (plot_w * index / (count - 1) if count > 1 else plot_w / 2)

    def y(value: int) -> float:
        return top + plot_h - plot_h * value / y_max

    parts = [
        f'<svg class="chart trend" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img"'
        f' aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for tick in range(0, y_max + 1, step):
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}"/>')
        parts.append(f'<text class="axis" x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick}</text>')
    label_every = max(1, math.ceil(count / 8))
    for index, (moment, _) in enumerate(points):
        # Every few days, and always the last day: a regular label too close to it is left out.
        is_last = index == count - 1
        if is_last or (index % label_every == 0 and count - 1 - index >= label_every / 2):
            parts.append(
                f'<text class="axis" x="{x(index):.1f}" y="{height - 8}" text-anchor="middle">'
                f"{moment.month}-{moment.day:02d}</text>"
            )
    if points:
        line = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, (_, v) in enumerate(points))
        baseline = f"{x(count - 1):.1f},{y(0):.1f} {x(0):.1f},{y(0):.1f}"
        parts.append(f'<polygon class="trend-area" points="{line} {baseline}"/>')
        parts.append(f'<polyline class="trend-line" fill="none" points="{line}"/>')
        last_day, last = points[-1]
        parts.append(f'<circle class="trend-dot" cx="{x(count - 1):.1f}" cy="{y(last):.1f}" r="3.5"/>')
        parts.append(
            f'<text class="trend-value" x="{x(count - 1) - 6:.1f}" y="{y(last) - 8:.1f}" text-anchor="end">'
            f"{last_day.month}月{last_day.day}日 {last}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def stacked_bars(rows: Sequence[tuple[str, Sequence[Slice]]], *, title: str, legend: Sequence[Slice]) -> Markup:
    """One horizontal bar per group, split into parts (closed, open on time, overdue...), on a shared scale."""
    label_w, bar_h, gap, width = 150, 16, 8, 760
    plot_w = width - label_w - 50
    widest = max((sum(s.value for s in parts) for _, parts in rows), default=0) or 1
    height = 30 + len(rows) * (bar_h + gap)
    parts_svg = [
        f'<svg class="chart bars" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img"'
        f' aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    x = label_w
    for item in legend:
        parts_svg.append(f'<rect class="{item.css}" x="{x}" y="4" width="12" height="12" rx="2"/>')
        parts_svg.append(f'<text class="legend" x="{x + 16}" y="15">{escape(item.label)}</text>')
        x += 30 + 14 * len(item.label)
    for index, (label, bar) in enumerate(rows):
        y = 28 + index * (bar_h + gap)
        parts_svg.append(
            f'<text class="axis-label" x="{label_w - 8}" y="{y + bar_h - 3}" text-anchor="end">{escape(label)}</text>'
        )
        start = float(label_w)
        for part in bar:
            if not part.value:
                continue
            length = plot_w * part.value / widest
            parts_svg.append(
                f'<rect class="{part.css}" x="{start:.1f}" y="{y}" width="{length:.1f}" height="{bar_h}">'
                f"<title>{escape(label)} {escape(part.label)} {part.value}</title></rect>"
            )
            start += length
        total = sum(s.value for s in bar)
        parts_svg.append(f'<text class="bar-total" x="{start + 6:.1f}" y="{y + bar_h - 3}">{total}</text>')
    parts_svg.append("</svg>")
    return Markup("".join(parts_svg))
