"""Bar charts as inline SVG, drawn on the server: no script, no library, printable, and readable
by screen readers (``role="img"``, an ``aria-label``, a ``<title>`` and a ``<desc>``; the figures
are also in the table beside each chart).

Bars are horizontal: the category labels (farm names, weekdays) stay readable whatever their
length. Each category has one bar per series (this season and the previous one, or the held rate
and the fill rate), its value written at its end, over an axis with graduations and its label.
Texts come in already translated and formatted; everything is escaped here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import count
from typing import Any

from markupsafe import Markup, escape

WIDTH = 720
FONT_SIZE = 12
#: Rough width of a character of the labels (sans-serif at FONT_SIZE), to size the label column.
CHAR_WIDTH = 6.6
BAR_HEIGHT = 14
BAR_GAP = 3
GROUP_GAP = 10
TOP = 8
LEGEND_HEIGHT = 22
AXIS_HEIGHT = 44
VALUE_ROOM = 64  # right of the longest bar, for its value
#: Fills with enough contrast on white for the bars and their legend (WCAG 1.4.11, ≥ 3:1).
COLOURS = ("#1f5f8b", "#b65a12", "#5b6b2e", "#6b3d8f")

_ids = count(1)


@dataclass(frozen=True)
class Series:
    name: str
    #: One per category; None draws no bar (a rate without a denominator).
    values: Sequence[float | None]
    #: What is written at the end of each bar (formatted for the reader).
    labels: Sequence[str]


@dataclass(frozen=True)
class BarChart:
    title: str
    categories: Sequence[str]
    series: Sequence[Series]
    #: Says what the bars measure, under the axis ("Share of slots held, %").
    axis_label: str
    #: How a graduation of the axis is written.
    tick_label: Callable[[float], str] = str
    #: The end of the axis: 1.0 for rates; by default a round number above the largest value.
    maximum: float | None = None
    #: A sentence for screen readers; by default the title.
    summary: str | None = None


#: Axis ends, × 10ⁿ: each splits into four round graduations (1.2: 0.3, 0.6, 0.9, 1.2).
NICE_STEPS = (1, 1.2, 1.6, 2, 2.4, 3, 4, 5, 6, 8, 10)


def nice_maximum(value: float) -> float:
    """The smallest of ``NICE_STEPS`` × 10ⁿ at or above ``value`` (1 for nothing to show)."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in NICE_STEPS:
        if value <= step * power:
            return step * power
    return 10 * power  # pragma: no cover - the loop ends at 10


def ticks(maximum: float, parts: int = 4) -> list[float]:
    return [maximum * i / parts for i in range(parts + 1)]


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _tag(name: str, content: str = "", /, **attributes: Any) -> str:
    """An SVG element; attribute names in Python spelling (``text_anchor``), values escaped,
    numbers rounded to a tenth; ``content`` must already be markup (escape texts)."""
    written = " ".join(
        f'{key.rstrip("_").replace("_", "-")}="'
        f'{_number(value) if isinstance(value, float) else escape(value)}"'
        for key, value in attributes.items()
        if value is not None
    )
    return f"<{name} {written}>{content}</{name}>"


def render(chart: BarChart) -> Markup:
    """The chart as an ``<svg>`` element, sized by its viewBox (it scales to its container)."""
    values = [v for s in chart.series for v in s.values if v is not None]
    maximum = chart.maximum or nice_maximum(max(values, default=0))
    label_width = min(260, CHAR_WIDTH * max((len(c) for c in chart.categories), default=4) + 12)
    plot_width = WIDTH - label_width - VALUE_ROOM
    legend = len(chart.series) > 1
    top = TOP + (LEGEND_HEIGHT if legend else 0)
    group_height = len(chart.series) * (BAR_HEIGHT + BAR_GAP) - BAR_GAP
    plot_height = len(chart.categories) * (group_height + GROUP_GAP)
    desc_id = f"chart-{next(_ids)}-desc"

    parts = [
        _tag("title", escape(chart.title)),
        _tag("desc", escape(chart.summary or chart.title), id=desc_id),
    ]
    if legend:
        parts.append(_legend(chart.series, label_width))
    parts.append(_axis(chart, maximum, label_width, plot_width, top, plot_height))
    for row, category in enumerate(chart.categories):
        y = top + row * (group_height + GROUP_GAP) + GROUP_GAP / 2
        parts.append(
            _tag(
                "text",
                escape(category),
                class_="category",
                x=float(label_width - 6),
                y=y + group_height / 2,
                text_anchor="end",
                dominant_baseline="middle",
            )
        )
        for index, series in enumerate(chart.series):
            bar_y = y + index * (BAR_HEIGHT + BAR_GAP)
            parts.append(_bar(series, row, index, maximum, label_width, plot_width, bar_y))
    svg = _tag(
        "svg",
        "".join(parts),
        class_="chart",
        xmlns="http://www.w3.org/2000/svg",
        role="img",
        viewBox=f"0 0 {WIDTH} {_number(top + plot_height + AXIS_HEIGHT)}",
        width="100%",
        aria_label=chart.title,
        aria_describedby=desc_id,
        font_family="sans-serif",
        font_size=str(FONT_SIZE),
    )
    return Markup(svg)


def _legend(series: Sequence[Series], left: float) -> str:
    items, x = [], left
    for index, one in enumerate(series):
        items.append(
            _tag("rect", x=x, y=float(TOP), width="12", height="12", fill=_colour(index))
            + _tag("text", escape(one.name), x=x + 16, y=float(TOP + 10))
        )
        x += 16 + CHAR_WIDTH * len(one.name) + 20
    return _tag("g", "".join(items), class_="legend")


def _axis(
    chart: BarChart, maximum: float, left: float, width: float, top: float, height: float
) -> str:
    """The baseline, a graduation every quarter of the axis with its value, and the label."""
    bottom = top + height
    lines = [_tag("line", x1=left, y1=top, x2=left, y2=bottom, stroke="#555")]
    for tick in ticks(maximum):
        x = left + width * tick / maximum
        lines.append(_tag("line", x1=x, y1=top, x2=x, y2=bottom + 4, stroke="#ccc"))
        lines.append(
            _tag(
                "text",
                escape(chart.tick_label(tick)),
                class_="tick",
                x=x,
                y=bottom + 16,
                text_anchor="middle",
            )
        )
    lines.append(
        _tag(
            "text",
            escape(chart.axis_label),
            class_="axis-label",
            x=left + width / 2,
            y=bottom + 36,
            text_anchor="middle",
        )
    )
    return _tag("g", "".join(lines), class_="axis", aria_hidden="true")


def _colour(index: int) -> str:
    return COLOURS[index % len(COLOURS)]


def _bar(
    series: Series, row: int, index: int, maximum: float, left: float, width: float, y: float
) -> str:
    """One bar (none for a missing value) and its value written at its end."""
    value, label = series.values[row], series.labels[row]
    length = 0.0 if value is None else width * min(max(value, 0) / maximum, 1)
    bar = ""
    if value is not None:
        bar = _tag(
            "rect",
            _tag("title", escape(f"{series.name}: {label}")),
            class_="bar",
            x=left,
            y=y,
            width=length,
            height=float(BAR_HEIGHT),
            fill=_colour(index),
            data_value=repr(value),
        )
    text = _tag(
        "text",
        escape(label),
        class_="value",
        x=left + length + 4,
        y=y + BAR_HEIGHT / 2,
        dominant_baseline="middle",
    )
    return bar + text
