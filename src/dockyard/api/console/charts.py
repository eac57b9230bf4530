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
    return [Bar(severity, counts.get(severity, 0), index * ROW,
                round(BAR_AREA * counts.get(severity, 0) / top), f"sev-{severity.lower()}")
            for index, severity in enumerate(SEVERITIES)]
