"""Transcript retention in a browser: the Owner keeps transcripts 30 days (a negative number
is refused and changes nothing); after the nightly job, an old recording's page says its
transcript was deleted under the policy, while the session's note is still there.

Asserts on structure (names, ids, data attributes) and on the data typed in, not on
translated words.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from practice.models import Practice, User
from sessions.models import Recording
from sessions.tasks import transcripts_expire
from tests.e2e.conftest import shot, sign_in
from tests.factories import PatientFactory, SessionFactory, TranscriptSegmentFactory


@pytest.fixture
def owner_in_english(transactional_db, owner: User, clinic: Practice) -> User:
    owner.language = "en"
    owner.save()
    return owner


def test_owner_keeps_transcripts_30_days_and_an_old_one_says_it_was_deleted(
    owner_in_english: User, clinic: Practice, page: Page
) -> None:
    patient = PatientFactory(practice=clinic, therapist=owner_in_english)
    session = SessionFactory(
        practice=clinic, patient=patient, therapist=owner_in_english, note__text="Slept well."
    )
    segment = TranscriptSegmentFactory(
        recording__appointment=session.appointment, text="I slept through the night."
    )
    recording = segment.recording
    Recording.objects.filter(pk=recording.pk).update(created_at=timezone.now() - timedelta(days=40))

    sign_in(page, owner_in_english.email)
    page.locator("nav.mainnav a[data-nav=settings]").click()
    page.locator("nav.subnav a[href$='/practice/settings/']").click()
    expect(page).to_have_url(re.compile(r"/practice/settings/$"))

    days = page.locator("#retention input[name=transcript_retention_days]")
    days.fill("-5")
    page.locator("#retention button[type=submit]").click()
    expect(page.locator("#id_transcript_retention_days_error")).to_be_visible()
    clinic.refresh_from_db()
    assert clinic.transcript_retention_days is None  # the plan's default, unchanged

    page.locator("#retention input[name=transcript_retention_days]").fill("30")
    page.locator("#retention button[type=submit]").click()
    expect(page.locator("#id_transcript_retention_days_error")).to_have_count(0)
    expect(page.locator("#retention input[name=transcript_retention_days]")).to_have_value("30")
    clinic.refresh_from_db()
    assert clinic.transcript_retention_days == 30
    shot(page, "retention_settings")

    transcripts_expire.delay()  # the nightly job (eager here)

    page.goto(reverse("sessions:recording", args=[recording.pk]))
    expect(page.locator("[data-transcript-expired]")).to_be_visible()
    expect(page.get_by_text("I slept through the night.")).to_have_count(0)
    shot(page, "retention_transcript_deleted")
    page.goto(reverse("sessions:detail", args=[session.pk]))
    expect(page.get_by_text("Slept well.")).to_be_visible()
