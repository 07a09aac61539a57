"""The patient's Sessions tab: the history in order, the toggle, the filter on custom-field
answers (served by the GIN index), and the calendar's way into a session."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from patients.models import Patient
from payments.models import PaymentStatus
from practice.models import AuditEvent
from sessions.selectors import _has_answer
from tests.factories import (
    AppointmentFactory,
    PatientFactory,
    SessionFactory,
    TherapyTypeFactory,
    practice_today,
)


@pytest.fixture
def patient(clinic, therapist) -> Patient:
    return PatientFactory(practice=clinic, full_name="Clara Luz", therapist=therapist)


@pytest.fixture
def reiki(clinic):
    return TherapyTypeFactory(practice=clinic, name="Reiki")


@pytest.fixture
def history(clinic, patient, therapist, reiki):
    """Three sessions, a week apart: root, heart, heart+crown."""
    now = timezone.now().replace(second=0, microsecond=0)
    chakras = [["Root"], ["Heart"], ["Heart", "Crown"]]
    return [
        SessionFactory(
            practice=clinic,
            patient=patient,
            therapist=therapist,
            therapy_type=reiki,
            starts_at=now - timedelta(weeks=3 - i),
            note__custom_values={"chakras": worked, "energy": 5},
        )
        for i, worked in enumerate(chakras)
    ]


def tab(patient: Patient, **query) -> str:
    url = reverse("patients:sessions", args=[patient.pk])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def listed(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'id="session-(\d+)"', response.content.decode())]


def test_sessions_are_listed_newest_first_and_the_order_toggles(
    client_for, therapist, patient, history, django_assert_max_num_queries
):
    client = client_for(therapist)
    with django_assert_max_num_queries(10):
        newest = client.get(tab(patient))
    oldest = client.get(tab(patient, order="oldest"))

    ids = [s.pk for s in history]
    assert listed(newest) == ids[::-1]
    assert listed(oldest) == ids
    html = newest.content.decode()
    assert "Reiki" in html and therapist.display_name in html and "50 min" in html
    assert "Pending" in html


def test_the_list_costs_the_same_queries_for_3_and_30_sessions(
    client_for, therapist, patient, history, reiki, django_assert_max_num_queries
):
    for _ in range(27):
        SessionFactory(
            practice=patient.practice, patient=patient, therapist=therapist, therapy_type=reiki
        )
    client = client_for(therapist)
    with django_assert_max_num_queries(10):
        response = client.get(tab(patient))
    assert len(listed(response)) == 25  # one page


def test_filter_on_a_custom_field_answer(client_for, therapist, patient, history, reiki):
    client = client_for(therapist)

    heart = client.get(tab(patient, value=f"{reiki.pk}:chakras:Heart"))
    root = client.get(tab(patient, value=f"{reiki.pk}:chakras:Root"))
    crown = client.get(tab(patient, value=f"{reiki.pk}:chakras:Crown"))

    assert listed(heart) == [history[2].pk, history[1].pk]
    assert listed(root) == [history[0].pk]
    assert listed(crown) == [history[2].pk]
    # Using notes to filter is a read of them: audited, with the field and not the answer.
    events = AuditEvent.objects.filter(action="session_note.filter")
    assert events.count() == 3
    assert events.first().data == {"field": "chakras"}


def test_an_unknown_filter_value_is_ignored(client_for, therapist, patient, history, reiki):
    client = client_for(therapist)
    for value in (f"{reiki.pk}:chakras:Spleen", "x:y:z", f"{reiki.pk}:nope:Heart", "garbage"):
        assert len(listed(client.get(tab(patient, value=value)))) == 3
    assert not AuditEvent.objects.filter(action="session_note.filter").exists()


def test_assistant_sees_the_history_without_the_filter_and_cannot_use_it(
    client_for, assistant, patient, history, reiki
):
    client = client_for(assistant)

    response = client.get(tab(patient, value=f"{reiki.pk}:chakras:Root"))

    html = response.content.decode()
    assert len(listed(response)) == 3  # the filter is ignored, not applied
    assert 'name="value"' not in html and "Chakras" not in html
    assert "Record a walk-in session" not in html


def test_another_therapist_gets_404_on_the_tab(client_for, other_therapist, patient, history):
    assert client_for(other_therapist).get(tab(patient)).status_code == 404


def test_htmx_filter_answers_with_the_tab_panel_only(client_for, therapist, patient, history):
    response = client_for(therapist).get(tab(patient), headers={"HX-Request": "true"})

    html = response.content.decode()
    assert 'id="patient-tab-panel"' in html and "<html" not in html


def test_empty_states(client_for, therapist, patient, reiki):
    client = client_for(therapist)
    assert "No sessions yet" in client.get(tab(patient)).content.decode()
    SessionFactory(
        practice=patient.practice, patient=patient, therapist=therapist, therapy_type=reiki
    )
    assert (
        "No session matches"
        in client.get(tab(patient, value=f"{reiki.pk}:chakras:Crown")).content.decode()
    )


@pytest.mark.parametrize(
    ("values", "containing", "matches"),
    [
        ({"chakras": ["Heart", "Root"]}, {"chakras": ["Heart"]}, True),
        ({"chakras": ["Root"]}, {"chakras": ["Heart"]}, False),
        ({"chakras": "Heart"}, {"chakras": ["Heart"]}, False),
        ({"calm": True}, {"calm": True}, True),
        ({"calm": 1}, {"calm": True}, False),  # as jsonb @> did: 1 is not true
        ({"calm": False}, {"calm": True}, False),
        ({"mood": "Calm"}, {"mood": "Calm"}, True),
        ({}, {"mood": "Calm"}, False),
    ],
)
def test_the_filter_compares_answers_as_the_database_did(values, containing, matches):
    # The values are encrypted at rest, so patient_sessions() compares them in Python.
    assert _has_answer(values, containing) is matches


# --- The calendar's way in ---------------------------------------------------------------


def test_a_past_appointment_offers_to_record_its_session(client_for, therapist, patient, reiki):
    start = timezone.now() - timedelta(hours=2)
    past = AppointmentFactory(
        practice=patient.practice, patient=patient, therapist=therapist, starts_at=start,
        ends_at=start + timedelta(minutes=50), therapy_type=reiki,
    )  # fmt: skip
    future = AppointmentFactory(practice=patient.practice, patient=patient, therapist=therapist)
    client = client_for(therapist)

    dialog = client.get(reverse("sessions:appointment_edit", args=[past.pk]))
    assert reverse("sessions:record", args=[past.pk]) in dialog.content.decode()
    later = client.get(reverse("sessions:appointment_edit", args=[future.pk]))
    assert reverse("sessions:record", args=[future.pk]) not in later.content.decode()


def test_a_completed_appointment_links_to_its_session(
    client_for, assistant, therapist, patient, history
):
    session = history[0]
    for user in (therapist, assistant):
        html = (
            client_for(user)
            .get(reverse("sessions:appointment_edit", args=[session.appointment_id]))
            .content.decode()
        )
        assert reverse("sessions:detail", args=[session.pk]) in html
        assert reverse("sessions:record", args=[session.appointment_id]) not in html


def test_assistant_is_not_offered_to_record(client_for, assistant, patient, therapist, reiki):
    start = timezone.now() - timedelta(hours=2)
    past = AppointmentFactory(
        practice=patient.practice, patient=patient, therapist=therapist, starts_at=start,
        ends_at=start + timedelta(minutes=50), therapy_type=reiki,
    )  # fmt: skip
    html = (
        client_for(assistant)
        .get(reverse("sessions:appointment_edit", args=[past.pk]))
        .content.decode()
    )
    assert reverse("sessions:record", args=[past.pk]) not in html


def test_payment_status_shows_in_the_list(client_for, therapist, patient, history):
    payment = history[0].payment
    payment.status, payment.method = PaymentStatus.PAID, "pix"
    payment.paid_on, payment.due_date = practice_today(), None
    payment.save()

    html = client_for(therapist).get(tab(patient)).content.decode()
    assert "pay-paid" in html and "pay-pending" in html
