from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation

from practice.models import Membership

SESSION_KEY = "practice_id"


class PracticeMiddleware:
    """Set request.practice and request.membership from the user's chosen practice.

    Memberships are read on every request, so a deactivated member or a changed role
    takes effect on the member's next request. The practice's time zone and the user's
    language are activated for the rest of the request.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        membership = None
        memberships: list[Membership] = []
        user = request.user
        if user.is_authenticated:
            wanted = request.session.get(SESSION_KEY)
            memberships = list(Membership.objects.of_user(user))
            membership = (
                next((m for m in memberships if m.practice_id == wanted), None) if wanted else None
            ) or next(iter(memberships), None)
            if membership is None:
                request.session.pop(SESSION_KEY, None)
            elif membership.practice_id != wanted:
                request.session[SESSION_KEY] = membership.practice_id
            translation.activate(user.language)
            request.LANGUAGE_CODE = translation.get_language()
        request.memberships = memberships  # type: ignore[attr-defined]
        request.membership = membership  # type: ignore[attr-defined]
        request.practice = membership.practice if membership else None  # type: ignore[attr-defined]
        if membership:
            timezone.activate(zoneinfo.ZoneInfo(membership.practice.time_zone))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
