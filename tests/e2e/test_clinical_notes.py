"""AI clinical notes in a browser, on the real local model (tests/llm.py, the smallest
shipped one: this is about the page, not the words): from a finished
transcript the therapist drafts a SOAP note, reads the transcript lines behind a
statement, has the assistant expand a section and accepts the diff, then exports the note
as a PDF and copies it as text. An Assistant of the practice gets the 404 page.

A real Celery worker runs the tasks here, not the eager in-process Celery of
tests/conftest.py: run eagerly, the draft is written inside the "Draft notes" request
(once its transaction commits), so the browser waits on the form and never sees the note
page's progress and its reload when done, which is what this test is about.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from django.urls import reverse
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from practice.celery import app as celery_app
from practice.models import Practice, User
from sessions.models import (
    ClinicalNote,
    ClinicalNoteStatus,
    NoteVersionKind,
    Recording,
)
from tests.audio import DIALOGUE
from tests.e2e.conftest import SCREENSHOTS, shot, sign_in
from tests.factories import (
    ClinicalNoteVersionFactory,
    PatientFactory,
    SessionFactory,
    TherapyTypeFactory,
    finished_transcript,
    statement,
)

pytestmark = pytest.mark.slow

QUICK_NOTES = "Looked tired; mentioned the breathing exercise and walking after lunch."
# The smallest shipped model on two threads: a draft or an answer takes seconds to a minute.
LLM_TIMEOUT = 240_000
NOTE_URL = re.compile(r"/notes/(\d+)/$")
SOURCE_LINE = re.compile(r"^\[\d+\] (Therapist|Patient): \S")


@pytest.fixture
def transcript(transactional_db, clinic: Practice, therapist: User) -> Recording:
    """A recorded Reiki session of Theo's patient, with a finished transcript of it: the
    scripted dialogue, the voices named. The practice works in English."""
    clinic.language = "en"
    clinic.save(update_fields=["language"])
    patient = PatientFactory(practice=clinic, therapist=therapist, full_name="Clara Luz")
    session = SessionFactory(
        practice=clinic,
        patient=patient,
        therapist=therapist,
        therapy_type=TherapyTypeFactory(practice=clinic, name="Reiki"),
    )
    return finished_transcript(session.appointment, DIALOGUE)


@pytest.fixture
def worker(transactional_db, llm) -> Iterator[str]:
    """A Celery worker (a thread of this process, so it sees the test's settings and
    database) on the real Redis broker, on a queue of its own."""
    queue = f"holos-test-{uuid.uuid4().hex}"
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_default_queue = queue
    routes, celery_app.conf.task_routes = celery_app.conf.task_routes, {}  # all on `queue`
    try:
        # A draft still being written when a test fails is let finish (rather than left
        # running into the database's teardown).
        with start_worker(
            celery_app,
            queues=[queue],
            perform_ping_check=False,
            pool="solo",
            shutdown_timeout=LLM_TIMEOUT / 1000,
        ):
            yield queue
    finally:
        celery_app.conf.task_default_queue = "celery"
        celery_app.conf.task_routes = routes


def pdf_text(path: Path) -> str:
    """The PDF's text with every run of whitespace made one space (lines wrap anywhere)."""
    text = " ".join(page.extract_text() or "" for page in PdfReader(path).pages)
    return " ".join(text.split())


def test_therapist_drafts_checks_refines_and_exports_a_clinical_note(
    worker, transcript: Recording, therapist: User, page: Page, tmp_path: Path
) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in(page, therapist.email)
    expect(page.locator("nav.mainnav")).to_be_visible()

    # --- From the transcript to the drafting form -----------------------------------------
    page.goto(reverse("sessions:recording", args=[transcript.pk]))
    expect(page.locator("ol.transcript li")).to_have_count(len(DIALOGUE))
    page.get_by_role("link", name="Draft clinical notes").click()
    expect(page).to_have_url(re.compile(rf"/appointments/{transcript.appointment_id}/notes/"))
    form = page.locator("#draft-form")
    expect(form.get_by_label("SOAP note", exact=True)).to_be_checked()
    expect(form.locator("select[name=recording]")).to_have_value(str(transcript.pk))
    form.locator("textarea[name=quick_notes]").fill(QUICK_NOTES)
    form.get_by_role("button", name="Draft notes").click()

    # --- The draft: progress while the model writes, then the page reloads by itself -------
    expect(page).to_have_url(NOTE_URL)
    note = ClinicalNote.objects.get(appointment=transcript.appointment)
    progress = page.locator("#note-progress")
    expect(progress.locator("h2")).to_have_text("Drafting…")
    expect(progress.locator(".progress-stage")).to_contain_text(
        re.compile(r"Reading the transcript|Writing “(Subjective|Objective|Assessment|Plan)”")
    )
    page.evaluate("window.__e2eBeforeReload = true")
    article = page.locator("article.clinical-note")
    expect(article).to_be_visible(timeout=LLM_TIMEOUT)
    assert page.evaluate("window.__e2eBeforeReload") is None, "the page did not reload"
    expect(progress).to_be_empty()
    note.refresh_from_db()
    assert note.status == ClinicalNoteStatus.READY, note.failure
    expect(page.locator(".page-header")).to_contain_text("Version 1")
    expect(article.locator("#section-assessment h2")).to_have_text("Assessment")

    # --- Hover a statement: the transcript lines it rests on -------------------------------
    sourced = article.locator(".statement:not(.unsupported):not(.own)").filter(
        has=page.locator(".source-line", has_text=SOURCE_LINE)
    )
    statement = sourced.first if sourced.count() else article.locator(".statement").first
    page.evaluate("window.scrollTo(0, 0)")
    tooltip = statement.locator(".sources")
    expect(tooltip).to_be_hidden()
    statement.hover()
    expect(tooltip).to_be_visible()
    expect(tooltip).not_to_be_empty()
    if sourced.count():
        line = tooltip.locator(".source-line").first
        expect(line).to_have_text(SOURCE_LINE)
        said = line.inner_text().split(": ", 1)[1]
        assert said in [segment.text for segment in transcript.segments.all()], said
    shot(page, "clinical_note_hover")
    page.mouse.move(0, 0)

    # --- The assistant expands the Assessment; the therapist accepts the diff --------------
    assistant = page.locator("#assistant")
    assistant.locator("select[name=section]").select_option(label="Assessment")
    assistant.get_by_role("button", name="Expand", exact=True).click()
    expect(progress.locator("h2")).to_have_text("The assistant is working…")
    diff = page.locator("#diff-assessment")
    expect(diff).to_be_visible(timeout=LLM_TIMEOUT)
    expect(assistant).to_contain_text("“Expand”")
    expect(diff.locator("legend")).to_contain_text("Assessment")
    shot(page, "clinical_note_diff")
    diff.locator("input[name=accept]").check()  # ticked already, unless nothing changed
    assistant.get_by_role("button", name="Accept ticked sections").click()
    expect(page.locator(".message-success")).to_contain_text("Changes accepted: version 2.")
    expect(page.locator(".page-header")).to_contain_text("Version 2")
    latest = note.versions.order_by("-number").first()
    assert latest is not None
    assert (latest.number, latest.kind) == (2, NoteVersionKind.ASSISTANT)

    # --- Export as PDF; copy as text ------------------------------------------------------
    actions = page.locator(".header-actions")
    with page.expect_download() as download_info:
        actions.get_by_role("link", name="PDF", exact=True).click()
    download = download_info.value
    assert download.suggested_filename.endswith(".pdf"), download.suggested_filename
    pdf = tmp_path / download.suggested_filename
    download.save_as(pdf)
    assert pdf.read_bytes()[:5] == b"%PDF-"
    # Page 1 as a picture beside the screenshots, to look at (poppler-utils' pdftoppm).
    if shutil.which("pdftoppm") is None:
        pytest.fail("The PDF is looked at with pdftoppm: apt-get install poppler-utils.")
    SCREENSHOTS.mkdir(exist_ok=True)
    for old in SCREENSHOTS.glob("clinical_note_pdf-*.png"):
        old.unlink()
    render = ["pdftoppm", "-png", "-r", "70", "-f", "1", "-l", "1"]
    subprocess.run([*render, pdf, SCREENSHOTS / "clinical_note_pdf"], check=True)
    assert list(SCREENSHOTS.glob("clinical_note_pdf-*.png"))
    text = pdf_text(pdf)
    assert "SOAP note" in text and "Assessment" in text, text[:500]

    actions.get_by_role("button", name="Copy as text").click()
    expect(page.locator("[data-copy-status]")).to_have_text("Copied.")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "Assessment" in copied, copied[:500]


def test_an_assistant_gets_the_404_page_for_a_note(
    transactional_db, clinic: Practice, therapist: User, assistant: User, page: Page
) -> None:
    patient = PatientFactory(practice=clinic, therapist=therapist)
    session = SessionFactory(practice=clinic, patient=patient, therapist=therapist)
    version = ClinicalNoteVersionFactory(
        note__appointment=session.appointment, text="Wakes at three with racing thoughts."
    )
    sign_in(page, assistant.email)
    expect(page.locator("nav.mainnav")).to_be_visible()
    response = page.goto(reverse("sessions:note", args=[version.note_id]))
    assert response is not None and response.status == 404
    expect(page.locator(".error-page .error-code")).to_have_text("404")
    expect(page.locator("main")).not_to_contain_text("racing thoughts")
    expect(page.locator("main")).not_to_contain_text("SOAP note")


def test_hovering_or_focusing_a_statement_shows_the_lines_it_rests_on(
    transcript: Recording, therapist: User, page: Page
) -> None:
    """The first test cannot count on what a real model writes: here a note cites known
    lines, and one statement rests on none (the model cited a line that does not exist,
    as drafts written before the check kept)."""
    lines = list(transcript.segments.order_by("position"))
    ClinicalNoteVersionFactory(
        note__appointment=transcript.appointment,
        note__recording=transcript,
        content={
            "sections": [
                {
                    "key": "subjective",
                    "title": "Subjective",
                    "statements": [
                        statement("Wakes at three with racing thoughts.", [lines[1].pk]),
                        statement("Feels behind at work.", [lines[3].pk]),
                    ],
                },
                {
                    "key": "plan",
                    "title": "Plan",
                    "statements": [statement("Start medication.", rejected=[42], supported=False)],
                },
            ]
        },
    )
    sign_in(page, therapist.email)
    page.goto(reverse("sessions:note", args=[ClinicalNote.objects.get().pk]))
    first = page.locator(".statement", has_text="Wakes at three")
    tooltip = first.locator(".sources")
    expect(tooltip).to_be_hidden()
    first.hover()
    expect(tooltip).to_be_visible()
    expect(tooltip).to_have_text(f"[2] Patient: {DIALOGUE[1][1]}")
    shot(page, "clinical_note_sources")
    page.mouse.move(0, 0)
    expect(tooltip).to_be_hidden()

    # By keyboard: Tab reaches each statement, and focus shows its lines too.
    flagged = page.locator(".statement.unsupported", has_text="Start medication")
    flagged.focus()
    expect(flagged.locator(".sources")).to_be_visible()
    expect(flagged.locator(".sources")).to_contain_text(
        "No transcript line supports this statement."
    )
    expect(flagged.locator(".sources")).to_contain_text("lines that do not exist: 42")
    expect(page.locator("#flagged-count")).to_contain_text("1 statement has no support")
