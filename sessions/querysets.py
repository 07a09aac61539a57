from __future__ import annotations

from typing import TYPE_CHECKING

from practice.querysets import PracticeQuerySet

if TYPE_CHECKING:
    from sessions.models import Appointment  # noqa: F401


class AppointmentQuerySet(PracticeQuerySet["Appointment"]):
    pass
