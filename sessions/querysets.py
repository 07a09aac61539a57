from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Self

from practice.querysets import PracticeQuerySet

if TYPE_CHECKING:
    from practice.models import Membership
    from sessions.models import Appointment  # noqa: F401


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
