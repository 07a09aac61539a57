from __future__ import annotations

from typing import TYPE_CHECKING

from practice.querysets import PracticeQuerySet

if TYPE_CHECKING:
    from patients.models import Patient  # noqa: F401


class PatientQuerySet(PracticeQuerySet["Patient"]):
    pass
