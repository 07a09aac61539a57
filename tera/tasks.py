"""Celery tasks of the AI layer. Each takes ids, re-reads through the database and calls
one function of tera's modules; all are idempotent (see those modules). The work that
follows a task (indexing what a draft wrote, queueing what a lost worker left) is queued
here, so those modules never import this one.

The tasks that ask the LLM go to the `llm` queue, which one worker serves one task at a
time (`CELERY_TASK_ROUTES`, the Procfile): the embedded server answers one request at a
time anyway, and a second request would wait on it until it timed out or, on a server
that interrupts, cut the first one off."""

from __future__ import annotations

from celery import shared_task

from tera import clinical_notes, indexing, insights, transcription
from tera.models import SourceKind


@shared_task(acks_late=True, reject_on_worker_lost=True)
def recording_transcribe_chunk(recording_id: int, seq: int) -> None:
    transcription.transcribe_chunk(recording_id, seq)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def recording_transcribe(recording_id: int) -> None:
    transcription.transcribe_recording(recording_id)


@shared_task
def audio_sweep() -> int:
    return transcription.audio_sweep()


@shared_task
def recordings_resume() -> list[int]:
    return transcription.recordings_resume()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def clinical_note_draft(note_id: int, kind: str, author_id: int | None) -> int | None:
    number = clinical_notes.draft_note(note_id, kind, author_id)
    if number is not None:
        indexing.queue_index(SourceKind.CLINICAL_NOTE, note_id)
    return number


@shared_task(acks_late=True, reject_on_worker_lost=True)
def clinical_note_assist(proposal_id: int) -> bool:
    return clinical_notes.assist_note(proposal_id)


@shared_task
def clinical_notes_resume() -> dict[str, list[int]]:
    found = clinical_notes.stalled()
    for pk, kind, author_id in found["notes"]:
        clinical_note_draft.delay(pk, kind, author_id)
    for pk in found["proposals"]:
        clinical_note_assist.delay(pk)
    return {"notes": [pk for pk, _kind, _author in found["notes"]], "proposals": found["proposals"]}


@shared_task(acks_late=True, reject_on_worker_lost=True)
def index_source(kind: str, source_id: int) -> int:
    return indexing.index_source(kind, source_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def summary_prepare(insight_id: int, membership_id: int, language: str) -> bool:
    return insights.prepare_summary(insight_id, membership_id, language)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def briefing_prepare(appointment_id: int) -> bool:
    return insights.prepare_briefing(appointment_id)


@shared_task
def briefings_upcoming() -> list[int]:
    ids = insights.briefings_due()
    for pk in ids:
        briefing_prepare.delay(pk)
    return ids
