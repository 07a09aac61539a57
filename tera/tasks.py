"""Celery tasks of the AI layer. Each takes ids, re-reads through the database and calls
one function of tera.transcription; all are idempotent (see that module)."""

from __future__ import annotations

from celery import shared_task

from tera import drafting, indexing, insights, transcription


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
    return drafting.draft_note(note_id, kind, author_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def clinical_note_assist(proposal_id: int) -> bool:
    return drafting.assist_note(proposal_id)


@shared_task
def clinical_notes_resume() -> dict[str, list[int]]:
    return drafting.resume_stalled()


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
    return insights.upcoming_briefings()
