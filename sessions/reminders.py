"""Email reminders to patients before their appointments.

Each practice chooses how many hours ahead (`Practice.reminder_hours`, 0 for none); a
patient may opt out (`Patient.email_reminders`). A reminder is sent at most once per
appointment time: `appointment_reminder_send` claims the row before sending, so two
workers, two beat runs or a retried task cannot both send it. Moving the appointment
clears the claim (sessions.services), so the patient is reminded of the new time.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta

from babel.dates import format_date, format_skeleton
from django.core.mail import send_mail
from django.db.models import DateTimeField, DurationField, ExpressionWrapper, F, Value
from django.template.loader import render_to_string
from django.utils import timezone, translation

from practice.services import audit_record
from sessions.models import OPEN_STATUSES, Appointment
from sessions.querysets import AppointmentQuerySet


def appointments_due_reminder(*, now: datetime | None = None) -> AppointmentQuerySet:
    """Appointments whose reminder should go out now, across all practices: still open,
    not yet reminded, starting within their practice's `reminder_hours`, for a patient
    who is not archived, has an email address and has not opted out."""
    now = now or timezone.now()
    # Each practice's window, computed by the database: one query for every practice.
    window_end = ExpressionWrapper(
        Value(now, output_field=DateTimeField())
        + ExpressionWrapper(
            F("practice__reminder_hours") * timedelta(hours=1), output_field=DurationField()
        ),
        output_field=DateTimeField(),
    )
    return (
        Appointment.objects.filter(
            status__in=OPEN_STATUSES,
            reminder_sent_at__isnull=True,
            starts_at__gt=now,
            starts_at__lte=window_end,
            practice__reminder_hours__gt=0,
            patient__archived_at__isnull=True,
            patient__email_reminders=True,
        )
        .exclude(patient__email="")
        .order_by("starts_at", "pk")
    )


def _claim(appointment_id: int, now: datetime) -> bool:
    # The conditions on the appointment's own columns sit in the UPDATE's own WHERE (the
    # joins live in the pk__in subquery), so PostgreSQL re-checks them on the row as a
    # concurrent claimer left it: of two racing claims, exactly one updates the row.
    due = appointments_due_reminder(now=now).filter(pk=appointment_id).values("pk")
    claimed = Appointment.objects.filter(
        pk=appointment_id,
        reminder_sent_at__isnull=True,
        status__in=OPEN_STATUSES,
        starts_at__gt=now,
        pk__in=due,
    ).update(reminder_sent_at=now)
    return claimed == 1


def appointment_reminder_send(*, appointment_id: int) -> bool:
    """Email the patient a reminder of the appointment if it is due one; return whether an
    email went out.

    At most once: the row is claimed (`reminder_sent_at` set) and, since this runs outside
    any transaction, committed before sending.
    If sending fails the claim is released and the error re-raised, so a retry or the
    next beat run can try again; a worker killed between claim and send loses that one
    reminder rather than risk sending it twice. Not clinical: the email names the time,
    place, therapist and practice, never the therapy, notes or front-desk note."""
    now = timezone.now()
    if not _claim(appointment_id, now):
        return False
    try:
        appointment = Appointment.objects.select_related("practice", "patient", "therapist").get(
            pk=appointment_id
        )
        _send(appointment)
    except Exception:
        # Release only our own claim: a move in between has already cleared it.
        Appointment.objects.filter(pk=appointment_id, reminder_sent_at=now).update(
            reminder_sent_at=None
        )
        raise
    audit_record(
        practice=appointment.practice,
        actor=None,
        action="appointment.reminder",
        target=appointment,
        data={"patient": appointment.patient_id},
    )
    return True


def _send(appointment: Appointment) -> None:
    practice, patient = appointment.practice, appointment.patient
    starts_at = timezone.localtime(appointment.starts_at, zoneinfo.ZoneInfo(practice.time_zone))
    # CLDR's words for the practice's language ("domingo, 22 de novembro"; "Sunday,
    # November 22"): Django's catalogue capitalises Portuguese weekdays and months.
    locale = translation.to_locale(practice.language)
    context = {
        "name": patient.preferred_name or patient.full_name.split()[0],
        "weekday": format_date(starts_at, "EEEE", locale=locale),
        "day": format_skeleton("MMMMd", starts_at, locale=locale),
        "time": f"{starts_at:%H:%M}",
        "therapist": appointment.therapist.display_name,
        "room": appointment.room,
        "meeting_url": appointment.meeting_url,
        "practice": practice.name,
    }
    with translation.override(practice.language):
        subject = render_to_string("sessions/email/reminder_subject.txt", context)
        body = render_to_string("sessions/email/reminder_body.txt", context)
    send_mail(" ".join(subject.split()), body, None, [patient.email])
