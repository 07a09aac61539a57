"""A therapist's appointments as an iCalendar feed for phone calendars.

Phones subscribe without signing in, so the feed lives at a secret URL: whoever holds it
reads the member's appointment times, patient initials, therapy and room, and nothing
else (no names, notes, meeting links or cancel reasons). The member can turn the link
off or replace it at any time; it also stops answering once they no longer treat patients
in the practice.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseNotFound
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe
from icalendar import Calendar, Event

from practice.http import PracticeRequest
from practice.models import TREATING_ROLES, Membership, Practice, User
from practice.permissions import role_required
from practice.services import audit_record
from sessions.calendar import initials
from sessions.models import Appointment, AppointmentStatus, CalendarFeed

PAST = timedelta(days=30)
AHEAD = timedelta(days=365)
ICS_STATUS = {
    AppointmentStatus.SCHEDULED: "TENTATIVE",
    AppointmentStatus.CANCELLED: "CANCELLED",  # kept in the feed so phones remove it
}

# --- Services --------------------------------------------------------------------------


def _lock_treating_membership(practice: Practice, actor: User) -> None:
    """Lock the actor's membership row (two clicks on "Replace link" run one after the
    other) and refuse members who take no appointments."""
    membership = (
        Membership.objects.for_practice(practice)
        .treating()
        .select_for_update()
        .filter(user=actor)
        .first()
    )
    if membership is None:
        raise ValidationError(_("Only members who take appointments have a calendar link."))


@transaction.atomic
def calendar_feed_create(*, practice: Practice, actor: User) -> CalendarFeed:
    """Give the actor a new secret feed URL in the practice; any earlier one stops working."""
    _lock_treating_membership(practice, actor)
    replaced = CalendarFeed.objects.for_practice(practice).filter(user=actor).delete()[0] > 0
    feed = CalendarFeed.objects.create(
        practice=practice, user=actor, token=secrets.token_urlsafe(32)
    )
    audit_record(
        practice=practice,
        actor=actor,
        action="calendar_feed.create",
        target=feed,
        data={"replaced": replaced},
    )
    return feed


@transaction.atomic
def calendar_feed_revoke(*, practice: Practice, actor: User) -> None:
    """Turn off the actor's feed URL in the practice, if there is one."""
    feed = CalendarFeed.objects.for_practice(practice).filter(user=actor).first()
    if feed is None:
        return
    audit_record(practice=practice, actor=actor, action="calendar_feed.revoke", target=feed)
    feed.delete()


# --- The feed --------------------------------------------------------------------------


def feed_appointments(feed: CalendarFeed, now: datetime) -> list[Appointment]:
    """The member's appointments from 30 days ago to a year ahead, in one query."""
    return list(
        Appointment.objects.for_practice(feed.practice)
        .filter(therapist_id=feed.user_id)
        .overlapping(now - PAST, now + AHEAD)
        .select_related("patient", "therapy_type")
        # Only what the feed shows: nothing else can leak into it.
        .only(
            "starts_at",
            "ends_at",
            "status",
            "room",
            "updated_at",
            "practice_id",
            "patient__full_name",
            "therapy_type__name",
        )
        .order_by("starts_at", "pk")
    )


def feed_ics(feed: CalendarFeed, *, now: datetime | None = None) -> bytes:
    """The feed as an iCalendar file. UIDs are stable, so a phone updates an appointment
    in place when it moves or is cancelled. `feed.practice` should be fetched with it."""
    now = now or timezone.now()
    calendar = Calendar.new(
        prodid="-//Holos//Calendar feed//EN",
        name=f"{feed.practice.name} – Holos",
        uid=f"calendar-feed-{feed.pk}@holos",
        refresh_interval=timedelta(hours=1),
    )
    for appointment in feed_appointments(feed, now):
        summary = initials(appointment.patient.full_name)
        if appointment.therapy_type:
            summary += f" · {appointment.therapy_type.name}"
        event = Event.new(
            uid=f"appointment-{appointment.pk}@holos",
            start=appointment.starts_at.astimezone(UTC),
            end=appointment.ends_at.astimezone(UTC),
            # Without METHOD, DTSTAMP is when the event last changed (RFC 5545, 3.8.7.2).
            stamp=appointment.updated_at.astimezone(UTC),
            summary=summary,
            location=appointment.room or None,
        )
        event.add("status", ICS_STATUS.get(AppointmentStatus(appointment.status), "CONFIRMED"))
        calendar.add_component(event)
    return calendar.to_ical()


# --- Views -----------------------------------------------------------------------------


def _feed_url(request: HttpRequest, feed: CalendarFeed) -> str:
    return request.build_absolute_uri(reverse("sessions:calendar_feed_ics", args=[feed.token]))


@role_required(*TREATING_ROLES, hide=True)
def calendar_feed(request: PracticeRequest) -> HttpResponse:
    """The member's feed URL. GET `?confirm=replace|revoke` asks first; POST
    `action=create|revoke` does it."""
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "create":
                calendar_feed_create(practice=request.practice, actor=request.user)
                messages.success(request, _("Your calendar link is ready."))
            elif action == "revoke":
                calendar_feed_revoke(practice=request.practice, actor=request.user)
                messages.success(
                    request, _("The link is off. Calendars that used it stop updating.")
                )
            else:
                return HttpResponseBadRequest(_("Choose create or revoke."))
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        return redirect("sessions:calendar_feed")

    feed = CalendarFeed.objects.for_practice(request.practice).filter(user=request.user).first()
    confirm = request.GET.get("confirm", "")
    context = {
        "feed": feed,
        "feed_url": _feed_url(request, feed) if feed else "",
        "confirm": confirm if feed and confirm in {"replace", "revoke"} else "",
    }
    response = render(request, "sessions/calendar_feed.html", context)
    response["Cache-Control"] = "no-store"  # the page shows a secret
    return response


def _not_found() -> HttpResponse:
    response = HttpResponseNotFound(b"", content_type="text/plain")
    # Django's request logger writes the path of every 404, and here the path is the token
    # (a deactivated member's feed answers again if they are reactivated).
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


@require_safe
def calendar_feed_ics(request: HttpRequest, token: str) -> HttpResponse:
    """The feed itself, for phones: no sign-in, the token is the credential and the scope
    (one member in one practice). No audit row per fetch: phones poll every hour."""
    treating = Membership.objects.treating().filter(
        practice=OuterRef("practice"), user=OuterRef("user")
    )
    feed = (
        CalendarFeed.objects.filter(Exists(treating), token=token)
        .select_related("practice")
        .first()
    )
    if feed is None:
        return _not_found()
    response = HttpResponse(feed_ics(feed), content_type="text/calendar; charset=utf-8")
    response["Cache-Control"] = "private, max-age=300"
    response["X-Robots-Tag"] = "noindex"
    return response
