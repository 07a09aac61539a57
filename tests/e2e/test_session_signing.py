"""A recorded session's note in a browser: the therapist corrects it (the History card
keeps the earlier wording), signs it, adds an amendment below the signed note and exports
the record as a PDF; and the session page on a phone."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from practice.models import User
from sessions.models import Session, SessionNote
from tests.e2e.conftest import shot, sign_in

DEMO_PASSWORD = "holos-demo"
THERAPIST = "ana@holos.demo"
NEW_NOTE = (
    "Came in rested after a quiet week. Breathing exercises twice a day; shoulders looser. "
    "Agreed to keep the weekly rhythm."
)
NEW_SENSATIONS = "Tingling along the spine, then a deep calm."
AMENDMENT = "Correction from the phone call the next day: she also mentioned headaches."


@pytest.fixture
def demo(transactional_db) -> None:
    call_command("seed_demo", stdout=io.StringIO())
    # Assertions read English labels; the demo's therapist works in Portuguese.
    User.objects.filter(email=THERAPIST).update(language="en")


@pytest.fixture
def reiki_session(demo) -> Session:
    """Ana's latest recorded Reiki session (unsigned, with its custom fields filled)."""
    return (
        Session.objects.filter(therapist__email=THERAPIST, therapy_type__name="Reiki")
        .select_related("patient", "therapy_type", "note")
        .latest("starts_at")
    )


def open_from_sessions_tab(page: Page, session: Session) -> None:
    """Patients → the patient → Sessions tab → the session's date."""
    page.locator("nav.mainnav a[data-nav=patients]").click()
    page.locator(f"#patient-{session.patient_id} a").first.click()
    expect(page).to_have_url(re.compile(rf"/patients/{session.patient_id}/$"))
    page.locator("#tab-sessions").click()
    expect(page).to_have_url(re.compile(rf"/patients/{session.patient_id}/sessions/$"))
    page.locator(f"#session-{session.pk} a[href$='/sessions/{session.pk}/']").click()
    expect(page).to_have_url(re.compile(rf"/sessions/{session.pk}/$"))


def pdf_text(path: str) -> str:
    """The PDF's text with every run of whitespace made one space (lines wrap anywhere)."""
    text = " ".join(page.extract_text() or "" for page in PdfReader(path).pages)
    return " ".join(text.split())


def test_therapist_edits_signs_amends_and_exports_a_note(reiki_session: Session, page: Page):
    session = reiki_session
    old_note = session.note.text
    fields = {f["key"]: f for f in session.therapy_type.custom_fields}
    sensations_label = fields["sensations"]["label"]
    old_sensations = session.note.custom_values["sensations"]

    sign_in(page, THERAPIST, DEMO_PASSWORD)
    open_from_sessions_tab(page, session)
    expect(page.locator("#session-notes")).to_contain_text(old_note)
    expect(page.locator(".page-header .status-draft")).to_have_text("Not signed")

    # --- Edit the note and one of Reiki's fields ----------------------------------------
    page.locator(".header-actions").get_by_role("link", name="Edit", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/sessions/{session.pk}/edit/$"))
    form = page.locator("form.session-form")
    expect(form.locator("textarea[name=text]")).to_have_value(old_note)
    form.locator("textarea[name=text]").fill(NEW_NOTE)
    form.locator("textarea[name=custom-sensations]").fill(NEW_SENSATIONS)
    form.get_by_role("button", name="Save changes").click()

    expect(page).to_have_url(re.compile(rf"/sessions/{session.pk}/$"))
    expect(page.locator(".message-success")).to_contain_text("Changes saved.")
    expect(page.locator("#session-notes")).to_contain_text(NEW_NOTE)
    expect(page.locator("#session-notes")).to_contain_text(NEW_SENSATIONS)

    # The History card names Ana and what she changed; "What changed" keeps the old words.
    history = page.locator("#session-history")
    change = history.locator("ol.history > li").first
    expect(change).to_contain_text("Ana Ribeiro changed")
    expect(change).to_contain_text("Session notes")
    expect(change).to_contain_text(sensations_label)
    expect(change.locator(".before").first).to_be_hidden()
    change.get_by_text("What changed").click()
    expect(change.locator(".note-text.before")).to_contain_text(old_note)
    expect(change.locator("dd .before", has_text=old_sensations)).to_be_visible()
    expect(change.locator("dd .after", has_text=NEW_SENSATIONS)).to_be_visible()
    expect(history).to_contain_text("Session recorded by Ana Ribeiro")
    shot(page, "signing-history")

    # --- Sign ---------------------------------------------------------------------------
    page.locator(".header-actions").get_by_role("link", name="Sign", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/sessions/{session.pk}/sign/$"))
    expect(page.get_by_role("heading", name="Sign this session’s note?")).to_be_visible()
    expect(page.locator("main")).to_contain_text(session.patient.full_name)
    shot(page, "signing-confirm")
    page.locator("main form").get_by_role("button", name="Sign").click()

    expect(page).to_have_url(re.compile(rf"/sessions/{session.pk}/$"))
    expect(page.locator(".message-success")).to_contain_text("Note signed.")
    expect(page.locator(".page-header .status-signed")).to_have_text("Signed")
    expect(page.locator(f"a[href$='/sessions/{session.pk}/edit/']")).to_have_count(0)
    expect(page.locator(f"a[href$='/sessions/{session.pk}/sign/']")).to_have_count(0)
    expect(page.locator("#session-notes .signature")).to_contain_text("Signed by Ana Ribeiro")
    note = SessionNote.objects.select_related("signed_by").get(session=session)
    assert note.signed_by is not None and note.signed_by.email == THERAPIST
    assert note.text == NEW_NOTE and note.custom_values["sensations"] == NEW_SENSATIONS

    # A signed note is not edited any more, even by URL.
    page.goto(f"/sessions/{session.pk}/edit/")
    expect(page).to_have_url(re.compile(rf"/sessions/{session.pk}/$"))
    expect(page.locator(".message-info")).to_contain_text("add an amendment instead")

    # --- Amend --------------------------------------------------------------------------
    amendments = page.locator("#session-amendments")
    expect(amendments).to_contain_text("No amendments.")
    amendments.locator("textarea[name=text]").fill(AMENDMENT)
    amendments.get_by_role("button", name="Add amendment").click()
    expect(page.locator(".message-success")).to_contain_text("Amendment added.")
    amendments = page.locator("#session-amendments")
    expect(amendments.locator("ol.amendments > li")).to_have_count(1)
    expect(amendments.locator("ol.amendments > li")).to_contain_text(AMENDMENT)
    expect(amendments.locator("ol.amendments > li")).to_contain_text("Ana Ribeiro")
    # Below the note, which is kept exactly as signed.
    notes_box = page.locator("#session-notes").bounding_box()
    amendments_box = amendments.bounding_box()
    assert notes_box and amendments_box and amendments_box["y"] > notes_box["y"]
    expect(page.locator("#session-notes .note-text")).to_contain_text(NEW_NOTE)
    expect(page.locator("#session-notes .note-text")).not_to_contain_text(AMENDMENT)
    shot(page, "signing-amended")

    # --- Export -------------------------------------------------------------------------
    with page.expect_download() as download_info:
        page.locator(".header-actions").get_by_role("link", name="Export PDF").click()
    download = download_info.value
    assert download.suggested_filename.startswith(f"session-{session.pk}-")
    assert download.suggested_filename.endswith(".pdf")
    path = download.path()
    with open(path, "rb") as pdf:
        assert pdf.read(5) == b"%PDF-"
    text = pdf_text(str(path))
    assert NEW_NOTE in text
    assert AMENDMENT in text
    assert NEW_SENSATIONS in text
    assert session.patient.full_name in text
    assert "Signed by Ana Ribeiro" in text
    assert old_note not in text  # the earlier wording stays in the history, not the record


def test_session_page_fits_a_phone(reiki_session: Session, new_page) -> None:
    page = new_page(viewport={"width": 390, "height": 844})
    sign_in(page, THERAPIST, DEMO_PASSWORD)
    page.goto(f"/patients/{reiki_session.patient_id}/sessions/")
    page.locator(f"#session-{reiki_session.pk} a[href$='/sessions/{reiki_session.pk}/']").click()
    expect(page).to_have_url(re.compile(rf"/sessions/{reiki_session.pk}/$"))
    expect(page.locator("#session-notes")).to_contain_text(reiki_session.note.text)
    expect(page.locator("#session-payment")).to_be_visible()
    expect(page.locator(".header-actions").get_by_role("link", name="Sign")).to_be_visible()
    shot(page, "session-phone")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the session page is {width}px wide on a 390px screen"
