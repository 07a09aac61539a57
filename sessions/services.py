"""Booking, moving, cancelling and marking appointments.

A therapist is never double-booked: every write that gives a therapist time first locks
that therapist's membership row, so two bookings for the same person are checked one
after the other, and then looks for an appointment that overlaps. (The embedded
PostgreSQL has no btree_gist, so an exclusion constraint is not available; the lock gives
the same guarantee for writes that go through these services.) A shared room only warns.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format, time_format
from django.utils.translation import gettext as _

from patients.models import Patient
from practice.models import Membership, Practice, User
from practice.services import audit_record
from sessions.models import Appointment, AppointmentStatus
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


def _when(practice: Practice, start: datetime, end: datetime) -> str:
    tz = zoneinfo.ZoneInfo(practice.time_zone)
    local_start, local_end = timezone.localtime(start, tz), timezone.localtime(end, tz)
    return _("%(day)s, %(start)s–%(end)s") % {
        "day": date_format(local_start, "SHORT_DATE_FORMAT"),
        "start": time_format(local_start, "H:i"),
        "end": time_format(local_end, "H:i"),
    }


def _check(
    *, practice: Practice, booking: Booking, appointment: Appointment | None = None
) -> list[str]:
    """Refuse a booking that cannot be (ValidationError); return warnings for one that may."""
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

    others = Appointment.objects.for_practice(practice).taking_time()
    if appointment is not None:
        others = others.exclude(pk=appointment.pk)
    overlapping = others.overlapping(booking.starts_at, booking.ends_at)
    clash = overlapping.filter(therapist=booking.therapist).select_related("patient").first()
    if clash is not None:
        raise ValidationError(
            _("%(therapist)s already has an appointment with %(patient)s on %(when)s.")
            % {
                "therapist": booking.therapist.display_name,
                "patient": clash.patient.full_name,
                "when": _when(practice, clash.starts_at, clash.ends_at),
            },
            code="therapist_busy",
        )
    warnings = []
    if booking.room:
        shared = overlapping.filter(room__iexact=booking.room).select_related("therapist").first()
        if shared is not None:
            warnings.append(
                _("%(room)s is also booked by %(therapist)s on %(when)s.")
                % {
                    "room": booking.room,
                    "therapist": shared.therapist.display_name,
                    "when": _when(practice, shared.starts_at, shared.ends_at),
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
    if "starts_at" in changed and appointment.reminder_sent_at is not None:
        # The reminder named the old time: the patient is reminded of the new one.
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
    warnings = _check(practice=practice, booking=booking)
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
    warnings = _check(practice=practice, booking=booking, appointment=appointment)
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
