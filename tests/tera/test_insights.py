"""Tera's insights: the treatment summary with its citations, the recurring themes, the
custom-field charts, the pre-session briefing prepared ahead, and the Pro plan that turns
them on. The notes are indexed by the real embedding model; the LLM is a scripted
OpenAI-compatible endpoint (the same interface the real server passes in the slow tests
at the end), so what the model "says" is known and the checks on it can be exact."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest
from django.urls import reverse
from django.utils import timezone

from practice.models import AuditEvent, Membership, Plan
from sessions.models import AppointmentStatus
from tera import embeddings, insights, services
from tera.indexing import index_source
from tera.models import Insight, InsightKind, InsightStatus, SourceKind
from tera.patterns import group_by_meaning, recurring_themes
from tera.tasks import briefings_upcoming
from tests.factories import AppointmentFactory, PatientFactory, SessionFactory, weekly_treatment

pytestmark = pytest.mark.slow  # the embedding model indexes every note

CANARY_OTHER = "CanaryOtherPatient4be1"
SUMMARY = json.dumps(
    {
        "claims": [
            "Sleep got better after the breathing exercises, about six hours a night.",
            "Work stress and deadlines kept her from switching off at night.",
            "She joined a yoga retreat in the mountains.",
        ]
    }
)
BRIEFING = json.dumps(
    {"key_points": ["Slept six hours most nights."], "open_items": ["Review the sleep diary."]}
)
NOTES = [
    "Sleeping badly since work got stressful; wakes at 3 am worrying about deadlines.",
    "Work stress again: the manager adds deadlines; she cannot switch off at night.",
    "Breathing exercises before bed helped; sleep is better, about six hours a night.",
]


@pytest.fixture
def treated(pro, therapist, other_therapist):
    """Three sessions of Clara's, a week apart, with Reiki's fields; and a patient of the
    other therapist whose note holds a canary. Everything indexed."""
    clara, sessions = weekly_treatment(pro, therapist, NOTES)
    other = SessionFactory(
        practice=pro,
        patient=PatientFactory(practice=pro, therapist=other_therapist),
        therapist=other_therapist,
        note__text=f"Sleeping badly, work stress. {CANARY_OTHER}.",
    )
    index_source(SourceKind.SESSION_NOTE, other.pk)
    return clara, sessions


def _request_summary(client, patient, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(
            reverse("tera:summary", args=[patient.pk]), headers={"HX-Request": "true"}
        )


# --- The summary ---------------------------------------------------------------------------


def test_a_summary_cites_its_sessions_and_flags_a_claim_that_cites_none(
    client_for, therapist, treated, scripted_llm, django_capture_on_commit_callbacks
):
    clara, sessions = treated
    client = client_for(therapist)
    with scripted_llm([SUMMARY]) as endpoint:
        response = _request_summary(client, clara, django_capture_on_commit_callbacks)
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    summary = Insight.objects.get(kind=InsightKind.SUMMARY, patient=clara)
    assert summary.status == InsightStatus.READY and summary.requested_by == therapist
    first, second, invented = summary.content["claims"]
    # Each claim cites the sessions whose notes say it (the model cites nothing).
    assert [s["id"] for s in first["sessions"]] == [sessions[2].pk] and first["supported"]
    assert sessions[1].pk in [s["id"] for s in second["sessions"]] and second["supported"]
    assert invented["sessions"] == [] and not invented["supported"]
    # The prompt: the patient's sessions oldest first, numbered; nobody else's notes.
    prompt = endpoint.requests[0]["messages"][-1]["content"]
    assert prompt.index("[S1]") < prompt.index(NOTES[0]) < prompt.index("\n[S3]")
    assert CANARY_OTHER not in prompt
    page = client.get(reverse("patients:insights", args=[clara.pk])).content.decode()
    assert "Sleep got better after the breathing exercises" in page
    assert reverse("sessions:detail", args=[sessions[2].pk]) in page
    assert "no session says this" in page
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"tera.summary", "tera.insights"} <= actions
    assert "Sleep" not in json.dumps(list(AuditEvent.objects.values_list("data", flat=True)))


def test_a_failed_summary_says_why_and_keeps_the_last_one(
    client_for, therapist, treated, scripted_llm, django_capture_on_commit_callbacks
):
    clara, _sessions = treated
    client = client_for(therapist)
    with scripted_llm([SUMMARY]):
        _request_summary(client, clara, django_capture_on_commit_callbacks)
    with scripted_llm(["not json", "still not json"]):
        _request_summary(client, clara, django_capture_on_commit_callbacks)
    summary = Insight.objects.get(kind=InsightKind.SUMMARY, patient=clara)
    assert summary.status == InsightStatus.FAILED and summary.failure == "invalid"
    html = client.get(reverse("tera:summary", args=[clara.pk])).content.decode()
    assert "could not be written: The language model gave no usable answer." in html
    assert "Try again" in html and "Sleep got better" in html


def test_a_patient_without_notes_gets_no_model_call(
    client_for, therapist, pro, scripted_llm, django_capture_on_commit_callbacks
):
    patient = PatientFactory(practice=pro, therapist=therapist)
    with scripted_llm([]) as endpoint:
        _request_summary(client_for(therapist), patient, django_capture_on_commit_callbacks)
    assert endpoint.requests == []
    response = client_for(therapist).get(reverse("tera:summary", args=[patient.pk]))
    assert "no notes of this patient to summarise" in response.content.decode()


def test_the_owner_summary_reads_the_whole_practice_but_only_this_patient(
    owner, treated, scripted_llm, django_capture_on_commit_callbacks
):
    clara, _sessions = treated
    membership = Membership.objects.get(user=owner, practice=clara.practice)
    with scripted_llm([SUMMARY]) as endpoint, django_capture_on_commit_callbacks(execute=True):
        services.summary_request(membership, clara, language="en")
    prompt = endpoint.requests[0]["messages"][-1]["content"]
    assert all(note in prompt for note in NOTES) and CANARY_OTHER not in prompt


@pytest.mark.parametrize("persona", ["assistant", "other_therapist", "outsider"])
def test_no_one_outside_the_barrier_reaches_a_summary(persona, request, client_for, treated):
    clara, _sessions = treated
    Insight.objects.create(
        practice=clara.practice,
        patient=clara,
        kind=InsightKind.SUMMARY,
        status=InsightStatus.READY,
        content={"claims": [{"text": "CanarySummary", "sessions": [], "rejected": []}]},
    )
    client = client_for(request.getfixturevalue(persona))
    for url in (
        reverse("tera:summary", args=[clara.pk]),
        reverse("patients:insights", args=[clara.pk]),
    ):
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            assert response.status_code == 404, (persona, method, url)
            assert "CanarySummary" not in response.content.decode()
    assert Insight.objects.get(patient=clara).status == InsightStatus.READY


# --- Patterns ------------------------------------------------------------------------------


def test_similar_sentences_are_closer_than_unrelated_ones_and_group_together():
    vectors = np.array(
        embeddings.embed(
            [
                "She cannot sleep because of stress at work.",
                "Work pressure keeps him awake at night.",
                "The invoice was paid by bank transfer.",
                "The bill was paid by bank transfer today.",
            ]
        ),
        dtype=np.float32,
    )
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] and similarity[2, 3] > similarity[1, 3]
    assert group_by_meaning(vectors) == [[0, 1], [2, 3]]


def test_themes_recur_across_sessions_and_never_cross_the_barrier(pro, therapist, treated):
    clara, sessions = treated
    membership = Membership.objects.get(user=therapist, practice=pro)
    themes = recurring_themes(membership, clara)
    assert themes and len(themes[0].sessions) >= 2
    assert {sid for sid, _day in themes[0].sessions} <= {s.pk for s in sessions}
    assert all(CANARY_OTHER not in t.label for t in themes)


def test_the_insights_tab_draws_the_custom_fields_over_time(client_for, therapist, treated):
    clara, sessions = treated
    page = client_for(therapist).get(reverse("patients:insights", args=[clara.pk]))
    html = page.content.decode()
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    assert html.count("<svg") == 2  # chakras (bars), energy before/after (one line chart)
    assert "Energy before" in html and "Energy after" in html and "Chakras worked on" in html
    assert reverse("sessions:detail", args=[sessions[1].pk]) in html
    assert "Recurring themes" in html


# --- The briefing --------------------------------------------------------------------------


@pytest.fixture
def tomorrow(treated, therapist):
    clara, _sessions = treated
    return AppointmentFactory(
        practice=clara.practice,
        patient=clara,
        therapist=therapist,
        starts_at=timezone.now() + timedelta(days=1),
        status=AppointmentStatus.SCHEDULED,
    )


def _dialog(client, appointment) -> str:
    url = reverse("sessions:appointment_edit", args=[appointment.pk])
    return client.get(url, headers={"HX-Request": "true"}).content.decode()


def test_the_beat_job_prepares_the_briefing_once_while_the_notes_stay_the_same(
    client_for, therapist, tomorrow, treated, scripted_llm
):
    _clara, sessions = treated
    with scripted_llm([BRIEFING, BRIEFING]) as endpoint:
        assert tomorrow.pk in briefings_upcoming()
        briefings_upcoming()  # nothing changed: no second model call
        assert len(endpoint.requests) == 1
        prompt = endpoint.requests[0]["messages"][-1]["content"]
        assert NOTES[2] in prompt and NOTES[0] not in prompt  # the last session only
        assert CANARY_OTHER not in prompt
        briefing = Insight.objects.get(kind=InsightKind.BRIEFING, appointment=tomorrow)
        assert briefing.content["key_points"] == [
            {"text": "Slept six hours most nights.", "supported": True}
        ]
        assert briefing.content["last_session"] == sessions[2].pk
        # The last session's note changes: the next round asks again.
        note = sessions[2].note
        note.text += " Started journaling."
        note.save()
        index_source(SourceKind.SESSION_NOTE, sessions[2].pk)
        briefings_upcoming()
        assert len(endpoint.requests) == 2
    html = _dialog(client_for(therapist), tomorrow)
    assert "Slept six hours most nights." in html and "Review the sleep diary." in html
    assert reverse("sessions:detail", args=[sessions[2].pk]) in html
    assert AuditEvent.objects.filter(
        action="tera.briefing", patient_id=tomorrow.patient_id
    ).exists()


def test_the_briefing_trends_read_the_fields_over_time(tomorrow, treated, scripted_llm):
    with scripted_llm([BRIEFING]):
        insights.prepare_briefing(tomorrow.pk)
    briefing = Insight.objects.get(kind=InsightKind.BRIEFING, appointment=tomorrow)
    texts = [t["text"] for t in briefing.content["trends"]]
    # In the practice's language (pt-BR here), whoever's request prepared it.
    assert "Energy before: 3 → 5 em 3 sessões" in texts
    assert "Chakras worked on: mais vezes Heart (3 de 3)" in texts


@pytest.mark.parametrize("persona", ["assistant", "other_therapist", "outsider"])
def test_the_briefing_is_shown_to_no_one_outside_the_barrier(
    persona, request, client_for, tomorrow, scripted_llm
):
    with scripted_llm([BRIEFING]):
        insights.prepare_briefing(tomorrow.pk)
    client = client_for(request.getfixturevalue(persona))
    assert "Slept six hours" not in _dialog(client, tomorrow)
    profile = client.get(reverse("patients:detail", args=[tomorrow.patient_id]))
    assert "Slept six hours" not in profile.content.decode()
    for method in ("get", "post"):
        response = getattr(client, method)(reverse("tera:briefing", args=[tomorrow.pk]))
        assert response.status_code == 404
        assert "Slept six hours" not in response.content.decode()


def test_the_patient_page_shows_the_next_briefing_and_prepares_it_on_request(
    client_for, therapist, tomorrow, scripted_llm, django_capture_on_commit_callbacks
):
    client = client_for(therapist)
    page = client.get(reverse("patients:detail", args=[tomorrow.patient_id])).content.decode()
    assert "isn't ready yet" in page and reverse("tera:briefing", args=[tomorrow.pk]) in page
    with scripted_llm([BRIEFING]), django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("tera:briefing", args=[tomorrow.pk]), headers={"HX-Request": "true"})
    page = client.get(reverse("patients:detail", args=[tomorrow.patient_id])).content.decode()
    assert "Slept six hours most nights." in page
    assert AuditEvent.objects.filter(action="tera.briefing_prepare").count() == 1


def test_no_briefing_for_a_free_practice_or_a_past_or_cancelled_appointment(
    clinic, therapist, treated, tomorrow, scripted_llm
):
    clara, _sessions = treated
    past = AppointmentFactory(
        practice=clinic,
        patient=clara,
        therapist=therapist,
        starts_at=timezone.now() - timedelta(hours=2),
    )
    cancelled = AppointmentFactory(
        practice=clinic,
        patient=clara,
        therapist=therapist,
        starts_at=timezone.now() + timedelta(hours=3),
        status=AppointmentStatus.CANCELLED,
    )
    with scripted_llm([BRIEFING]):
        assert insights.briefings_due() == [tomorrow.pk]
        assert past.pk not in insights.briefings_due() and cancelled.pk
    clinic.plan = Plan.FREE
    clinic.save(update_fields=["plan"])
    with scripted_llm([]) as endpoint:
        assert insights.briefings_due() == []
        assert insights.prepare_briefing(tomorrow.pk) is False
    assert endpoint.requests == []


# --- The plan ------------------------------------------------------------------------------


def test_a_free_practice_sees_what_tera_does_and_the_owner_switches_it_to_pro(
    client_for, clinic, owner, therapist
):
    therapist_client = client_for(therapist)
    pitch = therapist_client.get(reverse("tera:index")).content.decode()
    assert "part of Pro" in pitch and "Ask an Owner" in pitch
    assert therapist_client.get(reverse("tera:search") + "?q=x").url == reverse("tera:index")
    assert therapist_client.post(reverse("practice:plan"), {"plan": "pro"}).status_code == 403
    owner_client = client_for(owner)
    assert "Switch the practice to Pro" in owner_client.get(reverse("tera:index")).content.decode()
    response = owner_client.post(
        reverse("practice:plan"), {"plan": "pro", "next": reverse("tera:index")}
    )
    assert response.url == reverse("tera:index")
    clinic.refresh_from_db()
    assert clinic.plan == Plan.PRO
    event = AuditEvent.objects.get(action="practice.plan")
    assert event.data == {"before": "free", "after": "pro"}
    assert "Search the notes" in owner_client.get(reverse("tera:index")).content.decode()


def test_a_bad_plan_changes_nothing(client_for, clinic, owner):
    response = client_for(owner).post(
        reverse("practice:plan"), {"plan": "platinum", "next": "https://evil.example/"}, follow=True
    )
    clinic.refresh_from_db()
    assert clinic.plan == Plan.FREE and "Choose Free or Pro." in response.content.decode()
    assert not AuditEvent.objects.filter(action="practice.plan").exists()


def test_the_insights_tab_of_a_free_practice_explains_pro(client_for, clinic, therapist):
    patient = PatientFactory(practice=clinic, therapist=therapist)
    html = client_for(therapist).get(reverse("patients:insights", args=[patient.pk]))
    assert "part of Pro" in html.content.decode()
    assert not AuditEvent.objects.filter(action="tera.insights").exists()


@pytest.mark.parametrize("url_name", ["tera:index", "tera:search"])
def test_an_assistant_gets_404_on_tera_whatever_the_plan(url_name, client_for, pro, assistant):
    assert client_for(assistant).get(reverse(url_name)).status_code == 404


def test_the_assistant_has_no_insights_tab(client_for, pro, assistant):
    patient = PatientFactory(practice=pro)
    page = client_for(assistant).get(reverse("patients:detail", args=[patient.pk]))
    assert reverse("patients:insights", args=[patient.pk]) not in page.content.decode()


# --- The real model ------------------------------------------------------------------------


def test_the_real_model_writes_a_summary_and_a_briefing(
    llm, therapist, treated, tomorrow, django_capture_on_commit_callbacks
):
    clara, _sessions = treated
    membership = Membership.objects.get(user=therapist, practice=clara.practice)
    with django_capture_on_commit_callbacks(execute=True):
        services.summary_request(membership, clara, language="en")
    summary = Insight.objects.get(kind=InsightKind.SUMMARY, patient=clara)
    assert summary.status == InsightStatus.READY, summary.failure
    assert summary.content["claims"] and summary.content["sessions"] == 3
    insights.prepare_briefing(tomorrow.pk)
    briefing = Insight.objects.get(kind=InsightKind.BRIEFING, appointment=tomorrow)
    assert briefing.status == InsightStatus.READY, briefing.failure
    assert set(briefing.content) >= {"key_points", "open_items", "trends", "themes"}


def test_a_duplicate_delivery_does_not_ask_twice_but_a_stalled_one_is_taken_over(
    settings, tomorrow, scripted_llm
):
    with scripted_llm([BRIEFING, BRIEFING]) as endpoint:
        assert insights.prepare_briefing(tomorrow.pk) is True
        briefing = Insight.objects.get(kind=InsightKind.BRIEFING, appointment=tomorrow)
        # Another worker has claimed the same notes and is still on it.
        Insight.objects.filter(pk=briefing.pk).update(
            status=InsightStatus.PREPARING, heartbeat_at=timezone.now()
        )
        assert insights.prepare_briefing(tomorrow.pk) is False
        assert len(endpoint.requests) == 1
        # That worker died: after LLM_STALE_AFTER the next delivery takes over.
        Insight.objects.filter(pk=briefing.pk).update(
            heartbeat_at=timezone.now() - settings.LLM_STALE_AFTER - timedelta(minutes=1)
        )
        assert insights.prepare_briefing(tomorrow.pk) is True
        assert len(endpoint.requests) == 2
    briefing.refresh_from_db()
    assert briefing.status == InsightStatus.READY


def test_a_failing_briefing_backs_off_instead_of_being_asked_every_round(
    client_for, therapist, tomorrow, treated, scripted_llm
):
    """The endpoint answers errors: the first round fails and the briefing waits 15
    minutes, then 30, 60… (at most 6 hours) instead of every quarter of an hour; the
    appointment dialog says so in one small line at its end, in the reader's language.
    Preparing it by hand tries at once; a success forgets the failures."""
    with scripted_llm([("status", 500)] * 3) as endpoint:
        assert briefings_upcoming() == [tomorrow.pk]
        briefing = Insight.objects.get(kind=InsightKind.BRIEFING, appointment=tomorrow)
        assert briefing.status == InsightStatus.FAILED and briefing.failure == "error"
        assert briefing.attempts == 1
        first_wait = briefing.retry_after - briefing.updated_at
        assert timedelta(minutes=14) < first_wait <= timedelta(minutes=15)
        assert briefings_upcoming() == [] and len(endpoint.requests) == 1  # it waits
        later = briefing.retry_after + timedelta(seconds=1)
        assert insights.briefings_due(now=later) == [tomorrow.pk]
        insights.prepare_briefing(tomorrow.pk)
        briefing.refresh_from_db()
        assert briefing.attempts == 2
        assert briefing.retry_after - briefing.updated_at > timedelta(minutes=29)
    assert [insights.retry_delay(n) for n in (1, 2, 3, 6, 10)] == [
        timedelta(minutes=15),
        timedelta(minutes=30),
        timedelta(hours=1),
        timedelta(hours=6),
        timedelta(hours=6),
    ]
    therapist.language = "pt-br"
    therapist.save()
    dialog = _dialog(client_for(therapist), tomorrow)
    notice = dialog.index("Não foi possível preparar o briefing")
    assert "O modelo de linguagem respondeu com um erro." in dialog
    assert notice > dialog.index("</form>")  # after the appointment's form, not on top
    assert 'role="alert"' not in dialog[notice - 200 : notice]
    with scripted_llm([BRIEFING]):
        services.briefing_request(
            Membership.objects.get(user=therapist, practice=tomorrow.practice), tomorrow
        )
        insights.prepare_briefing(tomorrow.pk)
    briefing.refresh_from_db()
    assert briefing.status == InsightStatus.READY
    assert (briefing.attempts, briefing.retry_after) == (0, None)


def test_the_insights_tab_takes_a_fixed_number_of_queries(
    client_for, therapist, treated, tomorrow, django_assert_max_num_queries
):
    clara, _sessions = treated
    client = client_for(therapist)
    client.get(reverse("patients:insights", args=[clara.pk]))
    # session, user, memberships, patient, therapists; summary; next appointment, barrier,
    # briefing; chunks for the themes; notes for the charts; the audit row (2).
    with django_assert_max_num_queries(14):
        client.get(reverse("patients:insights", args=[clara.pk]))


def test_a_small_budget_keeps_the_newest_sessions_and_says_so(treated):
    from zoneinfo import ZoneInfo

    from tera.models import Chunk

    clara, sessions = treated
    chunks = Chunk.objects.filter(patient=clara)
    every, cut = insights.session_texts(chunks, ZoneInfo("UTC"), 10_000)
    assert [s.session_id for s in every] == [s.pk for s in sessions] and not cut
    assert [s.number for s in every] == [1, 2, 3]  # oldest first
    newest, cut = insights.session_texts(chunks, ZoneInfo("UTC"), 400)
    assert [s.session_id for s in newest] == [sessions[2].pk] and cut
    assert newest[0].number == 1 and newest[0].text.startswith(NOTES[2][:40])
