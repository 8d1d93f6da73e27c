"""Small server-side charts: SVG sparklines for the topic list (no JavaScript needed)."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup


def sparkline(values: Sequence[float], width: int = 120, height: int = 28) -> Markup:
    """An inline SVG polyline of the values, scaled to the box; empty data draws a flat line."""
    points = list(values) or [0.0]
    if len(points) == 1:
        points = points * 2
    top = max(points) or 1.0
    step = (width - 2) / (len(points) - 1)
    coords = " ".join(
        f"{1 + i * step:.1f},{height - 2 - (v / top) * (height - 4):.1f}"
        for i, v in enumerate(points)
    )
    total = int(sum(values))
    return Markup(
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{total} items over the period">'
        f'<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{coords}"/>'
        "</svg>"
    )
