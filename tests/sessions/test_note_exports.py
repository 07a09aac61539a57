"""A clinical note exported as plain text, PDF and DOCX (sessions/note_exports.py)."""

from __future__ import annotations

import datetime
import io
import shutil
import subprocess
import zoneinfo
from pathlib import Path

import docx
import pytest
from django.utils import translation
from pypdf import PdfReader

from sessions.models import ClinicalNote, ClinicalNoteVersion, NoteVersionKind
from sessions.note_exports import export_filename, note_docx, note_pdf, note_text
from tests.factories import AppointmentFactory, PatientFactory, TherapyTypeFactory

SCREENSHOTS = Path(__file__).resolve().parents[1] / "e2e" / "screenshots"
SAO_PAULO = zoneinfo.ZoneInfo("America/Sao_Paulo")

SUPPORTED = "She slept six hours most nights this week."
UNVERIFIED = "She has a history of panic attacks."
FROM_NOTES = "Breathing exercise practised twice."
MINE = "Plan to revisit the sleep diary next week."


@pytest.fixture
def note(clinic, therapist) -> ClinicalNote:
    clinic.legal_name, clinic.tax_id = "Clínica Aurora Ltda", "12.345.678/0001-90"
    clinic.address, clinic.phone = "Rua das Flores, 100\nSão Paulo – SP", "+55 11 3333-4444"
    clinic.save()
    therapy = TherapyTypeFactory(practice=clinic, name="Reiki")
    patient = PatientFactory(practice=clinic, therapist=therapist, full_name="Maria Souza")
    appointment = AppointmentFactory(
        practice=clinic,
        patient=patient,
        therapist=therapist,
        therapy_type=therapy,
        # 01:30 UTC on Dec 1st is still Nov 30th in São Paulo.
        starts_at=datetime.datetime(2026, 12, 1, 1, 30, tzinfo=datetime.UTC),
    )
    return ClinicalNote.objects.create(
        practice=clinic,
        appointment=appointment,
        patient=patient,
        therapist=therapist,
        title="SOAP note",
        builtin="soap",
        sections=[
            {"key": "subjective", "title": "Subjective", "instruction": ""},
            {"key": "objective", "title": "Objective", "instruction": ""},
            {"key": "plan", "title": "Plan", "instruction": ""},
        ],
        field_keys=["chakras", "energy", "sensations"],
        language="en",
        status="ready",
        created_by=therapist,
    )


def _statement(text: str, *, origin: str = "ai", sources=(), from_notes=False) -> dict:
    return {
        "text": text,
        "sources": list(sources),
        "from_notes": from_notes,
        "rejected": [] if sources or origin != "ai" else [99],
        "origin": origin,
    }


@pytest.fixture
def version(note) -> ClinicalNoteVersion:
    return ClinicalNoteVersion.objects.create(
        practice=note.practice,
        note=note,
        number=3,
        kind=NoteVersionKind.EDITED,
        author=note.therapist,
        created_at=datetime.datetime(2026, 12, 1, 12, 5, tzinfo=datetime.UTC),
        content={
            "sections": [
                {
                    "key": "subjective",
                    "title": "Subjective",
                    "statements": [
                        _statement(SUPPORTED, sources=[101, 102]),
                        _statement(UNVERIFIED),
                    ],
                },
                {
                    "key": "objective",
                    "title": "Objective",
                    "statements": [_statement(FROM_NOTES, from_notes=True)],
                },
                {"key": "plan", "title": "Plan", "statements": [_statement(MINE, origin="me")]},
            ],
            "truncated": False,
        },
        suggestions=[
            {"key": "chakras", "value": ["Heart", "Crown"], "status": "accepted"},
            {"key": "energy", "value": 7, "status": "accepted"},
            {"key": "sensations", "value": "Warm hands", "status": "declined"},
        ],
    )


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


# --- Plain text ---------------------------------------------------------------------------
def test_text_lists_the_facts_and_the_sections_in_order(note, version):
    text = note_text(note, version)

    assert text.startswith("SOAP note\n")
    assert "Patient: Maria Souza" in text
    assert "Therapist: Theo" in text
    assert "Date: Nov. 30, 2026" in text  # the practice's time zone, not UTC's Dec 1st
    assert text.index("Subjective") < text.index("Objective") < text.index("Plan")
    assert f"Subjective\n{SUPPORTED} [unverified] {UNVERIFIED}\n" in text
    assert text.rstrip().endswith("Version 3, Dec. 1, 2026, 9:05 a.m.")


def test_text_marks_only_unsupported_ai_statements(note, version):
    text = note_text(note, version)

    assert f"[unverified] {UNVERIFIED}" in text
    assert text.count("[unverified]") == 1
    for statement in (SUPPORTED, FROM_NOTES, MINE):
        assert f"[unverified] {statement}" not in text


def test_text_has_no_source_ids_and_only_confirmed_values(note, version):
    text = note_text(note, version)

    assert "101" not in text and "102" not in text and "99" not in text
    assert "Chakras worked on: Heart, Crown" in text
    assert "Energy level: 7" in text
    assert "Warm hands" not in text  # declined


def test_text_of_an_empty_section_is_a_dash(note, version):
    version.content["sections"][2]["statements"] = []

    assert "Plan\n—" in note_text(note, version)


# --- PDF ----------------------------------------------------------------------------------
def test_pdf_shows_letterhead_note_and_unverified_tag(note, version, clinic):
    printed_at = datetime.datetime(2026, 12, 2, 15, 0, tzinfo=SAO_PAULO)

    data = note_pdf(note, version, practice=clinic, printed_at=printed_at)

    assert data.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(data))
    text = " ".join(" ".join(page.extract_text().split()) for page in reader.pages)
    assert "Clínica Aurora Ltda" in text and "12.345.678/0001-90" in text
    assert "SOAP note" in text and "Maria Souza" in text and "Reiki" in text
    assert "Subjective" in text and SUPPORTED in text and MINE in text
    assert "unverified" in text.lower()
    assert "Chakras worked on" in text and "Heart, Crown" in text
    assert "Warm hands" not in text
    assert "Version 3 · Exported on Dec. 2, 2026, 3 p.m." in text
    assert "Confidential: clinical record." in text
    assert reader.metadata is not None and reader.metadata.title == "SOAP note"
    _screenshot(data, "clinical_note_pdf_unit")


def _screenshot(data: bytes, name: str) -> None:
    """Page 1 as a PNG in tests/e2e/screenshots, to look at the layout."""
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", "-", name],
        input=data,
        cwd=SCREENSHOTS,
        check=True,
    )
    assert (SCREENSHOTS / f"{name}.png").stat().st_size > 0


# --- DOCX ---------------------------------------------------------------------------------
def test_docx_has_letterhead_headings_paragraphs_and_tables(note, version, clinic):
    document = docx.Document(io.BytesIO(note_docx(note, version, practice=clinic)))

    paragraphs = [p.text for p in document.paragraphs]
    assert paragraphs[0] == "Clínica Aurora Ltda"
    assert "Tax ID: 12.345.678/0001-90" in paragraphs
    assert "São Paulo – SP" in paragraphs
    headings = [p.text for p in document.paragraphs if p.style.name.startswith("Heading")]
    assert headings == ["SOAP note", "Subjective", "Objective", "Plan", "Reiki fields"]
    assert f"{SUPPORTED} [unverified] {UNVERIFIED}" in paragraphs
    assert FROM_NOTES in paragraphs and MINE in paragraphs

    facts, values = ([[c.text for c in row.cells] for row in t.rows] for t in document.tables)
    assert ["Patient", "Maria Souza"] in facts and ["Therapy", "Reiki"] in facts
    assert values == [["Chakras worked on", "Heart, Crown"], ["Energy level", "7"]]
    footer = document.sections[0].footer.paragraphs[0].text
    assert "Version 3" in footer and "Confidential: clinical record." in footer


def test_docx_highlights_only_the_unverified_marker(note, version, clinic):
    document = docx.Document(io.BytesIO(note_docx(note, version, practice=clinic)))

    highlighted = [
        run.text for p in document.paragraphs for run in p.runs if run.font.highlight_color
    ]
    assert highlighted == ["[unverified]"]


def test_docx_ends_with_the_version_and_what_unverified_means(note, version, clinic):
    document = docx.Document(io.BytesIO(note_docx(note, version, practice=clinic)))

    closing = document.paragraphs[-1].text
    assert closing.startswith("Version 3, Dec. 1, 2026, 9:05 a.m. · Statements marked")


def test_docx_survives_control_characters_in_a_statement(note, version, clinic):
    version.content["sections"][2]["statements"] = [_statement("Pasted\x0b text\x01.", origin="me")]

    document = docx.Document(io.BytesIO(note_docx(note, version, practice=clinic)))

    assert "Pasted text." in [p.text for p in document.paragraphs]


def test_docx_metadata_names_no_one(note, version, clinic):
    props = docx.Document(io.BytesIO(note_docx(note, version, practice=clinic))).core_properties

    assert props.title == "SOAP note"
    assert props.author == "" and props.comments == ""


# --- File names ---------------------------------------------------------------------------
@pytest.mark.parametrize("ext", ["pdf", "docx", "txt"])
def test_filename_is_ascii_with_the_local_date_and_version(note, version, ext):
    assert export_filename(note, version, ext) == f"soap-note-2026-11-30-v3.{ext}"


def test_filename_of_an_accented_title_is_ascii(note, version):
    note.title = "Nota de evolução — sessão «1»"

    name = export_filename(note, version, "pdf")

    assert name.isascii() and name.endswith(".pdf")
    assert name == "nota-de-evolucao-sessao-1-2026-11-30-v3.pdf"
    assert "Souza" not in name
