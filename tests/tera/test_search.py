"""Tera's semantic search (tera.views.search): the real embedding model, the barrier in
the query, highlighted snippets linking to sessions, and the audit row."""

from __future__ import annotations

import pytest
from django.urls import reverse

from practice.models import AuditEvent
from practice.templatetags.holos import highlight_words
from tera.indexing import index_source
from tera.models import SourceKind
from tests.factories import PatientFactory, SessionFactory

pytestmark = pytest.mark.slow  # the embedding model loads once per run

CANARY = "CanarySearch8d02fa"


@pytest.fixture
def indexed(pro, clinic, therapist):
    patient = PatientFactory(practice=clinic, therapist=therapist, full_name="Clara Luz")
    session = SessionFactory(
        practice=clinic,
        patient=patient,
        therapist=therapist,
        note__text=f"She has been sleeping badly since work got stressful. {CANARY}.",
    )
    other = SessionFactory(
        practice=clinic,
        patient=PatientFactory(practice=clinic, therapist=therapist),
        therapist=therapist,
        note__text="Paid the invoice by bank transfer; talked about the holidays.",
    )
    for s in (session, other):
        index_source(SourceKind.SESSION_NOTE, s.pk)
    return session


def test_the_therapist_finds_notes_by_meaning_nearest_first(client_for, therapist, indexed):
    response = client_for(therapist).get(
        reverse("tera:search"), {"q": "sleep problems after work stress"}
    )
    html = response.content.decode()
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    assert html.index(CANARY) < html.index("invoice")  # nearest in meaning first
    assert "<mark>sleeping</mark>" in html and "<mark>stressful</mark>" in html
    assert reverse("sessions:detail", args=[indexed.pk]) in html
    event = AuditEvent.objects.get(action="tera.search")
    assert event.data == {"results": 2} and "sleep" not in str(event.data)


@pytest.mark.parametrize("persona", ["other_therapist", "outsider"])
def test_no_one_outside_the_barrier_finds_the_note(persona, request, client_for, indexed):
    response = client_for(request.getfixturevalue(persona)).get(
        reverse("tera:search"), {"q": "sleeping badly since work got stressful"}
    )
    assert response.status_code == 200
    assert CANARY not in response.content.decode()


def test_an_assistant_gets_404(client_for, assistant, indexed):
    response = client_for(assistant).get(reverse("tera:search"), {"q": "sleep"})
    assert response.status_code == 404 and CANARY not in response.content.decode()


def test_an_empty_query_searches_nothing(client_for, therapist, indexed):
    response = client_for(therapist).get(reverse("tera:search"), {"q": "   "})
    assert CANARY not in response.content.decode()
    assert not AuditEvent.objects.filter(action="tera.search").exists()


def test_highlight_words_marks_words_that_begin_with_a_query_word_and_escapes():
    assert str(highlight_words("Sleeping <b>badly</b>, slept", "sleep bad")) == (
        "<mark>Sleeping</mark> &lt;b&gt;<mark>badly</mark>&lt;/b&gt;, slept"
    )
    assert str(highlight_words("<i>x</i>", "")) == "&lt;i&gt;x&lt;/i&gt;"
