"""A patient's data rights in a browser: the Owner opens a patient of the demo practice,
downloads everything held about them (JSON and PDF), then erases them: the page explains
the five-year rule, and only the lawful reason, the typed name and the password let the
erasure through. The profile then says the patient was erased and shows no notes."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from patients.models import Patient
from payments.models import Payment
from practice.models import User
from sessions.models import Session, SessionNote
from tests.e2e.conftest import shot, sign_in

DEMO_PASSWORD = "holos-demo"
OWNER = "owner@holos.demo"


@pytest.fixture
def demo(transactional_db) -> None:
    call_command("seed_demo", stdout=io.StringIO())
    User.objects.filter(email=OWNER).update(language="en")


def test_owner_exports_and_erases_a_patient(demo, page: Page) -> None:
    # The newest session with notes (in Python: the notes are encrypted at rest).
    session = next(
        s
        for s in Session.objects.select_related("patient", "note").order_by("-starts_at")
        if s.note.text
    )
    patient = session.patient
    note_text = session.note.text
    payments = Payment.objects.filter(session__patient=patient).count()

    sign_in(page, OWNER, DEMO_PASSWORD)
    page.goto(f"/patients/{patient.pk}/")
    rights = page.locator("#patient-data-rights")
    expect(rights).to_be_visible()
    rights.scroll_into_view_if_needed()
    shot(page, "data_rights_profile")

    with page.expect_download() as download:
        rights.locator(f"a[href$='/patients/{patient.pk}/export.json']").click()
    record = json.loads(download.value.path().read_text(encoding="utf-8"))
    assert record["patient"]["full_name"] == patient.full_name
    assert note_text in [s["note"]["text"] for s in record["sessions"] if s["note"]]
    with page.expect_download() as download:
        rights.locator(f"a[href$='/patients/{patient.pk}/export.pdf']").click()
    assert download.value.path().read_bytes().startswith(b"%PDF")

    rights.locator(f"a[href$='/patients/{patient.pk}/erase/']").click()
    expect(page).to_have_url(re.compile(rf"/patients/{patient.pk}/erase/$"))
    form = page.locator("form[action$='/erase/']")
    expect(page.locator(".message-warning")).to_contain_text("001/2009")
    # Name and password alone are not enough within the five years.
    form.locator("input[name=confirm_name]").fill(patient.full_name)
    form.locator("input[name=password]").fill(DEMO_PASSWORD)
    form.locator("button[type=submit]").click()
    expect(page.locator("#id_lawful_reason_error")).to_be_visible()
    assert not Patient.objects.get(pk=patient.pk).is_erased
    shot(page, "data_rights_erase_blocked")

    form.locator("input[name=lawful_reason]").check()
    form.locator("input[name=confirm_name]").fill(patient.full_name)
    form.locator("input[name=password]").fill(DEMO_PASSWORD)
    form.locator("button[type=submit]").click()

    expect(page).to_have_url(re.compile(rf"/patients/{patient.pk}/$"))
    expect(page.locator("#patient-erased")).to_be_visible()
    expect(page.locator("h1")).not_to_contain_text(patient.full_name)
    shot(page, "data_rights_erased")
    erased = Patient.objects.get(pk=patient.pk)
    assert erased.is_erased and erased.full_name != patient.full_name
    assert SessionNote.objects.get(session=session).text == ""
    assert Payment.objects.filter(session__patient=patient).count() == payments

    page.locator("#tab-sessions").click()
    expect(page.locator(f"#session-{session.pk}")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text(note_text[:40])
