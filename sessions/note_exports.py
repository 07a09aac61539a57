"""A clinical note as plain text ("copy as text"), PDF and DOCX.

Pure rendering: the views fetch the note through the barrier, audit the export and call
one of these. All three show the same facts, built once by `_document`, with dates in the
practice's time zone. An AI statement that rests on no transcript line and not on the
quick notes is marked "unverified" in every format, so nothing unchecked reaches a record
unmarked. Transcript line ids never leave the app.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from io import BytesIO
from typing import TYPE_CHECKING

import docx
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.text import slugify
from django.utils.translation import gettext, gettext_noop
from docx.enum.text import WD_COLOR_INDEX
from docx.shared import Pt, RGBColor

from practice.pdf import render_pdf
from tera.drafting import is_supported
from therapies.formbuilder import ShownValue, describe_values

if TYPE_CHECKING:
    from docx.document import Document
    from docx.table import Table

    from practice.models import Practice
    from sessions.models import ClinicalNote, ClinicalNoteVersion

PDF_TEMPLATE = "sessions/clinical_note_pdf.html"
# Characters XML 1.0 refuses (python-docx raises on them); a pasted control character in a
# statement or a name must not make the export fail.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
ACCENT = RGBColor(0x2F, 0x6F, 0x62)  # the letterhead colour of static/css/print.css
MUTED = RGBColor(0x4D, 0x5A, 0x55)
# The same message as in templates/sessions/clinical_note_pdf.html (one msgid).
UNVERIFIED_HELP = gettext_noop(
    "Statements marked “unverified” were written by the AI and rest on no line of the "
    "transcript nor on the quick notes: check them before relying on them."
)


@dataclass(frozen=True)
class Statement:
    text: str
    unverified: bool


@dataclass(frozen=True)
class Section:
    title: str
    statements: list[Statement]


@dataclass(frozen=True)
class NoteDocument:
    """What every format shows, already formatted in the practice's time zone."""

    title: str
    facts: list[tuple[str, str]]  # (label, value): patient, date, therapist, therapy
    sections: list[Section]
    values_title: str
    values: list[ShownValue]  # custom-field values the therapist confirmed
    version_line: str  # "Version 3, 30 November 2026 14:05"

    @property
    def has_unverified(self) -> bool:
        return any(s.unverified for section in self.sections for s in section.statements)


@contextmanager
def _practice_time(practice: Practice) -> Iterator[None]:
    with timezone.override(zoneinfo.ZoneInfo(practice.time_zone)):
        yield


def _clean(text: object) -> str:
    return NOT_XML.sub("", str(text))


def _when(moment: datetime.datetime) -> str:
    return date_format(timezone.localtime(moment), "DATETIME_FORMAT")


def _document(note: ClinicalNote, version: ClinicalNoteVersion) -> NoteDocument:
    """Call inside `_practice_time`."""
    therapy = note.appointment.therapy_type
    facts = [
        (gettext("Patient"), _clean(note.patient.full_name)),
        (gettext("Date"), _when(note.appointment.starts_at)),
        (gettext("Therapist"), _clean(note.therapist.display_name)),
    ]
    if therapy is not None:
        facts.append((gettext("Therapy"), _clean(therapy.name)))
    sections = [
        Section(
            _clean(section.get("title", "")),
            [
                Statement(_clean(s.get("text", "")), unverified=not is_supported(s))
                for s in section.get("statements", [])
                if str(s.get("text", "")).strip()
            ],
        )
        for section in version.section_list
    ]
    accepted = {s["key"]: s["value"] for s in version.suggestions if s.get("status") == "accepted"}
    values = [
        dataclasses.replace(v, label=_clean(v.label), text=_clean(v.text))
        for v in describe_values(
            therapy.custom_fields if therapy else [],
            therapy.removed_fields if therapy else [],
            accepted,
        )
    ]
    values_title = (
        gettext("%(therapy)s fields") % {"therapy": _clean(therapy.name)}
        if therapy
        else gettext("Confirmed fields")
    )
    return NoteDocument(
        title=_clean(note.title),
        facts=facts,
        sections=sections,
        values_title=values_title,
        values=values,
        version_line=gettext("Version %(number)s, %(date)s")
        % {"number": version.number, "date": _when(version.created_at)},
    )


def _unverified_tag() -> str:
    return gettext("unverified")


# --- Plain text ---------------------------------------------------------------------------
def note_text(note: ClinicalNote, version: ClinicalNoteVersion) -> str:
    """The note as plain text to paste into another record: one paragraph per section."""
    with _practice_time(note.practice):
        doc = _document(note, version)
    tag = f"[{_unverified_tag()}] "
    blocks = [doc.title, "\n".join(f"{label}: {value}" for label, value in doc.facts)]
    for section in doc.sections:
        body = " ".join(f"{tag if s.unverified else ''}{s.text}" for s in section.statements)
        blocks.append(f"{section.title}\n{body or '—'}")
    if doc.values:
        lines = "\n".join(f"{v.label}: {v.text}" for v in doc.values)
        blocks.append(f"{doc.values_title}\n{lines}")
    blocks.append(doc.version_line)
    return "\n\n".join(blocks) + "\n"


# --- PDF ----------------------------------------------------------------------------------
def note_pdf(
    note: ClinicalNote,
    version: ClinicalNoteVersion,
    *,
    practice: Practice,
    printed_at: datetime.datetime,
) -> bytes:
    """The note on the practice's letterhead (templates/sessions/clinical_note_pdf.html)."""
    with _practice_time(practice):
        return render_pdf(
            PDF_TEMPLATE,
            {
                "practice": practice,
                "note": note,
                "version": version,
                "doc": _document(note, version),
                "printed_at": printed_at,
            },
        )


# --- DOCX ---------------------------------------------------------------------------------
def note_docx(
    note: ClinicalNote,
    version: ClinicalNoteVersion,
    *,
    practice: Practice,
    printed_at: datetime.datetime | None = None,
) -> bytes:
    """The note as a Word document: the letterhead lines, the facts, the sections and the
    confirmed custom-field values; the footer of the PDF on every page."""
    printed_at = printed_at or timezone.now()
    with _practice_time(practice):
        doc = _document(note, version)
        exported = gettext("Exported on %(when)s") % {"when": _when(printed_at)}

    document: Document = docx.Document()
    _docx_properties(document, note, printed_at)
    document.styles["Normal"].font.size = Pt(10.5)

    _docx_letterhead(document, practice)
    document.add_heading(doc.title, level=1)
    _docx_table(document, doc.facts)

    for section in doc.sections:
        document.add_heading(section.title, level=2)
        paragraph = document.add_paragraph()
        if not section.statements:
            paragraph.add_run("—")
        for i, statement in enumerate(section.statements):
            if i:
                paragraph.add_run(" ")
            if statement.unverified:
                tag = paragraph.add_run(f"[{_unverified_tag()}]")
                tag.bold = True
                tag.font.highlight_color = WD_COLOR_INDEX.YELLOW
                paragraph.add_run(" ")
            paragraph.add_run(statement.text)

    if doc.values:
        document.add_heading(doc.values_title, level=2)
        _docx_table(document, [(v.label, v.text) for v in doc.values])

    closing = document.add_paragraph()
    closing.paragraph_format.space_before = Pt(12)
    closing_run = closing.add_run(
        f"{doc.version_line} · {gettext(UNVERIFIED_HELP)}"
        if doc.has_unverified
        else doc.version_line
    )
    closing_run.font.size = Pt(8)
    closing_run.font.color.rgb = MUTED

    footer = document.sections[0].footer.paragraphs[0]
    run = footer.add_run(
        " · ".join(
            [
                _clean(practice.legal_name or practice.name),
                doc.version_line,
                exported,
                gettext("Confidential: clinical record."),
            ]
        )
    )
    run.font.size = Pt(8)
    run.font.color.rgb = MUTED

    out = BytesIO()
    document.save(out)
    return out.getvalue()


def _docx_properties(document: Document, note: ClinicalNote, printed_at: datetime.datetime) -> None:
    # python-docx's default template says it was "generated by python-docx"; say nothing
    # but the title, and no patient name in metadata that travels with the file.
    props = document.core_properties
    props.title = _clean(note.title)
    props.author = props.last_modified_by = ""
    props.comments = props.subject = props.keywords = props.category = ""
    props.language = note.language
    # python-docx writes the time as it is, with a "Z".
    props.created = props.modified = printed_at.astimezone(datetime.UTC)
    props.revision = 1


def _docx_letterhead(document: Document, practice: Practice) -> None:
    """The lines of templates/components/letterhead.html."""
    name = document.add_paragraph()
    run = name.add_run(_clean(practice.legal_name or practice.name))
    run.bold = True
    run.font.size = Pt(15)
    run.font.color.rgb = ACCENT
    details: list[str] = []
    if practice.legal_name and practice.legal_name != practice.name:
        details.append(_clean(practice.name))
    if practice.tax_id:
        details.append(f"{gettext('Tax ID')}: {_clean(practice.tax_id)}")
    details.extend(_clean(line).strip() for line in practice.address.splitlines() if line.strip())
    if contacts := " · ".join(_clean(c) for c in (practice.phone, practice.email) if c):
        details.append(contacts)
    for line in details:
        paragraph = document.add_paragraph()
        paragraph.paragraph_format.space_after = Pt(0)
        detail = paragraph.add_run(line)
        detail.font.size = Pt(8.5)
        detail.font.color.rgb = MUTED
    document.add_paragraph().paragraph_format.space_after = Pt(6)


def _docx_table(document: Document, rows: list[tuple[str, str]]) -> Table:
    table = document.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for label, value in rows:
        cells = table.add_row().cells
        cells[0].text = ""
        cells[0].paragraphs[0].add_run(label).bold = True
        cells[1].text = value
    return table


# --- File names ---------------------------------------------------------------------------
def export_filename(note: ClinicalNote, version: ClinicalNoteVersion, ext: str) -> str:
    """ASCII and safe in a Content-Disposition header: `soap-note-2026-11-30-v3.pdf`. No
    patient name: file names end up in download lists and mail subjects."""
    tz = zoneinfo.ZoneInfo(note.practice.time_zone)
    day = timezone.localtime(note.appointment.starts_at, tz).date().isoformat()
    stem = slugify(note.title)[:60].strip("-") or "clinical-note"
    return f"{stem}-{day}-v{version.number}.{ext.lstrip('.')}"
