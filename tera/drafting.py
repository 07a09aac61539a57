"""Clinical notes drafted by the LLM from a transcript, and changed by its assistant.

Prompt assembly and the checks on what comes back are plain functions (unit-tested in
tests/tera/test_drafting.py); `draft_note` and `assist_note` are what the Celery tasks
run. The model is never trusted blindly:

* it answers JSON that follows a schema made from the template's sections (and the
  therapy's custom fields it should propose values for), checked by `tera.llm`;
* every statement names the transcript lines it rests on, by the numbers the prompt
  showed ("[12] Patient: ..."); `ground` keeps those that are lines of this transcript
  (as segment ids) and sets the rest aside as `rejected`, so the page can flag a
  statement with no valid support;
* proposed custom-field values pass the very validation of the session form
  (`validate_values`) or are dropped, and become suggestions the therapist confirms.

Tasks take ids and log ids only: no clinical text leaves through logs or task results.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from tera import llm
from tera.indexing import queue_index
from tera.llm import InvalidAnswer, LLMError
from tera.models import SourceKind
from therapies.formbuilder import validate_values
from therapies.schema import Kind

log = logging.getLogger(__name__)

QUICK_NOTES = 0  # the source number that stands for the therapist's quick notes
MAX_STATEMENTS = 12
MAX_STATEMENT = 400  # characters
LANGUAGE_NAMES = {"en": "English", "pt-br": "Brazilian Portuguese", "pt": "Portuguese"}

SYSTEM = (
    "You are the clinical documentation assistant of a therapist. You write clinical "
    "notes only from the session transcript and the therapist's quick notes: never add "
    "facts that are not there. Every statement is one short sentence and lists in "
    '"sources" the numbers of the transcript lines it rests on (0 for the therapist\'s '
    "quick notes). Answer only with JSON that follows the schema."
)


@dataclass(frozen=True)
class Line:
    """One transcript segment as the prompt numbers it (from 1)."""

    number: int
    segment_id: int
    speaker: str
    text: str


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code.lower(), code)


def transcript_lines(segments: Iterable[Any], *, unknown: str = "Unknown") -> list[Line]:
    """Segments (with `speaker` selected) in order, numbered from 1; a segment without a
    speaker is said by `unknown`."""
    return [
        Line(i, s.pk, str(s.speaker) if s.speaker_id else unknown, " ".join(s.text.split()))
        for i, s in enumerate(segments, start=1)
    ]


def render_transcript(lines: list[Line], budget: int) -> tuple[str, list[Line]]:
    """The transcript as the prompt shows it, cut at `budget` characters (whole lines),
    and the lines it shows: fewer than `lines` when the rest was left out."""
    rendered: list[str] = []
    used = 0
    for line in lines:
        text = f"[{line.number}] {line.speaker}: {line.text}"
        if used + len(text) + 1 > budget:
            break
        rendered.append(text)
        used += len(text) + 1
    return "\n".join(rendered), lines[: len(rendered)]


# --- Schemas -------------------------------------------------------------------------------
STATEMENTS = {
    "type": "array",
    "maxItems": MAX_STATEMENTS,
    "items": {
        "type": "object",
        "properties": {
            # A statement is a sentence or two. The bound also ends a string a small model
            # would run on with until LLM_MAX_TOKENS (a grammar-constrained server keeps it).
            "text": {"type": "string", "minLength": 1, "maxLength": MAX_STATEMENT},
            "sources": {"type": "array", "maxItems": 10, "items": {"type": "integer"}},
        },
        "required": ["text", "sources"],
    },
}


def field_value_schema(field: Mapping[str, Any]) -> dict[str, Any]:
    """JSON schema of a custom field's value, or null when the session did not touch it."""
    kind = field["kind"]
    value: dict[str, Any]
    if kind in (Kind.SHORT_TEXT, Kind.LONG_TEXT, Kind.DATE):
        value = {"type": "string"}
    elif kind == Kind.NUMBER:
        value = {"type": "number"}
    elif kind == Kind.SCALE:
        # No bounds here: an answer off the scale is dropped by `suggestions`, rather than
        # failing the whole note (grammar-constrained servers do not enforce them).
        value = {"type": "integer"}
    elif kind == Kind.YES_NO:
        value = {"type": "boolean"}
    elif kind == Kind.SINGLE_CHOICE:
        value = {"type": "string", "enum": list(field["choices"])}
    else:  # multiple choice
        value = {"type": "array", "items": {"type": "string", "enum": list(field["choices"])}}
    return {"anyOf": [value, {"type": "null"}]}


def sections_schema(keys: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": dict.fromkeys(keys, STATEMENTS),
        "required": keys,
    }


def draft_schema(
    sections: Sequence[Mapping[str, str]], fields: Sequence[Mapping[str, Any]]
) -> dict:
    keys = [s["key"] for s in sections]
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"sections": sections_schema(keys)},
        "required": ["sections"],
    }
    if fields:
        schema["properties"]["fields"] = {
            "type": "object",
            "properties": {f["key"]: field_value_schema(f) for f in fields},
            "required": [f["key"] for f in fields],
        }
        schema["required"].append("fields")
    return schema


# --- Prompts -------------------------------------------------------------------------------
def _field_line(field: Mapping[str, Any]) -> str:
    described = f"- {field['key']}: {field['label']} ({field['kind'].replace('_', ' ')}"
    if field.get("choices"):
        described += "; one of: " + ", ".join(field["choices"])
    return described + ")"


def draft_messages(
    *,
    title: str,
    sections: Sequence[Mapping[str, str]],
    fields: Sequence[Mapping[str, Any]],
    transcript: str,
    quick_notes: str,
    language: str,
) -> llm.Messages:
    parts = [f"Write a {title} in {language_name(language)}.", "", "Sections:"]
    parts += [f"- {s['key']} ({s['title']}): {s['instruction']}" for s in sections]
    if fields:
        parts += ["", "Also give a value for each field below, or null if not discussed:"]
        parts += [_field_line(f) for f in fields]
    parts += ["", "Therapist's quick notes (source 0):", quick_notes.strip() or "(none)"]
    parts += ["", "Transcript (numbered lines):", transcript or "(no transcript)"]
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n".join(parts)}]


def note_as_prompt(sections: Sequence[Mapping[str, Any]], numbers: Mapping[int, int]) -> str:
    """A note's current wording with the line numbers each statement rests on."""
    out = []
    for section in sections:
        out.append(f"## {section['key']} ({section['title']})")
        for statement in section["statements"]:
            cited = [numbers[s] for s in statement.get("sources", []) if s in numbers]
            if statement.get("from_notes"):
                cited.insert(0, QUICK_NOTES)
            out.append(f"- {statement['text']} {cited}")
    return "\n".join(out)


def assist_messages(
    *,
    instruction: str,
    note: str,
    keys: list[str],
    transcript: str,
    quick_notes: str,
    language: str,
) -> llm.Messages:
    user = "\n".join(
        [
            f"The therapist asks: {instruction}",
            f"Rewrite these sections of the note: {', '.join(keys)}. Keep each statement's "
            "sources, and give sources for any new statement. Unless asked to translate, "
            f"write in {language_name(language)}.",
            "",
            "Current note (sources in brackets):",
            note,
            "",
            "Therapist's quick notes (source 0):",
            quick_notes.strip() or "(none)",
            "",
            "Transcript (numbered lines):",
            transcript or "(no transcript)",
        ]
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


# --- Checking what came back ---------------------------------------------------------------
def ground(
    raw_sections: Mapping[str, Sequence[Mapping[str, Any]]],
    sections: Sequence[Mapping[str, str]],
    lines: list[Line],
    *,
    has_quick_notes: bool,
) -> list[dict[str, Any]]:
    """The answer's sections in template order, each statement with the segment ids of
    the lines it cites that exist (`sources`), whether it cites the quick notes
    (`from_notes`, only when there are some) and the numbers it cited that are no line of
    this transcript (`rejected`). Empty statements are dropped; InvalidAnswer when a
    section is missing (a schema-following answer has them all)."""
    by_number = {line.number: line.segment_id for line in lines}
    out = []
    for section in sections:
        if section["key"] not in raw_sections:
            raise InvalidAnswer(f"section {section['key']} is missing")
        statements = []
        for raw in raw_sections[section["key"]]:
            text = " ".join(str(raw.get("text", "")).split())
            if not text:
                continue
            cited = [n for n in raw.get("sources", []) if isinstance(n, int)]
            sources = list(dict.fromkeys(by_number[n] for n in cited if n in by_number))
            from_notes = has_quick_notes and QUICK_NOTES in cited
            rejected = sorted(
                {n for n in cited if n not in by_number and not (n == QUICK_NOTES and from_notes)}
            )
            statements.append(
                {
                    "text": text,
                    "sources": sources,
                    "from_notes": from_notes,
                    "rejected": rejected,
                    "origin": "ai",
                }
            )
        out.append({"key": section["key"], "title": section["title"], "statements": statements})
    return out


def is_supported(statement: Mapping[str, Any]) -> bool:
    """An AI statement rests on a line of the transcript or on the quick notes; what the
    therapist wrote themselves needs no source."""
    return (
        statement.get("origin") != "ai"
        or bool(statement.get("sources"))
        or bool(statement.get("from_notes"))
    )


def suggestions(
    raw_fields: Mapping[str, Any], schema: Sequence[Mapping[str, Any]], keys: list[str]
) -> list[dict[str, Any]]:
    """Proposed custom-field values that the session form itself would accept; the rest
    (null, empty, or invalid for the field) are dropped."""
    proposed = []
    for field in schema:
        key = field["key"]
        value = raw_fields.get(key)
        if key not in keys or value in (None, "", []):
            continue
        try:
            clean = validate_values([dict(field)], {key: value})
        except ValidationError:
            continue
        if key in clean:
            proposed.append({"key": key, "value": clean[key], "status": "pending"})
    return proposed


def statements_from_text(text: str, before: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A section edited by hand (one statement per line): a line left as it was keeps its
    sources; a new or changed line is the therapist's own."""
    kept = {s["text"]: s for s in before}
    out = []
    for raw in text.splitlines():
        line = " ".join(raw.split()).lstrip("-• ").strip()
        if not line:
            continue
        if line in kept:
            out.append(dict(kept[line]))
        else:
            out.append(
                {"text": line, "sources": [], "from_notes": False, "rejected": [], "origin": "me"}
            )
    return out


# --- Running it (Celery tasks call these) --------------------------------------------------
def note_lines(note: Any, *, unknown: str = "Unknown") -> list[Line]:
    """The lines of a note's transcript, numbered as its prompts number them (the page
    shows a statement's sources by these numbers too)."""
    if note.recording_id is None:
        return []
    segments = note.recording.segments.select_related("speaker").order_by("position")
    return transcript_lines(segments, unknown=unknown)


def _fields_of(note: Any) -> list[dict[str, Any]]:
    therapy = note.appointment.therapy_type
    if therapy is None or not note.field_keys:
        return []
    return [f for f in therapy.custom_fields if f["key"] in note.field_keys]


def _progress(model: Any, pk: int) -> Any:
    """Show what the model has written so far; `heartbeat_at` tells `resume_stalled` that a
    worker is still on it."""

    def report(text: str, tokens: int) -> None:
        model.objects.filter(pk=pk).update(
            stream_text=text[-4000:], stream_tokens=tokens, heartbeat_at=timezone.now()
        )

    return report


def draft_note(note_id: int, kind: str, author_id: int | None) -> int | None:
    """Draft (or regenerate) a note: a new version on success, the note marked failed
    with a readable reason otherwise (earlier versions stay as they were). Returns the
    new version's number."""
    from practice.services import audit_record
    from sessions.models import ClinicalNote, ClinicalNoteStatus, ClinicalNoteVersion

    note = (
        ClinicalNote.objects.select_related("appointment__therapy_type", "recording", "practice")
        .filter(pk=note_id, status=ClinicalNoteStatus.DRAFTING)
        .first()
    )
    if note is None:
        return None
    lines = note_lines(note)
    fields = _fields_of(note)
    transcript, shown = render_transcript(lines, settings.LLM_PROMPT_CHARS)
    truncated = len(shown) < len(lines)
    messages = draft_messages(
        title=note.title,
        sections=note.sections,
        fields=fields,
        transcript=transcript,
        quick_notes=note.quick_notes,
        language=note.language,
    )
    schema = draft_schema(note.sections, fields)

    def check(answer: dict[str, Any]) -> dict[str, Any]:
        return {
            "sections": ground(
                answer["sections"], note.sections, shown, has_quick_notes=bool(note.quick_notes)
            ),
            "suggestions": suggestions(answer.get("fields", {}), fields, note.field_keys),
        }

    ClinicalNote.objects.filter(pk=note.pk).update(stream_text="", stream_tokens=0)
    try:
        result, stats = llm.ask_json(
            messages, schema, check, on_text=_progress(ClinicalNote, note.pk)
        )
    except LLMError as error:
        log.warning("clinical note %s: drafting failed", note.pk)
        ClinicalNote.objects.filter(pk=note.pk).update(
            status=ClinicalNoteStatus.FAILED,
            failure=str(error)[:300],
            stream_text="",
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
            content={"sections": result["sections"], "truncated": truncated},
            suggestions=result["suggestions"],
            model=settings.LLM_MODEL,
            author_id=author_id,
        )
        locked.status, locked.failure, locked.stream_text = ClinicalNoteStatus.READY, "", ""
        locked.save(update_fields=["status", "failure", "stream_text", "updated_at"])
        audit_record(
            practice=note.practice,
            actor=None,
            action="clinical_note.drafted",
            target=locked,
            patient_id=note.patient_id,
            data={
                "version": number,
                "model": settings.LLM_MODEL,
                "tokens": stats.tokens,
                "attempts": stats.attempts,
            },
        )
        queue_index(SourceKind.CLINICAL_NOTE, note.pk)
    log.info("clinical note %s: version %s in %.1f s", note.pk, number, stats.seconds)
    return number


def assist_note(proposal_id: int) -> bool:
    """Ask the model to change a note as the therapist instructed: the proposal gets the
    new sections (for review, section by section) or the reason it failed."""
    from sessions.models import NoteProposal, ProposalStatus

    proposal = (
        NoteProposal.objects.select_related("note__recording", "base")
        .filter(pk=proposal_id, status=ProposalStatus.WORKING)
        .first()
    )
    if proposal is None:
        return False
    note = proposal.note
    lines = note_lines(note)
    transcript, shown = render_transcript(lines, settings.LLM_PROMPT_CHARS)
    numbers = {line.segment_id: line.number for line in lines}
    current = proposal.base.section_list
    targets = [s for s in current if not proposal.section_key or s["key"] == proposal.section_key]
    keys = [s["key"] for s in targets]
    messages = assist_messages(
        instruction=proposal.instruction,
        note=note_as_prompt(current, numbers),
        keys=keys,
        transcript=transcript,
        quick_notes=note.quick_notes,
        language=note.language,
    )

    def check(answer: dict[str, Any]) -> list[dict[str, Any]]:
        return ground(answer, targets, shown, has_quick_notes=bool(note.quick_notes))

    NoteProposal.objects.filter(pk=proposal.pk).update(stream_text="", stream_tokens=0)
    try:
        sections, _stats = llm.ask_json(
            messages, sections_schema(keys), check, on_text=_progress(NoteProposal, proposal.pk)
        )
    except LLMError as error:
        log.warning("note proposal %s: failed", proposal.pk)
        NoteProposal.objects.filter(pk=proposal.pk, status=ProposalStatus.WORKING).update(
            status=ProposalStatus.FAILED, failure=str(error)[:300], stream_text=""
        )
        return False
    NoteProposal.objects.filter(pk=proposal.pk, status=ProposalStatus.WORKING).update(
        status=ProposalStatus.READY, sections=sections, stream_text=""
    )
    return True


def resume_stalled() -> dict[str, list[int]]:
    """Queue again the drafts and assistant requests no worker has shown signs of life on
    for LLM_STALE_AFTER: their message was lost with a killed worker node, a restarted
    broker, or the whole app stopped mid-answer. (A worker's child killed alone is
    redelivered at once by Celery.) A duplicate delivery is harmless: a draft writes its
    version once, under a lock, and a proposal is filled once. Returns their ids."""
    from django.db.models.functions import Coalesce

    from sessions.models import (
        ClinicalNote,
        ClinicalNoteStatus,
        ClinicalNoteVersion,
        NoteProposal,
        NoteVersionKind,
        ProposalStatus,
    )
    from tera.tasks import clinical_note_assist, clinical_note_draft

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
        # Seen now, so the next check waits a whole period before queuing them again.
        now = timezone.now()
        ClinicalNote.objects.filter(pk__in=[pk for pk, _author in notes]).update(heartbeat_at=now)
        drafted = set(
            ClinicalNoteVersion.objects.filter(note__in=[pk for pk, _author in notes])
            .values_list("note_id", flat=True)
            .distinct()
        )
        NoteProposal.objects.filter(pk__in=proposals).update(heartbeat_at=now)
    for pk, author_id in notes:
        log.warning("clinical note %s was stalled; queued again", pk)
        kind = NoteVersionKind.REGENERATED if pk in drafted else NoteVersionKind.DRAFT
        clinical_note_draft.delay(pk, kind, author_id)
    for pk in proposals:
        log.warning("note proposal %s was stalled; queued again", pk)
        clinical_note_assist.delay(pk)
    return {"notes": [pk for pk, _author in notes], "proposals": proposals}
