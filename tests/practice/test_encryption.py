"""Clinical text is encrypted at rest (practice.fields, FIELD_ENCRYPTION_KEYS).

The canaries of the barrier test are planted through the models; then the database is read
the way a thief would (raw SQL, pg_dump) and must show none of them. A wrong key fails
closed; a rotated key keeps everything readable; search still finds what it found."""

from __future__ import annotations

import subprocess
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.core.exceptions import FieldError
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from practice import crypto
from practice.backups import libpq_env, pg_binary
from practice.fields import encrypted_fields
from sessions.models import SessionNote, TranscriptSegment
from tests.conftest import FIELD_KEY, login
from tests.sessions import test_barrier

# Every canary planted in text the issue names: notes, amendments, custom-field values,
# transcripts, AI notes, their history copies, Tera's index and insights. (The speaker's
# name is a name, like the patient's, and stays readable to the database.)
CANARIES = [c for c in test_barrier.CANARIES if c != test_barrier.CANARY_SPEAKER]

ENCRYPTED = {
    "therapy_sessions.SessionNote": {"text", "custom_values"},
    "therapy_sessions.SessionNoteRevision": {"changes"},
    "therapy_sessions.SessionAmendment": {"text"},
    "therapy_sessions.LiveText": {"text"},
    "therapy_sessions.TranscriptSegment": {"text"},
    "therapy_sessions.TranscriptSegmentRevision": {"text_before", "text_after"},
    "therapy_sessions.ClinicalNote": {"quick_notes"},
    "therapy_sessions.ClinicalNoteVersion": {"instruction", "content", "suggestions"},
    "therapy_sessions.NoteProposal": {"instruction", "sections"},
    "tera.Chunk": {"text"},
    "tera.Insight": {"content"},
}


@pytest.fixture
def planted(pro, clinic, owner, therapist):
    return test_barrier.plant(clinic, therapist, owner)


def encrypted_columns() -> list[tuple[str, str]]:
    return [
        (model._meta.db_table, field.column)
        for model in apps.get_models()
        for field in encrypted_fields(model)
    ]


def test_every_kind_of_clinical_text_is_an_encrypted_field():
    found = {
        model._meta.label: {field.name for field in encrypted_fields(model)}
        for model in apps.get_models()
        if encrypted_fields(model)
    }
    assert found == ENCRYPTED


def test_raw_sql_on_the_encrypted_columns_shows_only_tokens(planted):
    with connection.cursor() as cursor:
        for table, column in encrypted_columns():
            cursor.execute(f'SELECT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL')
            values = [value for (value,) in cursor.fetchall()]
            for value in values:
                assert value.startswith("gAAAAA"), (table, column, value[:40])
                assert not any(canary in value for canary in CANARIES), (table, column)
    # Seen through the models, every canary is there (the planting worked).
    texts = " ".join(
        str(getattr(obj, name))
        for label, names in ENCRYPTED.items()
        for obj in apps.get_model(label).objects.all()
        for name in names
    )
    assert all(canary in texts for canary in CANARIES)


def test_the_database_cannot_filter_on_encrypted_text(planted):
    with pytest.raises(FieldError):
        list(SessionNote.objects.filter(text__icontains=test_barrier.CANARY_NOTE))
    with pytest.raises(FieldError):
        list(SessionNote.objects.filter(custom_values__sensations="x"))
    assert SessionNote.objects.filter(text__isnull=False).exists()


@pytest.mark.django_db(transaction=True)
def test_a_pg_dump_shows_no_canary(pro, clinic, owner, therapist, tmp_path):
    test_barrier.plant(clinic, therapist, owner)
    dump = tmp_path / "holos.sql"
    subprocess.run(
        [pg_binary("pg_dump"), "--data-only", "--file", str(dump)],
        check=True,
        env=libpq_env(),
        timeout=120,
    )
    text = dump.read_text()
    assert "Clara Luz" in text  # the dump holds the practice's data...
    assert [canary for canary in CANARIES if canary in text] == []  # ...but no clinical text


def test_a_wrong_key_fails_closed(planted, settings, client, therapist):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(crypto.DecryptionError):
        SessionNote.objects.get(pk=planted.session.pk)
    with pytest.raises(crypto.DecryptionError):
        list(TranscriptSegment.objects.values_list("text", flat=True))
    # A page that shows the note is an error page: no token, no canary, no half page.
    browser = Client(raise_request_exception=False)
    login(browser, therapist)
    response = browser.get(reverse("sessions:detail", args=[planted.session.pk]))
    assert response.status_code == 500
    body = response.content.decode()
    assert "gAAAAA" not in body
    assert test_barrier.CANARY_NOTE not in body


def test_rotation_keeps_everything_readable_under_the_new_key(planted, settings):
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, FIELD_KEY]
    with pytest.raises(CommandError, match="still under an older key"):
        call_command("encryption_rotate", "--check", stdout=StringIO())

    out = StringIO()
    call_command("encryption_rotate", "--batch", "2", stdout=out)
    assert "therapy_sessions.SessionNote: 2 values, 2 re-encrypted" in out.getvalue()
    call_command("encryption_rotate", "--check", stdout=(checked := StringIO()))
    assert "are under the first key" in checked.getvalue()

    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key dropped
    note = SessionNote.objects.get(pk=planted.session.pk)
    assert test_barrier.CANARY_NOTE in note.text
    assert note.custom_values["sensations"] == test_barrier.CANARY_FIELD
    settings.FIELD_ENCRYPTION_KEYS = [FIELD_KEY]  # the old key alone opens nothing now
    with pytest.raises(crypto.DecryptionError):
        SessionNote.objects.get(pk=planted.session.pk)


def test_rotation_leaves_what_no_key_opens_and_says_so(planted, settings):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(CommandError, match="open with none of FIELD_ENCRYPTION_KEYS"):
        call_command("encryption_rotate", stdout=StringIO())
    settings.FIELD_ENCRYPTION_KEYS = [FIELD_KEY]
    assert test_barrier.CANARY_NOTE in SessionNote.objects.get(pk=planted.session.pk).text


def test_search_still_finds_encrypted_text(planted, client, therapist):
    login(client, therapist)
    # Tera's search, by meaning, shows the decrypted passage.
    response = client.get(reverse("tera:search"), {"q": test_barrier.CANARY_NOTE})
    assert test_barrier.CANARY_NOTE in response.content.decode()
    # A transcript's own search.
    segment = TranscriptSegment.objects.get(text__isnull=False, edited=True)
    url = reverse("sessions:recording", args=[segment.recording_id])
    response = client.get(url, {"q": test_barrier.CANARY_TRANSCRIPT.lower()})
    assert "1 of 1 segments match" in response.content.decode()
    # The sessions list narrowed to one custom-field answer.
    session = planted.session
    url = reverse("patients:sessions", args=[session.patient_id])
    chosen = client.get(url, {"value": f"{session.therapy_type_id}:chakras:Heart"})
    other = client.get(url, {"value": f"{session.therapy_type_id}:chakras:Crown"})
    detail = reverse("sessions:detail", args=[session.pk])
    assert detail in chosen.content.decode()
    assert detail not in other.content.decode()
