"""The patient's data rights: the Owner exports everything held about a patient (JSON and
PDF) and erases it, keeping what the law requires (payments, bare sessions) and the
five-year record-keeping rule (CFP Resolution 001/2009) unless a lawful reason is
confirmed. Every other role, and every other practice, gets the same 404 and changes
nothing.

The clinical canaries are tests/sessions/test_barrier.py's `planted`; the profile's own
fields get theirs here."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from patients.models import Patient
from patients.services import patient_erasable_from, patient_erase
from payments.models import Payment
from practice import crypto
from practice.models import AuditEvent
from sessions.models import (
    Appointment,
    AudioChunk,
    ClinicalNote,
    ClinicalNoteVersion,
    LiveText,
    NoteProposal,
    Recording,
    Session,
    SessionAmendment,
    SessionNote,
    SessionNoteRevision,
    Speaker,
    TranscriptSegment,
    TranscriptSegmentRevision,
)
from tera.models import Chunk, Insight
from tests.conftest import PracticeObjects, login
from tests.factories import PASSWORD, PatientFactory, SessionFactory
from tests.sessions.test_barrier import CANARIES, CANARY_NOTE, planted  # noqa: F401 (a fixture)

CANARY_NAME = "Zuleikacanary Quintessa"
CANARY_EMAIL = "zuleika.canary@example.com"
CANARY_PHONE = "+55 11 98765-4321"
CANARY_ADDRESS = "CanaryAddress41c2e9"
CANARY_EMERGENCY = "CanaryEmergency8d17aa"
CANARY_ADMIN = "CanaryAdminNotes3f60b1"
CANARY_PREFERRED = "CanaryPreferred0b5c3e"
CANARY_TAG = "canarytag9e2"
CANARY_FRONT_DESK = "CanaryFrontDesk27d4f1"
PROFILE_CANARIES = (
    CANARY_NAME,
    CANARY_EMAIL,
    CANARY_ADDRESS,
    CANARY_EMERGENCY,
    CANARY_ADMIN,
    CANARY_PREFERRED,
    CANARY_TAG,
    CANARY_FRONT_DESK,
)
EVERY_CANARY = (*CANARIES, *PROFILE_CANARIES)
AMOUNT = Decimal("123.45")
CONTROL_NAME = "Controlpatient Keepme"
CONTROL_NOTE = "ControlNote5e1a77"


@pytest.fixture
def held(request, clinic) -> PracticeObjects:
    """The barrier's canaries (its `planted` fixture), plus the profile's and the front
    desk's own."""
    objects: PracticeObjects = request.getfixturevalue("planted")
    Patient.objects.filter(pk=objects.patient.pk).update(
        full_name=CANARY_NAME,
        preferred_name=CANARY_PREFERRED,
        pronouns="she/her",
        email=CANARY_EMAIL,
        phone=CANARY_PHONE,
        address=CANARY_ADDRESS,
        emergency_contact_name=CANARY_EMERGENCY,
        emergency_contact_phone="+55 11 91234-5678",
        admin_notes=CANARY_ADMIN,
        tags=[CANARY_TAG],
    )
    objects.patient.refresh_from_db()
    Appointment.objects.filter(pk=objects.session.appointment_id).update(
        front_desk_note=CANARY_FRONT_DESK
    )
    Payment.objects.filter(pk=objects.payment.pk).update(amount=AMOUNT)
    # Audio still waiting to be transcribed: encrypted under the live recording's key.
    live = Recording.objects.get(appointment=objects.session.appointment, status="recording")
    AudioChunk.objects.create(
        practice=clinic,
        recording=live,
        seq=0,
        data=crypto.encrypt(live.audio_key, b"RIFF audio", context=f"{live.pk}:0"),
        seconds=1.0,
    )
    return objects


@pytest.fixture
def control(held, clinic, therapist):
    """Another patient of the same practice, whom the erasure must not touch."""
    patient = PatientFactory(practice=clinic, full_name=CONTROL_NAME, therapist=therapist)
    return SessionFactory(
        practice=clinic, patient=patient, therapist=therapist, note__text=CONTROL_NOTE
    )


def _age_sessions(patient: Patient, years: int) -> None:
    """Move the patient's sessions (and their appointments) `years` years back."""
    back = timedelta(days=365 * years + 30)
    for session in Session.objects.filter(patient=patient):
        Session.objects.filter(pk=session.pk).update(starts_at=session.starts_at - back)
        Appointment.objects.filter(pk=session.appointment_id).update(
            starts_at=session.appointment.starts_at - back,
            ends_at=session.appointment.ends_at - back,
        )


def _erase_data(**changes: str) -> dict[str, str]:
    return {"confirm_name": CANARY_NAME, "password": PASSWORD, **changes}


def _tables_containing(text: str) -> list[str]:
    """Every table with a row whose text (all of its columns, cast by PostgreSQL) holds
    `text`: the database as a dump would show it, without the ORM."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.django_table_names(only_existing=True):
            quoted = connection.ops.quote_name(table)
            cursor.execute(
                f"SELECT 1 FROM {quoted} AS r WHERE r::text LIKE %s LIMIT 1", [f"%{text}%"]
            )
            if cursor.fetchone():
                found.append(table)
    return found


def _clinical_state(patient: Patient) -> tuple:
    notes = SessionNote.objects.filter(session__patient=patient)
    return (
        sorted((n.session_id, n.text, json.dumps(n.custom_values)) for n in notes),
        SessionAmendment.objects.filter(note__in=notes).count(),
        SessionNoteRevision.objects.filter(note__in=notes).count(),
        Recording.objects.filter(patient=patient).count(),
        TranscriptSegment.objects.filter(recording__patient=patient).count(),
        ClinicalNote.objects.filter(patient=patient).count(),
        Chunk.objects.filter(patient=patient).count(),
        Insight.objects.filter(patient=patient).count(),
        Appointment.objects.filter(patient=patient).count(),
        tuple(
            Patient.objects.filter(pk=patient.pk).values_list(
                "full_name", "email", "admin_notes", "erased_at"
            )
        ),
    )


# --- Export -------------------------------------------------------------------------------


def test_json_export_holds_every_kind_of_content(client, held, control, owner):
    login(client, owner)
    patient = held.patient

    response = client.get(reverse("patients:export_json", args=[patient.pk]))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"].startswith("attachment;")
    assert "no-store" in response["Cache-Control"]
    body = response.content.decode()
    missing = [canary for canary in EVERY_CANARY if canary not in body]
    assert not missing
    assert CONTROL_NOTE not in body and CONTROL_NAME not in body
    record = json.loads(body)
    assert record["patient"]["id"] == patient.pk
    assert record["payments"][0]["amount"] == str(AMOUNT)
    assert record["therapists"][0]["name"] == held.membership.user.display_name
    assert {s["id"] for s in record["sessions"]} == {held.session.pk}
    transcript = next(r for r in record["recordings"] if r["segments"])
    assert transcript["segments"][0]["speaker"]  # who said it
    assert [v["number"] for v in record["clinical_notes"][0]["versions"]] == [1, 2]

    audit = AuditEvent.objects.get(action="patient.export")
    assert (audit.actor, audit.patient_id, audit.data) == (owner, patient.pk, {"format": "json"})


def test_pdf_export_renders_the_record(client, held, owner):
    login(client, owner)

    response = client.get(reverse("patients:export_pdf", args=[held.patient.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    assert "no-store" in response["Cache-Control"]
    assert response.content.startswith(b"%PDF")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    for canary in (CANARY_NOTE, *CANARIES[1:], CANARY_ADMIN, CANARY_ADDRESS):
        assert canary in text, canary
    assert AuditEvent.objects.get(action="patient.export").data == {"format": "pdf"}


# --- Who may -----------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["outsider", "therapist", "other_therapist", "assistant"])
def test_only_the_owner_exports_or_erases(client, held, persona, request):
    _age_sessions(held.patient, 6)
    login(client, request.getfixturevalue(persona))
    patient = held.patient
    before = _clinical_state(patient)
    missing = Patient.objects.latest("pk").pk + 1

    for name in ("patients:export_json", "patients:export_pdf", "patients:erase"):
        for pk in (patient.pk, missing):
            url = reverse(name, args=[pk])
            assert client.get(url).status_code == 404
            response = client.post(url, _erase_data(lawful_reason="on"))
            assert response.status_code == 404
            assert CANARY_NAME not in response.content.decode()

    assert _clinical_state(patient) == before
    assert not AuditEvent.objects.filter(action__in=["patient.export", "patient.erase"]).exists()


def test_the_owner_of_another_practice_gets_404(client, held, other_practice_objects, owner):
    login(client, owner)
    theirs = other_practice_objects.patient
    for name in ("patients:export_json", "patients:export_pdf", "patients:erase"):
        assert client.get(reverse(name, args=[theirs.pk])).status_code == 404
    assert not AuditEvent.objects.filter(action="patient.export").exists()


def test_only_an_owner_may_call_the_service(held, clinic, therapist):
    _age_sessions(held.patient, 6)
    with pytest.raises(PermissionDenied):
        patient_erase(practice=clinic, actor=therapist, patient=held.patient, override=True)


def test_profile_shows_data_rights_to_the_owner_only(client, held, owner, assistant):
    url = reverse("patients:detail", args=[held.patient.pk])
    erase_url = reverse("patients:erase", args=[held.patient.pk])
    assert erase_url in login(client, owner).get(url).content.decode()
    assert erase_url not in login(client, assistant).get(url).content.decode()


# --- Erasure -------------------------------------------------------------------------------


def test_erasure_removes_every_planted_string_and_keeps_payments(
    client, held, control, owner, django_capture_on_commit_callbacks
):
    patient = held.patient
    _age_sessions(patient, 6)
    recording_ids = list(Recording.objects.filter(patient=patient).values_list("pk", flat=True))
    clinical_note_ids = list(
        ClinicalNote.objects.filter(patient=patient).values_list("pk", flat=True)
    )
    assert AudioChunk.objects.filter(recording_id__in=recording_ids).exists()
    assert Chunk.objects.filter(patient=patient).exists()
    # The scan can fail: the patient's name is there before.
    assert "patients_patient" in _tables_containing(CANARY_NAME)
    login(client, owner)

    page = client.get(reverse("patients:erase", args=[patient.pk]))
    assert page.status_code == 200
    assert 'name="lawful_reason"' not in page.content.decode()  # older than five years
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("patients:erase", args=[patient.pk]), _erase_data())

    assert response.status_code == 302
    assert response["Location"] == reverse("patients:detail", args=[patient.pk])
    # Table by table, through the ORM (which decrypts what is encrypted at rest).
    notes = SessionNote.objects.filter(session__patient=patient)
    assert [(n.text, n.custom_values) for n in notes] == [("", {})]
    assert not SessionAmendment.objects.filter(note__in=notes).exists()
    assert not SessionNoteRevision.objects.filter(note__in=notes).exists()
    assert not Recording.objects.filter(pk__in=recording_ids).exists()
    assert not AudioChunk.objects.filter(recording_id__in=recording_ids).exists()
    assert not LiveText.objects.filter(recording_id__in=recording_ids).exists()
    assert not Speaker.objects.filter(recording_id__in=recording_ids).exists()
    assert not TranscriptSegment.objects.filter(recording_id__in=recording_ids).exists()
    assert not TranscriptSegmentRevision.objects.filter(
        segment__recording_id__in=recording_ids
    ).exists()
    assert not ClinicalNote.objects.filter(pk__in=clinical_note_ids).exists()
    assert not ClinicalNoteVersion.objects.filter(note_id__in=clinical_note_ids).exists()
    assert not NoteProposal.objects.filter(note_id__in=clinical_note_ids).exists()
    assert not Chunk.objects.filter(patient=patient).exists()
    assert not Insight.objects.filter(patient=patient).exists()
    # The upcoming appointment never happened: gone. The session's stays, bare.
    assert list(Appointment.objects.filter(patient=patient).values_list("pk", flat=True)) == [
        held.session.appointment_id
    ]
    assert Appointment.objects.get(pk=held.session.appointment_id).front_desk_note == ""
    # What the law keeps.
    payment = Payment.objects.get(pk=held.payment.pk)
    assert (payment.session_id, payment.amount) == (held.session.pk, AMOUNT)
    assert Session.objects.filter(pk=held.session.pk, patient=patient).exists()
    patient.refresh_from_db()
    assert patient.is_erased and patient.erased_by == owner and patient.is_archived
    assert str(patient.pk) in patient.full_name
    assert (patient.email, patient.phone, patient.address, patient.tags) == ("", "", "", [])
    assert (patient.emergency_contact_name, patient.admin_notes, patient.birth_date) == (
        "",
        "",
        None,
    )
    # And the whole database, as a dump would show it.
    leaks = {canary: _tables_containing(canary) for canary in EVERY_CANARY}
    assert not {canary: tables for canary, tables in leaks.items() if tables}
    # The other patient is untouched.
    assert SessionNote.objects.get(session=control).text == CONTROL_NOTE
    assert "patients_patient" in _tables_containing(CONTROL_NAME)

    audit = AuditEvent.objects.get(action="patient.erase")
    assert (audit.actor, audit.patient_id, audit.target_id) == (owner, patient.pk, str(patient.pk))
    assert audit.data["override"] is False
    deleted = audit.data["deleted"]
    assert deleted["recordings"] == 2
    assert deleted["audio_chunks"] == 1
    assert deleted["clinical_notes"] == 2
    assert deleted["clinical_note_versions"] == 2
    assert deleted["session_note_amendments"] == 1
    assert deleted["tera_insights"] == 2
    assert deleted["tera_chunks"] >= 1
    assert deleted["session_notes_emptied"] == 1
    assert not any(canary in json.dumps(audit.data) for canary in EVERY_CANARY)


def test_after_erasure_the_profile_and_list_show_no_clinical_content(client, held, owner):
    patient = held.patient
    _age_sessions(patient, 6)
    patient_erase(practice=held.practice, actor=owner, patient=patient, override=False)
    login(client, owner)

    for name in ("patients:detail", "patients:sessions", "patients:payments", "patients:insights"):
        response = client.get(reverse(name, args=[patient.pk]))
        assert response.status_code == 200, name
        body = response.content.decode()
        assert not [canary for canary in EVERY_CANARY if canary in body], name
    profile = client.get(reverse("patients:detail", args=[patient.pk])).content.decode()
    assert 'id="patient-erased"' in profile
    archived = client.get(reverse("patients:index") + "?status=archived")
    assert archived.status_code == 200
    assert reverse("patients:detail", args=[patient.pk]) in archived.content.decode()
    exported = client.get(reverse("patients:export_json", args=[patient.pk])).content.decode()
    assert not [canary for canary in EVERY_CANARY if canary in exported]
    # An erased patient stays archived.
    client.post(reverse("patients:restore", args=[patient.pk]))
    patient.refresh_from_db()
    assert patient.is_archived
    # Erased already: the page says so and a second POST does nothing.
    again = client.post(reverse("patients:erase", args=[patient.pk]), _erase_data())
    assert again.status_code == 200
    assert AuditEvent.objects.filter(action="patient.erase").count() == 1


# --- The five-year rule --------------------------------------------------------------------


def test_erasure_within_five_years_is_blocked_with_the_date(client, held, owner):
    patient = held.patient
    before = _clinical_state(patient)
    allowed_from = patient_erasable_from(patient)
    last = timezone.localtime(held.session.starts_at).date()
    assert allowed_from == last.replace(year=last.year + 5)
    login(client, owner)

    page = client.get(reverse("patients:erase", args=[patient.pk])).content.decode()
    assert 'name="lawful_reason"' in page
    assert "001/2009" in page
    response = client.post(reverse("patients:erase", args=[patient.pk]), _erase_data())

    assert response.status_code == 422
    assert str(allowed_from.year) in response.content.decode()
    assert _clinical_state(patient) == before
    assert not AuditEvent.objects.filter(action="patient.erase").exists()
    with pytest.raises(ValidationError) as blocked:
        patient_erase(practice=held.practice, actor=owner, patient=patient, override=False)
    assert blocked.value.code == "keep_records"
    assert _clinical_state(patient) == before


def test_the_owner_overrides_the_five_year_rule_with_a_lawful_reason(client, held, owner):
    patient = held.patient
    login(client, owner)

    response = client.post(
        reverse("patients:erase", args=[patient.pk]), _erase_data(lawful_reason="on")
    )

    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.is_erased
    assert not SessionAmendment.objects.filter(note__session__patient=patient).exists()
    assert Payment.objects.filter(pk=held.payment.pk).exists()
    assert AuditEvent.objects.get(action="patient.erase").data["override"] is True


@pytest.mark.parametrize(
    "data",
    [
        _erase_data(password="wrong-password-1"),
        _erase_data(password=""),
        _erase_data(confirm_name="Someone Else"),
        _erase_data(confirm_name=""),
        {"password": PASSWORD},
        {},
    ],
    ids=["wrong password", "no password", "wrong name", "no name", "name missing", "nothing"],
)
def test_erasure_without_full_confirmation_changes_nothing(client, held, owner, data):
    patient = held.patient
    _age_sessions(patient, 6)
    before = _clinical_state(patient)
    login(client, owner)

    response = client.post(reverse("patients:erase", args=[patient.pk]), data)

    assert response.status_code == 422
    assert _clinical_state(patient) == before
    assert not AuditEvent.objects.filter(action="patient.erase").exists()


def test_a_blocked_erasure_needs_the_lawful_reason_even_with_name_and_password(client, held, owner):
    before = _clinical_state(held.patient)
    login(client, owner)
    response = client.post(
        reverse("patients:erase", args=[held.patient.pk]), _erase_data(lawful_reason="")
    )
    assert response.status_code == 422
    assert _clinical_state(held.patient) == before
