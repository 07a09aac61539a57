"""Booking, conflicts, roles and time zones of the calendar."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from practice.models import Role
from sessions import services
from sessions.models import Appointment, AppointmentStatus
from sessions.services import Booking
from tests.factories import (
    AppointmentFactory,
    MembershipFactory,
    PatientFactory,
    PracticeFactory,
    TherapyTypeFactory,
    UserFactory,
)

HX = {"HX-Request": "true"}


@pytest.fixture
def sao_paulo(clinic):
    clinic.time_zone = "America/Sao_Paulo"
    clinic.save()
    return zoneinfo.ZoneInfo("America/Sao_Paulo")


@pytest.fixture
def reiki(clinic):
    return TherapyTypeFactory(practice=clinic, name="Reiki", default_duration=60)


@pytest.fixture
def alice(clinic, therapist):
    return PatientFactory(practice=clinic, full_name="Alice Moreira", therapist=therapist)


@pytest.fixture
def bruno(clinic, other_therapist):
    return PatientFactory(practice=clinic, full_name="Bruno Lima", therapist=other_therapist)


def at(tz, text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=tz)


def book(practice, actor, patient, therapist, start, minutes=50, **extra):
    return services.appointment_book(
        practice=practice,
        actor=actor,
        booking=Booking(
            patient=patient,
            therapist=therapist,
            starts_at=start,
            ends_at=start + timedelta(minutes=minutes),
            **extra,
        ),
    )


# --- conflicts ----------------------------------------------------------------------------


def test_a_therapist_cannot_be_double_booked(clinic, assistant, therapist, alice, sao_paulo):
    other_patient = PatientFactory(practice=clinic, full_name="Caio Dias", therapist=therapist)
    book(clinic, assistant, alice, therapist, at(sao_paulo, "2026-11-23T09:00"))

    with pytest.raises(ValidationError) as refused:
        book(clinic, assistant, other_patient, therapist, at(sao_paulo, "2026-11-23T09:30"))
    message = refused.value.messages[0]
    assert "Theo" in message and "Alice Moreira" in message and "09:00" in message
    assert Appointment.objects.count() == 1

    # Back to back is fine; a cancelled appointment frees its time.
    book(clinic, assistant, other_patient, therapist, at(sao_paulo, "2026-11-23T09:50"))
    first = Appointment.objects.get(patient=alice)
    services.appointment_cancel(
        practice=clinic, actor=assistant, appointment=first, reason="Unwell"
    )
    book(clinic, assistant, other_patient, therapist, at(sao_paulo, "2026-11-23T09:00"), 50)
    assert Appointment.objects.taking_time().count() == 2


def test_two_therapists_may_see_patients_at_the_same_time_but_a_room_warns(
    clinic, assistant, therapist, other_therapist, alice, bruno, sao_paulo
):
    start = at(sao_paulo, "2026-11-24T14:00")
    _, warnings = book(clinic, assistant, alice, therapist, start, room="Room 1")
    assert warnings == []
    _, warnings = book(clinic, assistant, bruno, other_therapist, start, room="room 1")
    assert len(warnings) == 1 and "Theo" in warnings[0]
    assert Appointment.objects.count() == 2


def test_moving_an_appointment_checks_against_the_others_not_itself(
    clinic, assistant, therapist, alice, sao_paulo
):
    appointment, _ = book(clinic, assistant, alice, therapist, at(sao_paulo, "2026-11-25T10:00"))
    book(clinic, assistant, alice, therapist, at(sao_paulo, "2026-11-25T12:00"))
    later = Booking(
        patient=alice,
        therapist=therapist,
        starts_at=at(sao_paulo, "2026-11-25T10:30"),
        ends_at=at(sao_paulo, "2026-11-25T11:20"),
    )
    services.appointment_update(
        practice=clinic, actor=assistant, appointment=appointment, booking=later
    )
    clash = Booking(
        patient=alice,
        therapist=therapist,
        starts_at=at(sao_paulo, "2026-11-25T11:30"),
        ends_at=at(sao_paulo, "2026-11-25T12:20"),
    )
    with pytest.raises(ValidationError):
        services.appointment_update(
            practice=clinic, actor=assistant, appointment=appointment, booking=clash
        )
    appointment.refresh_from_db()
    assert appointment.starts_at == at(sao_paulo, "2026-11-25T10:30")


def test_booking_needs_an_assigned_active_patient_and_an_offered_therapy(
    clinic, assistant, therapist, other_therapist, alice, reiki, sao_paulo
):
    start = at(sao_paulo, "2026-11-26T09:00")
    with pytest.raises(ValidationError, match="does not treat"):
        book(clinic, assistant, alice, other_therapist, start)
    with pytest.raises(ValidationError, match="take appointments"):
        book(clinic, assistant, alice, assistant, start)
    reiki.is_active = False
    reiki.save()
    with pytest.raises(ValidationError, match="no longer offered"):
        book(clinic, assistant, alice, therapist, start, therapy_type=reiki)
    alice.archived_at = timezone.now()
    alice.save()
    with pytest.raises(ValidationError, match="archived"):
        book(clinic, assistant, alice, therapist, start)
    assert not Appointment.objects.exists()


def test_no_show_only_once_started_and_closed_appointments_stay_closed(
    clinic, assistant, therapist, alice
):
    future, _ = book(clinic, assistant, alice, therapist, timezone.now() + timedelta(days=1))
    with pytest.raises(ValidationError, match="once it has started"):
        services.appointment_mark_no_show(practice=clinic, actor=assistant, appointment=future)
    past = AppointmentFactory(
        practice=clinic,
        patient=alice,
        therapist=therapist,
        starts_at=timezone.now() - timedelta(hours=2),
    )
    services.appointment_mark_no_show(practice=clinic, actor=assistant, appointment=past)
    assert past.status == AppointmentStatus.NO_SHOW
    with pytest.raises(ValidationError, match="can no longer be changed"):
        services.appointment_cancel(practice=clinic, actor=assistant, appointment=past, reason="x")


# --- time zones ---------------------------------------------------------------------------


def test_lisbon_week_across_the_end_of_summer_time(client_for, assistant, clinic, therapist, alice):
    clinic.time_zone = "Europe/Lisbon"
    clinic.save()
    lisbon = zoneinfo.ZoneInfo("Europe/Lisbon")
    client = client_for(assistant)
    # Summer time ends on Sunday 25 October 2026 at 02:00 (clocks go back to 01:00).
    for day in ("2026-10-23", "2026-10-26"):
        response = client.post(
            reverse("sessions:appointment_new"),
            {"patient": alice.pk, "therapist": therapist.pk,
             "therapy_type": TherapyTypeFactory(practice=clinic).pk,
             "starts_at": f"{day}T09:00", "minutes": 60},
        )  # fmt: skip
        assert response.status_code == 302, response.content
    starts = sorted(Appointment.objects.values_list("starts_at", flat=True))
    assert [s.astimezone(zoneinfo.ZoneInfo("UTC")).hour for s in starts] == [8, 9]
    assert [s.astimezone(lisbon).hour for s in starts] == [9, 9]

    # A late appointment on the long Sunday still belongs to that Sunday's column.
    AppointmentFactory(
        practice=clinic, patient=alice, therapist=therapist,
        starts_at=at(lisbon, "2026-10-25T23:00"),
    )  # fmt: skip
    week = client.get(reverse("sessions:calendar"), {"date": "2026-10-21"})
    grid = week.context["grid"]
    rows = {d.day.isoformat(): [p.row for p in d.placed] for d in grid.days if d.placed}
    nine = (9 - grid.first_hour) * 4 + 1
    assert rows["2026-10-23"] == [nine]
    assert rows["2026-10-25"] == [(23 - grid.first_hour) * 4 + 1]
    next_week = client.get(reverse("sessions:calendar"), {"date": "2026-10-26"})
    days = {d.day.isoformat(): [p.row for p in d.placed] for d in next_week.context["grid"].days}
    assert days["2026-10-26"] == [(9 - next_week.context["grid"].first_hour) * 4 + 1]


def test_sao_paulo_times_are_stored_in_utc(client_for, assistant, clinic, therapist, alice, reiki):
    clinic.time_zone = "America/Sao_Paulo"
    clinic.save()
    client_for(assistant).post(
        reverse("sessions:appointment_new"),
        {"patient": alice.pk, "therapist": therapist.pk, "therapy_type": reiki.pk,
         "starts_at": "2026-11-23T09:00", "minutes": 60},
    )  # fmt: skip
    appointment = Appointment.objects.get()
    assert appointment.starts_at == datetime.fromisoformat("2026-11-23T12:00:00+00:00")
    assert appointment.ends_at - appointment.starts_at == timedelta(hours=1)


# --- pages and roles ----------------------------------------------------------------------


def test_week_view_query_count_does_not_grow_with_the_week(
    client_for, assistant, clinic, therapist, alice, reiki, django_assert_max_num_queries
):
    tz = zoneinfo.ZoneInfo(clinic.time_zone)
    monday = at(tz, "2026-11-23T08:00")
    for i in range(20):
        AppointmentFactory(
            practice=clinic, patient=alice, therapist=therapist, therapy_type=reiki,
            starts_at=monday + timedelta(days=i % 5, hours=i // 5),
        )  # fmt: skip
    client = client_for(assistant)
    url = reverse("sessions:calendar") + "?date=2026-11-23"
    client.get(url)
    with django_assert_max_num_queries(8) as small:
        assert client.get(url).status_code == 200

    therapists = [UserFactory() for _ in range(10)]
    for t_index, person in enumerate(therapists):
        MembershipFactory(practice=clinic, user=person, role=Role.THERAPIST)
        patient = PatientFactory(practice=clinic, therapist=person)
        for i in range(30):
            AppointmentFactory(
                practice=clinic, patient=patient, therapist=person, therapy_type=reiki,
                starts_at=monday + timedelta(days=i % 5, hours=i // 5, minutes=t_index),
            )  # fmt: skip
    with django_assert_max_num_queries(8) as busy:
        response = client.get(url)
    assert len(response.context["grid"].days[0].placed) >= 60
    assert len(busy.captured_queries) == len(small.captured_queries)


def test_a_therapist_sees_colleagues_as_busy_time_without_names(
    client_for, therapist, clinic, alice, bruno, other_therapist, reiki
):
    tz = zoneinfo.ZoneInfo(clinic.time_zone)
    mine = AppointmentFactory(
        practice=clinic, patient=alice, therapist=therapist, starts_at=at(tz, "2026-11-23T09:00")
    )
    theirs = AppointmentFactory(
        practice=clinic, patient=bruno, therapist=other_therapist,
        starts_at=at(tz, "2026-11-23T10:00"),
    )  # fmt: skip
    client = client_for(therapist)
    own = client.get(reverse("sessions:calendar"), {"date": "2026-11-23"}).content.decode()
    assert "Alice" in own and "Bruno" not in own  # their own calendar by default
    everyone = client.get(
        reverse("sessions:calendar"), {"date": "2026-11-23", "therapist": "all"}
    ).content.decode()
    assert "Alice" in everyone and "Bruno Lima" not in everyone and "B.L." in everyone
    assert client.get(reverse("sessions:appointment_edit", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("sessions:appointment_edit", args=[mine.pk])).status_code == 200
    response = client.post(
        reverse("sessions:appointment_cancel", args=[theirs.pk]), {"reason": "x"}
    )
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == AppointmentStatus.SCHEDULED


def test_a_therapist_books_only_for_themselves(
    client_for, therapist, other_therapist, clinic, alice, reiki
):
    response = client_for(therapist).post(
        reverse("sessions:appointment_new"),
        {"patient": alice.pk, "therapist": other_therapist.pk, "therapy_type": reiki.pk,
         "starts_at": "2026-11-23T15:00", "minutes": 50},
    )  # fmt: skip
    assert response.status_code == 302
    assert Appointment.objects.get().therapist == therapist


def test_a_therapist_cannot_book_another_therapists_patient(client_for, therapist, bruno, reiki):
    response = client_for(therapist).post(
        reverse("sessions:appointment_new"),
        {"patient": bruno.pk, "therapy_type": reiki.pk, "starts_at": "2026-11-23T15:00",
         "minutes": 50},
    )  # fmt: skip
    assert response.status_code == 422
    assert not Appointment.objects.exists()


def test_booking_over_htmx_closes_the_dialog_and_refreshes_the_calendar(
    client_for, assistant, therapist, alice, reiki
):
    client = client_for(assistant)
    dialog = client.get(
        reverse("sessions:appointment_new"), {"start": "2026-11-23T09:15"}, headers=HX
    )
    body = dialog.content.decode()
    assert "<html" not in body and "<dialog" in body and 'value="2026-11-23T09:15"' in body
    response = client.post(
        reverse("sessions:appointment_new"),
        {"patient": alice.pk, "therapist": therapist.pk, "therapy_type": reiki.pk,
         "starts_at": "2026-11-23T09:15", "minutes": 60, "room": "Sala 2"},
        headers=HX,
    )  # fmt: skip
    assert response.status_code == 204
    assert "calendarChanged" in response["HX-Trigger"]
    assert Appointment.objects.get().room == "Sala 2"


def test_a_clash_is_shown_in_the_dialog_and_nothing_is_saved(
    client_for, assistant, therapist, alice, reiki, clinic
):
    tz = zoneinfo.ZoneInfo(clinic.time_zone)
    AppointmentFactory(
        practice=clinic, patient=alice, therapist=therapist, starts_at=at(tz, "2026-11-23T09:00")
    )
    response = client_for(assistant).post(
        reverse("sessions:appointment_new"),
        {"patient": alice.pk, "therapist": therapist.pk, "therapy_type": reiki.pk,
         "starts_at": "2026-11-23T09:30", "minutes": 60},
        headers=HX,
    )  # fmt: skip
    assert response.status_code == 422
    assert "already has an appointment with Alice Moreira" in response.content.decode()
    assert Appointment.objects.count() == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("minutes", "2", "greater than or equal to 5"),
        ("starts_at", "tomorrow", "Enter a valid date/time"),
        ("meeting_url", "not a link", "Enter a valid URL"),
        ("patient", "", "This field is required"),
    ],
)
def test_bad_input_gets_a_message(
    field, value, message, client_for, assistant, therapist, alice, reiki
):
    data = {"patient": alice.pk, "therapist": therapist.pk, "therapy_type": reiki.pk,
            "starts_at": "2026-11-23T09:00", "minutes": 50, field: value}  # fmt: skip
    response = client_for(assistant).post(reverse("sessions:appointment_new"), data)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not Appointment.objects.exists()


def test_cancel_asks_for_a_reason_and_frees_the_slot(
    client_for, assistant, clinic, therapist, alice
):
    appointment = AppointmentFactory(practice=clinic, patient=alice, therapist=therapist)
    client = client_for(assistant)
    url = reverse("sessions:appointment_cancel", args=[appointment.pk])
    assert client.post(url, {"reason": ""}).status_code == 422
    assert client.post(url, {"reason": "Patient unwell"}).status_code == 302
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CANCELLED
    assert appointment.cancel_reason == "Patient unwell" and appointment.cancelled_at


def test_month_and_day_views(client_for, owner, clinic, therapist, alice):
    tz = zoneinfo.ZoneInfo(clinic.time_zone)
    AppointmentFactory(
        practice=clinic, patient=alice, therapist=therapist, starts_at=at(tz, "2026-11-30T09:00")
    )
    client = client_for(owner)
    month = client.get(reverse("sessions:calendar"), {"view": "month", "date": "2026-11-10"})
    assert month.status_code == 200 and len(month.context["grid"].days) == 42
    assert "Alice" in month.content.decode()
    day = client.get(reverse("sessions:calendar"), {"view": "day", "date": "2026-11-30"})
    assert [p.appointment.patient for p in day.context["grid"].days[0].placed] == [alice]
    assert client.get(reverse("sessions:calendar"), {"view": "year"}).status_code == 302


def test_another_practices_therapist_is_never_offered(client_for, assistant, clinic):
    stranger = UserFactory(first_name="Zelda")
    MembershipFactory(practice=PracticeFactory(), user=stranger, role=Role.THERAPIST)
    body = client_for(assistant).get(reverse("sessions:appointment_new")).content.decode()
    assert "Zelda" not in body
