"""The calendar in a browser: the front desk books by clicking an empty slot, and the
demo practice's busy week."""

from __future__ import annotations

import io
import re
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from practice.models import User
from sessions.models import Appointment
from tests.e2e.conftest import shot, sign_in

DEMO_PASSWORD = "holos-demo"


@pytest.fixture
def demo(transactional_db) -> None:
    call_command("seed_demo", stdout=io.StringIO())
    # Assertions below read English labels; the demo assistant works in Portuguese.
    User.objects.filter(email="carla@holos.demo").update(language="en")


def test_assistant_books_by_clicking_an_empty_slot(demo, page: Page) -> None:
    sign_in(page, "carla@holos.demo", DEMO_PASSWORD)
    expect(page).to_have_url(re.compile(r"/calendar/$"))
    expect(page.locator(".cal-grid .cal-ev").first).to_be_visible()
    shot(page, "calendar-week")
    before = Appointment.objects.count()

    # Saturday noon is free in the demo week: click just inside that slot.
    saturday = page.locator(".cal-col").nth(5)
    saturday.evaluate("el => el.scrollIntoView({block: 'center'})")
    box = saturday.bounding_box()
    assert box
    first_hour = int(saturday.get_attribute("data-first-hour") or 0)
    row_height = box["height"] / int(saturday.get_attribute("data-rows") or 1)
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + (12 - first_hour) * 4 * row_height + 3)

    dialog = page.locator("dialog.modal[open]")
    expect(dialog).to_be_visible()
    expect(dialog.locator("input[name=starts_at]")).to_have_value(re.compile(r"T12:00$"))
    dialog.locator("input[name=q]").fill("julia")
    expect(dialog.locator("select[name=patient] option")).to_have_count(1)
    expect(dialog.locator("select[name=patient]")).to_contain_text("Júlia Rocha")
    dialog.locator("select[name=therapist]").select_option(label="Bruno Matos")
    dialog.locator("select[name=therapy_type]").select_option(index=1)
    expect(dialog.locator("input[name=minutes]")).not_to_have_value("")
    dialog.locator("input[name=room]").fill("Room 3")
    shot(page, "calendar-booking-dialog")
    dialog.locator("button[type=submit]").click()

    expect(page.locator("dialog.modal[open]")).to_have_count(0)
    chip = page.locator(".cal-col").nth(5).locator(".cal-ev")
    expect(chip).to_have_count(1)
    expect(chip).to_contain_text("Ju")  # her preferred name
    expect(page.locator("#calendar .message-success")).to_be_visible()
    assert Appointment.objects.count() == before + 1

    # Booking Bruno again at the same time is refused in the dialog, naming the clash.
    page.locator("#new-appointment").click()
    dialog = page.locator("dialog.modal[open]")
    starts = Appointment.objects.latest("created_at").starts_at
    local = starts.astimezone(ZoneInfo("America/Sao_Paulo"))
    dialog.locator("input[name=starts_at]").fill(local.strftime("%Y-%m-%dT%H:%M"))
    dialog.locator("input[name=q]").fill("tiago")
    expect(dialog.locator("select[name=patient] option")).to_have_count(1)
    dialog.locator("select[name=therapist]").select_option(label="Bruno Matos")
    dialog.locator("select[name=therapy_type]").select_option(index=1)
    dialog.locator("button[type=submit]").click()
    expect(page.locator("dialog.modal[open] .form-errors")).to_contain_text("Júlia Rocha")
    shot(page, "calendar-clash")
    assert Appointment.objects.count() == before + 1


def test_month_view_and_a_phone(demo, new_page) -> None:
    page = new_page(viewport={"width": 390, "height": 844})
    sign_in(page, "carla@holos.demo", DEMO_PASSWORD)
    page.locator(".segmented button[value=month]").click()
    expect(page).to_have_url(re.compile(r"view=month"))
    expect(page.locator(".cal-month-day").first).to_be_visible()
    shot(page, "calendar-month-phone")
