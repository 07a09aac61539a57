"""Tera's search in a browser: a therapist searches by meaning, sees the passage with the
shared words marked, and opens the session it comes from; an Assistant has no Tera."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from practice.models import Plan, Practice, User
from tera.indexing import index_source
from tera.models import SourceKind
from tests.e2e.conftest import shot, sign_in
from tests.factories import PatientFactory, SessionFactory

pytestmark = pytest.mark.slow  # the embedding model loads once per run


def test_a_therapist_finds_a_session_by_meaning_and_opens_it(
    transactional_db, clinic: Practice, therapist: User, page: Page
) -> None:
    clinic.language, clinic.plan = "en", Plan.PRO
    clinic.save(update_fields=["language", "plan"])
    sessions = [
        SessionFactory(
            practice=clinic,
            patient=PatientFactory(practice=clinic, therapist=therapist, full_name=name),
            therapist=therapist,
            note__text=text,
        )
        for name, text in (
            ("Clara Luz", "She lies awake most nights since the deadlines at work piled up."),
            ("Davi Reis", "Talked about his garden and the trip to the coast."),
        )
    ]
    for session in sessions:
        index_source(SourceKind.SESSION_NOTE, session.pk)

    sign_in(page, therapist.email)
    page.get_by_role("link", name="Tera").click()
    page.get_by_role("searchbox", name="Search the notes").fill("insomnia from job stress")
    page.get_by_role("button", name="Search").click()

    results = page.locator(".search-results li")
    expect(results).to_have_count(2)
    expect(results.first).to_contain_text("Clara Luz")  # nearest in meaning, no shared word
    expect(results.first).to_contain_text("lies awake most nights")
    shot(page, "tera_search")
    results.first.get_by_role("link", name="Session of").click()
    expect(page).to_have_url(reverse("sessions:detail", args=[sessions[0].pk]))
    expect(page.locator("#session-notes")).to_contain_text("lies awake most nights")


def test_an_assistant_has_no_tera(
    transactional_db, clinic: Practice, assistant: User, page: Page
) -> None:
    sign_in(page, assistant.email)
    expect(page.locator("nav.mainnav")).not_to_contain_text("Tera")
    response = page.goto(reverse("tera:search") + "?q=sleep")
    assert response is not None and response.status == 404
