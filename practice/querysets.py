from __future__ import annotations

from typing import TYPE_CHECKING, Self, TypeVar

from django.db import models
from django.utils import timezone

if TYPE_CHECKING:
    from practice.models import Invitation, Membership, Practice, User  # noqa: F401

M = TypeVar("M", bound=models.Model)


class PracticeQuerySet(models.QuerySet[M]):
    """Base of every tenant-owned queryset: the one place a practice's rows are chosen."""

    def for_practice(self, practice: Practice) -> Self:
        return self.filter(practice=practice)


class MembershipQuerySet(PracticeQuerySet["Membership"]):
    def active(self) -> Self:
        return self.filter(is_active=True)

    def treating(self) -> Self:
        """Active members who may treat patients and take appointments."""
        from practice.models import TREATING_ROLES

        return self.active().filter(role__in=TREATING_ROLES)

    def of_user(self, user: User) -> Self:
        """The user's active memberships, practice included, in a stable order."""
        return (
            self.active()
            .filter(user=user)
            .select_related("practice")
            .order_by("practice__name", "practice_id")
        )


class InvitationQuerySet(PracticeQuerySet["Invitation"]):
    def pending(self) -> Self:
        return self.filter(accepted_at__isnull=True, expires_at__gt=timezone.now())

    def expired(self) -> Self:
        return self.filter(accepted_at__isnull=True, expires_at__lte=timezone.now())
