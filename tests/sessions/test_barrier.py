"""The note barrier, tried from every side.

A unique canary is planted in a session's note, in its custom-field values, in an
earlier wording kept by the history and in an amendment. Then every URL of the project
(with this practice's objects as parameters, by GET and POST, with and without
HX-Request, plus the lists' query strings that filter or search) is requested as the
Assistant, as a Therapist who does not treat the patient, and as a member of another
practice. The canary must appear in no response body, 404 pages included. The Owner and
the patient's own therapist are the control: for them the canary is there, so the test
can fail.
"""

from __future__ import annotations

import io

import docx
import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from practice.models import Membership
from sessions.models import (
    AudioChunk,
    ClinicalNoteStatus,
    LiveText,
    NoteProposal,
    ProposalStatus,
    Recording,
    SessionAmendment,
    SessionNote,
    SessionNoteRevision,
    Speaker,
    TranscriptSegment,
    TranscriptSegmentRevision,
)
from tera.indexing import index_source
from tera.models import Insight, InsightKind, InsightStatus, SourceKind
from tests.conftest import PracticeObjects, login
from tests.factories import (
    AppointmentFactory,
    ClinicalNoteFactory,
    ClinicalNoteVersionFactory,
    InvitationFactory,
    NoteTemplateFactory,
    PatientFactory,
    RecordingFactory,
    SessionFactory,
    TherapyTypeFactory,
    TranscriptSegmentFactory,
    statement,
)
from tests.practice.test_url_sweep import SAMPLES, _without_csrf, swept_routes
from therapies.models import TherapyType

# One word each (no hyphen or space where a PDF line could wrap and hide a leak).
CANARY_NOTE = "CanaryNote7f3a9c"
CANARY_FIELD = "CanaryField51be02"
CANARY_OLD = "CanaryOldWordingc44d1e"
CANARY_AMEND = "CanaryAmendment9a0b7f"
CANARY_TRANSCRIPT = "CanaryTranscript3e8d21"
CANARY_LIVE = "CanaryLiveText6b1f90"
CANARY_SPEAKER = "CanarySpeakerd4c7a2"
CANARY_SEGMENT_OLD = "CanarySegmentOld0e5b33"
CANARY_AI_NOTE = "CanaryAiNote8c2d44"
CANARY_AI_OLD = "CanaryAiOldVersion1f9e07"
CANARY_QUICK = "CanaryQuickNotes5a3c18"
CANARY_PROPOSAL = "CanaryProposal77e0b2"
CANARY_SUGGESTION = "CanarySuggestion2b6f4d"
CANARY_SUMMARY = "CanarySummary6d2e80"
CANARY_BRIEFING = "CanaryBriefing0c9a57"
CANARIES = (
    CANARY_NOTE,
    CANARY_FIELD,
    CANARY_OLD,
    CANARY_AMEND,
    CANARY_TRANSCRIPT,
    CANARY_LIVE,
    CANARY_SPEAKER,
    CANARY_SEGMENT_OLD,
    CANARY_AI_NOTE,
    CANARY_AI_OLD,
    CANARY_QUICK,
    CANARY_PROPOSAL,
    CANARY_SUGGESTION,
    CANARY_SUMMARY,
    CANARY_BRIEFING,
)
SKIPPED = {"accounts:logout"}  # would end the session the sweep runs in


@pytest.fixture
def planted(pro, clinic, owner, therapist, other_therapist, assistant) -> PracticeObjects:
    return plant(clinic, therapist, owner)


def plant(clinic, therapist, owner) -> PracticeObjects:
    """Every canary, in a patient of `clinic` treated by `therapist` (the attack suite,
    tests/practice/test_attack_suite.py, plants them in both practices)."""
    patient = PatientFactory(practice=clinic, full_name="Clara Luz", therapist=therapist)
    therapy = TherapyType.objects.filter(
        practice=clinic, name="Reiki"
    ).first() or TherapyTypeFactory(practice=clinic, name="Reiki")
    session = SessionFactory(
        practice=clinic,
        patient=patient,
        therapist=therapist,
        therapy_type=therapy,
        note__text=f"Said {CANARY_NOTE} twice.",
        note__custom_values={"chakras": ["Heart"], "sensations": CANARY_FIELD, "energy": 5},
    )
    note = session.note
    SessionNoteRevision.objects.create(
        practice=clinic,
        note=note,
        author=therapist,
        changes={"text": {"before": CANARY_OLD, "after": note.text}},
    )
    note.signed_at, note.signed_by = timezone.now(), therapist
    note.save()
    SessionAmendment.objects.create(
        practice=clinic, note=note, author=therapist, text=f"Later: {CANARY_AMEND}"
    )
    # A finished transcript (a corrected segment and a named voice) and a recording
    # still going, with its live text.
    segment = TranscriptSegmentFactory(
        recording__appointment=session.appointment,
        text=f"I keep saying {CANARY_TRANSCRIPT}.",
        speaker__name=CANARY_SPEAKER,
        edited=True,
    )
    TranscriptSegmentRevision.objects.create(
        practice=clinic,
        segment=segment,
        author=therapist,
        text_before=CANARY_SEGMENT_OLD,
        text_after=segment.text,
    )
    # Tera's index holds the note (and its amendment) too.
    index_source(SourceKind.SESSION_NOTE, session.pk)
    live = RecordingFactory(appointment=session.appointment)
    LiveText.objects.create(practice=clinic, recording=live, seq=0, text=CANARY_LIVE)
    # An AI-drafted note: an earlier version, the newest with a suggested value, the
    # therapist's quick notes, a proposal waiting for review; and a note being drafted.
    old = ClinicalNoteVersionFactory(
        note__appointment=session.appointment,
        note__recording=segment.recording,
        note__quick_notes=f"Quick: {CANARY_QUICK}",
        number=1,
        text=f"Earlier {CANARY_AI_OLD}.",
    )
    version = ClinicalNoteVersionFactory(
        note=old.note,
        number=2,
        text=f"Now {CANARY_AI_NOTE}.",
        suggestions=[{"key": "sensations", "value": CANARY_SUGGESTION, "status": "pending"}],
    )
    proposal = NoteProposal.objects.create(
        practice=clinic,
        note=version.note,
        base=version,
        instruction="Shorten",
        status=ProposalStatus.READY,
        sections=[
            {
                "key": "subjective",
                "title": "Subjective",
                "statements": [statement(f"Short {CANARY_PROPOSAL}.")],
            }
        ],
    )
    ClinicalNoteFactory(
        appointment=session.appointment,
        status=ClinicalNoteStatus.DRAFTING,
        progress={"stage": "writing", "done": 1, "total": 4},
    )
    # Tera's treatment summary and the briefing before the next appointment.
    upcoming = AppointmentFactory(practice=clinic, patient=patient, therapist=therapist)
    Insight.objects.create(
        practice=clinic,
        patient=patient,
        kind=InsightKind.SUMMARY,
        status=InsightStatus.READY,
        content={"claims": [{"text": f"Says {CANARY_SUMMARY}.", "sessions": [], "rejected": []}]},
    )
    Insight.objects.create(
        practice=clinic,
        patient=patient,
        appointment=upcoming,
        kind=InsightKind.BRIEFING,
        status=InsightStatus.READY,
        content={"key_points": [CANARY_BRIEFING], "open_items": [], "last_session": session.pk},
    )
    return PracticeObjects(
        practice=clinic,
        membership=Membership.objects.get(practice=clinic, user=therapist),
        invitation=InvitationFactory(practice=clinic, invited_by=owner),
        patient=patient,
        therapy_type=therapy,
        appointment=upcoming,
        session=session,
        payment=session.payment,
        recording=segment.recording,
        segment=segment,
        clinical_note=version.note,
        proposal=proposal,
        note_template=NoteTemplateFactory(practice=clinic),
    )


def _urls(objects: PracticeObjects) -> list[str]:
    urls = []
    for name, params in swept_routes().items():
        # Token routes (password reset, phone calendar) name no practice object.
        if name in SKIPPED or (params and name not in SAMPLES):
            continue
        urls.append(reverse(name, kwargs=SAMPLES[name](objects)) if params else reverse(name))
    patient, session = objects.patient, objects.session
    therapy = objects.therapy_type.pk
    # Query strings that narrow lists by what the notes hold, or search.
    urls += [
        reverse("patients:sessions", args=[patient.pk]) + f"?value={therapy}:chakras:Heart",
        reverse("patients:sessions", args=[patient.pk]) + f"?value={therapy}:sensations:x",
        reverse("patients:index") + "?q=Clara",
        reverse("payments:index") + f"?q={patient.full_name}",
        reverse("payments:export") + f"?q={patient.full_name}",
        reverse("sessions:record", args=[session.appointment_id]) + f"?therapy_type={therapy}",
        reverse("sessions:recording", args=[objects.recording.pk]) + "?q=Canary",
        reverse("sessions:recording", args=[objects.recording.pk + 1]) + "?part=state",
        reverse("sessions:segment_edit", args=[objects.recording.pk, objects.segment.pk])
        + "?cancel=1",
        reverse("sessions:note", args=[objects.clinical_note.pk]) + "?version=1",
        reverse("tera:search") + "?q=what+she+said+twice",
        reverse("sessions:note", args=[objects.clinical_note.pk + 1]) + "?part=progress",
        reverse("sessions:notes", args=[objects.appointment.pk])
        + f"?recording={objects.recording.pk}",
    ]
    return urls


def _bodies(client, url: str):
    for method in ("get", "post"):
        for headers in ({}, {"HX-Request": "true"}):
            response = getattr(client, method)(url, {}, headers=headers)
            yield method, headers, response.status_code, _text(response)


def _docx_text(data: bytes) -> str:
    document = docx.Document(io.BytesIO(data))
    cells = [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    return "\n".join([p.text for p in document.paragraphs] + cells)


def _text(response) -> str:
    if response.get("Content-Type", "").startswith("application/vnd.openxmlformats"):
        return _docx_text(response.content)
    if response.get("Content-Type") == "application/pdf":
        return "".join(
            page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages
        )
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


@pytest.mark.parametrize("persona", ["assistant", "other_therapist", "outsider"])
def test_no_response_carries_a_note_to_someone_outside_the_barrier(
    persona, request, client, planted
):
    user = request.getfixturevalue(persona)
    login(client, user)
    leaks = []
    for url in _urls(planted):
        for method, headers, status, body in _bodies(client, url):
            found = [c for c in CANARIES if c in body]
            if found:
                leaks.append((method, url, bool(headers), status, found))
    assert not leaks
    # The sweep ran signed in all along (no redirect to the login page made it pass).
    assert client.get(reverse("patients:index")).status_code == 200


@pytest.mark.parametrize("persona", ["owner", "therapist"])
def test_the_notes_readers_do_see_the_canaries(persona, request, client, planted):
    login(client, request.getfixturevalue(persona))
    detail = client.get(reverse("sessions:detail", args=[planted.session.pk])).content.decode()
    for canary in (CANARY_NOTE, CANARY_FIELD, CANARY_OLD, CANARY_AMEND):
        assert canary in detail
    pdf = _text(client.get(reverse("sessions:export", args=[planted.session.pk])))
    assert CANARY_NOTE in pdf and CANARY_FIELD in pdf and CANARY_AMEND in pdf
    transcript = client.get(reverse("sessions:recording", args=[planted.recording.pk]))
    assert CANARY_TRANSCRIPT in transcript.content.decode()
    assert CANARY_SPEAKER in transcript.content.decode()
    live = client.get(reverse("sessions:recording", args=[planted.recording.pk + 1]))
    assert CANARY_LIVE in live.content.decode()
    note = planted.clinical_note
    page = client.get(reverse("sessions:note", args=[note.pk])).content.decode()
    for canary in (CANARY_AI_NOTE, CANARY_QUICK, CANARY_PROPOSAL, CANARY_SUGGESTION):
        assert canary in page
    old = client.get(reverse("sessions:note", args=[note.pk]) + "?version=1")
    assert CANARY_AI_OLD in old.content.decode()
    drafting = client.get(reverse("sessions:note", args=[note.pk + 1]))
    assert "Writing “Objective” (2 of 4)…" in drafting.content.decode()
    for route in ("sessions:note_export_pdf", "sessions:note_export_text"):
        assert CANARY_AI_NOTE in _text(client.get(reverse(route, args=[note.pk])))
    found = client.get(reverse("tera:search") + "?q=what+she+said+twice").content.decode()
    assert CANARY_NOTE in found and CANARY_AMEND in found
    insights = client.get(reverse("patients:insights", args=[planted.patient.pk]))
    assert CANARY_SUMMARY in insights.content.decode()
    assert CANARY_BRIEFING in insights.content.decode()
    dialog = client.get(
        reverse("sessions:appointment_edit", args=[planted.appointment.pk]),
        headers={"HX-Request": "true"},
    )
    assert CANARY_BRIEFING in dialog.content.decode()
    overview = client.get(reverse("patients:detail", args=[planted.patient.pk]))
    assert CANARY_BRIEFING in overview.content.decode()
    docx = client.get(reverse("sessions:note_export_docx", args=[note.pk])).content
    assert CANARY_AI_NOTE in _docx_text(docx)


def test_outsiders_404_bodies_are_the_same_as_for_a_missing_id(client_for, outsider, planted):
    client = client_for(outsider)
    foreign = client.get(reverse("sessions:detail", args=[planted.session.pk]))
    missing = client.get(reverse("sessions:detail", args=[987654321]))
    assert foreign.status_code == missing.status_code == 404
    assert _without_csrf(foreign.content) == _without_csrf(missing.content)


def test_the_staff_admin_never_shows_notes_or_transcripts():
    registered = set(admin.site._registry)
    assert not registered & {
        SessionNote,
        SessionNoteRevision,
        SessionAmendment,
        Recording,
        AudioChunk,
        LiveText,
        Speaker,
        TranscriptSegment,
        TranscriptSegmentRevision,
    }


@pytest.mark.parametrize("role", ["assistant", "owner", "therapist", "other_therapist"])
def test_the_barrier_queryset_per_role(role, request, planted):
    user = request.getfixturevalue(role)
    membership = Membership.objects.get(practice=planted.practice, user=user)
    visible = list(SessionNote.objects.visible_to(membership))
    expected = [planted.session.note] if role in ("owner", "therapist") else []
    assert visible == expected
    recordings = set(Recording.objects.visible_to(membership))
    readers = role in ("owner", "therapist")
    assert recordings == (
        set(Recording.objects.filter(practice=planted.practice)) if readers else set()
    )


def test_a_deactivated_member_reads_nothing(planted, therapist):
    membership = Membership.objects.get(practice=planted.practice, user=therapist)
    membership.is_active = False
    membership.save()
    assert not SessionNote.objects.visible_to(membership).exists()
    assert not Recording.objects.visible_to(membership).exists()
