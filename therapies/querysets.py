from __future__ import annotations

from typing import TYPE_CHECKING, Self

from practice.querysets import PracticeQuerySet

if TYPE_CHECKING:
    from therapies.models import TherapyType  # noqa: F401


class TherapyTypeQuerySet(PracticeQuerySet["TherapyType"]):
    def active(self) -> Self:
        """Offered for new appointments; inactive types stay for the records that use them."""
        return self.filter(is_active=True)
