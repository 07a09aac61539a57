"""Recurring appointments, "this one" / "this and following", and moving by drag."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from practice.models import AuditEvent
from sessions import services
from sessions.models import Appointment, AppointmentSeries, AppointmentStatus
from sessions.services import Booking, Repeat
from tests.factories import AppointmentFactory, PatientFactory, TherapyTypeFactory

HX = {"HX-Request": "true"}
LISBON = zoneinfo.ZoneInfo("Europe/Lisbon")


@pytest.fixture
def lisbon(clinic):
    clinic.time_zone = "Europe/Lisbon"
    clinic.save()
    return LISBON


@pytest.fixture
def alice(clinic, therapist):
    return PatientFactory(practice=clinic, full_name="Alice Moreira", therapist=therapist)


@pytest.fixture
def reiki(clinic):
    return TherapyTypeFactory(practice=clinic, name="Reiki", default_duration=60)


def at(tz, text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=tz)


def weekly(practice, actor, patient, therapist, start, repeat, minutes=50, **extra):
    return services.appointment_book_series(
        practice=practice,
        actor=actor,
        booking=Booking(
            patient=patient,
            therapist=therapist,
            starts_at=start,
            ends_at=start + timedelta(minutes=minutes),
            **extra,
        ),
        repeat=repeat,
    )


def local(appointments) -> list[str]:
    return [a.starts_at.astimezone(LISBON).strftime("%a %d/%m %H:%M") for a in appointments]


# --- booking a series --------------------------------------------------------------------


def test_a_weekly_series_keeps_its_wall_clock_time_across_the_end_of_summer_time(
    clinic, assistant, therapist, alice, lisbon
):
    # Summer time ends in Lisbon on Sunday 25 October 2026.
    booked, warnings = weekly(
        clinic, assistant, alice, therapist, at(lisbon, "2026-10-12T09:00"), Repeat(1, count=4)
    )
    assert warnings == []
    assert local(booked) == [
        "Mon 12/10 09:00",
        "Mon 19/10 09:00",
        "Mon 26/10 09:00",
        "Mon 02/11 09:00",
    ]
    utc_hours = [a.starts_at.astimezone(UTC).hour for a in booked]
    assert utc_hours == [8, 8, 9, 9]
    assert all(a.minutes == 50 for a in booked)
    series = AppointmentSeries.objects.get()
    assert {a.series_id for a in Appointment.objects.all()} == {series.pk}
    assert AuditEvent.objects.filter(action="appointment.book_series").count() == 1


def test_every_two_weeks_until_a_date_includes_that_date(
    clinic, assistant, therapist, alice, lisbon
):
    booked, _ = weekly(
        clinic,
        assistant,
        alice,
        therapist,
        at(lisbon, "2026-11-02T17:30"),
        Repeat(2, until=date(2026, 12, 14)),
    )
    assert local(booked) == [
        "Mon 02/11 17:30",
        "Mon 16/11 17:30",
        "Mon 30/11 17:30",
        "Mon 14/12 17:30",
    ]


def test_one_clashing_date_refuses_the_whole_series_and_names_it(
    clinic, assistant, therapist, alice, lisbon
):
    other = PatientFactory(practice=clinic, full_name="Caio Dias", therapist=therapist)
    AppointmentFactory(
        practice=clinic,
        patient=other,
        therapist=therapist,
        starts_at=at(lisbon, "2026-11-16T09:30"),
    )
    with pytest.raises(ValidationError) as refused:
        weekly(
            clinic, assistant, alice, therapist, at(lisbon, "2026-11-02T09:00"), Repeat(1, count=6)
        )
    assert len(refused.value.messages) == 1
    assert "Caio Dias" in refused.value.messages[0] and "11/16/2026" in refused.value.messages[0]
    assert Appointment.objects.count() == 1
    assert not AppointmentSeries.objects.exists()


def test_a_series_is_at_least_two_dates_and_at_most_a_year(
    clinic, assistant, therapist, alice, lisbon
):
    start = at(lisbon, "2026-11-02T09:00")
    with pytest.raises(ValidationError, match="at least two"):
        weekly(clinic, assistant, alice, therapist, start, Repeat(1, until=date(2026, 11, 8)))
    with pytest.raises(ValidationError, match="one year"):
        weekly(clinic, assistant, alice, therapist, start, Repeat(8, count=52))
    assert not Appointment.objects.exists()


# --- this one, this and following ---------------------------------------------------------


@pytest.fixture
def mondays(clinic, assistant, therapist, alice, lisbon, reiki):
    """Six Mondays at 09:00 from 2 November 2026."""
    booked, _ = weekly(
        clinic,
        assistant,
        alice,
        therapist,
        at(lisbon, "2026-11-02T09:00"),
        Repeat(1, count=6),
        room="Sala 1",
        therapy_type=reiki,
    )
    return booked


def test_this_and_following_moves_the_later_dates_by_the_same_amount(
    clinic, assistant, therapist, alice, lisbon, mondays, reiki
):
    services.appointment_cancel(
        practice=clinic, actor=assistant, appointment=mondays[4], reason="Holiday"
    )
    third = mondays[2]
    count, _ = services.appointment_update_following(
        practice=clinic,
        actor=assistant,
        appointment=third,
        booking=Booking(
            patient=alice,
            therapist=therapist,
            therapy_type=reiki,
            starts_at=at(lisbon, "2026-11-17T10:00"),  # Monday 9:00 → Tuesday 10:00
            ends_at=at(lisbon, "2026-11-17T11:00"),
            room="Sala 3",
        ),
    )
    assert count == 3  # the third, fourth and sixth: the cancelled fifth stays as it was
    rows = list(Appointment.objects.order_by("starts_at", "pk"))
    assert local(rows) == [
        "Mon 02/11 09:00",
        "Mon 09/11 09:00",
        "Tue 17/11 10:00",
        "Tue 24/11 10:00",
        "Mon 30/11 09:00",
        "Tue 08/12 10:00",
    ]
    assert [a.room for a in rows] == ["Sala 1", "Sala 1", "Sala 3", "Sala 3", "Sala 1", "Sala 3"]
    assert [a.minutes for a in rows] == [50, 50, 60, 60, 50, 60]
    assert rows[4].status == AppointmentStatus.CANCELLED


def test_this_and_following_is_all_or_nothing(clinic, assistant, therapist, alice, lisbon, mondays):
    other = PatientFactory(practice=clinic, full_name="Caio Dias", therapist=therapist)
    AppointmentFactory(
        practice=clinic,
        patient=other,
        therapist=therapist,
        starts_at=at(lisbon, "2026-11-30T10:00"),
    )
    before = local(Appointment.objects.filter(patient=alice).order_by("starts_at"))
    with pytest.raises(ValidationError, match="Caio Dias"):
        services.appointment_update_following(
            practice=clinic,
            actor=assistant,
            appointment=mondays[1],
            booking=Booking(
                patient=alice,
                therapist=therapist,
                starts_at=at(lisbon, "2026-11-09T10:00"),
                ends_at=at(lisbon, "2026-11-09T10:50"),
            ),
        )
    assert local(Appointment.objects.filter(patient=alice).order_by("starts_at")) == before


def test_this_one_changes_only_that_date(client_for, assistant, therapist, alice, reiki, mondays):
    response = client_for(assistant).post(
        reverse("sessions:appointment_edit", args=[mondays[1].pk]),
        {"patient": alice.pk, "therapist": therapist.pk, "therapy_type": reiki.pk,
         "starts_at": "2026-11-10T15:00",
         "minutes": 50, "room": "Sala 1", "scope": "this"},
        headers=HX,
    )  # fmt: skip
    assert response.status_code == 204, response.content.decode()
    assert local(Appointment.objects.order_by("starts_at")) == [
        "Mon 02/11 09:00",
        "Tue 10/11 15:00",
        "Mon 16/11 09:00",
        "Mon 23/11 09:00",
        "Mon 30/11 09:00",
        "Mon 07/12 09:00",
    ]


def test_the_edit_dialog_of_a_series_asks_which_dates_and_applies_to_the_following(
    client_for, therapist, alice, reiki, mondays
):
    # The therapist manages their own series.
    client = client_for(therapist)
    url = reverse("sessions:appointment_edit", args=[mondays[3].pk])
    dialog = client.get(url, headers=HX).content.decode()
    assert "This and following" in dialog and "every week, 6 times" in dialog
    response = client.post(
        url,
        {"patient": alice.pk, "therapy_type": reiki.pk, "starts_at": "2026-11-23T08:00",
         "minutes": 50, "room": "",
         "scope": "following"},
        headers=HX,
    )  # fmt: skip
    assert response.status_code == 204, response.content.decode()
    assert local(Appointment.objects.order_by("starts_at"))[2:] == [
        "Mon 16/11 09:00",
        "Mon 23/11 08:00",
        "Mon 30/11 08:00",
        "Mon 07/12 08:00",
    ]


def test_cancelling_this_and_following_keeps_the_earlier_dates(client_for, assistant, mondays):
    client = client_for(assistant)
    url = reverse("sessions:appointment_cancel", args=[mondays[2].pk])
    assert "This and following" in client.get(url, headers=HX).content.decode()
    response = client.post(url, {"reason": "Moving abroad", "scope": "following"}, headers=HX)
    assert response.status_code == 204
    statuses = list(
        Appointment.objects.order_by("starts_at").values_list("status", "cancel_reason")
    )
    assert statuses == [("scheduled", "")] * 2 + [("cancelled", "Moving abroad")] * 4
    assert AuditEvent.objects.filter(action="appointment.cancel_following").count() == 1


def test_a_single_appointment_is_not_asked_about_the_series(
    client_for, assistant, clinic, therapist, alice
):
    single = AppointmentFactory(practice=clinic, patient=alice, therapist=therapist)
    client = client_for(assistant)
    assert (
        "This and following"
        not in client.get(
            reverse("sessions:appointment_edit", args=[single.pk]), headers=HX
        ).content.decode()
    )
    assert (
        "This and following"
        not in client.get(
            reverse("sessions:appointment_cancel", args=[single.pk]), headers=HX
        ).content.decode()
    )


# --- the booking form ----------------------------------------------------------------------


def test_booking_a_weekly_appointment_from_the_dialog(
    client_for, assistant, therapist, alice, reiki, lisbon
):
    response = client_for(assistant).post(
        reverse("sessions:appointment_new"),
        {"patient": alice.pk, "therapist": therapist.pk, "therapy_type": reiki.pk,
         "starts_at": "2026-11-23T09:00", "minutes": 60, "repeat": "1", "ends": "after",
         "count": "8"},
        headers=HX,
    )  # fmt: skip
    assert response.status_code == 204, response.content.decode()
    assert Appointment.objects.count() == 8
    assert AppointmentSeries.objects.get().count == 8


@pytest.mark.parametrize(
    ("repeat", "message"),
    [
        ({"repeat": "1", "ends": "after", "count": "1"}, "greater than or equal to 2"),
        ({"repeat": "1", "ends": "after", "count": ""}, "how many times"),
        ({"repeat": "2", "ends": "on", "until": ""}, "date of the last appointment"),
        ({"repeat": "2", "ends": "on", "until": "2026-11-20"}, "after the first appointment"),
        ({"repeat": "1", "ends": "on", "until": "2028-01-01"}, "one year at most"),
        ({"repeat": "5"}, "Select a valid choice"),
    ],
)
def test_a_bad_repetition_gets_a_message_and_books_nothing(
    client_for, assistant, therapist, alice, repeat, message
):
    response = client_for(assistant).post(
        reverse("sessions:appointment_new"),
        {"patient": alice.pk, "therapist": therapist.pk, "starts_at": "2026-11-23T09:00",
         "minutes": 60, **repeat},
        headers=HX,
    )  # fmt: skip
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not Appointment.objects.exists()


# --- drag to move and resize --------------------------------------------------------------


def move(client, appointment, starts_at, minutes=50, **calendar):
    return client.post(
        reverse("sessions:appointment_move", args=[appointment.pk]),
        {"starts_at": starts_at, "minutes": minutes, "view": "week", "date": "2026-11-23",
         **calendar},
        headers=HX,
    )  # fmt: skip


def test_dragging_one_date_of_a_series_moves_only_it_and_answers_with_the_calendar(
    client_for, assistant, mondays, django_assert_max_num_queries
):
    client = client_for(assistant)
    with django_assert_max_num_queries(20):
        response = move(client, mondays[3], "2026-11-25T14:00")
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="calendar"')
    assert "<html" not in body and "moved to" in body
    assert 'hx-get="/calendar/?view=week&amp;date=2026-11-23"' in body
    assert local(Appointment.objects.order_by("starts_at")) == [
        "Mon 02/11 09:00",
        "Mon 09/11 09:00",
        "Mon 16/11 09:00",
        "Wed 25/11 14:00",
        "Mon 30/11 09:00",
        "Mon 07/12 09:00",
    ]
    moved = Appointment.objects.get(pk=mondays[3].pk)
    assert local([moved]) == ["Wed 25/11 14:00"] and moved.minutes == 50
    assert moved.series_id == mondays[0].series_id


def test_dragging_the_bottom_edge_changes_the_length(client_for, therapist, mondays):
    response = move(client_for(therapist), mondays[0], "2026-11-02T09:00", minutes=80)
    assert response.status_code == 200
    assert Appointment.objects.get(pk=mondays[0].pk).minutes == 80


def test_a_drag_onto_a_clash_changes_nothing_and_says_why(
    client_for, assistant, clinic, therapist, lisbon, mondays
):
    other = PatientFactory(practice=clinic, full_name="Caio Dias", therapist=therapist)
    AppointmentFactory(
        practice=clinic,
        patient=other,
        therapist=therapist,
        starts_at=at(lisbon, "2026-11-25T14:00"),
    )
    response = move(client_for(assistant), mondays[3], "2026-11-25T14:30")
    body = response.content.decode()
    assert response.status_code == 200 and "Caio Dias" in body and '<section id="calendar"' in body
    assert local([Appointment.objects.get(pk=mondays[3].pk)]) == ["Mon 23/11 09:00"]


@pytest.mark.parametrize(
    "data",
    [
        {"starts_at": "tomorrow", "minutes": 50},
        {"starts_at": "2026-11-25T14:00", "minutes": 0},
        {"starts_at": "2026-11-25T14:00", "minutes": 100000},
    ],
)
def test_a_drag_that_cannot_be_read_changes_nothing(client_for, assistant, mondays, data):
    response = client_for(assistant).post(
        reverse("sessions:appointment_move", args=[mondays[0].pk]), data, headers=HX
    )
    assert response.status_code == 200 and "nothing was changed" in response.content.decode()
    assert local([Appointment.objects.get(pk=mondays[0].pk)]) == ["Mon 02/11 09:00"]


def test_a_closed_appointment_cannot_be_dragged(client_for, assistant, clinic, mondays):
    services.appointment_cancel(
        practice=clinic, actor=assistant, appointment=mondays[0], reason="Ill"
    )
    response = move(client_for(assistant), mondays[0], "2026-11-03T09:00")
    assert "can no longer be changed" in response.content.decode()
    assert local([Appointment.objects.get(pk=mondays[0].pk)]) == ["Mon 02/11 09:00"]


def test_only_who_manages_an_appointment_can_drag_it(
    client_for, other_therapist, outsider, mondays
):
    # Tania does not treat Alice; the outsider is in another practice.
    for user in (other_therapist, outsider):
        response = move(client_for(user), mondays[0], "2026-11-03T09:00")
        assert response.status_code == 404
    assert local([Appointment.objects.get(pk=mondays[0].pk)]) == ["Mon 02/11 09:00"]


def test_open_own_appointments_carry_drag_handles_and_others_do_not(
    client_for, therapist, clinic, other_therapist, lisbon, mondays
):
    bruno = PatientFactory(practice=clinic, full_name="Bruno Lima", therapist=other_therapist)
    AppointmentFactory(
        practice=clinic,
        patient=bruno,
        therapist=other_therapist,
        starts_at=at(lisbon, "2026-11-03T09:00"),
    )
    body = (
        client_for(therapist)
        .get(reverse("sessions:calendar"), {"date": "2026-11-02", "therapist": "all"})
        .content.decode()
    )
    assert body.count("data-start=") == 1  # Theo's own Monday, not Tania's busy Tuesday
    assert body.count('class="ev-resize"') == 1
