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
from tests.e2e.conftest import settled, shot, sign_in

DEMO_PASSWORD = "holos-demo"
SAO_PAULO = ZoneInfo("America/Sao_Paulo")


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
    settled(page)
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
    expect(dialog).to_be_visible()
    settled(page)
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


def test_assistant_books_weekly_and_drags_one_date_to_another_day(demo, page: Page) -> None:
    sign_in(page, "carla@holos.demo", DEMO_PASSWORD)
    before = Appointment.objects.count()

    # Saturday 12:00 is free in the demo week.
    saturday = page.locator(".cal-col").nth(5)
    saturday.evaluate("el => el.scrollIntoView({block: 'center'})")
    box = saturday.bounding_box()
    assert box
    first_hour = int(saturday.get_attribute("data-first-hour") or 0)
    row_height = box["height"] / int(saturday.get_attribute("data-rows") or 1)
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + (12 - first_hour) * 4 * row_height + 3)

    dialog = page.locator("dialog.modal[open]")
    expect(dialog.locator("input[name=starts_at]")).to_have_value(re.compile(r"T12:00$"))
    # The end of a repetition is asked only once one is chosen.
    expect(dialog.locator("[data-repeat-ends]")).to_be_hidden()
    settled(page)
    dialog.locator("input[name=q]").fill("julia")
    expect(dialog.locator("select[name=patient] option")).to_have_count(1)
    dialog.locator("select[name=therapist]").select_option(label="Bruno Matos")
    dialog.locator("select[name=therapy_type]").select_option(index=1)
    dialog.locator("select[name=repeat]").select_option(label="Every week")
    expect(dialog.locator("[data-repeat-ends]")).to_be_visible()
    dialog.get_by_label("After a number of times").check()
    dialog.locator("input[name=count]").fill("4")
    shot(page, "calendar-weekly-dialog")
    dialog.locator("button[type=submit]").click()

    expect(page.locator("dialog.modal[open]")).to_have_count(0)
    expect(page.locator("#calendar .message-success")).to_contain_text("4 times")
    assert Appointment.objects.count() == before + 4
    series = list(Appointment.objects.filter(series__isnull=False).order_by("starts_at"))
    assert [a.starts_at.astimezone(SAO_PAULO).strftime("%a %H:%M") for a in series] == [
        "Sat 12:00"
    ] * 4

    # Drag this Saturday's occurrence to Sunday, one hour later.
    chip = page.locator(f".cal-ev[data-appointment='{series[0].pk}']")
    chip.evaluate("el => el.scrollIntoView({block: 'center'})")
    start = chip.bounding_box()
    sunday = page.locator(".cal-col").nth(6).bounding_box()
    assert start and sunday
    x, y = start["x"] + start["width"] / 2, start["y"] + 8
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 20, y + 10, steps=3)
    page.mouse.move(sunday["x"] + sunday["width"] / 2, y + 4 * row_height, steps=8)
    with page.expect_response(re.compile(r"/move/$")):
        page.mouse.up()
    expect(page.locator("#calendar .message-success")).to_contain_text("moved to")
    expect(
        page.locator(".cal-col").nth(6).locator(f"[data-appointment='{series[0].pk}']")
    ).to_be_visible()
    expect(page.locator("dialog.modal[open]")).to_have_count(0)  # the drag opened nothing
    series = [Appointment.objects.get(pk=a.pk) for a in series]
    moved = [a.starts_at.astimezone(SAO_PAULO).strftime("%a %H:%M") for a in series]
    assert moved == ["Sun 13:00", "Sat 12:00", "Sat 12:00", "Sat 12:00"]
    shot(page, "calendar-busy-week-after-drag")


def test_month_view_and_a_phone(demo, new_page) -> None:
    page = new_page(viewport={"width": 390, "height": 844})
    sign_in(page, "carla@holos.demo", DEMO_PASSWORD)
    page.locator(".segmented button[value=month]").click()
    expect(page).to_have_url(re.compile(r"view=month"))
    expect(page.locator(".cal-month-day").first).to_be_visible()
    shot(page, "calendar-month-phone")
