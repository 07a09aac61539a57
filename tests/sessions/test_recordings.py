"""Recording a session: the consent gate, the plan's allowance, chunks and uploads (good
and bad), stopping, cancelling, retrying, the audio's deletion and the transcript's
review. Tasks run eagerly through Celery's own call path; the speech model is real.
Services enqueue tasks on commit, so the tests that need a task to run are
transactional."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from practice import crypto
from practice.models import AuditEvent, Plan
from sessions.models import (
    AudioChunk,
    LiveText,
    Recording,
    RecordingSource,
    RecordingStatus,
    SpeakerRole,
    TranscriptSegment,
    TranscriptSegmentRevision,
)
from tera import speech
from tera.tasks import audio_sweep, recording_transcribe
from tests.audio import wav_bytes
from tests.factories import (
    AppointmentFactory,
    PatientFactory,
    RecordingFactory,
    SpeakerFactory,
    TranscriptSegmentFactory,
)


@pytest.fixture
def patient(clinic, therapist, owner):
    patient = PatientFactory(practice=clinic, full_name="Clara Luz", therapist=therapist)
    patient.audio_consent_at, patient.audio_consent_by = timezone.now(), therapist
    patient.save()
    return patient


@pytest.fixture
def appointment(clinic, patient, therapist):
    return AppointmentFactory(
        practice=clinic,
        patient=patient,
        therapist=therapist,
        starts_at=timezone.now() - timedelta(minutes=5),
    )


def start(client, appointment, **data) -> Recording:
    response = client.post(
        reverse("sessions:recording_start", args=[appointment.pk]),
        {"language": "en", "speakers_expected": 2, **data},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    return Recording.objects.get(pk=response.url.rstrip("/").split("/")[-1])


def send_chunk(client, recording, seq: int, data: bytes):
    return client.post(
        reverse("sessions:recording_chunk", args=[recording.pk, seq]),
        data=data,
        content_type="audio/wav",
    )


def actions(practice) -> list[str]:
    return list(AuditEvent.objects.filter(practice=practice).values_list("action", flat=True))


def assert_audio_gone(recording: Recording) -> None:
    recording.refresh_from_db()
    assert not AudioChunk.objects.filter(recording=recording).exists()
    assert recording.audio_key == b""
    assert recording.audio_deleted_at is not None


# --- Starting: consent, allowance, scope --------------------------------------------------


def test_therapist_starts_a_recording_and_it_is_audited(client_for, therapist, appointment):
    client = client_for(therapist)
    page = client.get(reverse("sessions:recordings", args=[appointment.pk]))
    assert page.status_code == 200
    assert "Start recording" in page.content.decode()
    assert page["Cache-Control"].startswith("max-age=0") or "no-store" in page["Cache-Control"]

    recording = start(client, appointment)

    assert recording.status == RecordingStatus.RECORDING
    assert recording.source == RecordingSource.MICROPHONE
    assert recording.has_audio  # its own wrapped key
    assert "recording.start" in actions(appointment.practice)


def test_starting_twice_resumes_the_open_recording(client_for, therapist, appointment):
    client = client_for(therapist)
    first = start(client, appointment)
    assert start(client, appointment) == first
    assert Recording.objects.count() == 1


def test_no_recording_without_the_patients_consent(client_for, therapist, appointment, patient):
    patient.audio_consent_at = None
    patient.save()
    client = client_for(therapist)

    page = client.get(reverse("sessions:recordings", args=[appointment.pk])).content.decode()
    assert "has not consented to audio recording" in page
    response = client.post(
        reverse("sessions:recording_start", args=[appointment.pk]),
        {"language": "en", "speakers_expected": 2},
    )
    assert response.status_code == 422
    assert "has not consented to audio recording" in response.content.decode()
    upload = client.post(
        reverse("sessions:recording_upload", args=[appointment.pk]),
        {"language": "en", "speakers_expected": 2, "audio": SimpleUploadedFile("a.wav", b"x")},
    )
    assert upload.status_code == 422
    assert not Recording.objects.exists()
    assert "recording.start" not in actions(appointment.practice)


def test_the_free_plan_allowance_is_counted_and_enforced(
    client_for, settings, therapist, appointment, clinic
):
    settings.RECORDINGS_PER_MONTH = {"free": 2, "pro": 0}
    RecordingFactory(appointment=appointment, status=RecordingStatus.DONE, audio_seconds=60)
    # Cancelled before any audio arrived: not counted.
    RecordingFactory(appointment=appointment, status=RecordingStatus.CANCELLED)
    client = client_for(therapist)
    page = client.get(reverse("sessions:recordings", args=[appointment.pk])).content.decode()
    assert "1 recorded session left" in page

    start(client, appointment)
    Recording.objects.filter(status=RecordingStatus.RECORDING).update(status=RecordingStatus.QUEUED)
    page = client.get(reverse("sessions:recordings", args=[appointment.pk])).content.decode()
    assert "0 recorded sessions left" in page
    response = client.post(
        reverse("sessions:recording_start", args=[appointment.pk]),
        {"language": "en", "speakers_expected": 2},
    )
    assert response.status_code == 422
    assert "2 recorded sessions a month" in response.content.decode()
    assert Recording.objects.count() == 3

    clinic.plan = Plan.PRO
    clinic.save()
    page = client.get(reverse("sessions:recordings", args=[appointment.pk])).content.decode()
    assert "as many sessions as you like" in page
    start(client, appointment)


def test_last_months_recordings_do_not_count(settings, clinic, appointment):
    from sessions.services.recordings import recordings_left

    settings.RECORDINGS_PER_MONTH = {"free": 1, "pro": 0}
    old = RecordingFactory(appointment=appointment, status=RecordingStatus.DONE)
    Recording.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    assert recordings_left(clinic) == 1


@pytest.mark.parametrize("persona", ["assistant", "other_therapist", "outsider"])
def test_only_those_who_may_record_reach_the_recorder(
    persona, request, client_for, appointment, short_speech
):
    client = client_for(request.getfixturevalue(persona))
    recording = RecordingFactory(appointment=appointment)
    urls = [
        reverse("sessions:recordings", args=[appointment.pk]),
        reverse("sessions:recording", args=[recording.pk]),
    ]
    for url in urls:
        assert client.get(url).status_code == 404
    assert (
        client.post(
            reverse("sessions:recording_start", args=[appointment.pk]),
            {"language": "en", "speakers_expected": 2},
        ).status_code
        == 404
    )
    assert send_chunk(client, recording, 0, short_speech).status_code == 404
    assert client.post(reverse("sessions:recording_stop", args=[recording.pk])).status_code == 404
    assert client.post(reverse("sessions:recording_cancel", args=[recording.pk])).status_code == 404
    assert not AudioChunk.objects.exists()
    assert Recording.objects.get().status == RecordingStatus.RECORDING


def test_the_owner_may_record_any_appointment(client_for, owner, appointment):
    assert start(client_for(owner), appointment).started_by == owner


def test_a_colleague_who_also_treats_the_patient_reads_but_does_not_record(
    client_for, other_therapist, appointment, patient
):
    from guardian.shortcuts import assign_perm

    assign_perm("patients.treat_patient", other_therapist, patient)
    segment = TranscriptSegmentFactory(recording__appointment=appointment)
    client = client_for(other_therapist)
    assert client.get(reverse("sessions:recording", args=[segment.recording.pk])).status_code == 200
    assert client.get(reverse("sessions:recordings", args=[appointment.pk])).status_code == 404


# --- Chunks -------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)  # tasks are enqueued on commit
def test_a_chunk_is_stored_encrypted_and_transcribed_live(
    client_for, therapist, appointment, short_speech
):
    client = client_for(therapist)
    recording = start(client, appointment)

    response = send_chunk(client, recording, 0, short_speech)

    assert response.status_code == 201
    assert response.json()["seconds"] > 2
    chunk = AudioChunk.objects.get(recording=recording)
    stored = bytes(chunk.data)
    assert b"RIFF" not in stored and short_speech[44:1000] not in stored
    assert crypto.decrypt(recording.audio_key, stored, context=f"{recording.pk}:0") == short_speech
    live = LiveText.objects.get(recording=recording, seq=0)
    assert "sleeping" in live.text.lower()
    state = client.get(
        reverse("sessions:recording", args=[recording.pk]) + "?part=state",
        headers={"HX-Request": "true"},
    )
    body = state.content.decode()
    assert body.lstrip().startswith('<section class="card" id="recording-state"')
    assert escape(live.text) in body


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)  # tasks are enqueued on commit
def test_the_same_chunk_sent_twice_is_kept_once(client_for, therapist, appointment, short_speech):
    client = client_for(therapist)
    recording = start(client, appointment)
    assert send_chunk(client, recording, 0, short_speech).status_code == 201
    again = send_chunk(client, recording, 0, short_speech)  # the answer was lost: a retry
    assert again.status_code == 200
    assert AudioChunk.objects.filter(recording=recording).count() == 1
    assert LiveText.objects.filter(recording=recording).count() == 1
    recording.refresh_from_db()
    assert 2 < recording.audio_seconds < 5


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "The file is empty."),
        (b"%PDF-1.4 this is not sound at all" * 20, "This is not an audio file we can read."),
    ],
)
def test_a_chunk_that_is_not_audio_is_refused(client_for, therapist, appointment, payload, message):
    client = client_for(therapist)
    recording = start(client, appointment)
    response = send_chunk(client, recording, 0, payload)
    assert response.status_code == 422
    assert response.json()["error"].startswith(message)
    assert not AudioChunk.objects.exists()


def test_a_chunk_past_the_maximum_length_is_refused(
    client_for, therapist, appointment, short_speech, settings
):
    settings.RECORDING_MAX_SECONDS = 3  # the piece is ~2.7 s; two are over, even with grace
    client = client_for(therapist)
    recording = start(client, appointment)
    assert send_chunk(client, recording, 0, short_speech).status_code == 201
    response = send_chunk(client, recording, 1, short_speech)
    assert response.status_code == 422
    assert response.json()["code"] == "too_long"
    assert response.json()["error"] == "Recordings can be at most 3 s long."
    assert AudioChunk.objects.count() == 1


def test_chunks_after_stop_are_refused(client_for, therapist, appointment, short_speech):
    client = client_for(therapist)
    recording = RecordingFactory(appointment=appointment, status=RecordingStatus.QUEUED)
    response = send_chunk(client, recording, 3, short_speech)
    assert response.status_code == 422
    assert response.json()["code"] == "stopped"


def test_stopping_before_anything_was_recorded_says_so(client_for, therapist, appointment):
    client = client_for(therapist)
    recording = start(client, appointment)
    response = client.post(reverse("sessions:recording_stop", args=[recording.pk]), follow=True)
    assert "Nothing has been recorded yet" in response.content.decode()
    recording.refresh_from_db()
    assert recording.status == RecordingStatus.RECORDING


# --- The final pass and the audio's deletion ----------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)  # tasks are enqueued on commit
def test_stop_transcribes_everything_and_deletes_the_audio(
    client_for, therapist, appointment, dialogue
):
    wav, _turns = dialogue
    client = client_for(therapist)
    recording = start(client, appointment)
    # Two pieces as a browser would send them; each is a whole file.
    data = speech.decode(wav.read_bytes())
    half = len(data) // 2
    for seq, piece in enumerate((data[:half], data[half:])):
        assert send_chunk(client, recording, seq, wav_bytes(piece)).status_code == 201
    assert LiveText.objects.filter(recording=recording).count() == 2

    response = client.post(reverse("sessions:recording_stop", args=[recording.pk]))

    assert response.status_code == 302
    recording.refresh_from_db()
    assert recording.status == RecordingStatus.DONE
    assert recording.progress == 100
    assert recording.detected_language == "en"
    assert_audio_gone(recording)
    assert not LiveText.objects.filter(recording=recording).exists()
    segments = list(recording.segments.order_by("position"))
    assert len(segments) >= 8
    assert [s.position for s in segments] == list(range(len(segments)))
    assert recording.speakers.count() == 2
    assert {"recording.start", "recording.stop"} <= set(actions(appointment.practice))
    page = client.get(reverse("sessions:recording", args=[recording.pk])).content.decode()
    assert "sleeping" in page and "The audio has been deleted" in page


def test_cancel_asks_first_then_deletes_the_audio(
    client_for, therapist, appointment, short_speech, settings
):
    recording = RecordingFactory(appointment=appointment)
    from sessions.services.recordings import _store_chunk

    _store_chunk(recording, 0, short_speech, 3.0)
    LiveText.objects.create(practice=recording.practice, recording=recording, seq=0, text="hi")
    client = client_for(therapist)

    confirm = client.get(reverse("sessions:recording_cancel", args=[recording.pk]))
    assert "deleted for good" in confirm.content.decode()
    assert AudioChunk.objects.count() == 1

    response = client.post(reverse("sessions:recording_cancel", args=[recording.pk]))
    assert response.status_code == 302
    assert_audio_gone(recording)
    assert recording.status == RecordingStatus.CANCELLED
    assert not LiveText.objects.exists()
    assert "recording.cancel" in actions(appointment.practice)


def test_audio_that_cannot_be_read_fails_for_good_and_is_deleted(appointment, short_speech):
    recording = RecordingFactory(appointment=appointment, status=RecordingStatus.QUEUED)
    AudioChunk.objects.create(
        practice=recording.practice,
        recording=recording,
        seq=0,
        data=b"\x00" * 64,  # not what the key sealed
        seconds=3,
    )
    recording_transcribe.delay(recording.pk)
    recording.refresh_from_db()
    assert recording.status == RecordingStatus.FAILED
    assert recording.failure == "The stored audio could not be decrypted."
    assert not recording.can_retry
    assert_audio_gone(recording)


@pytest.mark.django_db(transaction=True)  # tasks are enqueued on commit
def test_a_failed_attempt_keeps_the_audio_for_retry_until_the_last(
    client_for, therapist, appointment, short_speech, settings, tmp_path
):
    from sessions.services.recordings import _store_chunk

    settings.TRANSCRIBE_MAX_ATTEMPTS = 2
    settings.TRANSCRIBE_MODEL = str(tmp_path / "no-model-here")
    speech.whisper_model.cache_clear()
    recording = RecordingFactory(appointment=appointment, status=RecordingStatus.QUEUED)
    _store_chunk(recording, 0, short_speech, 3.0)
    client = client_for(therapist)
    try:
        recording_transcribe.delay(recording.pk)
        recording.refresh_from_db()
        assert recording.status == RecordingStatus.FAILED
        assert recording.can_retry
        page = client.get(reverse("sessions:recording", args=[recording.pk])).content.decode()
        assert "The transcription failed." in page and "Retry" in page

        client.post(reverse("sessions:recording_retry", args=[recording.pk]))  # runs eagerly
    finally:
        speech.whisper_model.cache_clear()

    recording.refresh_from_db()
    assert recording.status == RecordingStatus.FAILED
    assert recording.attempts == 2
    assert_audio_gone(recording)
    page = client.get(reverse("sessions:recording", args=[recording.pk])).content.decode()
    assert "The audio has been deleted" in page
    assert "recording.retry" in actions(appointment.practice)


def test_the_sweeper_deletes_audio_older_than_the_limit_whatever_its_state(
    appointment, short_speech, settings
):
    from sessions.services.recordings import _store_chunk

    settings.AUDIO_MAX_AGE = timedelta(hours=24)
    old = RecordingFactory(appointment=appointment)
    fresh = RecordingFactory(appointment=appointment, status=RecordingStatus.QUEUED)
    for recording in (old, fresh):
        _store_chunk(recording, 0, short_speech, 3.0)
    Recording.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=25))
    AudioChunk.objects.filter(recording=old).update(created_at=timezone.now() - timedelta(hours=25))

    assert audio_sweep.delay().get() == 1
    assert audio_sweep.delay().get() == 0  # idempotent

    assert_audio_gone(old)
    assert old.status == RecordingStatus.FAILED
    assert "deleted after 24 hours" in old.failure
    assert AudioChunk.objects.filter(recording=fresh).count() == 1


def test_the_sweeper_is_scheduled():
    from django.conf import settings

    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "tera.tasks.audio_sweep" in tasks


# --- Uploads ------------------------------------------------------------------------------


def upload(client, appointment, name: str, content: bytes, **data):
    return client.post(
        reverse("sessions:recording_upload", args=[appointment.pk]),
        {
            "language": "en",
            "speakers_expected": 2,
            "audio": SimpleUploadedFile(name, content, content_type="audio/wav"),
            **data,
        },
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)  # tasks are enqueued on commit
def test_an_uploaded_recording_is_transcribed_and_deleted(
    client_for, therapist, appointment, short_speech
):
    client = client_for(therapist)
    response = upload(client, appointment, "session.wav", short_speech)
    assert response.status_code == 302
    recording = Recording.objects.get()
    assert recording.source == RecordingSource.UPLOAD
    assert recording.status == RecordingStatus.DONE
    assert "sleeping" in " ".join(recording.segments.values_list("text", flat=True)).lower()
    assert_audio_gone(recording)
    assert "recording.upload" in actions(appointment.practice)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.txt", b"hello", "File extension"),
        ("empty.wav", b"", "The submitted file is empty."),
        ("fake.mp3", b"ID3 but not really an mp3 file" * 50, "This is not an audio file"),
    ],
)
def test_a_bad_upload_gets_a_clear_message_and_stores_nothing(
    client_for, therapist, appointment, name, content, message
):
    response = upload(client_for(therapist), appointment, name, content)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not Recording.objects.exists() and not AudioChunk.objects.exists()


def test_a_too_long_upload_is_refused(client_for, therapist, appointment, short_speech, settings):
    settings.RECORDING_MAX_SECONDS = 2
    response = upload(client_for(therapist), appointment, "long.wav", short_speech)
    assert response.status_code == 422
    assert "Recordings can be at most 2 s long." in response.content.decode()
    assert not Recording.objects.exists()


def test_a_too_large_upload_is_stopped(client_for, therapist, appointment, settings):
    settings.RECORDING_UPLOAD_MAX_MB = 1
    response = upload(client_for(therapist), appointment, "big.wav", b"\0" * (1024 * 1024 + 10))
    assert response.status_code == 422
    assert "larger than 1 MB" in response.content.decode()
    assert not Recording.objects.exists()


def test_upload_rejects_a_missing_csrf_token(therapist, appointment, short_speech):
    from django.test import Client

    from tests.conftest import login

    client = login(Client(enforce_csrf_checks=True), therapist)
    response = upload(client, appointment, "session.wav", short_speech)
    assert response.status_code == 403
    assert not Recording.objects.exists()


# --- Reviewing the transcript -------------------------------------------------------------


@pytest.fixture
def transcript(appointment):
    recording = RecordingFactory(
        appointment=appointment, status=RecordingStatus.DONE, audio_key=b""
    )
    voices = [SpeakerFactory(recording=recording, number=n) for n in (0, 1)]
    lines = [
        "How have you been sleeping?",
        "Not very well, I wake up at three.",
        "What do you think about then?",
        "Mostly work and the deadlines.",
    ]
    for i, text in enumerate(lines):
        TranscriptSegmentFactory(recording=recording, position=i, text=text, speaker=voices[i % 2])
    return recording


def test_reading_a_transcript_is_audited_and_never_cached(client_for, therapist, transcript):
    response = client_for(therapist).get(reverse("sessions:recording", args=[transcript.pk]))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert 'hx-history="false"' in response.content.decode()
    assert "transcript.read" in actions(transcript.practice)


def test_search_finds_and_marks_the_words(
    client_for, therapist, transcript, django_assert_max_num_queries
):
    client = client_for(therapist)
    with django_assert_max_num_queries(20):
        response = client.get(reverse("sessions:recording", args=[transcript.pk]) + "?q=SLEEP")
    body = response.content.decode()
    assert "1 of 4 segments match." in body
    assert "<mark>sleep</mark>ing" in body
    assert "deadlines" not in body


def test_the_therapist_names_the_voices(client_for, therapist, transcript):
    first, second = transcript.speakers.order_by("number")
    client = client_for(therapist)
    response = client.post(
        reverse("sessions:recording_speakers", args=[transcript.pk]),
        {
            "speakers-TOTAL_FORMS": 2,
            "speakers-INITIAL_FORMS": 2,
            "speakers-0-id": first.pk,
            "speakers-0-role": SpeakerRole.THERAPIST,
            "speakers-0-name": "",
            "speakers-1-id": second.pk,
            "speakers-1-role": SpeakerRole.PATIENT,
            "speakers-1-name": "Clara",
        },
        follow=True,
    )
    assert "Speakers saved." in response.content.decode()
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.role, str(first)) == (SpeakerRole.THERAPIST, "Therapist")
    assert str(second) == "Clara"
    assert "transcript.speakers" in actions(transcript.practice)


def test_correcting_a_segment_keeps_its_history(client_for, therapist, transcript):
    segment = transcript.segments.get(position=1)
    patient_voice = segment.speaker
    therapist_voice = transcript.speakers.get(number=0)
    client = client_for(therapist)
    url = reverse("sessions:segment_edit", args=[transcript.pk, segment.pk])

    form = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert form.lstrip().startswith(f'<li id="segment-{segment.pk}"')
    assert "<textarea" in form

    response = client.post(
        url,
        {"text": "Not well at all; I wake at three.", "speaker": therapist_voice.pk},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "Not well at all; I wake at three." in response.content.decode()
    segment.refresh_from_db()
    assert segment.edited and segment.speaker == therapist_voice
    revision = TranscriptSegmentRevision.objects.get(segment=segment)
    assert revision.text_before == "Not very well, I wake up at three."
    assert revision.speaker_before == str(patient_voice)
    assert revision.author == therapist
    assert "transcript.edit" in actions(transcript.practice)


def test_an_empty_correction_is_refused_and_changes_nothing(client_for, therapist, transcript):
    segment = transcript.segments.get(position=0)
    response = client_for(therapist).post(
        reverse("sessions:segment_edit", args=[transcript.pk, segment.pk]),
        {"text": "   "},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 422
    assert "This field is required." in response.content.decode()
    segment.refresh_from_db()
    assert segment.text == "How have you been sleeping?" and not segment.edited
    assert not TranscriptSegmentRevision.objects.exists()


def test_a_speaker_of_another_recording_cannot_be_given(
    client_for, therapist, transcript, appointment
):
    elsewhere = SpeakerFactory(
        recording=RecordingFactory(appointment=appointment, status=RecordingStatus.DONE),
        number=0,
    )
    segment = transcript.segments.get(position=0)
    response = client_for(therapist).post(
        reverse("sessions:segment_edit", args=[transcript.pk, segment.pk]),
        {"text": "Changed", "speaker": elsewhere.pk},
    )
    assert response.status_code == 422
    segment.refresh_from_db()
    assert segment.text == "How have you been sleeping?"


@pytest.mark.parametrize("persona", ["assistant", "other_therapist", "outsider"])
def test_nobody_outside_the_barrier_edits_a_transcript(persona, request, client_for, transcript):
    client = client_for(request.getfixturevalue(persona))
    segment = transcript.segments.get(position=0)
    response = client.post(
        reverse("sessions:segment_edit", args=[transcript.pk, segment.pk]), {"text": "Hacked"}
    )
    assert response.status_code == 404
    speakers = client.post(
        reverse("sessions:recording_speakers", args=[transcript.pk]),
        {"speakers-TOTAL_FORMS": 0, "speakers-INITIAL_FORMS": 0},
    )
    assert speakers.status_code == 404
    segment.refresh_from_db()
    assert segment.text == "How have you been sleeping?"


def test_polling_a_finished_recording_reloads_the_page(client_for, therapist, transcript):
    response = client_for(therapist).get(
        reverse("sessions:recording", args=[transcript.pk]) + "?part=state",
        headers={"HX-Request": "true"},
    )
    assert response["HX-Refresh"] == "true"


def test_polling_is_not_audited_as_a_read(client_for, therapist, appointment):
    recording = RecordingFactory(appointment=appointment)
    client_for(therapist).get(
        reverse("sessions:recording", args=[recording.pk]) + "?part=state",
        headers={"HX-Request": "true"},
    )
    assert "transcript.read" not in actions(appointment.practice)


def test_the_session_page_lists_its_recordings_for_note_readers_only(
    client_for, therapist, assistant, clinic, patient
):
    from tests.factories import SessionFactory

    session = SessionFactory(practice=clinic, patient=patient, therapist=therapist)
    TranscriptSegmentFactory(recording__appointment=session.appointment)
    url = reverse("sessions:detail", args=[session.pk])
    mine = client_for(therapist).get(url).content.decode()
    assert "Audio and transcripts" in mine and "Record or upload audio" in mine
    theirs = client_for(assistant).get(url).content.decode()
    assert "Audio and transcripts" not in theirs


def test_unknown_ids_answer_404(client_for, therapist):
    client = client_for(therapist)
    assert client.get(reverse("sessions:recording", args=[987654])).status_code == 404
    assert TranscriptSegment.objects.count() == 0


def test_an_interrupted_recording_resumes_after_its_last_piece(
    client_for, therapist, appointment, short_speech
):
    from sessions.services.recordings import _store_chunk

    recording = RecordingFactory(appointment=appointment, audio_seconds=3.0)
    page = client_for(therapist).get(reverse("sessions:recording", args=[recording.pk]))
    assert 'data-next-seq="0"' in page.content.decode()

    _store_chunk(recording, 0, short_speech, 3.0)
    body = client_for(therapist).get(reverse("sessions:recording", args=[recording.pk]))
    body = body.content.decode()
    assert 'data-next-seq="1"' in body
    assert "Resume recording" in body and "0:03 already recorded" in body


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)  # the resumed task runs when its enqueue commits
def test_a_transcription_lost_with_its_worker_is_queued_again(appointment, short_speech, settings):
    """A worker node killed outright (or a broker restarted) loses the message until the
    visibility timeout, hours later; the beat job notices the silence and queues it."""
    from sessions.services.recordings import _store_chunk
    from tera.tasks import recordings_resume

    settings.TRANSCRIBE_STALE_AFTER = timedelta(minutes=10)
    lost = RecordingFactory(appointment=appointment, status=RecordingStatus.TRANSCRIBING)
    _store_chunk(lost, 0, short_speech, 3.0)
    waiting = RecordingFactory(appointment=appointment, status=RecordingStatus.QUEUED)
    _store_chunk(waiting, 0, short_speech, 3.0)
    Recording.objects.filter(pk=lost.pk).update(
        heartbeat_at=timezone.now() - timedelta(minutes=11), attempts=1
    )
    Recording.objects.filter(pk=waiting.pk).update(stopped_at=timezone.now())

    assert recordings_resume.delay().get() == [lost.pk]

    lost.refresh_from_db()
    assert lost.status == RecordingStatus.DONE and lost.attempts == 2
    assert "sleeping" in " ".join(lost.segments.values_list("text", flat=True)).lower()
    assert_audio_gone(lost)
    waiting.refresh_from_db()
    assert waiting.status == RecordingStatus.QUEUED and waiting.has_audio
    assert recordings_resume.delay().get() == []


@pytest.mark.parametrize(
    ("persona", "offered"),
    [("therapist", True), ("owner", True), ("assistant", False)],
)
def test_the_appointment_dialog_offers_recording_to_those_who_may(
    persona, offered, request, client_for, appointment
):
    client = client_for(request.getfixturevalue(persona))
    dialog = client.get(
        reverse("sessions:appointment_edit", args=[appointment.pk]), headers={"HX-Request": "true"}
    ).content.decode()
    link = reverse("sessions:recordings", args=[appointment.pk])
    assert (link in dialog) is offered


def test_an_upload_never_touches_the_disk(
    client_for, therapist, appointment, short_speech, settings, tmp_path
):
    """Django writes uploads over FILE_UPLOAD_MAX_MEMORY_SIZE to a temporary file; audio
    must not be. With a temporary folder that does not exist, any attempt would fail."""
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "there-is-no-such-folder")
    response = upload(client_for(therapist), appointment, "session.wav", short_speech)
    assert response.status_code == 302
    recording = Recording.objects.get()
    assert recording.source == RecordingSource.UPLOAD
    stored = bytes(AudioChunk.objects.get(recording=recording).data)
    assert crypto.decrypt(recording.audio_key, stored, context=f"{recording.pk}:0") == short_speech


def test_the_temporary_folder_trick_would_catch_a_disk_write(client_for, owner, settings, tmp_path):
    """The control for the test above: an ordinary upload view does write there."""
    from django.core.files.uploadhandler import TemporaryFileUploadHandler
    from django.test import RequestFactory

    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "there-is-no-such-folder")
    request = RequestFactory().post(
        "/", {"audio": SimpleUploadedFile("a.wav", b"x" * 5000)}, format="multipart"
    )
    request.upload_handlers = [TemporaryFileUploadHandler(request)]
    with pytest.raises(FileNotFoundError):
        request.FILES  # noqa: B018 - reading it parses the upload
