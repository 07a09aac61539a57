"""tera.charts: geometry and counts from plain FieldSession inputs; no database needed."""

from __future__ import annotations

import datetime
import re
from typing import Any

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from tera.charts import BarChart, FieldSession, LineChart, field_charts

CHAKRAS = ["Root", "Sacral", "Solar plexus", "Heart", "Throat", "Third eye", "Crown"]


def spec(key: str, kind: str, **extra: Any) -> dict[str, Any]:
    return {
        "key": key,
        "label": extra.pop("label", key.replace("_", " ").capitalize()),
        "kind": kind,
        "choices": extra.pop("choices", []),
        "min": extra.pop("min", None),
        "max": extra.pop("max", None),
        "unit": extra.pop("unit", ""),
    }


REIKI = [
    spec("chakras", "multiple_choice", choices=CHAKRAS),
    spec("sensations", "long_text"),
    spec("energy_before", "scale"),
    spec("energy_after", "scale"),
]


def sessions_of(
    values: list[dict[str, Any]],
    fields: list[dict[str, Any]] = REIKI,
    *,
    therapy: int = 1,
    name: str = "Reiki",
    first_id: int = 100,
    start: datetime.date = datetime.date(2025, 3, 3),
) -> list[FieldSession]:
    return [
        FieldSession(
            session_id=first_id + i,
            day=start + datetime.timedelta(weeks=i),
            therapy_type_id=therapy,
            therapy_name=name,
            fields=fields,
            values=v,
        )
        for i, v in enumerate(values)
    ]


def reiki_sessions() -> list[FieldSession]:
    return sessions_of(
        [
            {"chakras": ["Heart", "Root"], "energy_before": 3, "energy_after": 6},
            {"chakras": ["Heart"], "energy_before": 4, "energy_after": 7},
            {"sensations": "warmth", "energy_before": 4, "energy_after": 6},
            {"chakras": ["Heart", "Throat"], "energy_before": 5, "energy_after": 8},
            {"chakras": ["Crown"], "energy_before": 6},
            {"energy_before": 7, "energy_after": 9, "sensations": "calm"},
        ]
    )


def only(charts: list[Any], kind: type) -> list[Any]:
    return [c for c in charts if isinstance(c, kind)]


def test_two_scale_fields_share_one_chart_with_two_series() -> None:
    [line] = only(field_charts(reiki_sessions()), LineChart)

    assert [s.key for s in line.series] == ["energy_before", "energy_after"]
    assert [len(s.markers) for s in line.series] == [6, 5]
    assert [t.value for t in line.ticks] == [0, 2, 4, 6, 8, 10]
    assert line.series[0].css_class == "series-0"
    assert line.series[1].css_class == "series-1"
    assert line.description.startswith("Energy before: from 3 to 7 over 6 sessions.")
    assert len(line.rows) == 6
    assert line.rows[4].values == ["6", ""]


def test_higher_value_is_drawn_higher_up() -> None:
    [line] = only(field_charts(reiki_sessions()), LineChart)
    ys = [m.y for m in line.series[0].markers]  # values 3, 4, 4, 5, 6, 7

    assert ys == sorted(ys, reverse=True)
    assert ys[1] == ys[2]
    assert line.plot.top <= min(ys) and max(ys) <= line.plot.bottom
    zero, ten = line.ticks[0], line.ticks[-1]
    assert zero.y == line.plot.bottom and ten.y == line.plot.top
    assert line.series[0].points.split()[0] == f"{line.series[0].markers[0].x},{ys[0]}"


def test_markers_move_right_in_time_and_date_labels_are_thinned() -> None:
    values = [{"energy_before": i % 10, "energy_after": 5} for i in range(15)]
    [line] = field_charts(sessions_of(values))

    xs = [m.x for m in line.series[0].markers]
    assert xs == sorted(xs) and len(set(xs)) == 15
    label_xs = [label.x for label in line.x_labels]
    assert 4 <= len(label_xs) <= 6
    assert min(b - a for a, b in zip(label_xs, label_xs[1:], strict=False)) >= 80
    assert line.x_labels[0].day == datetime.date(2025, 3, 3)
    assert label_xs[0] == xs[0] and label_xs[-1] == xs[-1]


def test_number_field_uses_its_bounds_and_unit() -> None:
    fields = [spec("representatives", "number", min=0, max=100, unit="people")]
    [line] = field_charts(sessions_of([{"representatives": 4}, {"representatives": 12}], fields))

    assert isinstance(line, LineChart)
    assert line.unit == "people"
    assert [t.value for t in line.ticks] == [0, 20, 40, 60, 80, 100]
    assert [m.label for m in line.series[0].markers] == ["4 people", "12 people"]


def test_number_field_without_bounds_gets_nice_padded_ticks() -> None:
    fields = [spec("minutes", "number")]
    values = [{"minutes": v} for v in (62, 75, 80.5)]
    [line] = field_charts(sessions_of(values, fields))

    ticks = [t.value for t in line.ticks]
    assert 4 <= len(ticks) <= 6
    assert ticks[0] < 62 and ticks[-1] > 80.5
    steps = {round(b - a, 6) for a, b in zip(ticks, ticks[1:], strict=False)}
    assert len(steps) == 1 and steps.pop() in (1, 2, 5, 10, 20, 50)
    assert line.series[0].markers[2].label == "80.5"


def test_differently_bounded_numbers_get_separate_charts() -> None:
    fields = [spec("minutes", "number", unit="min"), spec("people", "number", unit="people")]
    values = [{"minutes": 30, "people": 3}, {"minutes": 40, "people": 5}]

    assert [c.title for c in field_charts(sessions_of(values, fields))] == ["Minutes", "People"]


def test_numeric_field_with_one_value_has_no_line_chart() -> None:
    values = [{"energy_before": 4}, {"energy_after": 6}, {"energy_before": 5}]
    [line] = only(field_charts(sessions_of(values)), LineChart)

    assert [s.key for s in line.series] == ["energy_before"]
    assert field_charts(sessions_of([{"energy_before": 4}])) == []


def test_multiple_choice_counts_sessions_per_option() -> None:
    values = [
        {"chakras": ["Heart", "Root"]},
        {"chakras": ["Heart", "Heart"]},  # a repeated option counts once
        {"chakras": ["Throat"]},
        {"chakras": ["Heart"]},
    ]
    [bars] = field_charts(sessions_of(values))

    assert isinstance(bars, BarChart)
    assert bars.sessions == 4
    assert [b.label for b in bars.bars] == CHAKRAS
    heart = bars.bars[CHAKRAS.index("Heart")]
    assert (heart.count, heart.share) == (3, 75)
    crown = bars.bars[CHAKRAS.index("Crown")]
    assert (crown.count, crown.share, crown.width) == (0, 0, 0)
    assert heart.width == 3 * bars.bars[0].width
    assert bars.hidden_zero == 0
    assert "Heart 3 (75%)" in bars.description


def test_answered_options_no_longer_in_the_schema_come_last() -> None:
    fields = [spec("mood", "single_choice", choices=["Calm", "Tense"])]
    values = [{"mood": "Calm"}, {"mood": "Sleepy"}, {"mood": "Calm"}]
    [bars] = field_charts(sessions_of(values, fields))

    assert [(b.label, b.count) for b in bars.bars] == [
        ("Calm", 2),
        ("Tense", 0),
        ("Sleepy (no longer an option)", 1),
    ]


def test_more_than_twelve_options_shows_only_chosen_ones() -> None:
    bars_32 = [f"Bar {n}" for n in range(1, 33)]
    fields = [spec("bars", "multiple_choice", choices=bars_32)]
    values = [{"bars": ["Bar 3", "Bar 7"]}, {"bars": ["Bar 7", "Bar 30"]}]
    [bars] = field_charts(sessions_of(values, fields))

    assert [(b.label, b.count) for b in bars.bars] == [("Bar 3", 1), ("Bar 7", 2), ("Bar 30", 1)]
    assert bars.hidden_zero == 29


def test_yes_no_counts() -> None:
    fields = [spec("homework", "yes_no")]
    values = [{"homework": True}, {"homework": False}, {"homework": True}, {}]
    [bars] = field_charts(sessions_of(values, fields))

    assert [(b.label, b.count, b.share) for b in bars.bars] == [("Yes", 2, 67), ("No", 1, 33)]


def test_malformed_and_removed_values_are_skipped() -> None:
    fields = [
        spec("energy_before", "scale"),
        spec("mood", "single_choice", choices=["Calm"]),
        spec("chakras", "multiple_choice", choices=CHAKRAS),
        spec("homework", "yes_no"),
    ]
    values = [
        {"energy_before": 3, "old_field": 9, "mood": 4, "chakras": "Heart", "homework": "yes"},
        {"energy_before": "7", "mood": None, "chakras": [1, None], "homework": 1},
        {"energy_before": True},
        {"energy_before": 11},
        {"energy_before": float("nan")},
        {"energy_before": 5, "chakras": ["Heart", 3]},
    ]
    charts = field_charts(sessions_of(values, fields))

    [line, bars] = charts
    assert [m.label for m in line.series[0].markers] == ["3", "5"]
    assert bars.title == "Chakras"
    assert bars.sessions == 1


def test_text_and_date_fields_have_no_chart() -> None:
    fields = [spec("theme", "short_text"), spec("notes", "long_text"), spec("next", "date")]
    values = [{"theme": "a", "notes": "b", "next": "2025-05-01"}] * 3

    assert field_charts(sessions_of(values, fields)) == []


def test_charts_are_grouped_per_therapy_in_order_of_first_session() -> None:
    constellation = [spec("representatives", "number", min=0, max=100, unit="people")]
    reiki = sessions_of(
        [{"energy_before": 3}, {"energy_before": 5}], start=datetime.date(2025, 4, 1)
    )
    family = sessions_of(
        [{"representatives": 4}, {"representatives": 6}],
        constellation,
        therapy=2,
        name="Family Constellation",
        first_id=200,
        start=datetime.date(2025, 3, 25),
    )
    # Interleaved in time and shuffled: each therapy's charts still stay together.
    mixed = [reiki[1], family[1], reiki[0], family[0]]
    charts = field_charts(mixed)

    assert [(c.therapy_name, c.id) for c in charts] == [
        ("Family Constellation", "chart-2-representatives"),
        ("Reiki", "chart-1-energy_before"),
    ]


def render(charts: list[Any]) -> str:
    return render_to_string("tera/charts.html", {"charts": charts})


def test_rendered_charts_are_plain_svg_with_session_links() -> None:
    charts = field_charts(reiki_sessions())
    html = render(charts)

    assert html.count("<svg") == 2
    assert 'role="img"' in html
    assert f'href="{reverse("sessions:detail", args=[100])}"' in html
    assert 'aria-labelledby="chart-1-energy_before-title chart-1-energy_before-desc"' in html
    assert 'id="chart-1-chakras-desc"' in html
    assert "style=" not in html
    assert "<style" not in html
    assert "<script" not in html
    assert "Show the numbers" in html
    assert html.count('class="chart-legend') == 1  # only the chart with several series


def test_rendered_coordinates_keep_a_decimal_point_in_portuguese() -> None:
    fields = [spec("minutes", "number", unit="min")]
    values = [{"minutes": v} for v in (12.5, 13, 17.25)]
    with translation.override("pt-br"):
        charts = field_charts(sessions_of(values, fields))
        html = render(charts)

    assert re.search(r'points="[\d., ]+"', html)
    assert not re.search(r'(?:x|y|cx|cy|width)="[\d.]*,', html)
    assert "12,5 min" in html  # values shown to people are localised
