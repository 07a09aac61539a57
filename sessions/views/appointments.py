"""The calendar and its appointments.

Everyone in the practice sees the calendar. Owners and Assistants open and change any
appointment; a Therapist opens and changes their own, and sees colleagues' appointments
as busy time (patient initials and therapy, never names): `Appointment.objects
.manageable_by()` is the scope of every appointment URL, so anything else answers 404.
Forms open in a dialog over htmx and as plain pages without JavaScript.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseNotAllowed, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.template import engines
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django_htmx.http import trigger_client_event

from patients.models import Patient
from practice.http import PracticeRequest, client_ip, wants_fragment
from practice.permissions import practice_required
from practice.selectors import treating_users
from sessions import services
from sessions.calendar import MONTH_ITEMS, View, build_grid, first_day_and_length, step, utc_bounds
from sessions.forms import DATETIME_LOCAL, AppointmentForm, CancelForm, MoveForm
from sessions.models import Appointment
from sessions.views.common import no_store
from tera.insights import audit_briefing_read, briefing_context

CHANGED = "calendarChanged"  # the htmx event that makes the calendar reload itself
PATIENT_OPTIONS = 50


def _tz(request: PracticeRequest) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(request.practice.time_zone)


def _appointment(request: PracticeRequest, pk: int) -> Appointment:
    return get_object_or_404(
        Appointment.objects.manageable_by(request.membership).select_related(
            "patient", "therapist", "therapy_type", "series", "session"
        ),
        pk=pk,
    )


def _calendar_url(view: str, day: date, therapist: str = "") -> str:
    query = {"view": view, "date": day.isoformat()}
    if therapist:
        query["therapist"] = therapist
    return f"{reverse('sessions:calendar')}?{urlencode(query)}"


def _calendar_context(request: PracticeRequest, query: QueryDict) -> dict[str, Any] | None:
    """What the calendar shows for `?view=&date=&therapist=`; None for a malformed query."""
    tz = _tz(request)
    today = timezone.localdate(timezone=tz)
    try:
        view = View(query.get("view") or View.WEEK)
        raw_date = query.get("date") or ""
        anchor = date.fromisoformat(raw_date) if raw_date else today
    except ValueError:
        return None

    therapists = list(treating_users(request.practice))
    # A Therapist starts on their own calendar; "all" (or a colleague) on request.
    default = str(request.user.pk) if request.membership.is_therapist else "all"
    chosen = query.get("therapist") or default
    if chosen not in {str(t.pk) for t in therapists}:
        chosen = "all"  # also for someone who has left, or a mistyped value

    # The page links keep the therapist the user asked for, not the default.
    therapist_param = query.get("therapist", "")
    first, days = first_day_and_length(view, anchor)
    start, end = utc_bounds(tz, first, days)
    appointments = Appointment.objects.for_practice(request.practice).overlapping(start, end)
    if chosen != "all":
        appointments = appointments.filter(therapist_id=int(chosen))
    # Colleagues of a Therapist show as busy time without names.
    details_for = {request.user.pk} if request.membership.is_therapist else None
    grid = build_grid(
        list(appointments.for_calendar()),
        tz=tz,
        first=first,
        days=days,
        today=today,
        now=timezone.now(),
        details_for=details_for,
    )
    edit_url = reverse("sessions:appointment_edit", args=[0])
    chips = engines["jinja2"].get_template("sessions/chips.html")
    for day in grid.days:
        for placed in day.placed:
            if placed.details:  # one reverse() for the page, not one per appointment
                placed.url = edit_url.replace("/0/", f"/{placed.appointment.pk}/")
        shown = day.placed[:MONTH_ITEMS] if view == View.MONTH else day.placed
        day.more = len(day.placed) - len(shown)
        # Safe: Jinja2 escaped every value as it rendered.
        day.chips = mark_safe(chips.render({"placed": shown, "compact": view == View.MONTH}))  # noqa: S308  # nosec
    return {
        "view": view.value,
        "views": [v.value for v in View],
        "grid": grid,
        "anchor": anchor,
        "first": first,
        "last": first + timedelta(days=days - 1),
        "calendar_url": _calendar_url(view, anchor, therapist_param),
        "today_url": _calendar_url(view, today, therapist_param),
        "previous_url": _calendar_url(view, step(view, anchor, -1), therapist_param),
        "next_url": _calendar_url(view, step(view, anchor, 1), therapist_param),
        "therapists": therapists,
        "chosen": chosen,
        "therapist_param": therapist_param,
        "month": anchor.month,
    }


@practice_required
def calendar(request: PracticeRequest) -> HttpResponse:
    context = _calendar_context(request, request.GET)
    if context is None:
        return redirect("sessions:calendar")
    template = "sessions/calendar.html"
    if wants_fragment(request):
        template += "#calendar"
    return render(request, template, context)


def _initial_start(request: PracticeRequest) -> datetime:
    """The clicked slot (`?start=2026-11-23T09:00`, practice time) or the next round hour."""
    tz = _tz(request)
    raw = request.GET.get("start", "")
    try:
        return datetime.strptime(raw, DATETIME_LOCAL).replace(tzinfo=tz)
    except ValueError:
        now = timezone.localtime(timezone=tz)
        return datetime.combine(now.date(), time(now.hour), tzinfo=tz) + timedelta(hours=1)


def _form_response(
    request: PracticeRequest, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    template = "sessions/appointment_form.html"
    if request.htmx:
        template += "#appointment-dialog"
    return render(request, template, context, status=status)


def _done(request: PracticeRequest, appointment: Appointment, warnings: list[str]) -> HttpResponse:
    """After a change: the dialog closes and the calendar reloads (htmx), or back to the
    calendar on the appointment's day."""
    for warning in warnings:
        messages.warning(request, warning)
    if request.htmx:
        response = HttpResponse(status=204)
        return trigger_client_event(response, CHANGED, {})
    day = timezone.localtime(appointment.starts_at, _tz(request)).date()
    return redirect(_calendar_url(View.WEEK, day))


@practice_required
def appointment_new(request: PracticeRequest) -> HttpResponse:
    form = AppointmentForm(request.POST or None, membership=request.membership)
    if request.method == "POST":
        if form.is_valid():
            booking, repeat = form.booking(), form.recurrence()
            try:
                if repeat is None:
                    appointment, warnings = services.appointment_book(
                        practice=request.practice, actor=request.user, booking=booking
                    )
                    booked = 1
                else:
                    series, warnings = services.appointment_book_series(
                        practice=request.practice,
                        actor=request.user,
                        booking=booking,
                        repeat=repeat,
                    )
                    appointment, booked = series[0], len(series)
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(
                    request,
                    ngettext(
                        "Booked %(patient)s with %(therapist)s.",
                        "Booked %(patient)s with %(therapist)s, %(count)d times.",
                        booked,
                    )
                    % {
                        "patient": booking.patient.full_name,
                        "therapist": booking.therapist.display_name,
                        "count": booked,
                    },
                )
                return _done(request, appointment, warnings)
        return _form_response(request, {"form": form, "appointment": None}, status=422)
    start = _initial_start(request)
    therapist = request.GET.get("therapist", "")
    form = AppointmentForm(
        membership=request.membership,
        initial={
            "starts_at": start,
            "minutes": 60,
            **({"therapist": therapist} if therapist.isdigit() else {}),
        },
    )
    return _form_response(request, {"form": form, "appointment": None})


@practice_required
def appointment_edit(request: PracticeRequest, pk: int) -> HttpResponse:
    appointment = _appointment(request, pk)
    form = AppointmentForm(
        request.POST if request.method == "POST" else None,
        membership=request.membership,
        appointment=appointment,
        initial={
            "patient": appointment.patient_id,
            "therapist": appointment.therapist_id,
            "therapy_type": appointment.therapy_type_id,
            "starts_at": timezone.localtime(appointment.starts_at, _tz(request)),
            "minutes": appointment.minutes,
            "room": appointment.room,
            "meeting_url": appointment.meeting_url,
            "front_desk_note": appointment.front_desk_note,
        },
    )
    context = {"form": form, "appointment": appointment, "now": timezone.now()}
    if request.method != "POST":
        # The briefing Tera prepared ahead, for those who may read the patient's notes.
        briefing = briefing_context(request.membership, appointment)
        audit_briefing_read(request.membership, briefing, ip=client_ip(request))
        return no_store(_form_response(request, context | briefing))
    if form.is_valid():
        booking = form.booking()
        try:
            if form.following:
                count, warnings = services.appointment_update_following(
                    practice=request.practice,
                    actor=request.user,
                    appointment=appointment,
                    booking=booking,
                )
            else:
                count, warnings = (
                    1,
                    services.appointment_update(
                        practice=request.practice,
                        actor=request.user,
                        appointment=appointment,
                        booking=booking,
                    ),
                )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request,
                ngettext("Appointment saved.", "%(count)d appointments of the series saved.", count)
                % {"count": count},
            )
            return _done(request, appointment, warnings)
    return _form_response(request, context, status=422)


@practice_required
def appointment_cancel(request: PracticeRequest, pk: int) -> HttpResponse:
    """GET asks for the reason; POST cancels."""
    appointment = _appointment(request, pk)
    form = CancelForm(request.POST if request.method == "POST" else None, appointment=appointment)
    if request.method == "POST" and form.is_valid():
        reason = form.cleaned_data["reason"]
        try:
            if form.following:
                count = services.appointment_cancel_following(
                    practice=request.practice,
                    actor=request.user,
                    appointment=appointment,
                    reason=reason,
                )
            else:
                services.appointment_cancel(
                    practice=request.practice,
                    actor=request.user,
                    appointment=appointment,
                    reason=reason,
                )
                count = 1
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request,
                ngettext(
                    "Appointment cancelled; the time is free again.",
                    "%(count)d appointments cancelled; the time is free again.",
                    count,
                )
                % {"count": count},
            )
            return _done(request, appointment, [])
    template = "sessions/appointment_cancel.html"
    if request.htmx:
        template += "#cancel-dialog"
    status = 422 if request.method == "POST" else 200
    return render(request, template, {"form": form, "appointment": appointment}, status=status)


@practice_required
def appointment_status(request: PracticeRequest, pk: int) -> HttpResponse:
    """POST `status=confirmed` (the patient confirmed) or `status=no_show`."""
    appointment = _appointment(request, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    change = {
        "confirmed": services.appointment_confirm,
        "no_show": services.appointment_mark_no_show,
    }.get(request.POST.get("status", ""))
    if change is None:
        return HttpResponseBadRequest(_("Choose confirmed or no-show."))
    try:
        change(practice=request.practice, actor=request.user, appointment=appointment)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            _("Marked as %(status)s.") % {"status": appointment.get_status_display().lower()},
        )
    return _done(request, appointment, [])


@practice_required
def appointment_move(request: PracticeRequest, pk: int) -> HttpResponse:
    """A drag in the calendar: move this one appointment or change its length, and answer
    with the calendar the drag came from (`view`, `date`, `therapist`), showing the
    change or why it was refused."""
    appointment = _appointment(request, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = MoveForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("That time could not be read; nothing was changed."))
    else:
        start = form.cleaned_data["starts_at"]
        booking = replace(
            services.Booking.of(appointment),
            starts_at=start,
            ends_at=start + timedelta(minutes=form.cleaned_data["minutes"]),
        )
        try:
            warnings = services.appointment_update(
                practice=request.practice,
                actor=request.user,
                appointment=appointment,
                booking=booking,
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            for warning in warnings:
                messages.warning(request, warning)
            messages.success(
                request,
                _("%(patient)s moved to %(when)s.")
                % {
                    "patient": appointment.patient.full_name,
                    "when": services.describe_when(
                        request.practice, appointment.starts_at, appointment.ends_at
                    ),
                },
            )
    if not request.htmx:
        day = timezone.localtime(appointment.starts_at, _tz(request)).date()
        return redirect(_calendar_url(View.WEEK, day))
    context = _calendar_context(request, request.POST) or _calendar_context(request, QueryDict())
    return render(request, "sessions/calendar.html#calendar", context)


@practice_required
def patient_options(request: PracticeRequest) -> HttpResponse:
    """The patient menu of the booking form, narrowed as the user types."""
    patients = Patient.objects.visible_to(request.membership).active()
    query = request.GET.get("q", "").strip()
    if query:
        patients = patients.search(query)
    chosen = request.GET.get("patient", "")
    return render(
        request,
        "sessions/appointment_form.html#patient-options",
        {
            "patients": list(patients.by_name()[:PATIENT_OPTIONS]),
            "chosen": int(chosen) if chosen.isdigit() else None,
            "query": query,
        },
    )
