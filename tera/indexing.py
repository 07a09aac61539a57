"""Keeping Tera's index (tera.models.Chunk) in step with the clinical text it is built from.

A source is a session's note (its text, custom-field answers and amendments), a
transcript (its segments with who spoke), or an AI-drafted clinical note (its newest
version). `index_source(kind, id)` reads the source as it is now and replaces all of its
chunks in one transaction, so it is idempotent and safe to run twice or late: an edited
source is re-indexed, one that is gone or empty loses its vectors. The services queue it
(`queue_index`) when a source is saved; `tera_reindex` backfills everything.
Logs and task arguments carry ids only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

from django.db import transaction

from tera import embeddings
from tera.models import Chunk, SourceKind

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    practice_id: int
    patient_id: int
    session_id: int | None
    text: str


def _session_note(pk: int) -> Source | None:
    from sessions.models import SessionNote
    from therapies.formbuilder import describe_values

    note = SessionNote.objects.select_related("session__therapy_type").filter(session_id=pk).first()
    if note is None:
        return None
    session = note.session
    therapy = session.therapy_type
    parts = [note.text]
    parts += [
        f"{value.label}: {value.text}."
        for value in describe_values(
            therapy.custom_fields, therapy.removed_fields, note.custom_values
        )
    ]
    parts += [amendment.text for amendment in note.amendments.all()]
    return Source(note.practice_id, session.patient_id, session.pk, "\n\n".join(parts))


def _transcript(pk: int) -> Source | None:
    from sessions.models import Recording, RecordingStatus, Session

    recording = Recording.objects.filter(pk=pk, status=RecordingStatus.DONE).first()
    if recording is None:
        return None
    lines = [
        f"{segment.speaker or ''}: {segment.text}"
        for segment in recording.segments.select_related("speaker").order_by("position")
    ]
    session_id = Session.objects.id_of_appointment(recording.appointment_id)
    return Source(recording.practice_id, recording.patient_id, session_id, "\n".join(lines))


def _clinical_note(pk: int) -> Source | None:
    from sessions.models import ClinicalNote, Session

    note = ClinicalNote.objects.filter(pk=pk).first()
    version = note.versions.order_by("-number").first() if note else None
    if note is None or version is None:
        return None
    text = "\n\n".join(
        f"{section['title']}: " + " ".join(s["text"] for s in section["statements"])
        for section in version.section_list
        if section["statements"]
    )
    session_id = Session.objects.id_of_appointment(note.appointment_id)
    return Source(note.practice_id, note.patient_id, session_id, text)


READERS = {
    SourceKind.SESSION_NOTE: _session_note,
    SourceKind.TRANSCRIPT: _transcript,
    SourceKind.CLINICAL_NOTE: _clinical_note,
}


def index_source(kind: str, pk: int) -> int:
    """Replace the chunks of one source with its current text; returns how many."""
    source = READERS[SourceKind(kind)](pk)
    pieces = embeddings.split(source.text) if source else []
    vectors = embeddings.embed(pieces)  # before the transaction: it takes a while
    with transaction.atomic():
        Chunk.objects.filter(kind=kind, source_id=pk).delete()
        if source is None:
            return 0
        Chunk.objects.bulk_create(
            Chunk(
                practice_id=source.practice_id,
                patient_id=source.patient_id,
                session_id=source.session_id,
                kind=kind,
                source_id=pk,
                position=position,
                text=text,
                embedding=vector,
            )
            for position, (text, vector) in enumerate(zip(pieces, vectors, strict=True))
        )
    log.info("indexed %s %s: %s chunks", kind, pk, len(pieces))
    return len(pieces)


def _enqueue(kind: str, pk: int) -> None:
    from tera.tasks import index_source as task

    task.delay(kind, pk)


def queue_index(kind: str, pk: int) -> None:
    """Re-index a source once the caller's transaction commits (what it saved is then
    there to read)."""
    transaction.on_commit(partial(_enqueue, str(kind), pk))


def all_sources(practice_id: int | None = None) -> Iterator[tuple[str, int]]:
    """Every source there is, for a backfill."""
    from sessions.models import ClinicalNote, Recording, RecordingStatus, SessionNote

    scoped = {"practice_id": practice_id} if practice_id else {}
    for pk in SessionNote.objects.filter(**scoped).values_list("session_id", flat=True):
        yield SourceKind.SESSION_NOTE, pk
    done = Recording.objects.filter(status=RecordingStatus.DONE, **scoped)
    for pk in done.values_list("pk", flat=True):
        yield SourceKind.TRANSCRIPT, pk
    for pk in ClinicalNote.objects.filter(**scoped).values_list("pk", flat=True):
        yield SourceKind.CLINICAL_NOTE, pk
