"""Transcript retention: a daily job deletes each practice's transcripts N days after
their recording (the Owner's setting, else the plan's default), with their corrections,
speakers, leftover audio and Tera's vectors; the session's notes and clinical notes stay,
other practices are untouched, the recording page says when and why, and the audit log
counts what went. The Owner sets N on the Settings page; nonsense is refused there.

Time is fixed by giving the service the moment it runs (`now=`) and recordings an age
(`created_at`), so no test depends on the clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from practice import crypto
from practice.audit import ACTIONS, verify_chain
from practice.models import AuditEvent, Plan, Practice
from sessions.models import (
    AudioChunk,
    ClinicalNoteVersion,
    LiveText,
    Recording,
    RecordingStatus,
    SessionNote,
    Speaker,
    TranscriptSegment,
    TranscriptSegmentRevision,
)
from sessions.services.clinical_notes import note_generate, note_regenerate, template_choices
from sessions.services.retention import transcripts_expire, transcripts_expire_all
from sessions.tasks import transcripts_expire as transcripts_expire_task
from tera.embeddings import DIMENSIONS
from tera.models import Chunk, SourceKind
from tests.conftest import login
from tests.factories import (
    ClinicalNoteVersionFactory,
    PatientFactory,
    RecordingFactory,
    SessionFactory,
    TranscriptSegmentFactory,
)

NOW = timezone.now().replace(microsecond=0)
SAID = "CANARY-said-in-the-session"


def _session_with_transcript(practice: Practice, therapist, *, age_days: int):
    """A session with its note, a finished transcript (corrected once, with leftover
    audio and live text), a clinical note drafted from it, and Tera's vectors of all
    three; the recording made `age_days` before NOW."""
    patient = PatientFactory(practice=practice, therapist=therapist)
    session = SessionFactory(practice=practice, patient=patient, therapist=therapist)
    segment = TranscriptSegmentFactory(recording__appointment=session.appointment, text=SAID)
    recording = segment.recording
    TranscriptSegmentRevision.objects.create(
        practice=practice, segment=segment, author=therapist, text_before="x", text_after=SAID
    )
    LiveText.objects.create(practice=practice, recording=recording, seq=0, text=SAID)
    recording.audio_key = crypto.new_wrapped_key()
    recording.save(update_fields=["audio_key"])
    AudioChunk.objects.create(
        practice=practice, recording=recording, seq=0, data=b"\x00" * 16, seconds=1.0
    )
    version = ClinicalNoteVersionFactory(
        note__appointment=session.appointment, note__recording=recording
    )
    for kind, source in (
        (SourceKind.TRANSCRIPT, recording.pk),
        (SourceKind.SESSION_NOTE, session.pk),
        (SourceKind.CLINICAL_NOTE, version.note_id),
    ):
        Chunk.objects.create(
            practice=practice,
            patient=patient,
            session=session,
            kind=kind,
            source_id=source,
            position=0,
            text=SAID,
            embedding=[0.1] * DIMENSIONS,
        )
    Recording.objects.filter(pk=recording.pk).update(created_at=NOW - timedelta(days=age_days))
    return session, recording, version


def _transcript_left(recording: Recording) -> dict[str, int]:
    return {
        "segments": TranscriptSegment.objects.filter(recording=recording).count(),
        "revisions": TranscriptSegmentRevision.objects.filter(segment__recording=recording).count(),
        "speakers": Speaker.objects.filter(recording=recording).count(),
        "live": LiveText.objects.filter(recording=recording).count(),
        "audio": AudioChunk.objects.filter(recording=recording).count(),
        "vectors": Chunk.objects.filter(kind=SourceKind.TRANSCRIPT, source_id=recording.pk).count(),
    }


GONE = {"segments": 0, "revisions": 0, "speakers": 0, "live": 0, "audio": 0, "vectors": 0}
KEPT = {"segments": 1, "revisions": 1, "speakers": 1, "live": 1, "audio": 1, "vectors": 1}


def _retain(practice: Practice, days: int | None) -> None:
    practice.transcript_retention_days = days
    practice.save(update_fields=["transcript_retention_days"])


def test_the_plan_decides_unless_the_owner_did(clinic):
    assert clinic.plan == Plan.FREE and clinic.transcript_retention == 90
    clinic.plan = Plan.PRO
    assert clinic.transcript_retention == 365
    clinic.transcript_retention_days = 30
    assert clinic.transcript_retention == 30
    clinic.transcript_retention_days = 0
    assert clinic.transcript_retention is None  # kept for good


def test_old_transcripts_go_and_everything_else_stays(clinic, therapist, other_practice, outsider):
    _retain(clinic, 30)
    old_session, old, old_version = _session_with_transcript(clinic, therapist, age_days=31)
    _recent_session, recent, _ = _session_with_transcript(clinic, therapist, age_days=29)
    # Another practice with older transcripts, but its own policy keeps them.
    _retain(other_practice, 0)
    _theirs_session, theirs, _ = _session_with_transcript(other_practice, outsider, age_days=400)

    assert transcripts_expire_all(now=NOW) == {clinic.pk: 1}

    assert _transcript_left(old) == GONE
    old.refresh_from_db()
    assert old.status == RecordingStatus.DONE and not old.has_audio  # the key is destroyed
    assert _transcript_left(recent) == KEPT
    assert _transcript_left(theirs) == KEPT
    # The notes stay, with Tera's vectors of them.
    assert SessionNote.objects.filter(session=old_session).exists()
    assert ClinicalNoteVersion.objects.filter(pk=old_version.pk).exists()
    assert Chunk.objects.filter(kind=SourceKind.SESSION_NOTE, source_id=old_session.pk).exists()
    assert Chunk.objects.filter(
        kind=SourceKind.CLINICAL_NOTE, source_id=old_version.note_id
    ).exists()

    old.refresh_from_db()
    assert (old.transcript_expired_at, old.transcript_retention_days) == (NOW, 30)
    assert Recording.objects.filter(transcript_expired_at__isnull=False).count() == 1

    (row,) = AuditEvent.objects.filter(action="transcript.expire")
    assert row.practice == clinic and row.actor is None
    assert row.data == {
        "retention_days": 30,
        "recordings": 1,
        "revisions": 1,
        "segments": 1,
        "speakers": 1,
        "audio_chunks": 1,
        "index_chunks": 1,
    }
    assert SAID not in str(row.data)
    assert "transcript.expire" in ACTIONS
    assert all(report.problems == [] for report in verify_chain())


def test_a_second_run_finds_nothing_more(clinic, therapist):
    _retain(clinic, 30)
    _session_with_transcript(clinic, therapist, age_days=31)
    assert transcripts_expire(practice=clinic, now=NOW)["recordings"] == 1
    assert transcripts_expire(practice=clinic, now=NOW + timedelta(days=1)) == {}
    assert AuditEvent.objects.filter(action="transcript.expire").count() == 1
    assert Recording.objects.filter(transcript_expired_at__isnull=False).count() == 1


def test_the_plan_default_and_keeping_for_good(clinic, therapist):
    _session, recording, _ = _session_with_transcript(clinic, therapist, age_days=89)
    assert transcripts_expire(practice=clinic, now=NOW) == {}  # Free keeps 90 days
    assert transcripts_expire(practice=clinic, now=NOW + timedelta(days=2))["recordings"] == 1
    assert _transcript_left(recording) == GONE

    _retain(clinic, 0)
    _s, kept, _v = _session_with_transcript(clinic, therapist, age_days=3000)
    assert transcripts_expire(practice=clinic, now=NOW) == {}
    assert _transcript_left(kept) == KEPT


def test_recordings_still_under_way_are_left_to_their_own_sweeps(clinic, therapist):
    _retain(clinic, 1)
    recording = RecordingFactory(
        appointment__practice=clinic,
        appointment__therapist=therapist,
        appointment__patient=PatientFactory(practice=clinic, therapist=therapist),
    )
    Recording.objects.filter(pk=recording.pk).update(created_at=NOW - timedelta(days=5))
    assert transcripts_expire(practice=clinic, now=NOW) == {}
    recording.refresh_from_db()
    assert recording.status == RecordingStatus.RECORDING and recording.has_audio


def test_the_daily_job_runs_it_for_every_practice(clinic, therapist):
    job = django_settings.CELERY_BEAT_SCHEDULE["transcripts-expire"]
    assert job["task"] == "sessions.tasks.transcripts_expire"
    # The real clock: a recording made 91 days ago, on the Free plan's 90 days.
    _session, recording, _ = _session_with_transcript(clinic, therapist, age_days=91)
    Recording.objects.filter(pk=recording.pk).update(created_at=timezone.now() - timedelta(days=91))
    assert transcripts_expire_task.delay().get() == {clinic.pk: 1}
    assert _transcript_left(recording) == GONE


def test_the_recording_page_says_when_and_why(client, clinic, therapist):
    _retain(clinic, 30)
    session, recording, _ = _session_with_transcript(clinic, therapist, age_days=31)
    transcripts_expire(practice=clinic, now=NOW)
    login(client, therapist)
    page = client.get(reverse("sessions:recording", args=[recording.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "deleted under the practice’s retention policy on" in html
    assert "kept 30 days" in html
    assert SAID not in html
    assert "Draft clinical notes" not in html and "What was said" not in html
    # The session's own page still has its note.
    note = SessionNote.objects.get(session=session)
    assert note.text in client.get(reverse("sessions:detail", args=[session.pk])).content.decode()


def test_an_expired_transcript_drafts_no_more_notes(client, clinic, therapist):
    _retain(clinic, 30)
    session, recording, version = _session_with_transcript(clinic, therapist, age_days=31)
    transcripts_expire(practice=clinic, now=NOW)
    note = version.note
    with pytest.raises(ValidationError, match="retention policy"):
        note_regenerate(practice=clinic, actor=therapist, note=note)
    with pytest.raises(ValidationError, match="retention policy"):
        note_generate(
            practice=clinic,
            actor=therapist,
            appointment=session.appointment,
            templates=[template_choices(clinic, session.appointment)["builtin:soap"]],
            recording=recording,
            quick_notes="",
            language="en",
        )
    note.refresh_from_db()
    assert note.versions.count() == 1 and not note.is_drafting
    login(client, therapist)
    page = client.get(reverse("sessions:notes", args=[session.appointment.pk]))
    assert f'value="{recording.pk}"' not in page.content.decode()  # not offered to draft from


# --- The Owner's setting -------------------------------------------------------------------

RETENTION = reverse("practice:retention")


def test_the_owner_sets_it_and_it_is_audited(client, clinic, owner):
    login(client, owner)
    page = client.get(reverse("practice:settings")).content.decode()
    assert 'action="' + RETENTION + '"' in page and "90 days" in page
    response = client.post(RETENTION, {"transcript_retention_days": "30"})
    assert response.status_code == 302 and response.url.endswith("#retention")
    clinic.refresh_from_db()
    assert clinic.transcript_retention_days == 30
    (row,) = AuditEvent.objects.filter(action="practice.retention")
    assert row.actor == owner and row.data == {"before": None, "after": 30}
    # Empty goes back to the plan's default; 0 keeps transcripts for good.
    client.post(RETENTION, {"transcript_retention_days": ""})
    clinic.refresh_from_db()
    assert clinic.transcript_retention_days is None
    client.post(RETENTION, {"transcript_retention_days": "0"})
    clinic.refresh_from_db()
    assert clinic.transcript_retention_days == 0 and clinic.transcript_retention is None
    assert (
        "Transcripts are kept for good."
        in client.get(reverse("practice:settings")).content.decode()
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-5", "can’t be negative"),
        ("99999", "at most 3650 days"),
        ("40000000000", "at most 3650 days"),
        ("3651", "at most 3650 days"),
        ("ten", "whole number of days"),
        ("1.5", "whole number of days"),
    ],
)
def test_nonsense_is_refused_and_nothing_changes(client, clinic, owner, value, message):
    _retain(clinic, 45)
    login(client, owner)
    response = client.post(RETENTION, {"transcript_retention_days": value})
    assert response.status_code == 422
    assert message in response.content.decode()
    clinic.refresh_from_db()
    assert clinic.transcript_retention_days == 45
    assert not AuditEvent.objects.filter(action="practice.retention").exists()


def test_only_the_owner_may(client, clinic, therapist):
    login(client, therapist)
    response = client.post(RETENTION, {"transcript_retention_days": "1"})
    assert response.status_code in (403, 404)
    clinic.refresh_from_db()
    assert clinic.transcript_retention_days is None
