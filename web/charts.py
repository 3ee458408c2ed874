"""Chart geometry for server-rendered SVG: plain values in, rectangles out (no JS library)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WEEKDAY_SHORT = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value_text: str
    title: str
    label_x: float


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    bars: list[Bar]
    baseline: float
    gridlines: list[tuple[float, str]]


def rate_bars(rows: list[dict[str, Any]], *, label_key: str, width: int = 560, height: int = 220) -> BarChart:
    """Bars of attendance_rate (0..1) per row; rows with no decided visits get an empty bar."""
    top, bottom, left = 12, 36, 40
    plot_h = height - top - bottom
    n = max(len(rows), 1)
    slot = (width - left - 8) / n
    bar_w = max(min(slot * 0.7, 60), 4)
    bars = []
    for i, row in enumerate(rows):
        rate = row.get("attendance_rate")
        value = rate or 0.0
        h = plot_h * value
        x = left + i * slot + (slot - bar_w) / 2
        label = str(row[label_key])
        text = "—" if rate is None else f"{rate * 100:.0f}%"
        title = f"{label}: {text} ({row['completed']} attended, {row['missed']} missed)"
        bars.append(Bar(x, top + plot_h - h, bar_w, h, label, text, title, x + bar_w / 2))
    grid = [(top + plot_h * (1 - p), f"{int(p * 100)}%") for p in (0, 0.25, 0.5, 0.75, 1)]
    return BarChart(width, height, bars, top + plot_h, grid)


@dataclass(frozen=True)
class HeatCell:
    x: int
    y: int
    count: int
    opacity: float
    title: str


@dataclass(frozen=True)
class HeatMap:
    width: int
    height: int
    cells: list[HeatCell]
    hours: list[tuple[int, int]]  # (x, hour) column labels
    days: list[tuple[int, str]]  # (y, weekday) row labels
    max_count: int


def heatmap(counts: dict[tuple[int, int], int], *, first_hour: int = 5, last_hour: int = 22) -> HeatMap:
    cell, left, top = 26, 40, 22
    hours = sorted({h for _, h in counts} | set(range(first_hour, last_hour + 1)))
    max_count = max(counts.values(), default=0)
    cells = []
    for d in range(7):
        for i, hour in enumerate(hours):
            n = counts.get((d, hour), 0)
            opacity = 0.08 if n == 0 else 0.25 + 0.75 * n / max_count
            title = f"{WEEKDAY_SHORT[d]} {hour:02d}:00: {n} missed"
            cells.append(HeatCell(left + i * cell, top + d * cell, n, round(opacity, 3), title))
    return HeatMap(
        width=left + len(hours) * cell + 4,
        height=top + 7 * cell + 4,
        cells=cells,
        hours=[(left + i * cell + cell // 2, h) for i, h in enumerate(hours)],
        days=[(top + d * cell + cell // 2 + 4, WEEKDAY_SHORT[d]) for d in range(7)],
        max_count=max_count,
    )
