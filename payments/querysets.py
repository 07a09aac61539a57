from __future__ import annotations

from typing import TYPE_CHECKING, Self

from practice.querysets import PracticeQuerySet

if TYPE_CHECKING:
    from payments.models import Payment  # noqa: F401
    from practice.models import Membership


class PaymentQuerySet(PracticeQuerySet["Payment"]):
    def visible_to(self, membership: Membership) -> Self:
        """The payments a member may see and take: those of the sessions they may see
        (the whole practice for Owners and Assistants, a Therapist's own patients)."""
        from sessions.models import Session

        if not membership.is_active:
            return self.none()
        return self.for_practice(membership.practice).filter(
            session__in=Session.objects.visible_to(membership)
        )
