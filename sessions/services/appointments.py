"""Booking, moving, cancelling and marking appointments.

A therapist is never double-booked: every write that gives a therapist time first locks
that therapist's membership row, so two bookings for the same person are checked one
after the other, and then looks for an appointment that overlaps. (The embedded
PostgreSQL has no btree_gist, so an exclusion constraint is not available; the lock gives
the same guarantee for writes that go through these services.) A shared room only warns.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from functools import reduce
from operator import or_

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.formats import date_format, time_format
from django.utils.translation import gettext as _

from patients.models import Patient
from practice.models import Membership, Practice, User
from practice.services import audit_record
from sessions.models import OPEN_STATUSES, Appointment, AppointmentSeries, AppointmentStatus
from therapies.models import TherapyType


@dataclass(frozen=True)
class Booking:
    """What the calendar's form asks for; the service checks it against the practice."""

    patient: Patient
    therapist: User
    starts_at: datetime
    ends_at: datetime
    therapy_type: TherapyType | None = None
    room: str = ""
    meeting_url: str = ""
    front_desk_note: str = ""

    @classmethod
    def of(cls, appointment: Appointment) -> Booking:
        """The booking an appointment holds now, to change a part of it."""
        return cls(
            patient=appointment.patient,
            therapist=appointment.therapist,
            starts_at=appointment.starts_at,
            ends_at=appointment.ends_at,
            therapy_type=appointment.therapy_type,
            room=appointment.room,
            meeting_url=appointment.meeting_url,
            front_desk_note=appointment.front_desk_note,
        )


MAX_OCCURRENCES = 52
MAX_SERIES_SPAN = timedelta(days=366)


@dataclass(frozen=True)
class Repeat:
    """A weekly rule: every `every_weeks` weeks, `count` times or until a date (inclusive)."""

    every_weeks: int
    count: int | None = None
    until: date | None = None


Span = tuple[datetime, datetime]


def _wall(moment: datetime, tz: zoneinfo.ZoneInfo) -> datetime:
    """The practice's wall-clock reading of an instant, without a zone."""
    return moment.astimezone(tz).replace(tzinfo=None)


def _instant(wall: datetime, tz: zoneinfo.ZoneInfo) -> datetime:
    return wall.replace(tzinfo=tz).astimezone(UTC)


def occurrences(
    *, practice: Practice, starts_at: datetime, ends_at: datetime, repeat: Repeat
) -> list[Span]:
    """The dates of a recurring booking. Each keeps the first one's wall-clock time in the
    practice's time zone, across daylight-saving changes, and its length."""
    tz = zoneinfo.ZoneInfo(practice.time_zone)
    first, length = _wall(starts_at, tz), ends_at - starts_at
    spans = []
    for i in range(MAX_OCCURRENCES):
        start = first + timedelta(weeks=i * repeat.every_weeks)
        if repeat.count is not None and i >= repeat.count:
            break
        if repeat.until is not None and start.date() > repeat.until:
            break
        instant = _instant(start, tz)
        spans.append((instant, instant + length))
    return spans


def describe_when(practice: Practice, start: datetime, end: datetime) -> str:
    """A span as the practice reads it, e.g. "23/11/2026, 09:00–09:50"."""
    tz = zoneinfo.ZoneInfo(practice.time_zone)
    local_start, local_end = timezone.localtime(start, tz), timezone.localtime(end, tz)
    return _("%(day)s, %(start)s–%(end)s") % {
        "day": date_format(local_start, "SHORT_DATE_FORMAT"),
        "start": time_format(local_start, "H:i"),
        "end": time_format(local_end, "H:i"),
    }


MAX_CLASHES_NAMED = 5


def booking_check(
    *,
    practice: Practice,
    booking: Booking,
    appointment: Appointment | None = None,
    spans: list[Span] | None = None,
    replacing: list[int] | None = None,
) -> list[str]:
    """Refuse a booking that cannot be (ValidationError); return warnings for one that may.

    `spans` are the times asked for (a series has several; by default the booking's own);
    `replacing` the appointments those times replace, which cannot clash with themselves
    (by default `appointment`)."""
    spans = spans or [(booking.starts_at, booking.ends_at)]
    if replacing is None:
        replacing = [appointment.pk] if appointment is not None else []
    if booking.ends_at <= booking.starts_at:
        raise ValidationError(_("An appointment must end after it starts."), code="order")
    patient = booking.patient
    if patient.practice_id != practice.pk:
        raise ValueError("The patient belongs to another practice.")
    if patient.is_archived and (appointment is None or appointment.patient_id != patient.pk):
        raise ValidationError(
            _("%(name)s is archived; restore them before booking.") % {"name": patient.full_name},
            code="archived",
        )
    # Serialise every booking for this therapist: see the module's docstring.
    membership = (
        Membership.objects.for_practice(practice)
        .treating()
        .select_for_update()
        .filter(user=booking.therapist)
        .first()
    )
    if membership is None:
        raise ValidationError(
            _("Only active Owners and Therapists of this practice take appointments."),
            code="not_a_therapist",
        )
    if (
        not Patient.objects.for_practice(practice)
        .assigned_to(booking.therapist)
        .filter(pk=patient.pk)
        .exists()
    ):
        raise ValidationError(
            _(
                "%(therapist)s does not treat %(patient)s yet. Assign them on the patient's "
                "page first."
            )
            % {"therapist": booking.therapist.display_name, "patient": patient.full_name},
            code="not_assigned",
        )
    therapy_type = booking.therapy_type
    if therapy_type is not None:
        if therapy_type.practice_id != practice.pk:
            raise ValueError("The therapy belongs to another practice.")
        unchanged = appointment is not None and appointment.therapy_type_id == therapy_type.pk
        if not therapy_type.is_active and not unchanged:
            raise ValidationError(
                _("%(name)s is no longer offered.") % {"name": therapy_type.name},
                code="inactive_therapy",
            )

    asked = reduce(or_, (Q(starts_at__lt=end, ends_at__gt=start) for start, end in spans))
    overlapping = (
        Appointment.objects.for_practice(practice)
        .taking_time()
        .exclude(pk__in=replacing)
        .filter(asked)
        .order_by("starts_at")
    )
    clashes = list(
        overlapping.filter(therapist=booking.therapist).select_related("patient")[
            : MAX_CLASHES_NAMED + 1
        ]
    )
    if clashes:
        errors = [
            _("%(therapist)s already has an appointment with %(patient)s on %(when)s.")
            % {
                "therapist": booking.therapist.display_name,
                "patient": clash.patient.full_name,
                "when": describe_when(practice, clash.starts_at, clash.ends_at),
            }
            for clash in clashes[:MAX_CLASHES_NAMED]
        ]
        if len(clashes) > MAX_CLASHES_NAMED:
            errors.append(_("…and more. Choose other times."))
        raise ValidationError(errors, code="therapist_busy")
    warnings = []
    if booking.room:
        shared = overlapping.filter(room__iexact=booking.room).select_related("therapist").first()
        if shared is not None:
            warnings.append(
                _("%(room)s is also booked by %(therapist)s on %(when)s.")
                % {
                    "room": booking.room,
                    "therapist": shared.therapist.display_name,
                    "when": describe_when(practice, shared.starts_at, shared.ends_at),
                }
            )
    return warnings


RELATED = frozenset({"patient", "therapist", "therapy_type"})


def _apply(appointment: Appointment, booking: Booking) -> list[str]:
    changed = []
    for name in (
        "patient",
        "therapist",
        "therapy_type",
        "starts_at",
        "ends_at",
        "room",
        "meeting_url",
        "front_desk_note",
    ):
        value = getattr(booking, name)
        if name in RELATED:
            # By id: an unsaved appointment has no related rows to read.
            current, wanted = getattr(appointment, f"{name}_id"), value.pk if value else None
        else:
            current, wanted = getattr(appointment, name), value
        if current != wanted:
            setattr(appointment, name, value)
            changed.append(name)
    if "starts_at" in changed and appointment.pk is not None:
        # The reminder named the old time: the patient is reminded of the new one. Cleared
        # whatever this copy says, as a reminder may have been claimed since it was read.
        appointment.reminder_sent_at = None
        changed.append("reminder_sent_at")
    return changed


@transaction.atomic
def appointment_book(
    *, practice: Practice, actor: User, booking: Booking
) -> tuple[Appointment, list[str]]:
    """Book an appointment. Raises ValidationError (nothing saved) when the therapist is
    busy, does not treat the patient or cannot take appointments; returns the new
    appointment and any warnings (a shared room)."""
    warnings = booking_check(practice=practice, booking=booking)
    appointment = Appointment(practice=practice, created_by=actor)
    _apply(appointment, booking)
    appointment.save()
    audit_record(
        practice=practice,
        actor=actor,
        action="appointment.book",
        target=appointment,
        data={"patient": booking.patient.pk, "therapist": booking.therapist.pk},
    )
    return appointment, warnings


@transaction.atomic
def appointment_update(
    *, practice: Practice, actor: User, appointment: Appointment, booking: Booking
) -> list[str]:
    """Change an open appointment (time, therapist, therapy, room, …) under the same checks
    as a booking. Returns warnings."""
    _require_open(appointment)
    warnings = booking_check(practice=practice, booking=booking, appointment=appointment)
    changed = _apply(appointment, booking)
    if changed:
        appointment.save(update_fields=[*changed, "updated_at"])
        audit_record(
            practice=practice,
            actor=actor,
            action="appointment.update",
            target=appointment,
            data={"fields": changed},
        )
    return warnings


@transaction.atomic
def appointment_book_series(
    *, practice: Practice, actor: User, booking: Booking, repeat: Repeat
) -> tuple[list[Appointment], list[str]]:
    """Book a recurring appointment: every date is checked like a single booking, and if
    any clashes nothing is booked (the message names the clashing dates)."""
    spans = occurrences(
        practice=practice, starts_at=booking.starts_at, ends_at=booking.ends_at, repeat=repeat
    )
    if len(spans) < 2:
        raise ValidationError(
            _("A repeating appointment needs at least two dates."), code="too_short"
        )
    if spans[-1][0] - spans[0][0] > MAX_SERIES_SPAN:
        raise ValidationError(_("A series can cover one year at most."), code="too_long")
    warnings = booking_check(practice=practice, booking=booking, spans=spans)
    series = AppointmentSeries.objects.create(
        practice=practice,
        every_weeks=repeat.every_weeks,
        count=repeat.count,
        until=repeat.until,
        created_by=actor,
    )
    appointments = []
    for start, end in spans:
        appointment = Appointment(practice=practice, created_by=actor, series=series)
        _apply(appointment, replace(booking, starts_at=start, ends_at=end))
        appointments.append(appointment)
    Appointment.objects.bulk_create(appointments)
    audit_record(
        practice=practice,
        actor=actor,
        action="appointment.book_series",
        target=series,
        data={
            "patient": booking.patient.pk,
            "therapist": booking.therapist.pk,
            "appointments": [a.pk for a in appointments],
        },
    )
    return appointments, warnings


def _this_and_following(practice: Practice, appointment: Appointment) -> list[Appointment]:
    """The open appointments of `appointment`'s series from it on, locked for the change."""
    return list(
        Appointment.objects.for_practice(practice)
        .filter(
            series_id=appointment.series_id,
            starts_at__gte=appointment.starts_at,
            status__in=OPEN_STATUSES,
        )
        .select_related("patient", "therapist", "therapy_type")
        .select_for_update(of=("self",))
        .order_by("starts_at")
    )


@transaction.atomic
def appointment_update_following(
    *, practice: Practice, actor: User, appointment: Appointment, booking: Booking
) -> tuple[int, list[str]]:
    """Change this appointment and the later open ones of its series the same way: the
    same therapist, therapy, room and length, and the start moved by the same amount of
    wall-clock time (a move from Monday 9:00 to Tuesday 10:00 moves every later Monday
    9:00 to the Tuesday 10:00 of its week). All or nothing. Returns (changed, warnings)."""
    _require_open(appointment)
    if appointment.series_id is None:
        warnings = appointment_update(
            practice=practice, actor=actor, appointment=appointment, booking=booking
        )
        return 1, warnings
    tz = zoneinfo.ZoneInfo(practice.time_zone)
    shift = _wall(booking.starts_at, tz) - _wall(appointment.starts_at, tz)
    length = booking.ends_at - booking.starts_at
    following = _this_and_following(practice, appointment)
    spans = []
    for occurrence in following:
        start = _instant(_wall(occurrence.starts_at, tz) + shift, tz)
        spans.append((start, start + length))
    warnings = booking_check(
        practice=practice,
        booking=booking,
        appointment=appointment,
        spans=spans,
        replacing=[o.pk for o in following],
    )
    fields: set[str] = set()
    for occurrence, (start, end) in zip(following, spans, strict=True):
        changed = _apply(occurrence, replace(booking, starts_at=start, ends_at=end))
        if changed:
            occurrence.save(update_fields=[*changed, "updated_at"])
            fields.update(changed)
    if fields:
        audit_record(
            practice=practice,
            actor=actor,
            action="appointment.update_following",
            target=appointment,
            data={"fields": sorted(fields), "appointments": [o.pk for o in following]},
        )
    return len(following), warnings


def _require_open(appointment: Appointment) -> None:
    if not appointment.is_open:
        raise ValidationError(
            _("This appointment is %(status)s and can no longer be changed.")
            % {"status": appointment.get_status_display().lower()},
            code="closed",
        )


def _set_status(
    *, practice: Practice, actor: User, appointment: Appointment, status: str, action: str
) -> None:
    _require_open(appointment)
    appointment.status = status
    fields = ["status", "updated_at"]
    if status == AppointmentStatus.CANCELLED:
        appointment.cancelled_at = timezone.now()
        fields += ["cancelled_at", "cancel_reason"]
    appointment.save(update_fields=fields)
    audit_record(practice=practice, actor=actor, action=action, target=appointment)


@transaction.atomic
def appointment_cancel(
    *, practice: Practice, actor: User, appointment: Appointment, reason: str
) -> None:
    """Cancel an open appointment; its slot becomes free. The reason is administrative."""
    appointment.cancel_reason = reason
    _set_status(
        practice=practice,
        actor=actor,
        appointment=appointment,
        status=AppointmentStatus.CANCELLED,
        action="appointment.cancel",
    )


@transaction.atomic
def appointment_cancel_following(
    *, practice: Practice, actor: User, appointment: Appointment, reason: str
) -> int:
    """Cancel this appointment and the later open ones of its series. Returns how many."""
    _require_open(appointment)
    if appointment.series_id is None:
        appointment_cancel(practice=practice, actor=actor, appointment=appointment, reason=reason)
        return 1
    following = _this_and_following(practice, appointment)
    Appointment.objects.filter(pk__in=[o.pk for o in following]).update(
        status=AppointmentStatus.CANCELLED,
        cancelled_at=timezone.now(),
        cancel_reason=reason,
        updated_at=timezone.now(),
    )
    audit_record(
        practice=practice,
        actor=actor,
        action="appointment.cancel_following",
        target=appointment,
        data={"appointments": [o.pk for o in following]},
    )
    return len(following)


@transaction.atomic
def appointment_confirm(*, practice: Practice, actor: User, appointment: Appointment) -> None:
    """The patient confirmed they are coming."""
    if appointment.status == AppointmentStatus.CONFIRMED:
        return
    _set_status(
        practice=practice,
        actor=actor,
        appointment=appointment,
        status=AppointmentStatus.CONFIRMED,
        action="appointment.confirm",
    )


@transaction.atomic
def appointment_mark_no_show(*, practice: Practice, actor: User, appointment: Appointment) -> None:
    """The patient did not come. Only once the appointment has started."""
    if appointment.starts_at > timezone.now():
        raise ValidationError(
            _("An appointment can be marked as a no-show only once it has started."),
            code="future",
        )
    _set_status(
        practice=practice,
        actor=actor,
        appointment=appointment,
        status=AppointmentStatus.NO_SHOW,
        action="appointment.no_show",
    )
