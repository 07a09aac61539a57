"""Reads of practice data that other apps share."""

from __future__ import annotations

from django.db.models import QuerySet

from practice.models import Membership, Practice, User


def treating_users(practice: Practice) -> QuerySet[User]:
    """The people who may treat patients and take appointments: the practice's active
    Owners and Therapists, by name."""
    treating = Membership.objects.for_practice(practice).treating().values("user_id")
    return User.objects.filter(pk__in=treating).order_by("first_name", "last_name", "email")
