from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest

if TYPE_CHECKING:
    from django_htmx.middleware import HtmxDetails

    from practice.models import Membership, Practice, User


class PracticeRequest(HttpRequest):
    """A request after PracticeMiddleware: views behind @practice_required may rely on it."""

    user: User
    practice: Practice
    membership: Membership
    memberships: list[Membership]
    htmx: HtmxDetails


class MaybePracticeRequest(HttpRequest):
    """A request that may come from a visitor or from a user without a practice."""

    practice: Practice | None
    membership: Membership | None
    htmx: HtmxDetails


def wants_fragment(request: PracticeRequest | MaybePracticeRequest) -> bool:
    """An htmx swap wants only the fragment; a history restore (the back button after the
    snapshot was dropped, as on pages with hx-history="false") wants the whole page."""
    return bool(request.htmx) and not request.htmx.history_restore_request
