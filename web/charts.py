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


@dataclass(frozen=True)
class SurvivalChart:
    width: int
    height: int
    line: str  # SVG path of the Kaplan–Meier step curve
    band: str  # SVG path of the 95% interval band (closed)
    gridlines: list[tuple[float, str]]  # (y, "75%")
    ticks: list[tuple[float, str]]  # (x, "90 d")
    marks: list[tuple[float, float, str]]  # (x, y, title) at 90 and 180 days
    baseline: float
    left: int
    empty: bool


def survival_curve(
    steps: list[dict[str, Any]], *, max_days: int = 365, width: int = 560, height: int = 220
) -> SurvivalChart:
    """A Kaplan–Meier step curve (dicts with time, survival, lower, upper) from day 0 to `max_days`."""
    top, bottom, left, right = 12, 36, 40, 12
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(day: float) -> float:
        return round(left + plot_w * min(day, max_days) / max_days, 1)

    def y(share: float) -> float:
        return round(top + plot_h * (1 - share), 1)

    shown = [s for s in steps if s["time"] <= max_days]
    end = min(max((s["time"] for s in steps), default=0), max_days)
    # Step function: flat at the previous value until each time, then down to the new one.
    line = [f"M{x(0)},{y(1.0)}"]
    upper_pts: list[tuple[float, float]] = [(x(0), y(1.0))]
    lower_pts: list[tuple[float, float]] = [(x(0), y(1.0))]
    for s in shown:
        line.append(f"H{x(s['time'])}V{y(s['survival'])}")
        upper_pts += [(x(s["time"]), upper_pts[-1][1]), (x(s["time"]), y(s["upper"]))]
        lower_pts += [(x(s["time"]), lower_pts[-1][1]), (x(s["time"]), y(s["lower"]))]
    line.append(f"H{x(end)}")
    upper_pts.append((x(end), upper_pts[-1][1]))
    lower_pts.append((x(end), lower_pts[-1][1]))
    band = "M" + " L".join(f"{a},{b}" for a, b in upper_pts + lower_pts[::-1]) + " Z"
    grid = [(y(p), f"{int(p * 100)}%") for p in (0, 0.25, 0.5, 0.75, 1)]
    ticks = [(x(d), f"{d} d") for d in range(0, max_days + 1, 90)]
    marks = []
    for day in (90, 180):
        before = [s for s in shown if s["time"] <= day]
        if end >= day:
            value = before[-1]["survival"] if before else 1.0
            marks.append((x(day), y(value), f"Day {day}: {value * 100:.0f}% still in treatment"))
    return SurvivalChart(width, height, " ".join(line), band, grid, ticks, marks, top + plot_h, left, not steps)


@dataclass(frozen=True)
class ScorePoint:
    x: float
    y: float
    title: str  # "Mon 16 Nov 08:10: 12 (mild)"
    label: str  # the x-axis label ("16 Nov")


@dataclass(frozen=True)
class ScoreChart:
    width: int
    height: int
    left: int
    baseline: float
    line: str  # SVG path through the points, oldest first
    points: list[ScorePoint]
    gridlines: list[tuple[float, str]]  # (y, "24")
    empty: bool


def score_line(
    scores: list[tuple[str, int, str]], *, max_score: int = 48, width: int = 560, height: int = 200
) -> ScoreChart:
    """A line of scores (oldest first) on a fixed 0..`max_score` axis, e.g. COWS totals over time: each entry
    is (x-axis label, score, tooltip). Gridlines at the COWS severity bands' edges (12, 24, 36) and the ends."""
    top, bottom, left, right = 12, 36, 40, 16
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(scores)

    def y(score: float) -> float:
        return round(top + plot_h * (1 - min(max(score, 0), max_score) / max_score), 1)

    every = max(1, -(-n // 8))  # at most 8 axis labels; every point keeps its tooltip
    points = []
    for i, (label, score, title) in enumerate(scores):
        x = round(left + (plot_w / 2 if n == 1 else plot_w * i / (n - 1)), 1)
        points.append(ScorePoint(x, y(score), title, label if i % every == 0 or i == n - 1 else ""))
    line = " ".join(f"{'M' if i == 0 else 'L'}{p.x},{p.y}" for i, p in enumerate(points))
    grid = [(y(v), str(v)) for v in (0, 12, 24, 36, max_score)]
    return ScoreChart(width, height, left, top + plot_h, line, points, grid, not scores)
