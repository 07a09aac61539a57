"""Clinical notes drafted from templates by the LLM, changed with its assistant, exported.

Who may do what (checked here as well as by the views' querysets):

- draft, regenerate, ask the assistant, accept its changes, edit, confirm suggested
  custom-field values: an Owner or the appointment's own therapist, who must still treat
  the patient (`may_draft`, the same rule as recording);
- read and export: whoever `ClinicalNote.objects.visible_to` lets through (the note
  barrier: never an Assistant); every read and export is audited.

A note's words are its versions (ClinicalNoteVersion): nothing here changes one, each
change writes the next. The drafting itself is tera's (tera/drafting.py), in Celery
tasks queued when the transaction commits. Audit rows carry ids, never clinical text.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import translation
from django.utils.translation import gettext as _

from practice.models import Membership, Practice, User
from practice.services import audit_record
from sessions.models import (
    Appointment,
    AppointmentStatus,
    ClinicalNote,
    ClinicalNoteStatus,
    ClinicalNoteVersion,
    NoteProposal,
    NoteTemplate,
    NoteVersionKind,
    ProposalStatus,
    Recording,
    RecordingStatus,
    Session,
)
from sessions.note_templates import BUILTINS
from sessions.services.recordings import may_record
from sessions.services.records import require_treats, session_update
from tera.grounding import detect_language
from tera.indexing import queue_index
from tera.models import SourceKind

MAX_INSTRUCTION = 500
AUTO_LANGUAGE = "auto"  # the note in the language the transcript is in


@dataclass(frozen=True)
class TemplateChoice:
    """A template to draft from: a built-in (by key) or one of the practice's own."""

    title: str
    sections: list[dict[str, str]]
    field_keys: list[str]
    builtin: str = ""
    template: NoteTemplate | None = None


def template_choices(practice: Practice, appointment: Appointment | None = None) -> dict[str, Any]:
    """Every template a note can be drafted from, by the value the form posts:
    "builtin:<key>" or "custom:<id>". Built-ins propose values for all the custom fields
    of the appointment's therapy; a practice template for the fields it names."""
    therapy = appointment.therapy_type if appointment else None
    all_keys = [f["key"] for f in therapy.custom_fields] if therapy else []
    choices: dict[str, TemplateChoice] = {
        f"builtin:{key}": TemplateChoice(
            title=str(t.name), sections=t.section_dicts(), field_keys=all_keys, builtin=key
        )
        for key, t in BUILTINS.items()
    }
    for template in NoteTemplate.objects.for_practice(practice).filter(is_active=True):
        same_therapy = therapy is not None and template.therapy_type_id == therapy.pk
        choices[f"custom:{template.pk}"] = TemplateChoice(
            title=template.name,
            sections=list(template.sections),
            field_keys=[k for k in template.field_keys if k in all_keys] if same_therapy else [],
            template=template,
        )
    return choices


def may_draft(membership: Membership, appointment: Appointment) -> bool:
    """Whoever may record an appointment's audio may draft its notes: an Owner, or the
    appointment's own therapist (who must treat the patient)."""
    return may_record(membership, appointment)


def _require_may_draft(practice: Practice, actor: User, appointment: Appointment) -> Membership:
    membership = require_treats(practice, actor, appointment.patient)
    if not may_draft(membership, appointment):
        raise PermissionDenied
    return membership


def _audit(
    note: ClinicalNote,
    *,
    actor: User | None,
    action: str,
    ip: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    audit_record(
        practice=note.practice,
        actor=actor,
        action=action,
        target=note,
        patient_id=note.patient_id,
        session_id=Session.objects.id_of_appointment(note.appointment_id),
        ip=ip,
        data=data,
    )


def _enqueue_draft(note_id: int, kind: str, author_id: int) -> None:
    from tera.tasks import clinical_note_draft

    clinical_note_draft.delay(note_id, kind, author_id)


def _enqueue_assist(proposal_id: int) -> None:
    from tera.tasks import clinical_note_assist

    clinical_note_assist.delay(proposal_id)


@transaction.atomic
def note_generate(
    *,
    practice: Practice,
    actor: User,
    appointment: Appointment,
    templates: list[TemplateChoice],
    recording: Recording | None,
    quick_notes: str,
    language: str,
    ip: str | None = None,
) -> list[ClinicalNote]:
    """One note per template, drafted in the background from the transcript of
    `recording` (done, of this appointment) and the quick notes."""
    _require_may_draft(practice, actor, appointment)
    if appointment.status in (AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW):
        raise ValidationError(
            _("This appointment was %(status)s; there is no session to write about.")
            % {"status": appointment.get_status_display().lower()},
            code="closed",
        )
    if not templates:
        raise ValidationError(_("Choose at least one template."), code="no_template")
    quick_notes = quick_notes.strip()
    if recording is not None and (
        recording.appointment_id != appointment.pk or recording.status != RecordingStatus.DONE
    ):
        raise ValidationError(_("Choose a finished transcript of this appointment."))
    if recording is not None:
        _require_transcript_kept(recording.pk)
    if recording is None and not quick_notes:
        raise ValidationError(
            _("A note is drafted from a transcript or your quick notes: give at least one."),
            code="nothing",
        )
    language = note_language(language, recording, quick_notes, practice)
    notes = []
    for choice in templates:
        if choice.builtin:  # its headings and instructions in the note's language
            with translation.override(language):
                builtin = BUILTINS[choice.builtin]
                choice = TemplateChoice(
                    title=str(builtin.name),
                    sections=builtin.section_dicts(),
                    field_keys=choice.field_keys,
                    builtin=choice.builtin,
                )
        note = ClinicalNote.objects.create(
            practice=practice,
            appointment=appointment,
            patient=appointment.patient,
            therapist=appointment.therapist,
            recording=recording,
            template=choice.template,
            builtin=choice.builtin,
            title=choice.title,
            sections=choice.sections,
            field_keys=choice.field_keys,
            quick_notes=quick_notes,
            language=language,
            created_by=actor,
        )
        _audit(note, actor=actor, action="clinical_note.generate", ip=ip)
        transaction.on_commit(partial(_enqueue_draft, note.pk, NoteVersionKind.DRAFT, actor.pk))
        notes.append(note)
    return notes


def note_language(
    chosen: str, recording: Recording | None, quick_notes: str, practice: Practice
) -> str:
    """The language a note is written in: the one chosen, or (`AUTO_LANGUAGE`) the one
    its transcript was spoken in, else the one its quick notes are written in, else the
    practice's."""
    if chosen != AUTO_LANGUAGE:
        return chosen
    spoken = ""
    if recording is not None:
        spoken = recording.detected_language or recording.language
        if not spoken:
            said = " ".join(
                recording.segments.order_by("position").values_list("text", flat=True)[:80]
            )
            spoken = detect_language(said) or ""
    spoken = spoken or detect_language(quick_notes) or practice.language
    return "pt-br" if spoken.lower().startswith("pt") else "en"


def _require_transcript_kept(recording_id: int) -> None:
    """A transcript deleted under the practice's retention policy drafts nothing."""
    if Recording.objects.filter(pk=recording_id, transcript_expired_at__isnull=False).exists():
        raise ValidationError(
            _("This transcript was deleted under the practice’s retention policy."),
            code="transcript_expired",
        )


def _locked(note: ClinicalNote) -> ClinicalNote:
    return ClinicalNote.objects.select_for_update().get(pk=note.pk)


@transaction.atomic
def note_regenerate(
    *, practice: Practice, actor: User, note: ClinicalNote, ip: str | None = None
) -> None:
    """Draft the note again from the same sources: a new version; earlier ones stay."""
    _require_may_draft(practice, actor, note.appointment)
    note = _locked(note)
    if note.is_drafting:
        raise ValidationError(_("This note is being drafted already."), code="busy")
    if note.recording_id is not None:
        _require_transcript_kept(note.recording_id)
    note.status, note.failure, note.progress = ClinicalNoteStatus.DRAFTING, "", {}
    note.save(update_fields=["status", "failure", "progress", "updated_at"])
    kind = NoteVersionKind.REGENERATED if note.versions.exists() else NoteVersionKind.DRAFT
    _audit(note, actor=actor, action="clinical_note.regenerate", ip=ip)
    transaction.on_commit(lambda: _enqueue_draft(note.pk, kind, actor.pk))


def _note_speaks(note: ClinicalNote, language: str) -> None:
    """The note is in `language` now: so are a built-in template's headings and
    instructions that it drafts from."""
    note.language = language
    if note.builtin in BUILTINS:
        with translation.override(language):
            note.sections = BUILTINS[note.builtin].section_dicts()
    note.save(update_fields=["language", "sections", "updated_at"])


def current_version(note: ClinicalNote) -> ClinicalNoteVersion | None:
    return note.versions.order_by("-number").first()


def _add_version(
    note: ClinicalNote,
    *,
    actor: User,
    kind: str,
    sections: list[dict[str, Any]],
    base: ClinicalNoteVersion,
    instruction: str = "",
    language: str = "",
) -> ClinicalNoteVersion:
    number = (note.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    content = {**base.content, "sections": sections}
    if language:
        content["language"] = language
    return ClinicalNoteVersion.objects.create(
        practice=note.practice,
        note=note,
        number=number,
        kind=kind,
        instruction=instruction,
        content=content,
        suggestions=base.suggestions,
        model=base.model if kind == NoteVersionKind.EDITED else "",
        author=actor,
    )


def _require_current(note: ClinicalNote) -> ClinicalNoteVersion:
    version = current_version(note)
    if version is None:
        raise ValidationError(_("This note has no draft yet."), code="no_draft")
    return version


@transaction.atomic
def note_assist(
    *,
    practice: Practice,
    actor: User,
    note: ClinicalNote,
    instruction: str,
    action: str = "",
    section_key: str = "",
    ip: str | None = None,
) -> NoteProposal:
    """Ask the assistant to change the note (one section or all): its answer comes back
    as a proposal to review section by section; nothing changes until accepted."""
    _require_may_draft(practice, actor, note.appointment)
    note = _locked(note)
    instruction = " ".join(instruction.split())
    if not instruction:
        raise ValidationError(_("Say what the assistant should do."), code="empty")
    if len(instruction) > MAX_INSTRUCTION:
        raise ValidationError(
            _("Keep the instruction under %(n)s characters.") % {"n": MAX_INSTRUCTION},
            code="long",
        )
    base = _require_current(note)
    if section_key and section_key not in {s["key"] for s in base.section_list}:
        raise ValidationError(_("This note has no such section."), code="section")
    if note.proposals.filter(status=ProposalStatus.WORKING).exists():
        raise ValidationError(
            _("The assistant is still working on your last request."), code="busy"
        )
    proposal = NoteProposal.objects.create(
        practice=practice,
        note=note,
        base=base,
        instruction=instruction,
        action=action,
        section_key=section_key,
        created_by=actor,
    )
    _audit(
        note,
        actor=actor,
        action="clinical_note.assist",
        ip=ip,
        data={"proposal": proposal.pk, "section": section_key},
    )
    transaction.on_commit(lambda: _enqueue_assist(proposal.pk))
    return proposal


@transaction.atomic
def proposal_decide(
    *,
    practice: Practice,
    actor: User,
    proposal: NoteProposal,
    accepted: list[str],
    ip: str | None = None,
) -> ClinicalNoteVersion | None:
    """Accept the proposal's sections named in `accepted` (a new version), reject the
    rest. Accepting none discards the proposal. Refused when the note changed since the
    assistant read it (its diff would be against words no longer there)."""
    note = proposal.note
    _require_may_draft(practice, actor, note.appointment)
    note = _locked(note)
    proposal = NoteProposal.objects.select_for_update().get(pk=proposal.pk)
    if proposal.status != ProposalStatus.READY:
        raise ValidationError(_("This change is no longer waiting for review."), code="decided")
    base = _require_current(note)
    if base.pk != proposal.base_id:
        raise ValidationError(
            _("The note changed after the assistant read it: ask again."), code="stale"
        )
    proposed = {s["key"]: s for s in proposal.sections}
    chosen = [key for key in accepted if key in proposed]
    if not chosen:
        proposal.status = ProposalStatus.DISCARDED
        proposal.save(update_fields=["status"])
        _audit(note, actor=actor, action="clinical_note.reject", ip=ip)
        return None
    language = base.content.get("language") or note.language
    if proposal.language and {s["key"] for s in base.section_list} <= set(chosen):
        # The whole note rewritten (a translation included): its headings and language too,
        # and a regeneration drafts in that language from now on.
        sections = [proposed[s["key"]] for s in base.section_list]
        if proposal.language != language:
            _note_speaks(note, proposal.language)
        language = proposal.language
    else:
        sections = [
            {**s, "statements": proposed[s["key"]]["statements"]} if s["key"] in chosen else s
            for s in base.section_list
        ]
    version = _add_version(
        note,
        actor=actor,
        kind=NoteVersionKind.ASSISTANT,
        sections=sections,
        base=base,
        instruction=proposal.instruction,
        language=language,
    )
    proposal.status = ProposalStatus.APPLIED
    proposal.save(update_fields=["status"])
    _audit(
        note,
        actor=actor,
        action="clinical_note.accept",
        ip=ip,
        data={"version": version.number, "sections": chosen},
    )
    queue_index(SourceKind.CLINICAL_NOTE, note.pk)
    return version


@transaction.atomic
def note_section_edit(
    *,
    practice: Practice,
    actor: User,
    note: ClinicalNote,
    key: str,
    text: str,
    ip: str | None = None,
) -> ClinicalNoteVersion | None:
    """The therapist rewrites a section by hand (one statement per line): a new version.
    Lines left as they were keep their sources; None when nothing changed."""
    from tera.drafting import statements_from_text

    _require_may_draft(practice, actor, note.appointment)
    note = _locked(note)
    if note.is_drafting:
        raise ValidationError(_("Wait until the draft is finished."), code="busy")
    base = _require_current(note)
    sections = base.section_list
    index = next((i for i, s in enumerate(sections) if s["key"] == key), None)
    if index is None:
        raise ValidationError(_("This note has no such section."), code="section")
    if len(text) > 20_000:
        raise ValidationError(_("This section is too long."), code="long")
    statements = statements_from_text(text, sections[index]["statements"])
    if statements == sections[index]["statements"]:
        return None
    sections = [
        *sections[:index],
        {**sections[index], "statements": statements},
        *sections[index + 1 :],
    ]
    version = _add_version(
        note, actor=actor, kind=NoteVersionKind.EDITED, sections=sections, base=base
    )
    _audit(
        note,
        actor=actor,
        action="clinical_note.edit",
        ip=ip,
        data={"version": version.number, "section": key},
    )
    queue_index(SourceKind.CLINICAL_NOTE, note.pk)
    return version


@transaction.atomic
def suggestion_decide(
    *,
    practice: Practice,
    actor: User,
    note: ClinicalNote,
    key: str,
    accept: bool,
    shown: Any = None,
    ip: str | None = None,
) -> tuple[Any, Any]:
    """Confirm or decline a suggested custom-field value. A confirmed one is written to
    the session's note when the session is recorded and its note not yet signed (as any
    edit, with its revision); before the session is recorded, the record form starts
    with it filled in. Nothing is written to the session without this confirmation, and
    a confirmation replaces only the value the therapist saw beside it (`shown`, None for
    none): if the session's value changed since, nothing is written and the therapist is
    asked to look again. Returns (the value before, the suggested value)."""
    _require_may_draft(practice, actor, note.appointment)
    note = _locked(note)
    version = _require_current(note)
    suggestion = next((s for s in version.suggestions if s["key"] == key), None)
    if suggestion is None or suggestion["status"] != "pending":
        raise ValidationError(_("This suggestion is no longer open."), code="decided")
    session = (
        Session.objects.for_practice(practice)
        .select_related("note", "therapy_type", "patient")
        .filter(appointment_id=note.appointment_id)
        .first()
    )
    before = session_value(session, key)
    if accept and before != shown:
        raise ValidationError(
            _("The session’s value changed since this page showed it: look at it again."),
            code="changed",
        )
    if accept and session is not None:
        stored = session.note.custom_values
        session_update(
            practice=practice,
            actor=actor,
            session=session,
            minutes=session.minutes,
            text=session.note.text,
            custom_values={**stored, key: suggestion["value"]},
            ip=ip,
        )
    suggestion["status"] = "accepted" if accept else "declined"
    version.save(update_fields=["suggestions"])
    _audit(
        note,
        actor=actor,
        action="clinical_note.field_accept" if accept else "clinical_note.field_decline",
        ip=ip,
        data={"field": key, "version": version.number},
    )
    return before, suggestion["value"]


def session_value(session: Session | None, key: str) -> Any:
    """A custom field's value in the session's note now (None: none, or no session yet)."""
    if session is None:
        return None
    return session.note.custom_values.get(key)


def confirmed_values(appointment: Appointment, membership: Membership) -> dict[str, Any]:
    """Custom-field values confirmed on the appointment's notes (the newest wins), for
    the form that records its session; only what `membership` may read."""
    values: dict[str, Any] = {}
    notes = ClinicalNote.objects.visible_to(membership).filter(appointment=appointment)
    versions = (
        ClinicalNoteVersion.objects.filter(note__in=notes)
        .order_by("note_id", "-number")
        .distinct("note_id")
    )
    for version in sorted(versions, key=lambda v: v.created_at):
        for suggestion in version.suggestions:
            if suggestion["status"] == "accepted":
                values[suggestion["key"]] = suggestion["value"]
    return values


@transaction.atomic
def note_open(
    *, membership: Membership, note: ClinicalNote, action: str, ip: str | None = None
) -> ClinicalNote:
    """Audit a read or an export ("read", "export_pdf", "export_docx", "copy") of a note
    the caller already fetched through `ClinicalNote.objects.visible_to`."""
    if not ClinicalNote.objects.visible_to(membership).filter(pk=note.pk).exists():
        raise PermissionDenied
    _audit(note, actor=membership.user, action=f"clinical_note.{action}", ip=ip)
    return note
