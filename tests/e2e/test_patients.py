"""Patients in a browser: an Assistant adds one through the form, opens the profile's tabs,
records consent, and finds the patient again by typing an unaccented name.

Asserts on structure (names, ids, URLs) and on the data typed in, not on translated words.
"""

from __future__ import annotations

import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from patients.models import Patient
from practice.models import User
from tests.e2e.conftest import shot, sign_in

DEMO_PASSWORD = "holos-demo"
ASSISTANT = "carla@holos.demo"
PATIENTS_URL = re.compile(r"/patients/$")
PROFILE_URL = re.compile(r"/patients/(\d+)/$")


@pytest.fixture
def demo(transactional_db) -> None:
    call_command("seed_demo", stdout=io.StringIO())
    # The demo assistant reads Portuguese; the new strings are not translated yet, so the
    # screenshots use English throughout.
    User.objects.filter(email=ASSISTANT).update(language="en")


def htmx_get(page: Page, path: str, **query: str):
    """Wait for htmx's GET of `path` (with `query` among its parameters)."""

    def matches(response) -> bool:
        url = urlsplit(response.url)
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        return (
            url.path == path
            and query.items() <= params.items()
            and response.request.method == "GET"
            and response.request.headers.get("hx-request") == "true"
        )

    return page.expect_response(matches)


def test_assistant_adds_a_patient_and_finds_them_without_accents(demo, page: Page) -> None:
    sign_in(page, ASSISTANT, DEMO_PASSWORD)
    page.locator("nav.mainnav a[data-nav=patients]").click()
    expect(page).to_have_url(PATIENTS_URL)
    expect(page.locator("#patient-rows tbody tr")).to_have_count(20)
    shot(page, "patients-list")

    page.locator(".page-header a[href$='/patients/new/']").click()
    expect(page).to_have_url(re.compile(r"/patients/new/$"))
    form = page.locator("form.patient-form")

    def type_into(name: str, text: str) -> None:
        field = form.locator(f"[name={name}]")
        field.click()
        field.press("ControlOrMeta+a")
        page.keyboard.type(text)

    type_into("full_name", "Joana Conceição")
    type_into("preferred_name", "Jo")
    type_into("pronouns", "ela/dela")
    form.locator("input[name=birth_date]").fill("1990-05-17")
    type_into("email", "joana.c@example.com")
    type_into("phone", "12345")
    type_into("tags", "Reiki, reiki, Manhãs")
    form.get_by_label("Ana Ribeiro").check()
    form.locator("button[type=submit]").click()

    # The bad phone number: a message beside the field, the typed values kept, nothing saved.
    expect(page).to_have_url(re.compile(r"/patients/new/$"))
    error = page.locator("#id_phone_error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("+55")
    expect(page.locator(".field.has-error:has(input[name=phone])")).to_be_visible()
    expect(form.locator("input[name=full_name]")).to_have_value("Joana Conceição")
    expect(form.get_by_label("Ana Ribeiro")).to_be_checked()
    assert not Patient.objects.filter(full_name="Joana Conceição").exists()
    shot(page, "patients-form-error")

    type_into("phone", "(11) 91234-5678")
    form.locator("button[type=submit]").click()

    expect(page).to_have_url(PROFILE_URL)
    expect(page.locator("h1")).to_contain_text("Joana Conceição")
    overview = page.locator("#patient-tab-panel")
    expect(overview).to_contain_text("+55 11 91234-5678")
    expect(overview).to_contain_text("Ana Ribeiro")
    expect(page.locator("#tab-overview")).to_have_attribute("aria-selected", "true")
    patient = Patient.objects.get(full_name="Joana Conceição")
    assert patient.tags == ["Reiki", "Manhãs"]
    assert [u.email for u in patient.therapists] == ["ana@holos.demo"]
    shot(page, "patients-profile")

    # Tabs and the consent card swap in place; a full reload would drop this marker.
    page.evaluate("window.__e2eNoReload = true")
    # The tabs answer the keyboard: an arrow key moves to the next one, Enter opens it.
    page.locator("#tab-overview").focus()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#tab-sessions")).to_be_focused()
    with htmx_get(page, f"/patients/{patient.pk}/sessions/"):
        page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/patients/{patient.pk}/sessions/$"))
    expect(page.locator("#tab-sessions")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#tab-overview")).to_have_attribute("aria-selected", "false")
    expect(page.locator("#patient-tab-panel .empty-state")).to_be_visible()
    with htmx_get(page, f"/patients/{patient.pk}/"):
        page.locator("#tab-overview").click()
    consent = page.locator("#patient-consent")
    consent.locator("button[type=submit]").click()
    expect(consent.locator(".consent-history li")).to_have_count(1)
    expect(consent.locator("input[name=given]")).to_have_value("no")
    assert page.evaluate("window.__e2eNoReload") is True
    assert Patient.objects.get(pk=patient.pk).has_audio_consent
    shot(page, "patients-profile-consent")

    # Back to the list: typing an unaccented name narrows the rows as you type.
    page.locator(".breadcrumb a").click()
    expect(page).to_have_url(PATIENTS_URL)
    page.evaluate("window.__e2eNoReload = true")
    page.locator("input[name=q]").click()
    with htmx_get(page, "/patients/", q="joana conceicao"):
        page.keyboard.type("joana conceicao", delay=20)
    rows = page.locator("#patient-rows tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Joana Conceição")
    expect(page).to_have_url(re.compile(r"/patients/\?q=joana(\+|%20)conceicao"))
    assert page.evaluate("window.__e2eNoReload") is True
    shot(page, "patients-search")


def test_patient_list_and_profile_fit_a_phone(demo, new_page) -> None:
    page = new_page(viewport={"width": 390, "height": 844})
    sign_in(page, ASSISTANT, DEMO_PASSWORD)
    page.goto("/patients/")
    expect(page.locator("#patient-rows tbody tr")).to_have_count(20)
    width = page.evaluate("document.documentElement.scrollWidth")
    shot(page, "patients-list-mobile")
    assert width <= 390, f"the list is {width}px wide on a 390px screen"

    page.locator("#patient-rows tbody tr a").first.click()
    expect(page).to_have_url(PROFILE_URL)
    width = page.evaluate("document.documentElement.scrollWidth")
    shot(page, "patients-profile-mobile")
    assert width <= 390, f"the profile is {width}px wide on a 390px screen"


def test_archived_patients_leave_the_list_and_come_back(demo, page: Page) -> None:
    sign_in(page, ASSISTANT, DEMO_PASSWORD)
    patient = Patient.objects.get(full_name="Alice Moreira")
    page.goto(f"/patients/{patient.pk}/")
    page.locator(f".header-actions a[href$='/patients/{patient.pk}/archive/']").click()
    expect(page).to_have_url(re.compile(rf"/patients/{patient.pk}/archive/$"))
    shot(page, "patients-archive-confirm")
    page.locator("main form button[type=submit]").click()

    expect(page).to_have_url(PATIENTS_URL)
    expect(page.locator("#patient-rows tbody tr")).to_have_count(19)
    with htmx_get(page, "/patients/", status="archived"):
        page.locator("select[name=status]").select_option("archived")
    rows = page.locator("#patient-rows tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Alice Moreira")
    shot(page, "patients-archived")

    rows.first.locator("a").click()
    expect(page).to_have_url(PROFILE_URL)
    page.locator(f".header-actions form[action$='/patients/{patient.pk}/restore/'] button").click()
    expect(page).to_have_url(PROFILE_URL)
    expect(
        page.locator(f".header-actions a[href$='/patients/{patient.pk}/archive/']")
    ).to_be_visible()
    assert not Patient.objects.get(pk=patient.pk).is_archived
