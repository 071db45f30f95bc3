"""Charts drawn on the server as inline SVG: no script, no network, nothing to load.

Colours and lines are SVG presentation attributes (not ``style``), so the console's content
security policy (no inline styles) leaves them alone and a chart renders without any CSS.
Every label is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from markupsafe import Markup, escape

PALETTE = ("#1f7a4d", "#c0392b", "#2d6cdf", "#b7791f", "#6b46c1", "#4a5568")
_FONT = 'font-family="system-ui, sans-serif" font-size="11" fill="#4a5568"'


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[tuple[datetime, float]]  # (time, value), in time order


def cumulative(times: Sequence[datetime]) -> list[tuple[datetime, float]]:
    """How many events had happened by each event's time: 1, 2, 3, ..."""
    return [(t, float(i + 1)) for i, t in enumerate(sorted(times))]


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at least ``value`` (an axis maximum)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def _time_label(t: datetime, span: timedelta) -> str:
    if span < timedelta(seconds=10):
        return t.strftime("%H:%M:%S.%f")[:-5]  # tenths: ticks a second apart would repeat
    return t.strftime("%H:%M:%S" if span < timedelta(hours=1) else "%d %b %H:%M")


def _svg(width: int, height: int, title: str, body: list[str], chart_id: str) -> Markup:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-labelledby="{chart_id}-title">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
    )
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704 - every piece is built and escaped here


def time_series_chart(
    series: Sequence[Series],
    *,
    title: str,
    chart_id: str,
    y_label: str = "",
    width: int = 720,
    height: int = 260,
) -> Markup:
    """Step lines of values over time (cumulative counts), with axes, ticks and a legend."""
    left, right, top, bottom = 56, 16, 28, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    points = [p for s in series for p in s.points]
    body: list[str] = []
    if not points:
        body.append(
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" {_FONT}>'
            f"{escape(title)}: nothing yet</text>"
        )
        return _svg(width, height, title, body, chart_id)
    t0 = min(t for t, _ in points)
    t1 = max(t for t, _ in points)
    span = max(t1 - t0, timedelta(seconds=1))
    y_max = nice_ceiling(max(v for _, v in points))

    def x(t: datetime) -> float:
        return round(left + plot_w * ((t - t0) / span), 1)

    def y(v: float) -> float:
        return round(top + plot_h * (1 - v / y_max), 1)

    steps = 4 if str(int(y_max) if y_max >= 1 else y_max).lstrip("0.").startswith("2") else 5
    for i in range(steps + 1):  # horizontal grid and value ticks at round values
        value = y_max * i / steps
        body.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(value)}" y2="{y(value)}" stroke="#e2e8f0"/>'
            f'<text x="{left - 6}" y="{y(value) + 4}" text-anchor="end" {_FONT}>{_number(value)}</text>'
        )
    for i in range(5):  # time ticks
        t = t0 + span * (i / 4)
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        body.append(
            f'<text x="{x(t)}" y="{top + plot_h + 18}" text-anchor="{anchor}" {_FONT}>'
            f"{escape(_time_label(t, span))}</text>"
        )
    body.append(
        f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}" stroke="#a0aec0"/>'
        f'<line x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#a0aec0"/>'
    )
    if y_label:
        body.append(f'<text x="{left}" y="{top - 10}" {_FONT}>{escape(y_label)}</text>')
    legend_x = left + plot_w
    for n, s in enumerate(series):
        color = PALETTE[n % len(PALETTE)]
        if s.points:
            path = [f"M{x(t0)},{y(0)}"]
            for t, v in s.points:
                path.append(f"H{x(t)}V{y(v)}")
            path.append(f"H{x(t1)}")
            tip = f"{escape(s.label)}: {_number(s.points[-1][1])}"
            body.append(
                f'<path d="{"".join(path)}" fill="none" stroke="{color}" stroke-width="2" '
                f'class="series series-{n}"><title>{tip}</title></path>'
            )
        label = f"{s.label} ({_number(s.points[-1][1]) if s.points else 0})"
        legend_x -= 12 + 7 * len(label)
        body.append(
            f'<rect x="{legend_x}" y="{top - 20}" width="10" height="10" fill="{color}"/>'
            f'<text x="{legend_x + 14}" y="{top - 11}" {_FONT}>{escape(label)}</text>'
        )
    return _svg(width, height, title, body, chart_id)


def bar_chart(
    bars: Sequence[tuple[str, float]], *, title: str, chart_id: str, width: int = 720, unit: str = ""
) -> Markup:
    """Horizontal bars, largest first, each with its label and value."""
    label_w, right, row = 200, 72, 26
    height = max(row * len(bars), row) + 12
    body: list[str] = []
    if not bars:
        body.append(f'<text x="{width / 2}" y="18" text-anchor="middle" {_FONT}>{escape(title)}: none</text>')
        return _svg(width, height, title, body, chart_id)
    top = max(v for _, v in bars) or 1
    plot_w = width - label_w - right
    for i, (label, value) in enumerate(sorted(bars, key=lambda b: (-b[1], b[0]))):
        y = 6 + i * row
        w = max(round(plot_w * value / top, 1), 1.0)
        color = PALETTE[1]
        body.append(
            f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" {_FONT}>{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w}" height="{row - 8}" fill="{color}" rx="2">'
            f"<title>{escape(label)}: {_number(value)}{escape(unit)}</title></rect>"
            f'<text x="{label_w + w + 6}" y="{y + 15}" {_FONT}>{_number(value)}{escape(unit)}</text>'
        )
    return _svg(width, height, title, body, chart_id)
