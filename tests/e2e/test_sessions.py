"""Session records in a browser: a therapist records a Reiki session from an appointment
that has taken place (chakras ticked, notes written, payment left pending) and finds it in
the patient's Sessions tab; then the front desk takes the payment and cannot read the
notes."""

from __future__ import annotations

import io
import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect

from patients.models import Patient
from payments.models import PaymentStatus
from practice.models import Practice, User
from sessions.models import Appointment, AppointmentStatus, Session
from tests.e2e.conftest import settled, shot, sign_in
from therapies.models import TherapyType

DEMO_PASSWORD = "holos-demo"
THERAPIST = "ana@holos.demo"
ASSISTANT = "carla@holos.demo"
NOTE = "Arrived anxious about a job interview; settled during the session."


@pytest.fixture
def demo(transactional_db) -> None:
    call_command("seed_demo", stdout=io.StringIO())
    # Assertions read English labels; the demo's therapist and assistant work in Portuguese.
    User.objects.filter(email__in=[THERAPIST, ASSISTANT]).update(language="en")


@pytest.fixture
def taken_place(demo) -> Appointment:
    """A Reiki appointment of Ana's that started two hours ago (today, in the practice's
    time zone), not yet recorded."""
    practice = Practice.objects.get()
    ana = User.objects.get(email=THERAPIST)
    tz = ZoneInfo(practice.time_zone)
    now = timezone.localtime(timezone=tz)
    start = max(
        (now - timedelta(hours=2)).replace(minute=now.minute // 15 * 15, second=0, microsecond=0),
        datetime.combine(now.date(), time(), tzinfo=tz),
    )
    patient = Patient.objects.for_practice(practice).assigned_to(ana).order_by("full_name")[0]
    return Appointment.objects.create(
        practice=practice,
        patient=patient,
        therapist=ana,
        therapy_type=TherapyType.objects.get(practice=practice, name="Reiki"),
        starts_at=start,
        ends_at=start + timedelta(minutes=60),
        room="Sala 1",
        status=AppointmentStatus.CONFIRMED,
    )


def test_therapist_records_a_reiki_session_and_the_assistant_takes_the_payment(
    taken_place: Appointment, new_page
) -> None:
    appointment = taken_place
    reiki = appointment.therapy_type
    assert reiki is not None
    chakras = next(f for f in reiki.custom_fields if f["key"] == "chakras")["choices"]
    heart, crown = chakras[3], chakras[6]

    # --- The therapist, from the calendar ---------------------------------------------
    page = new_page()
    sign_in(page, THERAPIST, DEMO_PASSWORD)
    chip = page.locator(f".cal-ev[data-appointment='{appointment.pk}']")
    chip.evaluate("el => el.scrollIntoView({block: 'center'})")
    chip.click()
    dialog = page.locator("dialog.modal[open]")
    expect(dialog).to_be_visible()
    dialog.locator(f"a[href$='/calendar/appointments/{appointment.pk}/record/']").click()

    expect(page).to_have_url(re.compile(rf"/appointments/{appointment.pk}/record/$"))
    form = page.locator("form.session-form")
    expect(form.locator("select[name=therapy_type]")).to_have_value(str(reiki.pk))
    expect(form.locator("input[name=minutes]")).to_have_value("60")
    expect(form.locator("input[name=payment-amount]")).to_have_value("150.00")
    form.locator("textarea[name=text]").fill(NOTE)
    form.get_by_label(heart, exact=True).check()
    form.get_by_label(crown, exact=True).check()
    form.locator("textarea[name=custom-sensations]").fill("Warmth in the chest")
    form.locator("input[name=custom-energy_before][value='3']").check(force=True)
    form.locator("input[name=custom-energy_after][value='8']").check(force=True)
    form.locator("input[name=payment-status][value=pending]").check()
    shot(page, "session-record-form")

    # A mistake first: a paid session without its method is refused, nothing saved.
    form.locator("input[name=payment-status][value=paid]").check()
    form.locator("button[type=submit]").click()
    expect(page.locator(".session-form .errorlist")).to_contain_text("Say how it was paid.")
    assert not Session.objects.filter(appointment=appointment).exists()
    form = page.locator("form.session-form")
    expect(form.locator("textarea[name=text]")).to_have_value(NOTE)  # nothing typed is lost
    form.locator("input[name=payment-status][value=pending]").check()
    form.locator("button[type=submit]").click()

    expect(page).to_have_url(re.compile(r"/sessions/\d+/$"))
    session = Session.objects.get(appointment=appointment)
    expect(page.locator("#session-notes")).to_contain_text(NOTE)
    expect(page.locator("#session-notes")).to_contain_text(heart)
    expect(page.locator("#session-payment")).to_contain_text("Pending")
    shot(page, "session-detail-therapist")
    assert session.note.custom_values["chakras"] == [heart, crown]
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.COMPLETED

    # The calendar shows it completed; the patient's Sessions tab lists it.
    page.locator("nav.mainnav a[data-nav=calendar]").click()
    expect(page.locator(f".cal-ev[data-appointment='{appointment.pk}']")).to_have_class(
        re.compile(r"\bst-completed\b")
    )
    page.goto(f"/patients/{appointment.patient_id}/")
    page.locator("#tab-sessions").click()
    row = page.locator(f"#session-{session.pk}")
    expect(row).to_be_visible()
    expect(row).to_contain_text("Reiki")
    # Narrow the history to the sessions where the heart chakra was worked on.
    settled(page)
    page.locator("select[name=value]").select_option(label=heart)
    expect(page).to_have_url(re.compile(r"value="))
    expect(page.locator(f"#session-{session.pk}")).to_be_visible()
    shot(page, "patient-sessions-tab")

    # --- The front desk ----------------------------------------------------------------
    desk = new_page()
    sign_in(desk, ASSISTANT, DEMO_PASSWORD)
    desk.locator("nav.mainnav a[data-nav=payments]").click()
    desk.locator("select[name=status]").select_option("pending")
    expect(desk).to_have_url(re.compile(r"status=pending"))  # the list has been narrowed
    payment_row = desk.locator(f"#payment-{session.payment.pk}")
    expect(payment_row).to_be_visible()
    shot(desk, "payments-list-pending")
    payment_row.locator("select[name=method]").select_option("pix")
    payment_row.locator("button[type=submit]").click()
    expect(desk.locator(f"#payment-{session.payment.pk} .payment-status")).to_have_text(
        re.compile(r"Paid")
    )
    session.payment.refresh_from_db()
    assert session.payment.status == PaymentStatus.PAID and session.payment.method == "pix"
    shot(desk, "payments-list-marked-paid")

    # The assistant sees that the session happened, never what was said.
    desk.goto(f"/sessions/{session.pk}/")
    expect(desk.locator("#session-payment")).to_contain_text("Paid")
    expect(desk.locator("#session-notes")).not_to_contain_text(NOTE)
    expect(desk.locator("main")).not_to_contain_text("Warmth in the chest")
    expect(desk.locator("a[href$='/edit/']")).to_have_count(0)
    shot(desk, "session-detail-assistant")
    response = desk.goto(f"/sessions/{session.pk}/edit/")
    assert response is not None and response.status == 404
