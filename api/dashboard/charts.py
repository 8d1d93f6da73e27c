"""Small server-side charts: SVG sparklines for the topic list (no JavaScript needed)."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup


def sparkline(
    values: Sequence[float], width: int = 120, height: int = 28, partial: bool = False
) -> Markup:
    """An inline SVG polyline of the values, scaled to the box; empty data draws a flat line.

    ``partial``: the last value is of a period still running, so its segment is dashed
    and faint instead of reading as a drop.
    """
    points = list(values) or [0.0]
    if len(points) == 1:
        points = points * 2
    top = max(points) or 1.0
    step = (width - 2) / (len(points) - 1)
    coords = [
        f"{1 + i * step:.1f},{height - 2 - (v / top) * (height - 4):.1f}"
        for i, v in enumerate(points)
    ]
    total = int(sum(values))
    dashed = partial and len(values) >= 2
    solid = coords[:-1] if dashed else coords
    last = (
        '<polyline class="partial" fill="none" stroke="currentColor" stroke-width="1.5" '
        f'stroke-dasharray="2 2" opacity="0.5" points="{coords[-2]} {coords[-1]}"/>'
        if dashed
        else ""
    )
    label = f"{total} items over the period" + (", the last one still running" if dashed else "")
    return Markup(
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{label}">'
        '<polyline fill="none" stroke="currentColor" stroke-width="1.5" '
        f'points="{" ".join(solid)}"/>'
        f"{last}</svg>"
    )
