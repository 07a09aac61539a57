"""Clinical notes' work in the background: drafting a note and answering the assistant, as
the Celery tasks run them (tera.tasks), and finding the work a lost worker left behind.

This is the one place where tera reads and writes sessions' clinical notes;
sessions/services/clinical_notes.py queues the work here through tera.tasks and nothing
here calls back into sessions' services, so the two apps depend on each other through a
single seam. The words themselves are `tera.drafting.draft` and `tera.assistant.rewrite`.

Each function takes ids, re-reads the rows and is safe to run twice: a draft writes its
version once, under a lock; a proposal is filled once. A failure is stored as a code
(`tera.llm.FAILURES`) that the page says in the reader's language.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone, translation

from tera import assistant, drafting
from tera.drafting import Line
from tera.llm import LLMError

log = logging.getLogger(__name__)


def note_lines(note: Any, *, unknown: str = "Unknown") -> list[Line]:
    """The lines of a note's transcript, numbered as the page numbers them."""
    if note.recording_id is None:
        return []
    segments = note.recording.segments.select_related("speaker").order_by("position")
    return drafting.transcript_lines(segments, unknown=unknown)


def _fields_of(note: Any) -> list[dict[str, Any]]:
    therapy = note.appointment.therapy_type
    if therapy is None or not note.field_keys:
        return []
    return [f for f in therapy.custom_fields if f["key"] in note.field_keys]


def _reporter(model: Any, pk: int) -> drafting.Progress:
    """Show where the work is (`progress`); `heartbeat_at` tells `stalled` that a
    worker is still on it."""

    def report(stage: str, done: int, total: int) -> None:
        model.objects.filter(pk=pk).update(
            progress={"stage": stage, "done": done, "total": total},
            heartbeat_at=timezone.now(),
        )

    return report


def _sections_in(note: Any, language: str) -> list[dict[str, str]]:
    """The note's sections with the headings in `language` when they are a built-in
    template's (a practice's own template keeps the words its Owner wrote)."""
    from sessions.note_templates import BUILTINS

    builtin = BUILTINS.get(note.builtin)
    if builtin is None:
        return list(note.sections)
    with translation.override(language):
        titles = {s["key"]: s for s in builtin.section_dicts()}
    return [{**s, **titles.get(s["key"], {})} for s in note.sections]


def draft_note(note_id: int, kind: str, author_id: int | None) -> int | None:
    """Draft (or regenerate) a note: a new version on success, the note marked failed with
    the failure's code otherwise (earlier versions stay as they were). Returns the new
    version's number."""
    from practice.services import audit_record
    from sessions.models import ClinicalNote, ClinicalNoteStatus, ClinicalNoteVersion

    note = (
        ClinicalNote.objects.select_related("appointment__therapy_type", "recording", "practice")
        .filter(pk=note_id, status=ClinicalNoteStatus.DRAFTING)
        .first()
    )
    if note is None:
        return None
    fields = _fields_of(note)
    report = _reporter(ClinicalNote, note.pk)
    report("reading", 0, 1)
    try:
        with translation.override(note.language):
            result = drafting.draft(
                title=note.title,
                sections=_sections_in(note, note.language),
                fields=fields,
                field_keys=note.field_keys,
                lines=note_lines(note),
                quick_notes=note.quick_notes,
                language=note.language,
                on_progress=report,
            )
    except LLMError as error:
        log.warning("clinical note %s: drafting failed (%s)", note.pk, error.code)
        ClinicalNote.objects.filter(pk=note.pk).update(
            status=ClinicalNoteStatus.FAILED,
            failure=error.code,
            progress={},
            updated_at=timezone.now(),
        )
        return None
    with transaction.atomic():
        locked = ClinicalNote.objects.select_for_update().get(pk=note.pk)
        if locked.status != ClinicalNoteStatus.DRAFTING:
            return None  # a duplicate delivery already finished it
        number = (locked.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        ClinicalNoteVersion.objects.create(
            practice_id=note.practice_id,
            note=locked,
            number=number,
            kind=kind,
            content={
                "sections": result.sections,
                "language": note.language,
                "parts": result.parts,
            },
            suggestions=result.suggestions,
            model=settings.LLM_MODEL,
            author_id=author_id,
        )
        locked.status, locked.failure, locked.progress = ClinicalNoteStatus.READY, "", {}
        locked.save(update_fields=["status", "failure", "progress", "updated_at"])
        audit_record(
            practice=note.practice,
            actor=None,
            action="clinical_note.drafted",
            target=locked,
            patient_id=note.patient_id,
            data={
                "version": number,
                "model": settings.LLM_MODEL,
                "tokens": result.stats.tokens,
                "calls": result.stats.calls,
                "attempts": result.stats.attempts,
            },
        )
    log.info("clinical note %s: version %s in %.1f s", note.pk, number, result.stats.seconds)
    return number


def assist_note(proposal_id: int) -> bool:
    """Ask the model to change a note as the therapist instructed: the proposal gets the
    new sections (for review, section by section) or the code of its failure."""
    from sessions.models import NoteProposal, ProposalStatus

    proposal = (
        NoteProposal.objects.select_related("note__recording", "note__appointment", "base")
        .filter(pk=proposal_id, status=ProposalStatus.WORKING)
        .first()
    )
    if proposal is None:
        return False
    note = proposal.note
    current = proposal.base.section_list
    language = proposal.base.content.get("language") or note.language
    request = assistant.Request(proposal.instruction, proposal.action)
    target = request.target_language or language
    if request.target_language and note.builtin:
        titles = {s["key"]: s["title"] for s in _sections_in(note, target)}
        current = [{**s, "title": titles.get(s["key"], s["title"])} for s in current]
    keys = [
        s["key"] for s in current if not proposal.section_key or s["key"] == proposal.section_key
    ]
    try:
        sections, _stats = assistant.rewrite(
            sections=current,
            keys=keys,
            request=request,
            lines=note_lines(note),
            quick_notes=note.quick_notes,
            language=language,
            on_progress=_reporter(NoteProposal, proposal.pk),
        )
    except LLMError as error:
        log.warning("note proposal %s: failed (%s)", proposal.pk, error.code)
        NoteProposal.objects.filter(pk=proposal.pk, status=ProposalStatus.WORKING).update(
            status=ProposalStatus.FAILED, failure=error.code, progress={}
        )
        return False
    NoteProposal.objects.filter(pk=proposal.pk, status=ProposalStatus.WORKING).update(
        status=ProposalStatus.READY, sections=sections, language=target, progress={}
    )
    return True


def stalled() -> dict[str, list[Any]]:
    """The drafts and assistant requests no worker has shown signs of life on for
    LLM_STALE_AFTER (their message was lost with a killed worker node, a restarted broker,
    or the whole app stopped mid-answer), marked seen now so the next look waits a whole
    period: `notes` as (id, kind, author id), `proposals` as ids. The caller queues them
    again; a duplicate delivery is harmless."""
    from django.db.models.functions import Coalesce

    from sessions.models import (
        ClinicalNote,
        ClinicalNoteStatus,
        ClinicalNoteVersion,
        NoteProposal,
        NoteVersionKind,
        ProposalStatus,
    )

    cutoff = timezone.now() - settings.LLM_STALE_AFTER
    with transaction.atomic():
        notes = list(
            ClinicalNote.objects.select_for_update(skip_locked=True)
            .filter(status=ClinicalNoteStatus.DRAFTING)
            .alias(seen=Coalesce("heartbeat_at", "updated_at"))
            .filter(seen__lt=cutoff)
            .values_list("pk", "created_by_id")
        )
        proposals = list(
            NoteProposal.objects.select_for_update(skip_locked=True)
            .filter(status=ProposalStatus.WORKING)
            .alias(seen=Coalesce("heartbeat_at", "created_at"))
            .filter(seen__lt=cutoff)
            .values_list("pk", flat=True)
        )
        now = timezone.now()
        ClinicalNote.objects.filter(pk__in=[pk for pk, _author in notes]).update(heartbeat_at=now)
        drafted = set(
            ClinicalNoteVersion.objects.filter(note__in=[pk for pk, _author in notes])
            .values_list("note_id", flat=True)
            .distinct()
        )
        NoteProposal.objects.filter(pk__in=proposals).update(heartbeat_at=now)
    for pk, _author in notes:
        log.warning("clinical note %s was stalled; queued again", pk)
    for pk in proposals:
        log.warning("note proposal %s was stalled; queued again", pk)
    kinds = {True: NoteVersionKind.REGENERATED, False: NoteVersionKind.DRAFT}
    return {
        "notes": [(pk, kinds[pk in drafted], author) for pk, author in notes],
        "proposals": proposals,
    }
