"""Patterns between a patient's sessions: the themes that come back, found by grouping
the patient's indexed chunks by meaning, and the custom-field values over time
(tera.charts draws them). Everything is read through the note barrier of the member
asking (`Chunk.objects.visible_to`, `SessionNote.objects.visible_to`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from tera.charts import FieldSession, field_charts
from tera.models import Chunk

if TYPE_CHECKING:
    from patients.models import Patient
    from practice.models import Membership
    from tera.charts import Chart

# Two chunks of all-MiniLM-L6-v2 this close (cosine) speak of the same thing; measured on
# note-like sentences (tests/tera/test_insights.py): same topic 0.5–0.7, unrelated < 0.3.
SAME_THEME = 0.5
MAX_CHUNKS = 400  # the newest; older ones rarely change which themes recur
MAX_THEMES = 6
LABEL = 160  # characters
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Theme:
    """What several sessions speak of, shown by the passage nearest its centre."""

    label: str
    sessions: list[tuple[int, date]]  # (session id, day), oldest first
    passages: int


def _label(text: str) -> str:
    first = SENTENCE_END.split(" ".join(text.split()), maxsplit=1)[0]
    return first if len(first) <= LABEL else first[: LABEL - 1].rsplit(" ", 1)[0] + "…"


def group_by_meaning(vectors: np.ndarray, threshold: float = SAME_THEME) -> list[list[int]]:
    """Leader clustering of unit vectors: each joins the nearest group whose centre is at
    least `threshold` similar, or starts one. Groups as lists of row indexes."""
    groups: list[list[int]] = []
    sums: list[np.ndarray] = []
    for row, vector in enumerate(vectors):
        if sums:
            centres = np.array(sums)
            centres /= np.linalg.norm(centres, axis=1, keepdims=True)
            similarity = centres @ vector
            best = int(np.argmax(similarity))
            if similarity[best] >= threshold:
                groups[best].append(row)
                sums[best] = sums[best] + vector
                continue
        groups.append([row])
        sums.append(vector.copy())
    return groups


def recurring_themes(membership: Membership, patient: Patient) -> list[Theme]:
    """Themes that come back in at least two sessions, the most widespread first."""
    rows = list(
        Chunk.objects.visible_to(membership)
        .filter(patient=patient, session__isnull=False)
        .order_by("-session__starts_at", "kind", "source_id", "position")
        .values_list("session_id", "session__starts_at", "text", "embedding")[:MAX_CHUNKS]
    )
    if len(rows) < 2:
        return []
    zone = ZoneInfo(membership.practice.time_zone)
    vectors = np.array([row[3] for row in rows], dtype=np.float32)
    themes = []
    for group in group_by_meaning(vectors):
        sessions = {rows[i][0]: timezone.localtime(rows[i][1], zone).date() for i in group}
        if len(sessions) < 2:
            continue
        centre = vectors[group].mean(axis=0)
        nearest = group[int(np.argmax(vectors[group] @ centre))]
        themes.append(
            Theme(
                label=_label(rows[nearest][2]),
                sessions=sorted(sessions.items(), key=lambda item: item[1]),
                passages=len(group),
            )
        )
    themes.sort(key=lambda t: (-len(t.sessions), -t.sessions[-1][1].toordinal()))
    return themes[:MAX_THEMES]


def field_sessions(membership: Membership, patient: Patient) -> list[FieldSession]:
    """The patient's recorded custom-field answers that the member may read, oldest first."""
    from sessions.models import SessionNote

    zone = ZoneInfo(membership.practice.time_zone)
    notes = (
        SessionNote.objects.visible_to(membership)
        .filter(session__patient=patient)
        .select_related("session__therapy_type")
        .order_by("session__starts_at")
    )
    return [
        FieldSession(
            session_id=note.session_id,
            day=timezone.localtime(note.session.starts_at, zone).date(),
            therapy_type_id=note.session.therapy_type_id,
            therapy_name=note.session.therapy_type.name,
            fields=note.session.therapy_type.custom_fields,
            values=note.custom_values,
        )
        for note in notes
        if note.custom_values  # encrypted: the empty ones are left out here, not in SQL
    ]


def patient_charts(membership: Membership, patient: Patient) -> list[Chart]:
    return field_charts(field_sessions(membership, patient))


def trends(charts: list[Chart]) -> list[dict[str, Any]]:
    """The charts in a line each, for the briefing: where each value started and stands,
    and the answer chosen most often."""
    from tera.charts import BarChart

    out = []
    for chart in charts:
        if isinstance(chart, BarChart):
            top = max(chart.bars, key=lambda bar: bar.count, default=None)
            if top is not None and top.count:
                text = gettext("%(field)s: most often %(answer)s (%(count)d of %(total)d)") % {
                    "field": chart.title,
                    "answer": top.label,
                    "count": top.count,
                    "total": chart.sessions,
                }
                out.append({"text": text})
            continue
        for series in chart.series:
            if not series.markers:
                continue
            first, last = series.markers[0], series.markers[-1]
            text = ngettext(
                "%(field)s: %(first)s → %(last)s over %(count)d session",
                "%(field)s: %(first)s → %(last)s over %(count)d sessions",
                len(series.markers),
            ) % {
                "field": series.label,
                "first": first.label,
                "last": last.label,
                "count": len(series.markers),
            }
            out.append({"text": text})
    return out
