"""A clinical note drafted in Portuguese from a Portuguese transcript, in a browser: the
therapist (who works in pt-BR) drafts a SOAP note in the transcript's language, sees the
statement the transcript does not support flagged with the lines nearest to it, confirms
a suggested custom-field value that shows the session's value beside it (old → new), and
exports a PDF whose headings are Portuguese.

The model is a scripted OpenAI-compatible endpoint (tests/llm.py) saying exactly what this
test needs, an invention among it; everything else is the app's own: the prompts, the
grammar, the grounding check, the suggestions, the pages and the PDF. What the real model
writes is tested in tests/tera/test_note_quality.py. Celery is eager here: the draft is
written within the "Redigir notas" request."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from practice.models import Practice, User
from sessions.models import ClinicalNote, Recording, Session
from tests.e2e.conftest import SCREENSHOTS, shot, sign_in
from tests.factories import (
    PatientFactory,
    SessionFactory,
    TherapyTypeFactory,
    finished_transcript,
)

DIALOGO = [
    ("therapist", "Boa tarde, Marina. Como foi a sua semana?"),
    ("patient", "Difícil. Acordei às três da manhã em quatro noites, pensando no trabalho."),
    ("therapist", "E de zero a dez, como ficou a ansiedade essa semana?"),
    ("patient", "Uns sete, eu diria. O fechamento do mês me deixou muito acelerada."),
    ("therapist", "Vamos combinar um diário do sono por duas semanas?"),
    ("patient", "Combinado. Eu começo hoje à noite."),
]
ANXIETY = {
    "key": "ansiedade",
    "label": "Nível de ansiedade",
    "kind": "scale",
    "help_text": "",
    "required": False,
    "order": 0,
    "choices": [],
    "min": None,
    "max": None,
    "unit": "",
}
# A plausible invention: it borrows words of a line ("começo", "noite") but says what
# nobody said.
INVENTED = "A paciente relata que começou a praticar atividades físicas à noite."


def _answer(*sentences: str) -> str:
    return json.dumps({"sentences": list(sentences)})


# What the scripted model writes for each SOAP section, then the field values.
REPLIES = [
    _answer(
        "A paciente relata despertar às 3h da manhã em quatro noites, pensando no trabalho.",
        INVENTED,
    ),
    _answer("A paciente se mostrou acelerada com o fechamento do mês."),
    _answer("A ansiedade da semana ficou em 7 de 10."),
    _answer("Foi combinado um diário do sono por duas semanas."),
    json.dumps({"fields": {"ansiedade": 7}}),
]


@pytest.fixture
def session(transactional_db, clinic: Practice, therapist: User) -> Session:
    """Marina's recorded session (anxiety 5 in its record) with a finished Portuguese
    transcript; the therapist works in Portuguese."""
    therapist.language = "pt-br"
    therapist.save(update_fields=["language"])
    patient = PatientFactory(practice=clinic, therapist=therapist, full_name="Marina Duarte")
    therapy = TherapyTypeFactory(practice=clinic, name="Psicoterapia", custom_fields=[ANXIETY])
    session = SessionFactory(
        practice=clinic,
        patient=patient,
        therapist=therapist,
        therapy_type=therapy,
        note__custom_values={"ansiedade": 5},
    )
    finished_transcript(session.appointment, DIALOGO, detected_language="pt")
    return session


def test_a_portuguese_note_flags_an_invention_and_confirms_a_value_old_to_new(
    session: Session, therapist: User, page: Page, scripted_llm, settings, tmp_path: Path
) -> None:
    settings.LLM_PREFILL_CHARS = 0
    settings.LLM_JUDGE_MAX = 0  # the scripted answers are the test's, not a judge's
    recording = Recording.objects.get(appointment=session.appointment)
    sign_in(page, therapist.email)
    expect(page.locator("nav.mainnav")).to_be_visible()

    page.goto(reverse("sessions:recording", args=[recording.pk]))
    page.get_by_role("link", name="Redigir notas clínicas").click()
    form = page.locator("#draft-form")
    expect(form.get_by_label("Nota SOAP", exact=True)).to_be_checked()
    expect(form.locator("select[name=language]")).to_have_value("auto")
    with scripted_llm(list(REPLIES)) as endpoint:
        # Drafted within the request, and the note indexed for Tera by the embedding model.
        with page.expect_navigation(timeout=120_000):
            form.get_by_role("button", name="Redigir notas").click(timeout=120_000)
        article = page.locator("article.clinical-note")
        expect(article).to_be_visible()
    assert len(endpoint.requests) == len(REPLIES)
    system = endpoint.requests[0]["messages"][0]["content"]
    assert "português do Brasil" in system  # asked in the note's language
    note = ClinicalNote.objects.get(appointment=session.appointment)
    assert note.language == "pt-br"

    # Portuguese headings; the invention flagged, with the lines nearest to it.
    expect(article.locator("section.note-section h2")).to_have_text(
        ["Subjetivo", "Objetivo", "Avaliação", "Plano"]
    )
    expect(page.locator("#flagged-count")).to_contain_text(
        "1 afirmação não tem apoio na transcrição"
    )
    flagged = article.locator(".statement.unsupported")
    expect(flagged).to_have_count(1)
    expect(flagged).to_contain_text(INVENTED)
    flagged.focus()
    sources = flagged.locator(".sources")
    expect(sources).to_be_visible()
    expect(sources).to_contain_text("Paciente: Combinado. Eu começo hoje à noite.")
    expect(sources).to_contain_text("Estas falas são as mais próximas, mas não dizem isso")
    shot(page, "clinical_note_pt_flagged")
    flagged.evaluate("element => element.blur()")
    supported = article.locator(".statement:not(.unsupported)").first
    supported.hover()
    expect(supported.locator(".source-line").first).to_contain_text(
        "Acordei às três da manhã em quatro noites"
    )
    page.mouse.move(0, 0)

    # The suggested value beside the session's, with the line that says it; old → new.
    suggestion = page.locator("#suggestion-ansiedade")
    expect(suggestion.locator(".current-value")).to_have_text("5")
    expect(suggestion.locator(".suggested-value")).to_have_text("7")
    expect(suggestion).to_contain_text("Uns sete, eu diria.")
    shot(page, "clinical_note_pt_suggestion")
    suggestion.get_by_role("button", name="Trocar 5 por 7").click()
    expect(page.locator(".message-success")).to_contain_text("Nível de ansiedade: 5 → 7.")
    expect(page.locator("#suggestion-ansiedade")).to_contain_text("Confirmada")
    session.note.refresh_from_db()
    assert session.note.custom_values == {"ansiedade": 7}

    # The PDF speaks the note's language.
    with page.expect_download() as download_info:
        page.locator(".header-actions").get_by_role("link", name="PDF", exact=True).click()
    pdf = tmp_path / download_info.value.suggested_filename
    download_info.value.save_as(pdf)
    text = " ".join(" ".join((p.extract_text() or "") for p in PdfReader(pdf).pages).split())
    for heading in ("Nota SOAP", "Subjetivo", "Objetivo", "Avaliação", "Plano", "Paciente"):
        assert heading in text, (heading, text[:400])
    assert "Subjective" not in text and "Assessment" not in text
    assert "não verificada" in text  # the invention is marked in the record too
    if shutil.which("pdftoppm") is None:
        pytest.fail("The PDF is looked at with pdftoppm: apt-get install poppler-utils.")
    SCREENSHOTS.mkdir(exist_ok=True)
    for old in SCREENSHOTS.glob("clinical_note_pt_pdf-*.png"):
        old.unlink()
    subprocess.run(
        ["pdftoppm", "-png", "-r", "70", "-f", "1", "-l", "1", pdf,
         SCREENSHOTS / "clinical_note_pt_pdf"],
        check=True,
    )  # fmt: skip
