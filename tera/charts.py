"""Charts of how a patient's custom-field values evolve over sessions, for Tera's Patterns.

Pure geometry: the caller passes each session's therapy schema and stored values, and gets
back dataclasses with every coordinate precomputed, so templates/tera/charts.html draws
plain SVG (no JavaScript, no inline styles; colours come from `series-N` CSS classes).
Values of removed fields, missing values and values of an unexpected type are skipped: a
chart shows what can be read, never an error.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from django.utils.formats import number_format
from django.utils.text import slugify
from django.utils.translation import gettext, ngettext

SERIES_COLOURS = 6  # series-0 .. series-5 in holos.css
MAX_X_LABELS = 6
MIN_LABEL_GAP = 88  # a short date at 13px is about 75 units wide
MAX_BARS = 12  # above this many options, only those chosen at least once are drawn
LABEL_CHARS = 28  # a bar label longer than this is shortened (the full text is in <title>)

# Line chart geometry, in viewBox units.
LINE_WIDTH = 640
LINE_HEIGHT = 260
LINE_LEFT, LINE_RIGHT, LINE_TOP, LINE_BOTTOM = 48, 620, 28, 222
X_INSET = 36  # keeps the first and last markers and their date labels off the edges

# Bar chart geometry.
BAR_WIDTH = 640
BAR_LEFT = 220  # bars start here; option labels end just left of it
BAR_MAX = 320  # a bar for 100% of the sessions
BAR_ROW = 28
BAR_HEIGHT = 16
BAR_TOP = 6


@dataclass(frozen=True)
class FieldSession:
    """One session as the charts need it: when, which therapy, its schema and values."""

    session_id: int
    day: datetime.date
    therapy_type_id: int
    therapy_name: str
    fields: list[dict[str, Any]]
    values: dict[str, Any]


@dataclass(frozen=True)
class Box:
    left: float
    top: float
    right: float
    bottom: float


@dataclass(frozen=True)
class Tick:
    value: float
    y: float
    label: str


@dataclass(frozen=True)
class XLabel:
    x: float
    day: datetime.date


@dataclass(frozen=True)
class Marker:
    x: float
    y: float
    label: str  # the value as shown, with its unit
    day: datetime.date
    session_id: int


@dataclass(frozen=True)
class Series:
    index: int
    key: str
    label: str
    points: str  # for <polyline points="...">
    markers: list[Marker]

    @property
    def css_class(self) -> str:
        return f"series-{self.index % SERIES_COLOURS}"


@dataclass(frozen=True)
class LineRow:
    day: datetime.date
    session_id: int
    values: list[str]  # one per series, "" where the session has no value


@dataclass(frozen=True)
class LineChart:
    id: str
    therapy_name: str
    title: str
    unit: str
    width: int
    height: int
    plot: Box
    ticks: list[Tick]
    x_labels: list[XLabel]
    series: list[Series]
    rows: list[LineRow]
    description: str
    kind: Literal["line"] = field(default="line", init=False)

    @property
    def tick_label_x(self) -> float:
        return self.plot.left - 8

    @property
    def date_label_y(self) -> float:
        return self.plot.bottom + 20

    @property
    def unit_y(self) -> float:
        return self.plot.top - 14


@dataclass(frozen=True)
class Bar:
    label: str
    short_label: str
    count: int
    share: int  # percent of the sessions that answered the field
    y: float
    width: float
    text_y: float
    value_x: float


@dataclass(frozen=True)
class BarChart:
    id: str
    therapy_name: str
    title: str
    sessions: int  # sessions that answered the field: the 100% of every bar
    hidden_zero: int  # options never chosen and left out (only when there are many)
    width: int
    height: int
    bars: list[Bar]
    description: str
    bar_left: int = BAR_LEFT
    bar_max: int = BAR_MAX
    bar_height: int = BAR_HEIGHT
    kind: Literal["bar"] = field(default="bar", init=False)

    @property
    def label_x(self) -> int:
        return self.bar_left - 8


Chart = LineChart | BarChart


def field_charts(sessions: list[FieldSession]) -> list[Chart]:
    """Charts per therapy type (ordered by its first session), per field in schema order:
    numeric fields as lines over time, choices and yes/no as bars of how often each
    answer was given. Text and date fields have none."""
    by_therapy: dict[int, list[FieldSession]] = {}
    for session in sorted(sessions, key=lambda s: (s.day, s.session_id)):
        by_therapy.setdefault(session.therapy_type_id, []).append(session)
    charts: list[Chart] = []
    for therapy_sessions in by_therapy.values():
        charts.extend(_therapy_charts(therapy_sessions))
    return charts


def _therapy_charts(sessions: list[FieldSession]) -> list[Chart]:
    schema = sessions[-1].fields  # the therapy's current schema
    charts: list[Chart] = []
    drawn: set[str] = set()
    for spec in schema:
        kind, key = spec.get("kind"), spec.get("key")
        if not isinstance(key, str) or key in drawn:
            continue
        if kind in ("number", "scale"):
            group = [
                f
                for f in schema
                if isinstance(f.get("key"), str) and _numeric_group(f) == _numeric_group(spec)
            ]
            drawn.update(f["key"] for f in group)
            line = _line_chart(sessions, group)
            if line:
                charts.append(line)
        elif kind in ("single_choice", "multiple_choice", "yes_no"):
            bars = _bar_chart(sessions, spec)
            if bars:
                charts.append(bars)
    return charts


def _numeric_group(spec: dict[str, Any]) -> tuple[Any, ...] | None:
    if spec.get("kind") not in ("number", "scale"):
        return None
    return (spec["kind"], spec.get("min"), spec.get("max"), spec.get("unit") or "")


# --- Line charts ---------------------------------------------------------------------------


def _numeric_value(spec: dict[str, Any], value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    if spec["kind"] == "scale" and not 0 <= value <= 10:
        return None
    return value


def _line_chart(sessions: list[FieldSession], group: list[dict[str, Any]]) -> LineChart | None:
    first = group[0]
    unit = first.get("unit") or ""
    columns: list[tuple[dict[str, Any], dict[int, float]]] = []
    for spec in group:
        found = {}
        for session in sessions:
            value = _numeric_value(spec, session.values.get(spec["key"]))
            if value is not None:
                found[session.session_id] = value
        if len(found) >= 2:
            columns.append((spec, found))
    if not columns:
        return None

    plot = Box(LINE_LEFT, LINE_TOP, LINE_RIGHT, LINE_BOTTOM)
    slots = [s for s in sessions if any(s.session_id in found for _, found in columns)]
    step_x = (plot.right - plot.left - 2 * X_INSET) / (len(slots) - 1)
    xs = {s.session_id: round(plot.left + X_INSET + i * step_x, 1) for i, s in enumerate(slots)}
    every = [v for _, found in columns for v in found.values()]
    low, high, step = _y_axis(first, min(every), max(every))

    def y_of(value: float) -> float:
        return round(plot.bottom - (value - low) / (high - low) * (plot.bottom - plot.top), 1)

    series = []
    for index, (spec, found) in enumerate(columns):
        markers = [
            Marker(
                xs[s.session_id],
                y_of(found[s.session_id]),
                _shown(found[s.session_id], unit),
                s.day,
                s.session_id,
            )
            for s in slots
            if s.session_id in found
        ]
        points = " ".join(f"{m.x},{m.y}" for m in markers)
        series.append(Series(index, spec["key"], str(spec.get("label", "")), points, markers))

    ticks = []
    for i in range(round((high - low) / step) + 1):
        value = round(low + i * step, 10)
        ticks.append(Tick(value, y_of(value), _number(value)))

    return LineChart(
        id=_chart_id(sessions[0], first),
        therapy_name=sessions[0].therapy_name,
        title=", ".join(s.label for s in series),
        unit=unit,
        width=LINE_WIDTH,
        height=LINE_HEIGHT,
        plot=plot,
        ticks=ticks,
        x_labels=[XLabel(xs[s.session_id], s.day) for s in _labelled(slots, step_x)],
        series=series,
        rows=[
            LineRow(
                s.day,
                s.session_id,
                [
                    _shown(found[s.session_id], unit) if s.session_id in found else ""
                    for _, found in columns
                ],
            )
            for s in slots
        ],
        description=" ".join(_line_description(s) for s in series),
    )


def _y_axis(spec: dict[str, Any], low: float, high: float) -> tuple[float, float, float]:
    """The value range of the y axis and its tick step."""
    if spec["kind"] == "scale":
        return 0, 10, 2
    bottom, top = spec.get("min"), spec.get("max")
    if bottom is None or top is None:
        # Pad the data a little so no marker sits on the frame, but keep positive data
        # above zero.
        pad = (high - low) * 0.05 or max(abs(high) * 0.1, 1)
        bottom = low - pad if bottom is None else bottom
        top = high + pad if top is None else top
        if low >= 0 > bottom:
            bottom = 0
    return _nice_axis(min(bottom, low), max(top, high))


def _nice_axis(low: float, high: float) -> tuple[float, float, float]:
    """Extend low..high to multiples of a 1, 2 or 5 × 10^n step giving at most 6 ticks."""
    magnitude = 10 ** math.floor(math.log10((high - low) / 5))
    for multiple in (1, 2, 5, 10, 20, 50):
        step = multiple * magnitude
        start = math.floor(low / step + 1e-9) * step
        end = math.ceil(high / step - 1e-9) * step
        if round((end - start) / step) + 1 <= 6:
            break
    return start, end, step


def _labelled(slots: list[FieldSession], step_x: float) -> list[FieldSession]:
    """The sessions whose date is written under the x axis: evenly spaced, at most
    MAX_X_LABELS, far enough apart not to overlap, and always the first and the last."""
    every = max(math.ceil((len(slots) - 1) / (MAX_X_LABELS - 1)), math.ceil(MIN_LABEL_GAP / step_x))
    picked = list(range(0, len(slots), every))
    if picked[-1] != len(slots) - 1:
        if len(picked) > 1 and (len(slots) - 1 - picked[-1]) * step_x < MIN_LABEL_GAP:
            picked.pop()
        picked.append(len(slots) - 1)
    return [slots[i] for i in picked]


def _line_description(series: Series) -> str:
    count = len(series.markers)
    return ngettext(
        "%(label)s: from %(first)s to %(last)s over %(count)d session.",
        "%(label)s: from %(first)s to %(last)s over %(count)d sessions.",
        count,
    ) % {
        "label": series.label,
        "first": series.markers[0].label,
        "last": series.markers[-1].label,
        "count": count,
    }


def _number(value: float) -> str:
    if value == int(value):
        return number_format(int(value))
    return number_format(round(value, 2))


def _shown(value: float, unit: str) -> str:
    return f"{_number(value)} {unit}" if unit else _number(value)


# --- Bar charts ----------------------------------------------------------------------------


def _answers(spec: dict[str, Any], value: Any) -> list[str]:
    """The options a stored value chose, or [] when it is not a usable answer."""
    kind = spec["kind"]
    if kind == "yes_no":
        return [_yes_no(value)] if isinstance(value, bool) else []
    if kind == "single_choice":
        return [value] if isinstance(value, str) and value else []
    if isinstance(value, list):
        return list(dict.fromkeys(v for v in value if isinstance(v, str) and v))
    return []


def _yes_no(value: bool) -> str:
    return gettext("Yes") if value else gettext("No")


def _bar_chart(sessions: list[FieldSession], spec: dict[str, Any]) -> BarChart | None:
    answers = [_answers(spec, s.values.get(spec["key"])) for s in sessions]
    answers = [a for a in answers if a]
    if not answers:
        return None
    if spec["kind"] == "yes_no":
        options = [_yes_no(True), _yes_no(False)]
    else:
        options = [c for c in spec.get("choices") or [] if isinstance(c, str)]
    counts = dict.fromkeys(options, 0)
    removed = []
    for answer in answers:
        for option in answer:
            if option not in counts:
                counts[option] = 0
                removed.append(option)
            counts[option] += 1

    hidden_zero = 0
    if len(counts) > MAX_BARS:
        hidden_zero = sum(1 for c in counts.values() if c == 0)
        counts = {option: c for option, c in counts.items() if c}

    total = len(answers)
    bars = []
    for row, (option, count) in enumerate(counts.items()):
        label = option
        if option in removed:
            label = gettext("%(option)s (no longer an option)") % {"option": option}
        width = round(BAR_MAX * count / total, 1)
        bars.append(
            Bar(
                label=label,
                short_label=_shorten(label),
                count=count,
                share=round(100 * count / total),
                y=BAR_TOP + row * BAR_ROW + (BAR_ROW - BAR_HEIGHT) / 2,
                width=width,
                text_y=BAR_TOP + row * BAR_ROW + BAR_ROW / 2 + 4,
                value_x=BAR_LEFT + width + 6,
            )
        )
    title = str(spec.get("label", ""))
    return BarChart(
        id=_chart_id(sessions[0], spec),
        therapy_name=sessions[0].therapy_name,
        title=title,
        sessions=total,
        hidden_zero=hidden_zero,
        width=BAR_WIDTH,
        height=BAR_TOP * 2 + len(bars) * BAR_ROW,
        bars=bars,
        description=_bar_description(title, total, bars),
    )


def _shorten(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1].rstrip() + "…"


def _bar_description(title: str, total: int, bars: Iterable[Bar]) -> str:
    counts = ", ".join(
        gettext("%(option)s %(count)d (%(share)d%%)")
        % {"option": bar.label, "count": bar.count, "share": bar.share}
        for bar in bars
        if bar.count
    )
    return ngettext(
        "%(label)s, over %(count)d session: %(counts)s.",
        "%(label)s, over %(count)d sessions: %(counts)s.",
        total,
    ) % {"label": title, "count": total, "counts": counts}


def _chart_id(session: FieldSession, spec: dict[str, Any]) -> str:
    return f"chart-{session.therapy_type_id}-{slugify(spec['key'])}"
