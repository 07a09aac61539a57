"""Clinical notes drafted by the AI: an appointment's notes and the form that drafts them,
a note with the transcript lines behind each statement, its versions, the assistant's
proposals (a diff to accept section by section), suggested custom-field values, and the
exports.

Scope: a note, its versions and proposals are fetched through
`ClinicalNote.objects.visible_to` (the note barrier); an appointment's notes page answers
only to those who may draft for it (`may_draft`: an Owner or the appointment's own
therapist). Assistants, other therapists and other practices get 404, as for an id that
does not exist; POST-only URLs fetch in scope before refusing a GET. Pages with clinical
content send `Cache-Control: no-store` and stay out of htmx's history.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django_htmx.http import HttpResponseClientRefresh

from practice.http import PracticeRequest, client_ip, wants_fragment
from practice.models import Role
from practice.permissions import role_required
from sessions import note_exports
from sessions.forms import ASSIST_PRESETS, AssistForm, GenerateNotesForm, SectionEditForm
from sessions.models import (
    ClinicalNote,
    ClinicalNoteVersion,
    NoteProposal,
    ProposalStatus,
    Recording,
    RecordingStatus,
)
from sessions.services import clinical_notes as services
from sessions.views.common import acting, first_error, no_store, recordable_appointment
from tera.clinical_notes import note_lines
from tera.drafting import Line, is_supported
from tera.llm import failure_message
from therapies.formbuilder import value_text

treating_only = role_required(Role.OWNER, Role.THERAPIST, hide=True)


def _note(request: PracticeRequest, pk: int) -> ClinicalNote:
    return get_object_or_404(
        ClinicalNote.objects.visible_to(request.membership).select_related(
            "appointment__therapy_type", "appointment__session", "patient", "therapist", "recording"
        ),
        pk=pk,
    )


# --- An appointment's notes ----------------------------------------------------------------
@treating_only
def appointment_notes(request: PracticeRequest, pk: int) -> HttpResponse:
    """The appointment's notes, and the form that drafts new ones (one per template)."""
    appointment = recordable_appointment(request, pk)
    templates = services.template_choices(request.practice, appointment)
    transcripts = (
        Recording.objects.visible_to(request.membership)
        .filter(appointment=appointment, status=RecordingStatus.DONE)
        .filter(transcript_expired_at__isnull=True)  # none left to draft from
        .order_by("-created_at")
    )
    chosen = request.GET.get("recording", "")
    initial = {
        "templates": ["builtin:soap"],
        "language": services.AUTO_LANGUAGE,
        "recording": (
            transcripts.filter(pk=int(chosen)).first() if chosen.isdigit() else transcripts.first()
        ),
    }
    form = GenerateNotesForm(
        request.POST if request.method == "POST" else None,
        templates=templates,
        recordings=transcripts,
        initial=initial,
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                notes = services.note_generate(
                    appointment=appointment,
                    templates=[templates[value] for value in form.cleaned_data["templates"]],
                    recording=form.cleaned_data["recording"],
                    quick_notes=form.cleaned_data["quick_notes"],
                    language=form.cleaned_data["language"],
                    **acting(request),
                )
            except ValidationError as error:
                form.add_error(None, first_error(error))
            except PermissionDenied:
                raise Http404 from None
            else:
                return redirect("sessions:note", notes[0].pk)
        status = 422
    context = {
        "appointment": appointment,
        "patient": appointment.patient,
        "session": getattr(appointment, "session", None),
        "notes": ClinicalNote.objects.visible_to(request.membership)
        .filter(appointment=appointment)
        .select_related("created_by"),
        "form": form,
        "has_transcript": transcripts.exists(),
    }
    return no_store(render(request, "sessions/notes.html", context, status=status))


# --- One note ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShownStatement:
    text: str
    supported: bool
    checked: bool  # False: in another language than the transcript, not matched to it
    from_notes: bool
    rejected: list[int]
    origin: str
    sources: list[Line]


@dataclass(frozen=True)
class ShownSection:
    key: str
    title: str
    statements: list[ShownStatement]
    flagged: int


def _lines(note: ClinicalNote) -> dict[int, Line]:
    """The transcript's lines by segment id, numbered as the prompt numbered them."""
    return {line.segment_id: line for line in note_lines(note, unknown=_("Unknown speaker"))}


def _shown_sections(
    sections: Iterable[dict[str, Any]], lines: dict[int, Line]
) -> list[ShownSection]:
    shown = []
    for section in sections:
        statements = [
            ShownStatement(
                text=s["text"],
                supported=is_supported(s),
                checked=s.get("origin", "ai") != "ai" or s.get("supported", False) is not None,
                from_notes=bool(s.get("from_notes")),
                rejected=list(s.get("rejected", [])),
                origin=s.get("origin", "ai"),
                sources=[lines[pk] for pk in s.get("sources", []) if pk in lines],
            )
            for s in section["statements"]
        ]
        shown.append(
            ShownSection(
                section["key"],
                section["title"],
                statements,
                flagged=sum(s.checked and not s.supported for s in statements),
            )
        )
    return shown


def word_diff(before: str, after: str) -> list[tuple[str, str]]:
    """(operation, words) runs from `before` to `after`: "same", "del" or "ins"."""
    a, b = before.split(), after.split()
    runs: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            runs.append(("same", " ".join(a[i1:i2])))
            continue
        if i2 > i1:
            runs.append(("del", " ".join(a[i1:i2])))
        if j2 > j1:
            runs.append(("ins", " ".join(b[j1:j2])))
    return runs


def _section_text(section: dict[str, Any]) -> str:
    return "\n".join(s["text"] for s in section["statements"])


def _proposal_diffs(proposal: NoteProposal, lines: dict[int, Line]) -> list[dict[str, Any]]:
    current = {s["key"]: s for s in proposal.base.section_list}
    diffs = []
    for section in proposal.sections:
        before = current.get(section["key"], {"statements": []})
        diffs.append(
            {
                "key": section["key"],
                "title": section["title"],
                "runs": word_diff(_section_text(before), _section_text(section)),
                "shown": _shown_sections([section], lines)[0],
                "changed": _section_text(before) != _section_text(section),
            }
        )
    return diffs


def _suggestions(
    note: ClinicalNote, version: ClinicalNoteVersion, lines: dict[int, Line]
) -> list[dict[str, Any]]:
    """Each proposed value beside the value the session holds now (`now`, posted back as
    `shown` so a confirmation replaces only what was seen) and the lines that say it."""
    therapy = note.appointment.therapy_type
    fields = {f["key"]: f for f in (therapy.custom_fields if therapy else [])}
    session = getattr(note.appointment, "session", None)
    shown = []
    for suggestion in version.suggestions:
        field = fields.get(suggestion["key"])
        if field is None:
            continue
        now = services.session_value(session, suggestion["key"])
        shown.append(
            {
                **suggestion,
                "label": field["label"],
                "text": value_text(field["kind"], suggestion["value"]),
                "now": None if now is None else value_text(field["kind"], now),
                "shown": json.dumps(now),
                "same": now == suggestion["value"],
                "lines": [lines[pk] for pk in suggestion.get("sources", []) if pk in lines],
            }
        )
    return shown


@treating_only
def note_detail(request: PracticeRequest, pk: int) -> HttpResponse:
    """A note (its newest version, or `?version=N`), with the transcript lines behind each
    statement. An htmx poll (`?part=progress`) gets only #note-progress while the model
    writes, then reloads the page."""
    note = _note(request, pk)
    proposal = (
        note.proposals.select_related("base")
        .filter(status__in=(ProposalStatus.WORKING, ProposalStatus.READY))
        .first()
    )
    polling = wants_fragment(request) and request.GET.get("part") == "progress"
    working = note.is_drafting or (
        proposal is not None and proposal.status == ProposalStatus.WORKING
    )
    if polling and not working:
        return HttpResponseClientRefresh()
    versions = list(note.versions.select_related("author").order_by("-number"))
    latest = versions[0] if versions else None
    version = latest
    asked = request.GET.get("version", "")
    if asked.isdigit():
        version = next((v for v in versions if v.number == int(asked)), None)
        if version is None:
            raise Http404
    if not polling:
        services.note_open(
            membership=request.membership, note=note, action="read", ip=client_ip(request)
        )
    lines = _lines(note) if not polling else {}
    sections = _shown_sections(version.section_list, lines) if version else []
    may_draft = services.may_draft(request.membership, note.appointment)
    context = {
        "note": note,
        "appointment": note.appointment,
        "patient": note.patient,
        "session": getattr(note.appointment, "session", None),
        "version": version,
        "latest": latest,
        "is_latest": version is not None and version == latest,
        "versions": versions,
        "sections": sections,
        "flagged": sum(s.flagged for s in sections),
        "suggestions": _suggestions(note, version, lines) if version and version == latest else [],
        "failure": failure_message(note.failure) if note.failure else "",
        "proposal_failure": _proposal_failure(note),
        "stage": _stage(note, proposal),
        "unchecked": any(not st.checked for section in sections for st in section.statements),
        "proposal": proposal,
        "diffs": _proposal_diffs(proposal, lines)
        if proposal and proposal.status == ProposalStatus.READY
        else [],
        "assist_form": AssistForm(sections=version.section_list if version else []),
        "presets": ASSIST_PRESETS,
        "may_draft": may_draft,
        "working": working,
        "truncated": bool(version and version.content.get("truncated")),
    }
    template = "sessions/note.html"
    if polling:
        template += "#note-progress"
    return no_store(render(request, template, context))


def _proposal_failure(note: ClinicalNote) -> str:
    last = note.proposals.first()
    if last is None or last.status != ProposalStatus.FAILED:
        return ""
    return failure_message(last.failure)


def _stage(note: ClinicalNote, proposal: NoteProposal | None) -> str:
    """Where the model is, in words: reading the transcript (how far, or which part of a
    long one), writing a section (which one), proposing field values."""
    working = proposal if proposal and proposal.status == ProposalStatus.WORKING else None
    progress = (working.progress if working else note.progress) or {}
    stage, done, total = progress.get("stage"), progress.get("done", 0), progress.get("total", 0)
    sections = note.sections
    if working and working.section_key:
        sections = [s for s in sections if s["key"] == working.section_key]
    if stage == "part" and total > 1:
        return _("Reading the transcript: part %(n)s of %(total)s…") % {
            "n": done + 1,
            "total": total,
        }
    if stage == "reading" and total and done:
        return _("Reading the transcript: %(percent)s%%…") % {"percent": 100 * done // total}
    if stage == "writing" and sections and total:
        return _("Writing “%(section)s” (%(n)s of %(total)s)…") % {
            "section": sections[done % len(sections)]["title"],
            "n": done + 1,
            "total": total,
        }
    if stage == "fields":
        return _("Proposing the custom fields…")
    if stage == "checking":
        return _("Checking each statement against the transcript…")
    return _("Reading the transcript…")


def _back(note: ClinicalNote, anchor: str = "") -> HttpResponse:
    return redirect(reverse("sessions:note", args=[note.pk]) + anchor)


def _post(request: PracticeRequest, pk: int) -> ClinicalNote | HttpResponse:
    note = _note(request, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    return note


@treating_only
def note_regenerate(request: PracticeRequest, pk: int) -> HttpResponse:
    note = _post(request, pk)
    if isinstance(note, HttpResponse):
        return note
    try:
        services.note_regenerate(note=note, **acting(request))
    except ValidationError as error:
        messages.error(request, first_error(error))
    except PermissionDenied:
        raise Http404 from None
    return _back(note)


@treating_only
def note_assist(request: PracticeRequest, pk: int) -> HttpResponse:
    note = _post(request, pk)
    if isinstance(note, HttpResponse):
        return note
    version = services.current_version(note)
    form = AssistForm(request.POST, sections=version.section_list if version else [])
    if not form.is_valid():
        errors = form.non_field_errors() or [e for es in form.errors.values() for e in es]
        messages.error(request, str(errors[0]))
        return _back(note, "#assistant")
    try:
        services.note_assist(
            note=note,
            instruction=form.cleaned_data["instruction"],
            action=form.cleaned_data["preset"],
            section_key=form.cleaned_data["section"],
            **acting(request),
        )
    except ValidationError as error:
        messages.error(request, first_error(error))
    except PermissionDenied:
        raise Http404 from None
    return _back(note, "#assistant")


@treating_only
def note_proposal(request: PracticeRequest, pk: int, proposal: int) -> HttpResponse:
    """Accept the sections ticked in the diff (a new version); reject the others."""
    note = _note(request, pk)
    item = get_object_or_404(note.proposals.select_related("base"), pk=proposal)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    accepted = [] if "reject" in request.POST else request.POST.getlist("accept")
    try:
        version = services.proposal_decide(proposal=item, accepted=accepted, **acting(request))
    except ValidationError as error:
        messages.error(request, first_error(error))
    except PermissionDenied:
        raise Http404 from None
    else:
        if version is None:
            messages.info(request, _("The assistant's changes were rejected."))
        else:
            messages.success(request, _("Changes accepted: version %(n)s.") % {"n": version.number})
    return _back(note)


@treating_only
def note_section(request: PracticeRequest, pk: int, key: str) -> HttpResponse:
    """Edit one section by hand (htmx swaps the section for its form and back)."""
    note = _note(request, pk)
    version = services.current_version(note)
    section = next((s for s in (version.section_list if version else []) if s["key"] == key), None)
    if version is None or section is None:
        raise Http404
    if not services.may_draft(request.membership, note.appointment):
        raise Http404

    def respond(form: SectionEditForm, status: int = 200) -> HttpResponse:
        context = {"note": note, "section": section, "form": form}
        template = "sessions/note_section.html"
        if wants_fragment(request):
            template += "#section-form"
        return no_store(render(request, template, context, status=status))

    if request.method == "POST":
        form = SectionEditForm(request.POST)
        if form.is_valid():
            try:
                services.note_section_edit(
                    note=note, key=key, text=form.cleaned_data["text"], **acting(request)
                )
            except ValidationError as error:
                form.add_error("text", first_error(error))
            except PermissionDenied:
                raise Http404 from None
            else:
                messages.success(request, _("Section saved."))
                if request.htmx:
                    return HttpResponseClientRefresh()
                return _back(note, f"#section-{key}")
        return respond(form, status=422)
    return respond(SectionEditForm(initial={"text": _section_text(section)}))


@treating_only
def note_suggestion(request: PracticeRequest, pk: int, key: str) -> HttpResponse:
    note = _note(request, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    accept = request.POST.get("decision") == "accept"
    try:
        shown = json.loads(request.POST.get("shown", "null"))
    except ValueError:
        shown = object()  # matches no stored value: refused as changed
    try:
        before, after = services.suggestion_decide(
            note=note, key=key, accept=accept, shown=shown, **acting(request)
        )
    except ValidationError as error:
        messages.error(request, first_error(error))
    except PermissionDenied:
        raise Http404 from None
    else:
        if accept:
            therapy = note.appointment.therapy_type
            field = next(f for f in therapy.custom_fields if f["key"] == key) if therapy else None
            kind = field["kind"] if field else "short_text"
            messages.success(
                request,
                _("%(field)s: %(before)s → %(after)s.")
                % {
                    "field": field["label"] if field else key,
                    "before": "—" if before is None else value_text(kind, before),
                    "after": value_text(kind, after),
                },
            )
        else:
            messages.success(request, _("Suggestion declined."))
    return _back(note, "#suggestions")


# --- Exports -------------------------------------------------------------------------------
def _export(request: PracticeRequest, pk: int, action: str) -> tuple[ClinicalNote, Any]:
    note = _note(request, pk)
    version = services.current_version(note)
    if version is None:
        raise Http404
    services.note_open(
        membership=request.membership, note=note, action=action, ip=client_ip(request)
    )
    return note, version


def _in_note_language(version: ClinicalNoteVersion) -> Any:
    """An export speaks the note's language (its labels, dates and headings), not the
    reader's: it is the note, not a page."""
    return translation.override(version.content.get("language") or version.note.language)


def _download(content: bytes | str, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return no_store(response)


@treating_only
def note_export_pdf(request: PracticeRequest, pk: int) -> HttpResponse:
    note, version = _export(request, pk, "export_pdf")
    with _in_note_language(version):
        pdf = note_exports.note_pdf(
            note, version, practice=request.practice, printed_at=timezone.now()
        )
    return _download(pdf, "application/pdf", note_exports.export_filename(note, version, "pdf"))


@treating_only
def note_export_docx(request: PracticeRequest, pk: int) -> HttpResponse:
    note, version = _export(request, pk, "export_docx")
    with _in_note_language(version):
        document = note_exports.note_docx(note, version, practice=request.practice)
    return _download(
        document,
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        note_exports.export_filename(note, version, "docx"),
    )


@treating_only
def note_export_text(request: PracticeRequest, pk: int) -> HttpResponse:
    """The note as plain text: the Copy button fetches it (so a copy is audited too)."""
    note, version = _export(request, pk, "export_text")
    with _in_note_language(version):
        text = note_exports.note_text(note, version)
    response = HttpResponse(text, content_type="text/plain; charset=utf-8")
    return no_store(response)
