"""Clinical notes drafted by the LLM (sessions/services/clinical_notes.py,
tera/clinical_notes.py, tera/drafting.py, sessions/views/notes.py).

The tests marked `slow` run against the real local llama.cpp server on the smallest
shipped model (tests/llm.py): the mechanics of drafting, regenerating, the assistant, the
retry. What the default model writes is tested in tests/tera/test_note_quality.py. The rest
use versions written by the factories, or a scripted endpoint for a model that is down,
answers garbage, or says exactly what a test needs. The barrier for every URL is also swept
by tests/sessions/test_barrier.py and tests/practice/test_url_sweep.py."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from practice.models import AuditEvent
from sessions.models import (
    ClinicalNote,
    ClinicalNoteStatus,
    ClinicalNoteVersion,
    NoteProposal,
    NoteVersionKind,
    ProposalStatus,
    RecordingStatus,
    SessionNoteRevision,
    TranscriptSegment,
)
from sessions.note_templates import BUILTINS
from tera import drafting
from tera import llm as llm_client
from tests.audio import DIALOGUE
from tests.factories import (
    AppointmentFactory,
    ClinicalNoteFactory,
    ClinicalNoteVersionFactory,
    PatientFactory,
    RecordingFactory,
    SessionFactory,
    TherapyTypeFactory,
    TranscriptSegmentFactory,
    finished_transcript,
    statement,
)
from tests.llm import ScriptedEndpoint, free_port

SOAP_KEYS = [key for key, _title, _instruction in BUILTINS["soap"].sections]


@pytest.fixture
def patient(clinic, therapist):
    return PatientFactory(practice=clinic, full_name="Clara Luz", therapist=therapist)


@pytest.fixture
def appointment(clinic, patient, therapist):
    therapy = TherapyTypeFactory(practice=clinic, name="Reiki")
    return AppointmentFactory(
        practice=clinic, patient=patient, therapist=therapist, therapy_type=therapy
    )


@pytest.fixture
def transcript(appointment):
    """A finished transcript of the appointment: the scripted dialogue, twice."""
    return finished_transcript(appointment, DIALOGUE * 2)


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    """Run what a request queues on commit (the drafting task, eagerly)."""
    return django_capture_on_commit_callbacks


def _draft(client, on_commit, appointment, transcript, **data):
    form = {
        "templates": ["builtin:soap"],
        "recording": transcript.pk if transcript else "",
        "quick_notes": "",
        "language": "en",
        **{k: v for k, v in data.items() if k != "no_transcript"},
    }
    if data.get("no_transcript"):
        form["recording"] = ""
    with on_commit(execute=True):
        return client.post(reverse("sessions:notes", args=[appointment.pk]), form)


def _segment_ids(recording) -> set[int]:
    return set(TranscriptSegment.objects.filter(recording=recording).values_list("pk", flat=True))


def _check_grounding(version: ClinicalNoteVersion, recording) -> None:
    """Every source is a segment of this transcript; a statement is flagged exactly when the
    check found no support for it."""
    ids = _segment_ids(recording)
    for section in version.section_list:
        for s in section["statements"]:
            assert set(s["sources"]) <= ids
            assert s["supported"] in (True, False)
            assert drafting.is_supported(s) == s["supported"]


def _answers(**sections: list[str]) -> list[str]:
    """A scripted model's answers for a SOAP note of one part: one per section."""
    return [json.dumps({"sentences": sections.get(key, [])}) for key in SOAP_KEYS]


FIELDS_NONE = json.dumps({"fields": {"chakras": None, "sensations": None, "energy": None}})


# --- Against the real local model --------------------------------------------------------


@pytest.mark.slow
def test_therapist_drafts_a_soap_note_grounded_in_the_transcript(
    llm, settings, client_for, therapist, appointment, transcript, on_commit
):
    client = client_for(therapist)
    response = _draft(
        client,
        on_commit,
        appointment,
        transcript,
        quick_notes="Looked tired; mentioned the breathing exercise.",
        language="auto",
    )
    note = ClinicalNote.objects.get(appointment=appointment)
    assert response.status_code == 302 and response.url == reverse("sessions:note", args=[note.pk])
    assert note.status == ClinicalNoteStatus.READY, note.failure
    assert note.language == "en" and note.progress == {}
    version = note.versions.get()
    assert version.number == 1 and version.kind == NoteVersionKind.DRAFT
    assert [s["key"] for s in version.section_list] == SOAP_KEYS
    assert version.model == settings.LLM_MODEL and version.content["language"] == "en"
    _check_grounding(version, transcript)
    actions = list(
        AuditEvent.objects.filter(target_id=str(note.pk))
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions == ["clinical_note.generate", "clinical_note.drafted"]

    page = client.get(reverse("sessions:note", args=[note.pk])).content.decode()
    statements = [s for section in version.section_list for s in section["statements"]]
    assert statements
    for s in statements:
        assert s["text"].replace("'", "&#x27;").replace('"', "&quot;")[:30] in page
    with_sources = [s for s in statements if s["sources"]]
    if with_sources:  # hovering shows the transcript lines a statement rests on
        line = TranscriptSegment.objects.get(pk=with_sources[0]["sources"][0])
        assert f"{line.text}</span>" in page
    flagged = sum(not drafting.is_supported(s) for s in statements)
    assert ('id="flagged-count"' in page) == bool(flagged)


@pytest.mark.slow
def test_regenerate_writes_a_new_version_and_keeps_the_earlier_ones(
    llm, client_for, owner, appointment, transcript, on_commit
):
    client = client_for(owner)
    _draft(client, on_commit, appointment, transcript)
    note = ClinicalNote.objects.get(appointment=appointment)
    first = note.versions.get()
    with on_commit(execute=True):
        client.post(reverse("sessions:note_regenerate", args=[note.pk]))
    note.refresh_from_db()
    assert note.status == ClinicalNoteStatus.READY, note.failure
    assert list(note.versions.values_list("number", "kind")) == [
        (2, NoteVersionKind.REGENERATED),
        (1, NoteVersionKind.DRAFT),
    ]
    again = ClinicalNoteVersion.objects.get(pk=first.pk)
    assert again.content == first.content  # the earlier wording is kept as it was
    old = client.get(reverse("sessions:note", args=[note.pk]) + "?version=1")
    assert "You are reading version 1" in old.content.decode()


@pytest.mark.slow
def test_the_assistant_proposes_a_section_and_the_therapist_accepts_it(
    llm, client_for, therapist, appointment, transcript, on_commit
):
    client = client_for(therapist)
    _draft(client, on_commit, appointment, transcript)
    note = ClinicalNote.objects.get(appointment=appointment)
    base = note.versions.get()
    with on_commit(execute=True):
        client.post(
            reverse("sessions:note_assist", args=[note.pk]),
            {"preset": "shorten", "section": "subjective", "instruction": ""},
        )
    proposal = NoteProposal.objects.get(note=note)
    assert proposal.status == ProposalStatus.READY, proposal.failure
    assert proposal.instruction == "Shorten" and proposal.action == "shorten"
    assert [s["key"] for s in proposal.sections] == ["subjective"]
    assert note.versions.count() == 1  # nothing changes before it is accepted
    page = client.get(reverse("sessions:note", args=[note.pk])).content.decode()
    assert 'id="diff-subjective"' in page

    client.post(
        reverse("sessions:note_proposal", args=[note.pk, proposal.pk]), {"accept": ["subjective"]}
    )
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.APPLIED
    version = note.versions.order_by("-number").first()
    assert (version.number, version.kind) == (2, NoteVersionKind.ASSISTANT)
    assert version.instruction == proposal.instruction
    new = {s["key"]: s for s in version.section_list}
    old = {s["key"]: s for s in base.section_list}
    assert new["subjective"]["statements"] == proposal.sections[0]["statements"]
    for key in ("objective", "assessment", "plan"):
        assert new[key] == old[key]
    _check_grounding(version, transcript)
    assert AuditEvent.objects.filter(action="clinical_note.accept").count() == 1


@pytest.mark.slow
def test_the_real_server_is_asked_again_when_an_answer_is_refused(llm):
    schema = drafting.sentences_schema()
    seen = []

    def check(answer):
        seen.append(answer)
        if len(seen) == 1:
            raise llm_client.InvalidAnswer("the plan must mention sleep")
        return answer

    answer, stats = llm_client.ask_json(
        [{"role": "user", "content": "Write a one-line plan about sleep."}], schema, check
    )
    assert stats.attempts == 2 and len(seen) == 2
    assert isinstance(answer["sentences"], list)
    llm_client.parse(json.dumps(answer), schema)


@pytest.mark.slow
def test_a_cut_off_answer_is_kept_as_far_as_it_was_written_whole(llm, settings):
    messages = [{"role": "user", "content": "List ten fruits, one sentence each."}]
    answer, stats = llm_client.ask_json(
        messages,
        drafting.sentences_schema(),
        drafting.sentences_of,
        max_tokens=40,  # the JSON cannot be finished
        repair=drafting.salvage("sentences"),
    )
    assert 1 <= len(answer) < 10 and stats.attempts == 1
    with pytest.raises(llm_client.LLMError) as failed:  # nothing whole to keep
        llm_client.ask_json(messages, drafting.sentences_schema(), lambda a: a, max_tokens=4)
    assert failed.value.code == "invalid"


# --- A model that is down or answers garbage: nothing is lost -----------------------------


def test_an_unreachable_model_fails_the_draft_clearly_and_loses_nothing(
    settings, client_for, therapist, appointment, transcript, on_commit
):
    settings.LLM_BASE_URL = f"http://127.0.0.1:{free_port()}/v1"
    before = list(TranscriptSegment.objects.filter(recording=transcript).values("pk", "text"))
    client = client_for(therapist)
    _draft(client, on_commit, appointment, transcript, quick_notes="Tired.")
    note = ClinicalNote.objects.get(appointment=appointment)
    assert note.status == ClinicalNoteStatus.FAILED and note.failure == "unreachable"
    assert not note.versions.exists()
    assert note.quick_notes == "Tired."
    assert list(TranscriptSegment.objects.filter(recording=transcript).values("pk", "text")) == (
        before
    )
    page = client.get(reverse("sessions:note", args=[note.pk])).content.decode()
    assert "The language model could not be reached." in page and "Try again" in page


def test_a_model_that_takes_too_long_fails_the_draft_and_changes_nothing(
    settings, client_for, therapist, appointment, transcript, on_commit
):
    version = ClinicalNoteVersionFactory(
        note__appointment=appointment, note__recording=transcript, number=1
    )
    note = version.note
    with ScriptedEndpoint([("sleep", 3)]) as endpoint:
        settings.LLM_BASE_URL = endpoint.url
        settings.LLM_TIMEOUT = 0.5
        settings.LLM_PREFILL_CHARS = 0
        settings.LLM_JUDGE_MAX = 0  # the scripted answers are the test's, not a judge's
        client = client_for(therapist)
        with on_commit(execute=True):
            client.post(reverse("sessions:note_regenerate", args=[note.pk]))
    note.refresh_from_db()
    assert (note.status, note.failure) == (ClinicalNoteStatus.FAILED, "timeout")
    assert list(note.versions.values_list("pk", flat=True)) == [version.pk]
    page = client.get(reverse("sessions:note", args=[note.pk])).content.decode()
    assert "The language model took too long to answer." in page and "Try again" in page
    assert "The patient slept badly." in page  # the version it had


def test_a_failure_is_said_in_the_readers_language(client_for, therapist, appointment):
    note = ClinicalNoteFactory(
        appointment=appointment, status=ClinicalNoteStatus.FAILED, failure="timeout"
    )
    therapist.language = "pt-br"
    therapist.save()
    page = client_for(therapist).get(reverse("sessions:note", args=[note.pk])).content.decode()
    assert "O modelo de linguagem demorou demais para responder." in page
    assert "Tentar de novo" in page and "took too long" not in page


def test_garbage_on_regenerate_keeps_the_current_version(
    settings, client_for, therapist, appointment, transcript, on_commit
):
    version = ClinicalNoteVersionFactory(
        note__appointment=appointment, note__recording=transcript, number=1
    )
    note = version.note
    with ScriptedEndpoint(["this is not json", '{"subjective": 1}']) as endpoint:
        settings.LLM_BASE_URL = endpoint.url
        client = client_for(therapist)
        with on_commit(execute=True):
            client.post(reverse("sessions:note_regenerate", args=[note.pk]))
    note.refresh_from_db()
    assert note.status == ClinicalNoteStatus.FAILED and note.failure == "invalid"
    assert list(note.versions.values_list("pk", flat=True)) == [version.pk]
    page = client.get(reverse("sessions:note", args=[note.pk])).content.decode()
    assert "The patient slept badly." in page
    assert "The language model gave no usable answer." in page


def test_an_invented_statement_is_flagged_with_the_lines_nearest_to_it(
    settings, client_for, therapist, appointment, transcript, on_commit
):
    """The scripted model writes two statements the transcript says and two it does not
    (an invention, and a number nobody said): the page flags those two, and shows the
    lines the supported ones rest on."""
    answers = _answers(
        subjective=[
            "The patient wakes at 3 in the morning with racing thoughts about work.",
            "The patient practises regular physical exercise at the gym.",
        ],
        plan=["Keep the breathing exercise and add a short walk after lunch.", "Walk 5 km."],
    )
    with ScriptedEndpoint([*answers, FIELDS_NONE]) as endpoint:
        settings.LLM_BASE_URL = endpoint.url
        settings.LLM_PREFILL_CHARS = 0
        settings.LLM_JUDGE_MAX = 0  # the scripted answers are the test's, not a judge's
        client = client_for(therapist)
        _draft(client, on_commit, appointment, transcript)
    note = ClinicalNote.objects.get(appointment=appointment)
    version = note.versions.get()
    segments = list(transcript.segments.order_by("position"))
    by_key = {s["key"]: s["statements"] for s in version.section_list}
    wakes, gym = by_key["subjective"]
    assert wakes["supported"] and segments[1].pk in wakes["sources"]
    assert not gym["supported"]
    walk, km = by_key["plan"]
    assert walk["supported"] and not km["supported"]
    page = client.get(reverse("sessions:note", args=[note.pk])).content.decode()
    assert "2 statements have no support in the transcript" in page
    assert f"{segments[1].text}</span>" in page


# --- Suggested custom-field values --------------------------------------------------------
# --- Suggested custom-field values --------------------------------------------------------


def _suggesting(appointment, **kwargs):
    return ClinicalNoteVersionFactory(
        note__appointment=appointment,
        suggestions=[
            {"key": "chakras", "value": ["Heart"], "status": "pending"},
            {"key": "sensations", "value": "Warm hands", "status": "pending"},
        ],
        **kwargs,
    )


def test_a_confirmed_value_is_written_to_the_session_and_a_declined_one_is_not(
    client_for, therapist, clinic, patient
):
    session = SessionFactory(practice=clinic, patient=patient, therapist=therapist)
    session.note.custom_values = {"energy": 5}
    session.note.save()
    version = _suggesting(session.appointment)
    client = client_for(therapist)
    url = reverse("sessions:note_suggestion", args=[version.note.pk, "chakras"])
    client.post(url, {"decision": "accept", "shown": "null"})
    client.post(
        reverse("sessions:note_suggestion", args=[version.note.pk, "sensations"]),
        {"decision": "decline"},
    )
    session.note.refresh_from_db()
    assert session.note.custom_values == {"energy": 5, "chakras": ["Heart"]}
    revision = SessionNoteRevision.objects.get(note=session.note)
    assert revision.changes == {"custom:chakras": {"before": None, "after": ["Heart"]}}
    version.refresh_from_db()
    assert [s["status"] for s in version.suggestions] == ["accepted", "declined"]
    # Decided once: asking again changes nothing.
    response = client.post(url, {"decision": "accept", "shown": "null"}, follow=True)
    assert "no longer open" in response.content.decode()
    assert SessionNoteRevision.objects.filter(note=session.note).count() == 1


def test_nothing_reaches_the_session_without_confirmation(client_for, therapist, clinic, patient):
    session = SessionFactory(practice=clinic, patient=patient, therapist=therapist)
    before = session.note.custom_values
    version = _suggesting(session.appointment)
    page = client_for(therapist).get(reverse("sessions:note", args=[version.note.pk]))
    assert "Warm hands" in page.content.decode()
    session.note.refresh_from_db()
    assert session.note.custom_values == before
    assert not SessionNoteRevision.objects.filter(note=session.note).exists()


def test_values_confirmed_before_the_session_is_recorded_fill_its_form(
    client_for, therapist, appointment
):
    appointment.starts_at -= timedelta(days=2)  # it has taken place
    appointment.ends_at -= timedelta(days=2)
    appointment.save()
    version = _suggesting(appointment)
    client = client_for(therapist)
    client.post(
        reverse("sessions:note_suggestion", args=[version.note.pk, "sensations"]),
        {"decision": "accept", "shown": "null"},
    )
    form = client.get(reverse("sessions:record", args=[appointment.pk])).content.decode()
    assert "Warm hands" in form
    assert 'value="Heart" checked' not in form  # not confirmed, not filled


def test_a_suggestion_shows_old_and_new_and_replaces_only_what_was_seen(
    client_for, therapist, clinic, patient
):
    """The session holds energy 7; the model proposes 1 with the line that says it. The page
    shows 7 → 1 and the line; confirming writes 1 and says "7 → 1". A confirmation made on
    a page that showed another value (the session changed since) writes nothing."""
    session = SessionFactory(practice=clinic, patient=patient, therapist=therapist)
    session.note.custom_values = {"energy": 7}
    session.note.save()
    recording = RecordingFactory(appointment=session.appointment, status=RecordingStatus.DONE)
    line = TranscriptSegmentFactory(
        recording=recording, position=0, text="My energy today? A one, honestly."
    )
    version = ClinicalNoteVersionFactory(
        note__appointment=session.appointment,
        note__recording=recording,
        suggestions=[{"key": "energy", "value": 1, "status": "pending", "sources": [line.pk]}],
    )
    client = client_for(therapist)
    page = client.get(reverse("sessions:note", args=[version.note.pk])).content.decode()
    block = page[page.index('id="suggestion-energy"') :]
    assert '<span class="current-value">7</span>' in block
    assert '<span class="suggested-value">1</span>' in block
    assert "My energy today? A one, honestly." in block and "Change 7 to 1" in block
    url = reverse("sessions:note_suggestion", args=[version.note.pk, "energy"])

    stale = client.post(url, {"decision": "accept", "shown": "5"}, follow=True)
    assert "changed since this page showed it" in stale.content.decode()
    session.note.refresh_from_db()
    assert session.note.custom_values == {"energy": 7}

    done = client.post(url, {"decision": "accept", "shown": "7"}, follow=True)
    assert "Energy level: 7 → 1." in done.content.decode()
    session.note.refresh_from_db()
    assert session.note.custom_values == {"energy": 1}
    revision = SessionNoteRevision.objects.get(note=session.note)
    assert revision.changes == {"custom:energy": {"before": 7, "after": 1}}


# --- Editing, reviewing, bad input --------------------------------------------------------


def test_editing_a_section_by_hand_keeps_sources_of_unchanged_lines(
    client_for, therapist, appointment, transcript
):
    segment = transcript.segments.first()
    version = ClinicalNoteVersionFactory(
        note__appointment=appointment,
        note__recording=transcript,
        number=1,
        content={
            "sections": [
                {
                    "key": "subjective",
                    "title": "Subjective",
                    "statements": [statement("Wakes at three.", [segment.pk])],
                },
                {"key": "plan", "title": "Plan", "statements": []},
            ]
        },
    )
    client = client_for(therapist)
    url = reverse("sessions:note_section", args=[version.note.pk, "subjective"])
    assert client.get(url, headers={"HX-Request": "true"}).content.decode().count("<textarea") == 1
    response = client.post(url, {"text": "Wakes at three.\nI think it is work stress."})
    assert response.status_code == 302
    new = version.note.versions.order_by("-number").first()
    assert (new.number, new.kind) == (2, NoteVersionKind.EDITED)
    statements = new.section_list[0]["statements"]
    assert statements[0]["sources"] == [segment.pk]
    assert statements[1]["origin"] == "me" and drafting.is_supported(statements[1])
    assert new.section_list[1] == version.section_list[1]


def test_a_translated_note_speaks_its_new_language_in_headings_exports_and_redrafts(
    settings, client_for, therapist, appointment, transcript, on_commit
):
    """The assistant translates an English SOAP note into Portuguese (a scripted model:
    one answer a section); accepted whole, the version is Portuguese, its headings too, the
    PDF speaks Portuguese, and a regeneration drafts in Portuguese."""
    base = ClinicalNoteVersionFactory(
        note__appointment=appointment, note__recording=transcript, number=1,
        content={
            "sections": [
                {"key": key, "title": key.title(),
                 "statements": [statement(f"Line {n}.", [transcript.segments.first().pk])]}
                for n, key in enumerate(SOAP_KEYS)
            ],
            "language": "en",
        },
    )  # fmt: skip
    note = base.note
    replies = [json.dumps({"sentences": [f"Linha {n} da nota."]}) for n in range(4)]
    client = client_for(therapist)
    with ScriptedEndpoint(replies) as endpoint:
        settings.LLM_BASE_URL = endpoint.url
        settings.LLM_PREFILL_CHARS = 0
        settings.LLM_JUDGE_MAX = 0  # the scripted answers are the test's, not a judge's
        with on_commit(execute=True):
            client.post(
                reverse("sessions:note_assist", args=[note.pk]),
                {"preset": "translate_pt", "section": "", "instruction": ""},
            )
    proposal = NoteProposal.objects.get(note=note)
    assert proposal.status == ProposalStatus.READY, proposal.failure
    assert proposal.language == "pt-br" and proposal.action == "translate_pt"
    assert [s["title"] for s in proposal.sections] == [
        "Subjetivo",
        "Objetivo",
        "Avaliação",
        "Plano",
    ]
    client.post(
        reverse("sessions:note_proposal", args=[note.pk, proposal.pk]), {"accept": SOAP_KEYS}
    )
    version = note.versions.order_by("-number").first()
    assert version.content["language"] == "pt-br"
    assert version.section_list[0]["statements"][0]["text"] == "Linha 0 da nota."
    assert (
        version.section_list[0]["statements"][0]["sources"]
        == base.section_list[0]["statements"][0]["sources"]
    )
    note.refresh_from_db()
    assert note.language == "pt-br" and note.sections[0]["title"] == "Subjetivo"
    text = client.get(reverse("sessions:note_export_text", args=[note.pk])).content.decode()
    assert "Subjetivo" in text and "Paciente:" in text and "Subjective" not in text


def test_a_proposal_on_an_outdated_version_is_refused(client_for, therapist, appointment):
    base = ClinicalNoteVersionFactory(note__appointment=appointment, number=1)
    note = base.note
    proposal = NoteProposal.objects.create(
        practice=note.practice,
        note=note,
        base=base,
        instruction="Shorten",
        status=ProposalStatus.READY,
        sections=[{"key": "plan", "title": "Plan", "statements": [statement("Walk.")]}],
    )
    ClinicalNoteVersionFactory(note=note, number=2)  # the note changed meanwhile
    response = client_for(therapist).post(
        reverse("sessions:note_proposal", args=[note.pk, proposal.pk]),
        {"accept": ["plan"]},
        follow=True,
    )
    assert "changed after the assistant read it" in response.content.decode()
    assert note.versions.count() == 2
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.READY


def test_rejecting_all_discards_the_proposal(client_for, therapist, appointment):
    base = ClinicalNoteVersionFactory(note__appointment=appointment, number=1)
    proposal = NoteProposal.objects.create(
        practice=base.practice,
        note=base.note,
        base=base,
        instruction="Shorten",
        status=ProposalStatus.READY,
        sections=[{"key": "plan", "title": "Plan", "statements": [statement("Walk.")]}],
    )
    client_for(therapist).post(
        reverse("sessions:note_proposal", args=[base.note.pk, proposal.pk]),
        {"accept": ["plan"], "reject": "1"},
    )
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.DISCARDED
    assert base.note.versions.count() == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"templates": []}, "This field is required."),
        ({"no_transcript": True, "quick_notes": "  "}, "give at least one"),
        ({"templates": ["builtin:nope"]}, "Select a valid choice"),
        ({"quick_notes": "x" * 5001}, "at most 5000 characters"),
    ],
)
def test_bad_draft_requests_say_why_and_create_nothing(
    data, message, client_for, therapist, appointment, transcript, on_commit
):
    response = _draft(client_for(therapist), on_commit, appointment, transcript, **data)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not ClinicalNote.objects.exists()


def test_another_appointments_transcript_cannot_be_used(
    client_for, therapist, appointment, transcript, clinic, patient, on_commit
):
    other = AppointmentFactory(practice=clinic, patient=patient, therapist=therapist)
    response = _draft(client_for(therapist), on_commit, other, transcript)
    assert response.status_code == 422
    assert not ClinicalNote.objects.exists()


def test_an_empty_instruction_asks_for_one(client_for, therapist, appointment):
    base = ClinicalNoteVersionFactory(note__appointment=appointment, number=1)
    response = client_for(therapist).post(
        reverse("sessions:note_assist", args=[base.note.pk]), {"instruction": " "}, follow=True
    )
    assert "Choose an action or say what the assistant should do." in response.content.decode()
    assert not NoteProposal.objects.exists()


def test_several_notes_per_appointment_one_per_template(
    settings, client_for, owner, appointment, transcript, on_commit
):
    settings.LLM_BASE_URL = f"http://127.0.0.1:{free_port()}/v1"  # drafting is not the point
    _draft(
        client_for(owner),
        on_commit,
        appointment,
        transcript,
        templates=["builtin:soap", "builtin:dap", "builtin:holistic"],
    )
    notes = ClinicalNote.objects.filter(appointment=appointment)
    titles = list(notes.values_list("title", flat=True))
    assert titles == ["SOAP note", "DAP note", "Holistic session note"]


# --- Who may do what ---------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["assistant", "other_therapist", "outsider"])
def test_outside_the_barrier_every_note_url_is_404(persona, request, client_for, appointment):
    version = _suggesting(appointment)
    note = version.note
    client = client_for(request.getfixturevalue(persona))
    urls = [
        reverse("sessions:notes", args=[appointment.pk]),
        reverse("sessions:note", args=[note.pk]),
        reverse("sessions:note_regenerate", args=[note.pk]),
        reverse("sessions:note_assist", args=[note.pk]),
        reverse("sessions:note_section", args=[note.pk, "plan"]),
        reverse("sessions:note_suggestion", args=[note.pk, "chakras"]),
        reverse("sessions:note_export_pdf", args=[note.pk]),
        reverse("sessions:note_export_docx", args=[note.pk]),
        reverse("sessions:note_export_text", args=[note.pk]),
    ]
    for url in urls:
        for method in ("get", "post"):
            assert getattr(client, method)(url).status_code == 404, (method, url)
    version.refresh_from_db()
    assert [s["status"] for s in version.suggestions] == ["pending", "pending"]
    assert not AuditEvent.objects.filter(action__startswith="clinical_note.").exists()


@pytest.mark.parametrize(
    ("route", "action", "content_type"),
    [
        ("sessions:note_export_pdf", "clinical_note.export_pdf", "application/pdf"),
        (
            "sessions:note_export_docx",
            "clinical_note.export_docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        ("sessions:note_export_text", "clinical_note.export_text", "text/plain; charset=utf-8"),
    ],
)
def test_exports_are_audited_and_never_cached(
    route, action, content_type, client_for, owner, appointment
):
    version = ClinicalNoteVersionFactory(note__appointment=appointment)
    response = client_for(owner).get(reverse(route, args=[version.note.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert "no-store" in response["Cache-Control"]
    event = AuditEvent.objects.get(action=action)
    assert event.patient_id == appointment.patient_id and event.actor == owner


def test_reading_a_note_is_audited_but_polling_is_not(client_for, therapist, appointment):
    note = ClinicalNoteFactory(appointment=appointment, status=ClinicalNoteStatus.DRAFTING)
    client = client_for(therapist)
    page = client.get(reverse("sessions:note", args=[note.pk]))
    assert "Drafting" in page.content.decode() and "no-store" in page["Cache-Control"]
    poll = client.get(
        reverse("sessions:note", args=[note.pk]) + "?part=progress", headers={"HX-Request": "true"}
    )
    assert poll.content.decode().lstrip().startswith('<div id="note-progress"')
    assert AuditEvent.objects.filter(action="clinical_note.read").count() == 1
    note.status = ClinicalNoteStatus.READY
    note.save()
    done = client.get(
        reverse("sessions:note", args=[note.pk]) + "?part=progress", headers={"HX-Request": "true"}
    )
    assert done["HX-Refresh"] == "true"


def test_the_note_page_reads_in_a_fixed_number_of_queries(
    client_for, therapist, appointment, transcript, django_assert_max_num_queries
):
    segments = list(transcript.segments.all())
    content = {
        "sections": [
            {
                "key": key,
                "title": key.title(),
                "statements": [statement(f"Line {s.pk}.", [s.pk]) for s in segments],
            }
            for key in SOAP_KEYS
        ]
    }
    version = ClinicalNoteVersionFactory(
        note__appointment=appointment, note__recording=transcript, content=content
    )
    client = client_for(therapist)
    with django_assert_max_num_queries(25):
        response = client.get(reverse("sessions:note", args=[version.note.pk]))
    assert response.status_code == 200


def test_the_session_page_lists_the_notes_and_their_versions(
    client_for, therapist, clinic, patient
):
    session = SessionFactory(practice=clinic, patient=patient, therapist=therapist)
    first = ClinicalNoteVersionFactory(note__appointment=session.appointment, number=1)
    ClinicalNoteVersionFactory(note=first.note, number=2, kind=NoteVersionKind.ASSISTANT)
    page = client_for(therapist).get(reverse("sessions:detail", args=[session.pk]))
    html = page.content.decode()
    assert 'id="session-clinical-notes"' in html
    assert "SOAP note, version 1" in html and "SOAP note, version 2" in html


def test_a_stalled_draft_is_queued_again_and_finishes_once(
    settings, therapist, appointment, transcript, on_commit
):
    """The app stopped mid-answer: the note stays Drafting with no worker on it. The beat
    job queues it again after LLM_STALE_AFTER; a second run finds nothing to do."""
    from tera.clinical_notes import draft_note
    from tera.tasks import clinical_notes_resume

    note = ClinicalNoteFactory(
        appointment=appointment, recording=transcript, status=ClinicalNoteStatus.DRAFTING
    )
    fresh = ClinicalNoteFactory(appointment=appointment, status=ClinicalNoteStatus.DRAFTING)
    ClinicalNote.objects.filter(pk=note.pk).update(
        heartbeat_at=timezone.now() - settings.LLM_STALE_AFTER - timedelta(seconds=1)
    )
    ClinicalNote.objects.filter(pk=fresh.pk).update(heartbeat_at=timezone.now())
    answers = _answers(subjective=["The patient wakes at three in the morning."])
    with ScriptedEndpoint(answers) as endpoint:
        settings.LLM_BASE_URL = endpoint.url
        settings.LLM_PREFILL_CHARS = 0
        settings.LLM_JUDGE_MAX = 0  # the scripted answers are the test's, not a judge's
        assert clinical_notes_resume() == {"notes": [note.pk], "proposals": []}
    note.refresh_from_db()
    assert note.status == ClinicalNoteStatus.READY
    assert list(note.versions.values_list("number", "kind")) == [(1, NoteVersionKind.DRAFT)]
    assert clinical_notes_resume() == {"notes": [], "proposals": []}
    # A duplicate delivery of the same task changes nothing either.
    assert draft_note(note.pk, NoteVersionKind.DRAFT, therapist.pk) is None
    assert note.versions.count() == 1


@pytest.mark.parametrize(("persona", "shown"), [("therapist", True), ("assistant", False)])
def test_the_appointment_dialog_links_to_its_notes_for_who_may_draft(
    persona, shown, request, client_for, appointment
):
    client = client_for(request.getfixturevalue(persona))
    dialog = client.get(reverse("sessions:appointment_edit", args=[appointment.pk]))
    link = reverse("sessions:notes", args=[appointment.pk])
    assert (f'href="{link}"' in dialog.content.decode()) is shown
