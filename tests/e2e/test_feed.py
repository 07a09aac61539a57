"""The phone-calendar link in a browser: a therapist creates it from the user menu, copies
it, a phone (no cookies) reads their appointments from it, and they turn it off."""

from __future__ import annotations

import re

from icalendar import Calendar
from playwright.sync_api import Page, Playwright, expect

from tests.e2e.conftest import shot, sign_in
from tests.factories import AppointmentFactory, PatientFactory, TherapyTypeFactory


def test_therapist_subscribes_a_phone_calendar_and_turns_it_off(
    transactional_db, clinic, therapist, page: Page, playwright: Playwright
) -> None:
    patient = PatientFactory(practice=clinic, full_name="Marta Souza", therapist=therapist)
    booked = AppointmentFactory(
        practice=clinic,
        therapist=therapist,
        patient=patient,
        therapy_type=TherapyTypeFactory(practice=clinic, name="Reiki"),
        room="Sala 2",
    )
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in(page, therapist.email)
    expect(page).to_have_url(re.compile(r"/calendar/$"))

    page.locator("details.usermenu > summary").click()
    page.locator("details.usermenu").get_by_role("link", name="Phone calendar").click()
    expect(page).to_have_url(re.compile(r"/calendar/feed/$"))
    page.get_by_role("button", name="Create link").click()

    field = page.locator("#feed-url")
    expect(field).to_have_value(re.compile(r"^http://[^/]+/calendar/feed/[\w-]{43}\.ics$"))
    copy = page.get_by_role("button", name="Copy")
    copy.click()
    expect(page.locator("button[data-copy]")).to_have_text("Copied")
    url = page.evaluate("navigator.clipboard.readText()")
    assert url == field.input_value()
    shot(page, "calendar_feed")

    # A phone has no session: fetch the link from a context without cookies.
    phone = playwright.request.new_context()
    try:
        response = phone.get(url)
        assert response.status == 200
        assert response.headers["content-type"] == "text/calendar; charset=utf-8"
        (event,) = Calendar.from_ical(response.body()).walk("VEVENT")
        assert str(event["UID"]) == f"appointment-{booked.pk}@holos"
        assert str(event["SUMMARY"]) == "M.S. · Reiki"
        assert "Marta" not in response.text()

        page.get_by_role("link", name="Turn off").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Turn off your calendar link?")
        shot(page, "calendar_feed_confirm")
        page.get_by_role("button", name="Turn off").click()

        expect(page.locator(".message-success")).to_be_visible()
        expect(page.get_by_role("button", name="Create link")).to_be_visible()
        expect(page.locator("#feed-url")).to_have_count(0)
        assert phone.get(url).status == 404
    finally:
        phone.dispose()
