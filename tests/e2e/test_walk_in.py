"""A walk-in session in a browser: a therapist records a session that had no appointment
from the patient's Sessions tab (the therapy's own fields swap in as the therapy is
picked, its price fills the amount), and the calendar shows it as completed; a walk-in
over another of the therapist's appointments is refused, naming the clash."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import Page, expect

from patients.models import Patient
from payments.models import PaymentStatus
from practice.models import Practice, User
from sessions.models import Appointment, AppointmentStatus, Session
from tests.e2e.conftest import shot, sign_in
from therapies.models import TherapyType

DEMO_PASSWORD = "holos-demo"
THERAPIST = "bruno@holos.demo"  # works in English in the demo
NOTE = "Walked in without booking after a hard week; wanted to look at the family again."
THEME = "Place in the family after the divorce"
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


@pytest.fixture
def demo(transactional_db) -> None:
    call_command("seed_demo", stdout=io.StringIO())
    User.objects.filter(email=THERAPIST).update(language="en")


@pytest.fixture
def bruno(demo) -> User:
    return User.objects.get(email=THERAPIST)


@pytest.fixture
def patient(bruno: User) -> Patient:
    practice = Practice.objects.get()
    return Patient.objects.for_practice(practice).assigned_to(bruno).order_by("full_name")[0]


@pytest.fixture
def constellation(demo) -> TherapyType:
    """Family Constellation: 90 minutes, R$280, fields unlike the other two therapies'."""
    return next(
        t
        for t in TherapyType.objects.filter(practice=Practice.objects.get())
        if any(f["key"] == "representatives" for f in t.custom_fields)
    )


def free_start(therapist: User, minutes: int, tz: ZoneInfo) -> datetime:
    """About an hour ago, in the practice's time zone, to five minutes; moved earlier when
    the demo week has the therapist busy then (the clock decides what the week holds)."""
    now = timezone.localtime(timezone=tz)
    start = (now - timedelta(hours=1)).replace(second=0, microsecond=0)
    start -= timedelta(minutes=start.minute % 5)
    length = timedelta(minutes=minutes)
    while busy := (
        Appointment.objects.filter(therapist=therapist)
        .taking_time()
        .overlapping(start, start + length)
        .order_by("starts_at")
        .first()
    ):
        start = busy.starts_at.astimezone(tz) - length
    return start


def open_walk_in_form(page: Page, patient: Patient) -> None:
    """Patients → the patient → Sessions tab → "Record a walk-in session"."""
    page.locator("nav.mainnav a[data-nav=patients]").click()
    page.locator(f"#patient-{patient.pk} a").first.click()
    page.locator("#tab-sessions").click()
    expect(page).to_have_url(re.compile(rf"/patients/{patient.pk}/sessions/$"))
    page.get_by_role("link", name="Record a walk-in session").click()
    expect(page).to_have_url(re.compile(rf"/sessions/new/\?patient={patient.pk}$"))
    expect(page.get_by_role("heading", name="Record a walk-in session")).to_be_visible()


def test_therapist_records_a_walk_in_from_the_sessions_tab(
    bruno: User, patient: Patient, constellation: TherapyType, page: Page
) -> None:
    practice = Practice.objects.get()
    tz = ZoneInfo(practice.time_zone)
    start = free_start(bruno, constellation.default_duration, tz)
    sessions_before = Session.objects.count()

    sign_in(page, THERAPIST, DEMO_PASSWORD)
    open_walk_in_form(page, patient)
    form = page.locator("form.session-form")
    expect(form.locator("select[name=patient]")).to_have_value(str(patient.pk))
    expect(form.locator("select[name=therapist]")).to_be_disabled()
    expect(form.locator("select[name=therapist] option:checked")).to_have_text("Bruno Matos")

    # Picking the therapy swaps in its fields (htmx, no page load) and fills its price.
    fields = page.locator("#custom-fields")
    expect(fields).to_contain_text("Choose a therapy to see its fields.")
    page.evaluate("window.stillThisPage = true")
    with page.expect_response(
        lambda r: "/sessions/new/" in r.url and r.request.headers.get("hx-request") == "true"
    ):
        form.locator("select[name=therapy_type]").select_option(label=constellation.name)
    labels = {f["key"]: f["label"] for f in constellation.custom_fields}
    expect(fields).to_contain_text(labels["theme"])
    expect(fields).to_contain_text(labels["representatives"])
    expect(fields.locator("input[name=custom-theme]")).to_be_visible()
    expect(fields).not_to_contain_text("Choose a therapy to see its fields.")
    assert page.evaluate("window.stillThisPage === true"), "the page was reloaded"
    expect(form.locator("input[name=payment-amount]")).to_have_value(str(constellation.price))
    expect(form.locator("input[name=minutes]")).to_have_value(str(constellation.default_duration))

    form.locator("input[name=starts_at]").fill(start.strftime(DATETIME_LOCAL))
    form.locator("textarea[name=text]").fill(NOTE)
    fields.locator("input[name=custom-theme]").fill(THEME)
    fields.locator("input[name=custom-representatives]").fill("5")
    form.locator("input[name=payment-status][value=paid]").check()
    form.locator("select[name=payment-method]").select_option("pix")
    expect(form.locator("input[name=payment-paid_on]")).to_be_visible()
    shot(page, "walk-in-form")
    form.get_by_role("button", name="Save session").click()

    # The session page.
    expect(page).to_have_url(re.compile(r"/sessions/\d+/$"))
    session = Session.objects.select_related("appointment", "payment", "note").latest("created_at")
    assert Session.objects.count() == sessions_before + 1
    expect(page).to_have_url(re.compile(rf"/sessions/{session.pk}/$"))
    expect(page.locator(".message-success")).to_contain_text(
        f"Session with {patient.full_name} recorded."
    )
    expect(page.locator("#session-notes")).to_contain_text(NOTE)
    expect(page.locator("#session-notes")).to_contain_text(THEME)
    expect(page.locator("#session-payment")).to_contain_text("Paid")
    expect(page.locator("#session-payment")).to_contain_text("PIX")
    expect(page.locator("#session-payment")).to_contain_text("280.00")
    assert session.patient_id == patient.pk and session.therapist_id == bruno.pk
    assert session.therapy_type_id == constellation.pk
    assert session.starts_at == start
    assert session.minutes == constellation.default_duration
    assert session.note.custom_values["theme"] == THEME
    assert session.payment.status == PaymentStatus.PAID and session.payment.method == "pix"
    assert session.payment.amount == constellation.price
    appointment = session.appointment
    assert appointment.status == AppointmentStatus.COMPLETED

    # The calendar (of the walk-in's week) shows the appointment as completed.
    page.locator("nav.mainnav a[data-nav=calendar]").click()
    expect(page).to_have_url(re.compile(r"/calendar/"))
    page.goto(f"/calendar/?date={start.date().isoformat()}")
    chip = page.locator(f".cal-ev.st-completed[data-appointment='{appointment.pk}']")
    expect(chip).to_have_count(1)
    chip.evaluate("el => el.scrollIntoView({block: 'center'})")
    expect(chip).to_be_visible()
    expect(chip).to_contain_text(start.strftime("%H:%M"))


def test_a_walk_in_over_another_appointment_is_refused(
    bruno: User, patient: Patient, constellation: TherapyType, page: Page
) -> None:
    practice = Practice.objects.get()
    tz = ZoneInfo(practice.time_zone)
    # One of Bruno's appointments that has already started (a recorded demo session).
    taken = (
        # Started at least 20 minutes ago: the walk-in below starts 20 minutes into it,
        # and a walk-in must have started already.
        Appointment.objects.filter(
            therapist=bruno, starts_at__lt=timezone.now() - timedelta(minutes=20)
        )
        .taking_time()
        .select_related("patient")
        .latest("starts_at")
    )
    sessions_before, appointments_before = Session.objects.count(), Appointment.objects.count()

    sign_in(page, THERAPIST, DEMO_PASSWORD)
    open_walk_in_form(page, patient)
    form = page.locator("form.session-form")
    with page.expect_response(lambda r: "/sessions/new/" in r.url):
        form.locator("select[name=therapy_type]").select_option(label=constellation.name)
    expect(page.locator("input[name=custom-theme]")).to_be_visible()
    # Twenty minutes into the other appointment.
    clash_at = taken.starts_at.astimezone(tz) + timedelta(minutes=20)
    form.locator("input[name=starts_at]").fill(clash_at.strftime(DATETIME_LOCAL))
    form.locator("textarea[name=text]").fill(NOTE)
    page.locator("input[name=custom-theme]").fill(THEME)
    form.get_by_role("button", name="Save session").click()

    errors = page.locator("form.session-form .form-errors")
    expect(errors).to_contain_text(
        f"Bruno Matos already has an appointment with {taken.patient.full_name} on"
    )
    expect(page).to_have_url(re.compile(r"/sessions/new/"))
    # Nothing typed is lost, nothing saved.
    form = page.locator("form.session-form")
    expect(form.locator("textarea[name=text]")).to_have_value(NOTE)
    expect(form.locator("input[name=custom-theme]")).to_have_value(THEME)
    expect(form.locator("select[name=patient]")).to_have_value(str(patient.pk))
    shot(page, "walk-in-clash")
    assert Session.objects.count() == sessions_before
    assert Appointment.objects.count() == appointments_before
