"""Tera's insights in a browser: the therapist reads the briefing Tera prepared ahead in
tomorrow's appointment (the Assistant opening the same appointment does not), writes a
patient's treatment summary and follows a citation to its session, and an Owner of a
Free practice turns Tera on. The notes are indexed by the real embedding model; the LLM
is tests.llm.ScriptedEndpoint, so what the model "says" is known."""

from __future__ import annotations

import json
import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from patients.models import Patient
from practice.models import Plan, Practice, User
from sessions.models import Appointment, AppointmentStatus, Session
from tera.models import Insight, InsightKind, InsightStatus
from tera.tasks import briefings_upcoming
from tests.e2e.conftest import shot, sign_in
from tests.factories import AppointmentFactory, weekly_treatment

pytestmark = pytest.mark.slow  # the embedding model indexes every note

NOTES = [
    "Sleeping badly since work got stressful; wakes at 3 am worrying about deadlines.",
    "Work stress again: the manager adds deadlines; she cannot switch off at night.",
    "Breathing exercises before bed helped; sleep is better, about six hours a night.",
]
KEY_POINT = "Slept six hours most nights after the breathing exercises."
OPEN_ITEM = "Review the sleep diary she started."
BRIEFING = json.dumps({"key_points": [KEY_POINT], "open_items": [OPEN_ITEM]})
CITED = "Work stress and deadlines kept her from sleeping and switching off at night."
UNCITED = "She plans to change jobs next year."
# What the model writes; the sessions each claim rests on are found by tera.grounding.
SUMMARY = json.dumps({"claims": [CITED, "The breathing exercises helped her sleep.", UNCITED]})


@pytest.fixture
def clara(transactional_db, pro: Practice, therapist: User) -> tuple[Patient, list[Session]]:
    """Clara, the therapist's patient, with three Reiki sessions a week apart (notes and
    custom values), all indexed, in a Pro practice working in English."""
    pro.language = "en"
    pro.save(update_fields=["language"])
    return weekly_treatment(pro, therapist, NOTES)


def _open_appointment(page: Page, appointment: Appointment) -> None:
    """From the calendar's week, open the appointment's dialog by clicking its chip."""
    zone = ZoneInfo(appointment.practice.time_zone)
    day = timezone.localtime(appointment.starts_at, zone).date()
    page.get_by_role("link", name="Calendar", exact=True).click()
    expect(page.locator(".cal-grid")).to_be_visible()
    if not page.locator(f".cal-col[data-date='{day.isoformat()}']").count():
        page.get_by_role("link", name="Next", exact=True).click()  # tomorrow is next Monday
    chip = page.locator(f".cal-ev[data-appointment='{appointment.pk}']")
    expect(chip).to_be_visible()
    chip.click()
    expect(page.locator("dialog.modal[open]")).to_be_visible()


def test_the_therapist_reads_the_briefing_of_tomorrows_appointment_and_the_assistant_does_not(
    clara, therapist: User, assistant: User, scripted_llm, new_page
) -> None:
    patient, sessions = clara
    zone = ZoneInfo(patient.practice.time_zone)
    tomorrow = timezone.localdate(timezone=zone) + timedelta(days=1)
    appointment = AppointmentFactory(
        practice=patient.practice,
        patient=patient,
        therapist=therapist,
        therapy_type=sessions[0].therapy_type,
        starts_at=datetime.combine(tomorrow, time(10), tzinfo=zone),
        status=AppointmentStatus.SCHEDULED,
    )
    # The beat job's round: tomorrow 10:00 is always within the next 36 hours.
    with scripted_llm([BRIEFING]) as endpoint:
        assert briefings_upcoming() == [appointment.pk]
    assert len(endpoint.requests) == 1
    briefing = Insight.objects.get(kind=InsightKind.BRIEFING, appointment=appointment)
    assert briefing.status == InsightStatus.READY, briefing.failure

    page = new_page(viewport={"width": 1280, "height": 1400})  # the whole dialog in view
    sign_in(page, therapist.email)
    _open_appointment(page, appointment)
    dialog = page.locator("dialog.modal[open]")
    expect(dialog.get_by_role("heading", name="Clara Luz")).to_be_visible()
    section = dialog.get_by_role("region", name=re.compile("Before the session"))
    expect(section).to_be_visible()
    expect(section).to_contain_text("at 10:00")
    expect(section.locator(".briefing-grid")).to_contain_text(KEY_POINT)
    expect(section.locator(".briefing-grid")).to_contain_text(OPEN_ITEM)
    trends = section.locator(".trends li")
    expect(trends).to_contain_text(["Chakras worked on: most often Heart (3 of 3)"])
    expect(section.locator(".trends")).to_contain_text("Energy before: 3 → 5 over 3 sessions")
    expect(section.locator(".trends")).to_contain_text("Energy after: 6 → 8 over 3 sessions")
    expect(section.get_by_role("link", name="last session")).to_have_attribute(
        "href", reverse("sessions:detail", args=[sessions[2].pk])
    )
    shot(page, "tera_briefing_dialog")
    # Escape closes the dialog, as any modal dialog.
    page.keyboard.press("Escape")
    expect(page.locator("dialog.modal[open]")).to_have_count(0)

    # The Assistant opens the same appointment: the dialog works, without the briefing.
    desk = new_page()
    sign_in(desk, assistant.email)
    _open_appointment(desk, appointment)
    dialog = desk.locator("dialog.modal[open]")
    expect(dialog.get_by_role("heading", name="Clara Luz")).to_be_visible()
    expect(dialog.locator("input[name=room]")).to_be_editable()
    expect(dialog.get_by_role("button", name="Save")).to_be_visible()
    expect(dialog.locator(".briefing")).to_have_count(0)
    expect(dialog).not_to_contain_text("Before the session")
    expect(dialog).not_to_contain_text(KEY_POINT)
    expect(dialog).not_to_contain_text(OPEN_ITEM)
    dialog.get_by_role("link", name="Close").click()
    expect(desk.locator("dialog.modal[open]")).to_have_count(0)

    # Nor does the Assistant's patient page have an Insights tab or the briefing card.
    desk.get_by_role("link", name="Patients", exact=True).click()
    desk.get_by_role("link", name="Clara Luz").click()
    expect(desk.get_by_role("heading", name="Clara Luz", level=1)).to_be_visible()
    expect(desk.get_by_role("tab", name="Overview")).to_be_visible()
    expect(desk.get_by_role("tab", name="Insights")).to_have_count(0)
    expect(desk.locator("main")).not_to_contain_text(KEY_POINT)
    response = desk.goto(reverse("patients:insights", args=[patient.pk]))
    assert response is not None and response.status == 404


def test_a_summary_citation_opens_its_session(
    clara, therapist: User, scripted_llm, page: Page
) -> None:
    patient, sessions = clara
    sign_in(page, therapist.email)
    page.get_by_role("link", name="Patients", exact=True).click()
    page.get_by_role("link", name="Clara Luz").click()
    page.get_by_role("tab", name="Insights").click()
    expect(page.get_by_role("tab", name="Insights")).to_have_attribute("aria-selected", "true")

    panel = page.locator("#patient-tab-panel")
    charts = panel.get_by_role("region", name="Custom fields over time")
    expect(charts.locator("svg[role=img]")).to_have_count(2)  # chakras; energy before/after
    expect(charts).to_contain_text("Chakras worked on")
    expect(charts).to_contain_text("Energy before")
    themes = panel.get_by_role("region", name="Recurring themes")
    expect(themes.locator("ul.themes > li").first).to_contain_text("sessions:")
    expect(themes.locator("ul.themes > li").first.locator("a.citation")).not_to_have_count(0)

    summary = panel.locator("#summary")
    with scripted_llm([SUMMARY]) as endpoint:
        summary.get_by_role("button", name="Write the summary").click()
        # Written in the request (Celery is eager); the block polls every 2 s otherwise.
        expect(summary.locator("ol.claims")).to_contain_text(CITED, timeout=20_000)
    assert len(endpoint.requests) == 1
    claims = summary.locator("ol.claims > li")
    expect(claims).to_have_count(3)
    expect(summary).to_contain_text("from 3 sessions")
    expect(summary.get_by_role("button", name="Write it again")).to_be_visible()
    flagged = claims.filter(has_text=UNCITED)
    expect(flagged).to_contain_text("no session says this")
    expect(flagged.locator("a.citation")).to_have_count(0)
    expect(claims.first).not_to_contain_text("no session says this")
    days = [
        timezone.localtime(s.starts_at, ZoneInfo(patient.practice.time_zone))
        .date()
        .strftime("%m/%d/%Y")
        for s in sessions
    ]
    citations = claims.first.locator("a.citation")
    expect(citations).to_have_text(days[:2])
    shot(page, "tera_summary")

    # From the keyboard: the first citation opens the first session.
    first_session = reverse("sessions:detail", args=[sessions[0].pk])
    citations.first.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(re.escape(first_session) + "$"))
    expect(page.locator("#session-notes")).to_contain_text(NOTES[0])


def test_a_free_practice_owner_turns_tera_on(
    transactional_db, clinic: Practice, owner: User, therapist: User, page: Page, new_page
) -> None:
    assert clinic.plan == Plan.FREE
    sign_in(page, therapist.email)
    page.get_by_role("link", name="Tera", exact=True).click()
    pitch = page.get_by_role("region", name=re.compile("part of Pro"))
    expect(pitch).to_be_visible()
    expect(pitch).to_contain_text("Ask an Owner")
    expect(pitch.get_by_role("button", name="Switch the practice to Pro")).to_have_count(0)
    expect(page.get_by_role("searchbox", name="Search the notes")).to_have_count(0)

    boss = new_page()
    sign_in(boss, owner.email)
    boss.get_by_role("link", name="Tera", exact=True).click()
    pitch = boss.get_by_role("region", name=re.compile("part of Pro"))
    expect(pitch).to_be_visible()
    expect(pitch).not_to_contain_text("Ask an Owner")
    pitch.get_by_role("button", name="Switch the practice to Pro").click()

    expect(boss).to_have_url(re.compile(re.escape(reverse("tera:index")) + "$"))
    expect(boss.locator(".message-success")).to_contain_text("Pro")
    expect(boss.get_by_role("searchbox", name="Search the notes")).to_be_visible()
    expect(boss.get_by_role("region", name=re.compile("part of Pro"))).to_have_count(0)
    shot(boss, "tera_pro_on")
    clinic.refresh_from_db()
    assert clinic.plan == Plan.PRO

    boss.get_by_role("link", name="Settings", exact=True).click()
    plan = boss.locator("form#plan")
    expect(plan.get_by_role("heading", name="Plan")).to_be_visible()
    expect(plan).to_contain_text("Your practice is on Pro")
    expect(plan.locator("input[name=plan][value=pro]")).to_be_checked()
    expect(plan.locator("input[name=plan][value=free]")).not_to_be_checked()

    # The therapist's Tera now searches too.
    page.reload()
    expect(page.get_by_role("searchbox", name="Search the notes")).to_be_visible()
