"""Personas (after healthchecks' alice/bob/charlie) in two practices.

Practice A ("clinic"): owner, therapist, other_therapist, assistant.
Practice B: outsider (its Owner), with objects of its own in `other_practice_objects`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from django.test import Client

from patients.models import Patient
from payments.models import Payment
from practice.celery import app as celery_app
from practice.models import Invitation, Membership, Plan, Practice, Role, User
from sessions.models import (
    Appointment,
    ClinicalNote,
    NoteProposal,
    NoteTemplate,
    ProposalStatus,
    Recording,
    Session,
    TranscriptSegment,
)
from tests import audio
from tests.factories import (
    AppointmentFactory,
    ClinicalNoteVersionFactory,
    InvitationFactory,
    MembershipFactory,
    NoteTemplateFactory,
    PatientFactory,
    PracticeFactory,
    SessionFactory,
    TherapyTypeFactory,
    TranscriptSegmentFactory,
    UserFactory,
)
from therapies.models import TherapyType

# The key of the clinical text in the database (practice.fields), with DEBUG off as in
# production; processes a test starts get it too.
FIELD_KEY = "dGVzdHMtb25seS1maWVsZHMta2V5LTMyLWJ5dGVzISE="


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    # Live-server request threads and worker tasks each open a connection; closing it when
    # the request or task ends keeps them from piling up over a long browser-test run.
    # (What still lingers at the end is terminated by _release_test_database.)
    for alias in connections:
        connections[alias].settings_dict["CONN_MAX_AGE"] = 0
    # Two test runs on one machine (two checkouts, or a helper beside you) would share and
    # drop each other's test database; TEST_DB_SUFFIX gives each run its own.
    if suffix := os.environ.get("TEST_DB_SUFFIX"):
        test = connections["default"].settings_dict.setdefault("TEST", {})
        test["NAME"] = f"test_holos_{suffix}"


@pytest.fixture(scope="session", autouse=True)
def _release_test_database(django_db_setup, django_db_blocker):
    """End connections left behind by other threads and contexts (live server, Celery
    worker, Playwright's greenlet) before pytest-django drops the test database."""
    yield
    with django_db_blocker.unblock(), connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    connections.close_all()


@pytest.fixture(autouse=True)
def _eager_celery():
    """Tasks run in-process, through Celery's own call path, unless a test starts a real
    worker (tests/practice/test_celery_worker.py)."""
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture(autouse=True)
def _fast_and_isolated(settings, tmp_path):
    # Test speed-ups and isolation only; production code paths are unchanged.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Tests run with DEBUG off, where the audio key must be configured.
    settings.AUDIO_ENCRYPTION_KEY = "dGVzdHMtb25seS1hdWRpby1rZXktMzItYnl0ZXMhISE="
    settings.FIELD_ENCRYPTION_KEYS = [FIELD_KEY]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": settings.REDIS_URL,
            "KEY_PREFIX": f"holos-test-{tmp_path.name}",
        }
    }
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def clinic(db) -> Practice:
    return PracticeFactory(name="Clínica Aurora", slug="clinica-aurora")


@pytest.fixture
def other_practice(db) -> Practice:
    return PracticeFactory(name="Outra Prática", slug="outra-pratica")


@pytest.fixture
def pro(clinic, other_practice) -> Practice:
    """Both practices on the Pro plan, which turns Tera's insights on; returns the clinic."""
    for practice in (clinic, other_practice):
        practice.plan = Plan.PRO
        practice.save(update_fields=["plan"])
    return clinic


def _member(practice: Practice, role: Role, email: str, first: str) -> User:
    user = UserFactory(email=email, first_name=first)
    MembershipFactory(practice=practice, user=user, role=role)
    return user


@pytest.fixture
def owner(clinic) -> User:
    return _member(clinic, Role.OWNER, "olivia@example.com", "Olivia")


@pytest.fixture
def therapist(clinic) -> User:
    return _member(clinic, Role.THERAPIST, "theo@example.com", "Theo")


@pytest.fixture
def other_therapist(clinic) -> User:
    return _member(clinic, Role.THERAPIST, "tania@example.com", "Tania")


@pytest.fixture
def assistant(clinic) -> User:
    return _member(clinic, Role.ASSISTANT, "ana@example.com", "Ana")


@pytest.fixture
def outsider(other_practice) -> User:
    return _member(other_practice, Role.OWNER, "oscar@example.com", "Oscar")


@dataclass
class PracticeObjects:
    """One object of every tenant-owned kind that has a URL, all in one practice."""

    practice: Practice
    membership: Membership
    invitation: Invitation
    patient: Patient
    therapy_type: TherapyType
    appointment: Appointment
    session: Session
    payment: Payment
    recording: Recording
    segment: TranscriptSegment
    clinical_note: ClinicalNote
    proposal: NoteProposal
    note_template: NoteTemplate


@pytest.fixture
def other_practice_objects(other_practice, outsider) -> PracticeObjects:
    colleague = _member(other_practice, Role.THERAPIST, "bianca@example.com", "Bianca")
    patient = PatientFactory(practice=other_practice, therapist=colleague)
    session = SessionFactory(practice=other_practice, patient=patient, therapist=colleague)
    segment = TranscriptSegmentFactory(
        recording__appointment=session.appointment, text="Their transcript."
    )
    version = ClinicalNoteVersionFactory(
        note__appointment=session.appointment, note__recording=segment.recording
    )
    return PracticeObjects(
        practice=other_practice,
        membership=Membership.objects.get(practice=other_practice, user=colleague),
        invitation=InvitationFactory(practice=other_practice, invited_by=outsider),
        patient=patient,
        therapy_type=TherapyTypeFactory(practice=other_practice),
        appointment=AppointmentFactory(
            practice=other_practice, patient=patient, therapist=colleague
        ),
        session=session,
        payment=session.payment,
        recording=segment.recording,
        segment=segment,
        clinical_note=version.note,
        proposal=NoteProposal.objects.create(
            practice=other_practice,
            note=version.note,
            base=version,
            instruction="Shorten",
            status=ProposalStatus.READY,
            sections=version.content["sections"][:1],
        ),
        note_template=NoteTemplateFactory(practice=other_practice),
    )


def login(client: Client, user: User) -> Client:
    """Signed in, past the second factor. force_login: the test client's login() calls
    authenticate() without the request, which django-axes refuses; signing in through
    the forms is tested in test_accounts and test_two_factor."""
    from django.contrib.auth.signals import user_logged_in

    from practice.sign_in_audit import UID_IN, on_logged_in
    from practice.two_factor import VERIFIED
    from tests.factories import authenticator

    # Without the sign-in audit row: a test's audit rows are then only what it did.
    # Signing in through the forms is audited (tests/practice/test_sign_in_audit.py).
    user_logged_in.disconnect(dispatch_uid=UID_IN)
    try:
        client.force_login(user)
    finally:
        user_logged_in.connect(on_logged_in, dispatch_uid=UID_IN)
    session = client.session
    session[VERIFIED] = authenticator(user).persistent_id
    session.save()
    return client


@pytest.fixture
def client_for(client):
    """client_for(user) signs `client` in as user and returns it."""
    return lambda user: login(client, user)


# --- Speech made with espeak-ng (tests/audio.py) ----------------------------------------


@pytest.fixture(scope="session")
def dialogue(tmp_path_factory) -> tuple[Path, list[audio.Turn]]:
    """The scripted two-voice English dialogue (~45 s) and who spoke when."""
    if not audio.espeak_available():
        pytest.fail("espeak-ng and sox are needed; ./holos test installs them.")
    return audio.dialogue_wav(tmp_path_factory.mktemp("dialogue"))


@pytest.fixture(scope="session")
def short_speech(tmp_path_factory) -> bytes:
    """About three seconds of one voice, as WAV bytes."""
    if not audio.espeak_available():
        pytest.fail("espeak-ng and sox are needed; ./holos test installs them.")
    path = tmp_path_factory.mktemp("short") / "hello.wav"
    audio.speak("I have been sleeping much better this week.", "en-us", 40, path)
    return path.read_bytes()


# --- The LLM (tests/llm.py) ---------------------------------------------------------------


@pytest.fixture(scope="session")
def llm_server() -> Iterator[Any]:
    """The real llama.cpp server on the smallest shipped model, for the whole run: for
    tests of the mechanics (drafting, the assistant, retries), not of the words."""
    from tera.llm_server import SMALLEST
    from tests.llm import llama_server

    with llama_server(SMALLEST, threads=2) as server:
        yield server


@pytest.fixture(scope="session")
def default_llm_server() -> Iterator[Any]:
    """The real llama.cpp server on the shipped default model, for the whole run: for the
    tests of what it writes (tests/tera/test_note_quality.py)."""
    from tera.llm_server import DEFAULT
    from tests.llm import llama_server

    with llama_server(DEFAULT, threads=2) as server:
        yield server


@pytest.fixture
def scripted_llm(settings):
    """scripted_llm(replies) points Holos at a scripted OpenAI-compatible endpoint
    answering `replies`, one per request (a context manager: it serves until the block
    ends). For knowing exactly what the model "says"; the real server is `llm`."""
    from tests.llm import ScriptedEndpoint

    def point(replies: list[Any]) -> ScriptedEndpoint:
        endpoint = ScriptedEndpoint(replies)
        settings.LLM_BASE_URL = endpoint.url
        settings.LLM_SCHEMA_STYLE = "openai"
        settings.LLM_PREFILL_CHARS = 0
        settings.LLM_JUDGE_MAX = 0  # the scripted answers are the test's, not a judge's
        return endpoint

    return point


def _point_at_server(settings: Any, server: Any) -> str:
    settings.LLM_BASE_URL = server.url
    settings.LLM_SCHEMA_STYLE = "llama.cpp"
    settings.LLM_MODEL = server.name
    return str(server.url)


@pytest.fixture
def llm(settings, llm_server) -> str:
    """Point Holos at the real local llama.cpp server on the smallest shipped model. Its
    words are not what these tests check: the judge reads two statements a note, not
    eight (the path is the same, the minutes fewer)."""
    settings.LLM_JUDGE_MAX = 2
    return _point_at_server(settings, llm_server)


@pytest.fixture
def default_llm(settings, default_llm_server) -> str:
    """Point Holos at the real local llama.cpp server on the shipped default model."""
    return _point_at_server(settings, default_llm_server)
