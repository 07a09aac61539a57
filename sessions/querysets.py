from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Self, TypeVar

from practice.querysets import PracticeQuerySet

if TYPE_CHECKING:
    from practice.models import Membership
    from sessions.models import (  # noqa: F401
        Appointment,
        ClinicalNote,
        Recording,
        Session,
        SessionNote,
    )


Q = TypeVar("Q", bound=PracticeQuerySet[Any])


def clinical_scope(queryset: Q, membership: Membership, *, patient: str) -> Q:
    """The note barrier's one rule, for every kind of clinical content (notes, their
    history, recordings and transcripts), reached from `queryset` through the lookup
    `patient`: Owners read the whole practice's, Therapists those of the patients
    assigned to them, Assistants and deactivated members nothing."""
    from patients.models import Patient

    if not membership.is_active or not membership.treats_patients:
        return queryset.none()
    scoped = queryset.for_practice(membership.practice)
    if membership.is_therapist:
        mine = Patient.objects.for_practice(membership.practice).assigned_to(membership.user_id)
        scoped = scoped.filter(**{f"{patient}__in": mine})
    return scoped


class AppointmentQuerySet(PracticeQuerySet["Appointment"]):
    def overlapping(self, start: datetime, end: datetime) -> Self:
        """Appointments that share any moment with [start, end)."""
        return self.filter(starts_at__lt=end, ends_at__gt=start)

    def taking_time(self) -> Self:
        """Appointments that occupy their slot (all but the cancelled ones)."""
        from sessions.models import FREE_STATUSES

        return self.exclude(status__in=FREE_STATUSES)

    def for_calendar(self) -> Self:
        """What the calendar draws: one query, with the related rows it shows."""
        return (
            self.select_related("patient", "therapist", "therapy_type")
            # Only what a calendar chip shows: a busy week has hundreds of rows.
            .only(
                "starts_at",
                "ends_at",
                "status",
                "room",
                "practice_id",
                "therapist_id",
                "patient_id",
                "therapy_type_id",
                "patient__full_name",
                "patient__preferred_name",
                "therapist__first_name",
                "therapist__last_name",
                "therapist__email",
                "therapy_type__name",
                "therapy_type__colour",
            )
            .order_by("starts_at", "pk")
        )

    def manageable_by(self, membership: Membership) -> Self:
        """The appointments a member may open and change: Owners and Assistants schedule
        for everyone, a Therapist only their own. Others answer 404 like a missing id."""
        if not membership.is_active:
            return self.none()
        appointments = self.for_practice(membership.practice)
        if membership.is_therapist:
            appointments = appointments.filter(therapist_id=membership.user_id)
        return appointments


class SessionQuerySet(PracticeQuerySet["Session"]):
    def visible_to(self, membership: Membership) -> Self:
        """Sessions whose administrative facts (date, therapist, therapy, duration) a
        member may see: those of the patients they may see (`Patient.objects.visible_to`).
        What was written in them is `SessionNote.objects.visible_to`'s business."""
        from patients.models import Patient

        if not membership.is_active:
            return self.none()
        return self.for_practice(membership.practice).filter(
            patient__in=Patient.objects.visible_to(membership)
        )

    def id_of_appointment(self, appointment_id: int) -> int | None:
        """The id of the session an appointment became, or None while it is not recorded."""
        return self.filter(appointment_id=appointment_id).values_list("pk", flat=True).first()

    def newest_first(self) -> Self:
        return self.order_by("-starts_at", "-pk")

    def oldest_first(self) -> Self:
        return self.order_by("starts_at", "pk")


class SessionNoteQuerySet(PracticeQuerySet["SessionNote"]):
    def visible_to(self, membership: Membership) -> Self:
        """The note barrier: the session notes (and custom-field values, revisions and
        amendments, read through a note) that a member may read. Owners: every note of
        the practice. Therapists: notes of sessions with the patients assigned to them.
        Assistants: none, ever.

        Every view, list, filter, export and task that reads clinical content of a session
        starts here; a note outside it answers 404 or is simply absent."""
        return clinical_scope(self, membership, patient="session__patient")


class RecordingQuerySet(PracticeQuerySet["Recording"]):
    def visible_to(self, membership: Membership) -> Self:
        """The barrier for audio and transcripts, the same as for notes: Owners see every
        recording of the practice, Therapists those of the patients assigned to them,
        Assistants none. Speakers, segments and live text are read through a recording
        from here."""
        return clinical_scope(self, membership, patient="patient")

    def counted_against_plan(self) -> Self:
        """Recordings that use up the month's allowance: all but those cancelled before
        any audio arrived."""
        from sessions.models import RecordingStatus

        return self.exclude(status=RecordingStatus.CANCELLED, audio_seconds=0)


class ClinicalNoteQuerySet(PracticeQuerySet["ClinicalNote"]):
    def visible_to(self, membership: Membership) -> Self:
        """The note barrier for AI-drafted clinical notes (their versions and proposals are
        read through a note from here): the same rule as for session notes."""
        return clinical_scope(self, membership, patient="patient")
