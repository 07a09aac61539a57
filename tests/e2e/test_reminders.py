"""Reminders in a browser: the Owner sends them 48 hours ahead instead of 24, and a patient
who asked for none is unticked on their edit form.

Asserts on structure (names, ids, URLs) and on the data typed in, not on translated words.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from patients.models import Patient
from practice.models import Practice, User
from tests.e2e.conftest import shot, sign_in
from tests.factories import PatientFactory


@pytest.fixture
def owner_in_english(transactional_db, owner: User, clinic: Practice) -> User:
    owner.language = "en"
    owner.save()
    return owner


def test_owner_sets_reminder_hours_and_a_patient_opts_out(
    owner_in_english: User, clinic: Practice, page: Page
) -> None:
    patient = PatientFactory(practice=clinic, therapist=owner_in_english, full_name="Clara Luz")
    sign_in(page, owner_in_english.email)
    page.locator("nav.mainnav a[data-nav=settings]").click()
    page.locator("nav.subnav a[href$='/practice/settings/']").click()
    expect(page).to_have_url(re.compile(r"/practice/settings/$"))

    hours = page.locator("input[name=reminder_hours]")
    expect(hours).to_have_value("24")
    hours.fill("200")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#id_reminder_hours_error")).to_be_visible()
    expect(page.locator(".field.has-error:has(input[name=reminder_hours])")).to_be_visible()
    clinic.refresh_from_db()
    assert clinic.reminder_hours == 24

    page.locator("input[name=reminder_hours]").fill("48")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#id_reminder_hours_error")).to_have_count(0)
    expect(page.locator("input[name=reminder_hours]")).to_have_value("48")
    clinic.refresh_from_db()
    assert clinic.reminder_hours == 48
    shot(page, "reminder_settings")

    page.goto(f"/patients/{patient.pk}/edit/")
    form = page.locator("form.patient-form")
    reminders = form.locator("input[name=email_reminders]")
    expect(reminders).to_be_checked()
    # The box sits in the email address's cell, right under it.
    email_box, reminders_box = (
        form.locator("input[name=email]").bounding_box(),
        reminders.bounding_box(),
    )
    assert email_box and reminders_box and reminders_box["y"] > email_box["y"]
    assert abs(reminders_box["x"] - email_box["x"]) < 5
    form.get_by_label(re.compile("appointment reminders", re.I)).uncheck()
    shot(page, "reminder_patient_form")
    form.locator("button[type=submit]").click()

    expect(page).to_have_url(re.compile(rf"/patients/{patient.pk}/$"))
    expect(page.locator("#patient-reminders")).to_be_visible()
    assert Patient.objects.get(pk=patient.pk).email_reminders is False
