from __future__ import annotations

import time
import zoneinfo
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

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


# Session keys: when the user signed in, and when they last did something.
SIGNED_IN_AT = "holos_signed_in_at"
SEEN_AT = "holos_seen_at"
# Sent by requests the page makes on its own (htmx polls): they don't keep a session alive.
BACKGROUND_HEADER = "X-Holos-Background"
SEEN_EVERY = 60  # seconds: how often activity is written to the session, at most


def mark_signed_in(request: HttpRequest) -> None:
    """Start the clocks of a new session (on `user_logged_in`)."""
    now = time.time()
    request.session[SIGNED_IN_AT] = request.session[SEEN_AT] = now


class SessionTimeoutMiddleware:
    """End a session idle for SESSION_IDLE_MINUTES, or SESSION_ABSOLUTE_HOURS after its
    sign-in whatever happens in it, or signed in before the user's `sessions_valid_after`
    (a deactivation). Only what the person does counts as activity: requests sent with
    BACKGROUND_HEADER (a page polling for progress) leave the idle clock alone."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated:
            now = time.time()
            if SIGNED_IN_AT not in request.session:  # signed in before these clocks existed
                mark_signed_in(request)
            signed_in = request.session[SIGNED_IN_AT]
            seen = request.session.get(SEEN_AT, signed_in)
            ended = user.sessions_valid_after
            if now - signed_in > settings.SESSION_ABSOLUTE_SECONDS:
                hours = settings.SESSION_ABSOLUTE_SECONDS // 3600
                return self.signed_out(
                    request,
                    ngettext(
                        "You were signed out: a session lasts at most %(hours)d hour.",
                        "You were signed out: a session lasts at most %(hours)d hours.",
                        hours,
                    )
                    % {"hours": hours},
                )
            if now - seen > settings.SESSION_IDLE_SECONDS:
                return self.signed_out(
                    request, _("You were signed out after a while without activity.")
                )
            if ended is not None and signed_in < ended.timestamp():
                return self.signed_out(request, _("You were signed out. Sign in again."))
            if request.headers.get(BACKGROUND_HEADER) != "true" and now - seen >= SEEN_EVERY:
                request.session[SEEN_AT] = now
        return self.get_response(request)

    @staticmethod
    def signed_out(request: HttpRequest, message: str) -> HttpResponse:
        logout(request)  # a new, empty session
        messages.info(request, message)
        return send_to(request, reverse(settings.LOGIN_URL))


class TwoFactorMiddleware:
    """Between the password and the rest of the app: a member who must use two-factor
    authentication (Owners, Therapists) or who set it up enters a code first, or sets the
    app up first if they must and have none. Only the two-factor pages and signing out
    are open until then. Runs after PracticeMiddleware (it reads request.memberships)."""

    OPEN = frozenset({"accounts:two_factor", "accounts:two_factor_setup", "accounts:logout"})
    NOT_ENROLLED = "holos_two_factor_none"  # checked once a session: optional and unused

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated:
            target = self.second_factor(request)
            if target is not None and self.view_name(request) not in self.OPEN:
                return send_to(request, reverse(target))
        return self.get_response(request)

    def second_factor(self, request: HttpRequest) -> str | None:
        """Where a signed-in session must go before anything else, if anywhere."""
        from practice import two_factor

        if two_factor.is_verified(request):
            return None
        user = request.user
        if two_factor.is_required(request.memberships):  # type: ignore[attr-defined]
            has_device = two_factor.confirmed_device(user) is not None  # type: ignore[arg-type]
            return "accounts:two_factor" if has_device else "accounts:two_factor_setup"
        if request.session.get(self.NOT_ENROLLED):
            return None
        if two_factor.confirmed_device(user) is not None:  # type: ignore[arg-type]
            return "accounts:two_factor"
        request.session[self.NOT_ENROLLED] = True
        return None

    @staticmethod
    def view_name(request: HttpRequest) -> str:
        try:
            return resolve(request.path_info).view_name
        except Resolver404:
            return ""


def send_to(request: HttpRequest, url: str) -> HttpResponse:
    """Send the browser to `url` (a page of ours), coming back here afterwards: htmx gets
    HX-Redirect, so the whole page goes there rather than a fragment; a plain GET carries
    itself as `next`."""
    if request.headers.get("HX-Request"):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    if request.method == "GET":
        url += "?" + urlencode({"next": request.get_full_path()})
    return redirect(url)
