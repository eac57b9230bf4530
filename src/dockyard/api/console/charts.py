"""Server-side SVG charts: geometry computed here, drawn by a template as inline SVG.

No script and no style attribute (the CSP forbids inline styles): bars are sized with SVG
attributes and coloured by CSS classes from console.css.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.domain.scanning import SEVERITIES

BAR_AREA = 300  # px of the longest bar
ROW = 24


@dataclass(frozen=True)
class Bar:
    label: str
    count: int
    y: int
    width: int
    css: str


def severity_bars(counts: dict[str, int]) -> list[Bar]:
    """One bar per severity, most severe first, widths relative to the largest count."""
    top = max([counts.get(severity, 0) for severity in SEVERITIES] + [1])
    return [
        Bar(
            severity,
            counts.get(severity, 0),
            index * ROW,
            round(BAR_AREA * counts.get(severity, 0) / top),
            f"sev-{severity.lower()}",
        )
        for index, severity in enumerate(SEVERITIES)
    ]


LINE_WIDTH, LINE_HEIGHT = 460, 160  # px of the plot area


@dataclass(frozen=True)
class LineChart:
    """A polyline over time: `points` is the SVG attribute; first/last/top label the axes."""

    points: str
    first: float
    last: float
    top: int
    samples: int


def storage_line(samples: list[tuple[float, int]]) -> LineChart | None:
    """Stored bytes over time, scaled to the plot; None with fewer than two samples."""
    if len(samples) < 2:
        return None
    start, end = samples[0][0], samples[-1][0]
    span, top = (end - start) or 1.0, max(size for _, size in samples) or 1
    points = " ".join(
        f"{round(LINE_WIDTH * (at - start) / span)},{round(LINE_HEIGHT * (1 - size / top))}"
        for at, size in samples
    )
    return LineChart(points, start, end, top, len(samples))
