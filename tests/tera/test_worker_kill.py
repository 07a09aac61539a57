"""A worker killed with SIGKILL in the middle of a transcription: the message goes back
to Redis (acks_late + reject_on_worker_lost), the task runs again, and the recording ends
with exactly one complete transcript: no segment lost, none doubled.

A real `celery worker` process (prefork, one child) on the real Redis broker and the test
database; the child that transcribes is killed as the OOM killer would kill it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from practice.celery import app
from sessions.models import AudioChunk, Recording, RecordingStatus
from sessions.services.recordings import RecordingOptions, recording_upload
from tests.audio import word_error_rate
from tests.factories import AppointmentFactory, PatientFactory, PracticeFactory, UserFactory

pytestmark = pytest.mark.slow
BASE_DIR = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    db = connection.settings_dict
    host = db["HOST"]
    if host.startswith("/"):  # the embedded server's socket folder
        return f"postgresql://{db['USER']}:{db['PASSWORD']}@/{db['NAME']}?host={host}"
    return f"postgresql://{db['USER']}:{db['PASSWORD']}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


@pytest.fixture
def worker_queue(tmp_path):
    queue = f"holos-kill-{uuid.uuid4().hex}"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "AUDIO_ENCRYPTION_KEY": settings.AUDIO_ENCRYPTION_KEY,
        "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        "TRANSCRIBE_MODEL_DIR": str(settings.TRANSCRIBE_MODEL_DIR),
    }
    log = open(tmp_path / "worker.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "practice",
            "worker",
            "--pool=prefork",
            "--concurrency=1",
            f"--queues={queue}",
            f"--hostname={queue}@%h",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    app.conf.task_always_eager = False
    app.conf.task_default_queue = queue
    try:
        yield process
    finally:
        app.conf.task_default_queue = "celery"
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        print((tmp_path / "worker.log").read_text()[-3000:])


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_transcription_leaves_exactly_one_transcript(worker_queue, dialogue):
    wav, turns = dialogue
    practice = PracticeFactory()
    therapist = UserFactory()
    patient = PatientFactory(practice=practice, audio_consent_at=timezone.now())
    appointment = AppointmentFactory(practice=practice, patient=patient, therapist=therapist)
    from practice.models import Membership, Role

    Membership.objects.create(practice=practice, user=therapist, role=Role.OWNER)

    # Committed at once (transactional test), so the task goes to the worker's queue.
    recording = recording_upload(
        practice=practice,
        actor=therapist,
        appointment=appointment,
        data=wav.read_bytes(),
        options=RecordingOptions(language="en", speakers_expected=2),
        ip=None,
    )

    def transcribing():
        recording.refresh_from_db()
        return recording.status == RecordingStatus.TRANSCRIBING and recording.progress > 0

    _wait(transcribing, 120, "the first attempt to be under way")
    busy = _children(worker_queue.pid)
    assert len(busy) == 1
    os.kill(busy[0], signal.SIGKILL)

    def finished():
        recording.refresh_from_db()
        return recording.status in (RecordingStatus.DONE, RecordingStatus.FAILED)

    _wait(finished, 180, "the redelivered task to finish")
    assert recording.status == RecordingStatus.DONE, recording.failure
    assert recording.attempts == 2  # the killed attempt, then the one that finished
    assert busy[0] not in _children(worker_queue.pid)

    segments = list(recording.segments.order_by("position"))
    assert [s.position for s in segments] == list(range(len(segments)))
    starts = [s.start for s in segments]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)  # nothing doubled
    script = " ".join(t.text for t in turns)
    assert word_error_rate(script, " ".join(s.text for s in segments)) <= 0.15  # none lost
    assert not AudioChunk.objects.filter(recording=recording).exists()
    assert recording.audio_key == b""
    assert Recording.objects.filter(pk=recording.pk, status=RecordingStatus.DONE).count() == 1
