"""The calendar's geometry: which days a view shows, and where each appointment sits.

Pure functions over appointments already fetched (one query, see views.calendar): the
template only draws what is computed here. Rows are 15-minute slots counted from the first
hour shown; overlapping appointments of a day share it side by side in lanes.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from functools import cached_property

from sessions.models import Appointment, AppointmentStatus

SLOT_MINUTES = 15
FIRST_HOUR, LAST_HOUR = 7, 21  # shown even when empty; widened to fit appointments
MAX_LANES = 12
MONTH_ITEMS = 4


class View(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


def first_day_and_length(view: View, anchor: date) -> tuple[date, int]:
    """The first day a view shows and how many days: a day, Monday to Sunday, or the six
    weeks around a month."""
    if view == View.DAY:
        return anchor, 1
    if view == View.WEEK:
        return anchor - timedelta(days=anchor.weekday()), 7
    first = anchor.replace(day=1)
    return first - timedelta(days=first.weekday()), 42


def step(view: View, anchor: date, direction: int) -> date:
    """The anchor of the previous (-1) or next (+1) page of a view."""
    if view == View.DAY:
        return anchor + timedelta(days=direction)
    if view == View.WEEK:
        return anchor + timedelta(weeks=direction)
    month = anchor.month - 1 + direction
    return date(anchor.year + month // 12, month % 12 + 1, 1)


def utc_bounds(tz: zoneinfo.ZoneInfo, first: date, days: int) -> tuple[datetime, datetime]:
    """The instants where the shown days begin and end in the practice's time zone (a day
    across a daylight-saving change is 23 or 25 hours long)."""
    start = datetime.combine(first, time.min, tzinfo=tz)
    end = datetime.combine(first + timedelta(days=days), time.min, tzinfo=tz)
    return start, end


def initials(full_name: str) -> str:
    """How a patient shows where names may not: Maria Silva → M.S. (a colleague's busy
    time, the phone-calendar feed)."""
    return "".join(f"{part[0]}." for part in full_name.split())


@dataclass
class Placed:
    appointment: Appointment
    starts: datetime  # local
    ends: datetime  # local
    row: int = 1
    span: int = 1
    lane: int = 1
    width: int = 1
    details: bool = True  # False: another therapist's appointment, shown without names
    url: str = ""  # the appointment's dialog, when `details`
    status_label: str = ""  # shown for every status but Scheduled

    # What a chip prints, prepared here: a busy week draws hundreds of chips, and each
    # lookup or filter in the template costs more than the same work in Python.
    @cached_property
    def time(self) -> str:
        return f"{self.starts:%H:%M}"

    @cached_property
    def who(self) -> str:
        patient = self.appointment.patient
        if self.details:
            return patient.display_name
        return initials(patient.full_name)

    @property
    def what(self) -> str:
        a = self.appointment
        return " · ".join(x for x in (a.therapy_type.name if a.therapy_type else "", a.room) if x)

    @property
    def draggable(self) -> bool:
        return self.details and self.appointment.is_open

    @property
    def place(self) -> str:
        """The grid classes: start row, row span, lane and lane span."""
        return f"r{self.row} s{self.span} c{self.lane} w{self.width}"


@dataclass
class Day:
    day: date
    is_today: bool
    placed: list[Placed] = field(default_factory=list)
    lanes: int = 1
    now_row: int | None = None
    chips: str = ""  # the appointments' markup, rendered by the view
    more: int = 0  # appointments the month view leaves out


@dataclass
class Grid:
    days: list[Day]
    first_hour: int
    last_hour: int

    @property
    def rows(self) -> int:
        return (self.last_hour - self.first_hour) * 60 // SLOT_MINUTES

    @property
    def hours(self) -> list[tuple[int, int]]:
        """(hour, row where it starts) for the time column."""
        per_hour = 60 // SLOT_MINUTES
        return [
            (hour, (hour - self.first_hour) * per_hour + 1)
            for hour in range(self.first_hour, self.last_hour)
        ]


def _clusters(placed: list[Placed]) -> list[list[Placed]]:
    """Runs of appointments that overlap one another, in time order."""
    clusters: list[list[Placed]] = []
    end: datetime | None = None
    for p in sorted(placed, key=lambda p: (p.starts, p.ends)):
        if end is None or p.starts >= end:
            clusters.append([])
            end = p.ends
        clusters[-1].append(p)
        end = max(end, p.ends)
    return clusters


def _lanes(placed: list[Placed]) -> int:
    """Give overlapping appointments side-by-side lanes; returns the lanes the day needs."""
    clusters = _clusters(placed)
    for cluster in clusters:
        for i, p in enumerate(cluster):
            taken = {q.lane for q in cluster[:i] if q.ends > p.starts}
            free = next(lane for lane in range(1, MAX_LANES + 2) if lane not in taken)
            p.lane = min(free, MAX_LANES)
    day_lanes = max((p.lane for p in placed), default=1)
    for cluster in clusters:
        lanes = max(p.lane for p in cluster)
        for p in cluster:
            # The last lane of a cluster stretches over the lanes other clusters use.
            p.width = day_lanes - lanes + 1 if p.lane == lanes else 1
    return day_lanes


def build_grid(
    appointments: list[Appointment],
    *,
    tz: zoneinfo.ZoneInfo,
    first: date,
    days: int,
    today: date,
    now: datetime,
    details_for: set[int] | None,
) -> Grid:
    """Place `appointments` on the days from `first`. `details_for` is the set of
    therapist ids whose appointments may show names (None: all of them)."""
    shown = [first + timedelta(days=i) for i in range(days)]
    by_day: dict[date, Day] = {d: Day(d, d == today) for d in shown}
    first_hour, last_hour = FIRST_HOUR, LAST_HOUR
    # Translated once: each lazy label costs a catalogue lookup when printed.
    labels = {value: str(label) for value, label in AppointmentStatus.choices}
    labels[AppointmentStatus.SCHEDULED] = ""
    for appointment in appointments:
        starts = appointment.starts_at.astimezone(tz)
        ends = appointment.ends_at.astimezone(tz)
        # An appointment past midnight is drawn on its first day, up to midnight.
        day = by_day.get(starts.date())
        if day is None:
            continue
        placed = Placed(
            appointment,
            starts,
            ends,
            details=details_for is None or appointment.therapist_id in details_for,
            status_label=labels[appointment.status],
        )
        day.placed.append(placed)
        first_hour = min(first_hour, starts.hour)
        end_hour = 24 if ends.date() > starts.date() else ends.hour + (ends.minute > 0)
        last_hour = max(last_hour, end_hour)

    local_now = now.astimezone(tz)
    slot = timedelta(minutes=SLOT_MINUTES)
    for day in by_day.values():
        day.lanes = _lanes(day.placed)
        origin = datetime.combine(day.day, time(first_hour), tzinfo=tz)
        midnight = datetime.combine(day.day + timedelta(days=1), time.min, tzinfo=tz)
        for p in day.placed:
            # Wall-clock minutes, so a day with a daylight-saving change keeps its hours.
            start_minutes = p.starts.replace(tzinfo=None) - origin.replace(tzinfo=None)
            end = min(p.ends, midnight)
            end_minutes = end.replace(tzinfo=None) - origin.replace(tzinfo=None)
            if end == midnight:
                end_minutes = timedelta(hours=24 - first_hour)
            p.row = int(start_minutes / slot) + 1
            p.span = max(1, -(-(end_minutes - start_minutes) // slot))
        if day.is_today and first_hour <= local_now.hour < last_hour:
            minutes = (local_now.hour - first_hour) * 60 + local_now.minute
            day.now_row = minutes // SLOT_MINUTES + 1
    return Grid([by_day[d] for d in shown], first_hour, last_hour)
