"""Charts of daily downloads as inline SVG, drawn on the server.

No script and no request beyond the page itself: the chart is part of the HTML. Series are
stacked areas, one polygon per category (so a chart of years costs a few polygons, not a
shape per day), with a legend giving each category's total.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 8, 12, 24
# Distinguishable, and readable on white (the site's palette has no chart colours).
COLOURS = ("#3467a8", "#e0892f", "#3f9b56", "#c2423c", "#8e63b8", "#8a6a52", "#c565a8", "#7f7f7f")
MAX_CATEGORIES = 7


def top_categories(
    rows: Iterable[tuple[datetime.date, str, int]], limit: int = MAX_CATEGORIES
) -> list[tuple[str, dict[datetime.date, int]]]:
    """The ``limit`` biggest categories by total, the rest added up as "other"."""
    by_category: dict[str, dict[datetime.date, int]] = {}
    for day, category, n in rows:
        days = by_category.get(category)
        if days is None:
            days = by_category[category] = {}
        days[day] = days.get(day, 0) + n
    totals = {category: sum(days.values()) for category, days in by_category.items()}
    ranked = sorted(totals, key=lambda c: (-totals[c], c))
    kept = [(c, by_category[c]) for c in ranked[:limit]]
    rest = ranked[limit:]
    if rest:
        other: dict[datetime.date, int] = defaultdict(int)
        for category in rest:
            for day, n in by_category[category].items():
                other[day] += n
        kept.append(("other", dict(other)))
    return kept


def _nice_ceiling(value: int) -> int:
    if value <= 5:
        return 5
    magnitude = 10 ** (len(str(value)) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def stacked_chart(
    start: datetime.date,
    end: datetime.date,
    series: list[tuple[str, dict[datetime.date, int]]],
    *,
    title: str,
) -> Markup:
    days = max(1, (end - start).days + 1)
    dates = [start + datetime.timedelta(days=i) for i in range(days)]
    stacks = [[0] * days]
    for _, values in series:
        below = stacks[-1]
        stacks.append([below[i] + values.get(day, 0) for i, day in enumerate(dates)])
    peak = max(stacks[-1]) if stacks[-1] else 0
    ceiling = _nice_ceiling(peak)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + (plot_w * i / (days - 1) if days > 1 else plot_w / 2)

    def y(v: int) -> float:
        return TOP + plot_h - plot_h * v / ceiling

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}" class="stats-chart">',
        f"<title>{escape(title)}</title>",
    ]
    for fraction in (0, 0.5, 1):
        gy = TOP + plot_h - plot_h * fraction
        parts.append(
            f'<line x1="{LEFT}" y1="{gy:.1f}" x2="{WIDTH - RIGHT}" y2="{gy:.1f}" '
            'stroke="#ddd" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{LEFT - 6}" y="{gy + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#555">{int(ceiling * fraction):,}</text>'
        )
    # Each stack's edge is the top of one polygon and the bottom of the next: its points
    # are written once ("x,y" for each day), and the bottom read backwards.
    xs = [f"{x(i):.1f}," for i in range(days)]
    edges = [[xs[i] + f"{y(v):.1f}" for i, v in enumerate(stack)] for stack in stacks]
    for index, (label, _) in enumerate(series):
        upper, lower = stacks[index + 1], stacks[index]
        if upper == lower:
            continue
        if days == 1:
            points = [(x(0) - 8, y(upper[0])), (x(0) + 8, y(upper[0]))]
            points += [(x(0) + 8, y(lower[0])), (x(0) - 8, y(lower[0]))]
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        else:
            path = " ".join(edges[index + 1]) + " " + " ".join(reversed(edges[index]))
        colour = COLOURS[index % len(COLOURS)]
        parts.append(
            f'<polygon points="{path}" fill="{colour}" fill-opacity="0.85">'
            f"<title>{escape(label)}</title></polygon>"
        )
    baseline = TOP + plot_h
    parts.append(
        f'<text x="{LEFT}" y="{baseline + 16}" font-size="11" fill="#555">{start.isoformat()}</text>'
    )
    parts.append(
        f'<text x="{WIDTH - RIGHT}" y="{baseline + 16}" text-anchor="end" font-size="11" '
        f'fill="#555">{end.isoformat()}</text>'
    )
    parts.append("</svg>")
    legend = ['<ul class="stats-legend">']
    for index, (label, _) in enumerate(series):
        total = sum(stacks[index + 1]) - sum(stacks[index])
        colour = COLOURS[index % len(COLOURS)]
        legend.append(
            '<li><svg width="10" height="10" aria-hidden="true">'
            f'<rect width="10" height="10" fill="{colour}"/></svg> '
            f"{escape(label)}: {total:,}</li>"
        )
    legend.append("</ul>")
    if not any(stacks[-1]):
        legend = ['<p class="stats-empty">No downloads counted in this period.</p>']
    return Markup("".join(parts) + "".join(legend))
