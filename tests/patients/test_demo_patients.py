"""The demo practice's patients look like real ones, and seeding twice changes nothing."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command

from patients.models import ConsentEvent, Patient
from practice.models import AuditEvent


def test_demo_patients_have_details_and_about_half_consented(db):
    call_command("seed_demo", stdout=StringIO())
    patients = list(Patient.objects.all())

    assert len(patients) == 20
    assert all(p.birth_date and p.pronouns and p.phone.startswith("+55 ") for p in patients)
    assert sum(bool(p.preferred_name) for p in patients) >= 5
    assert sum(bool(p.tags) for p in patients) >= 15
    assert sum(p.has_audio_consent for p in patients) == 10
    assert ConsentEvent.objects.filter(given=True).count() == 10


def test_seeding_again_adds_no_consent_events_or_audit_rows(db):
    call_command("seed_demo", stdout=StringIO())
    counts = (ConsentEvent.objects.count(), AuditEvent.objects.count(), Patient.objects.count())
    call_command("seed_demo", stdout=StringIO())
    assert (
        ConsentEvent.objects.count(),
        AuditEvent.objects.count(),
        Patient.objects.count(),
    ) == counts
