"""The phone-calendar feed: what the ics holds (and never holds), who reaches it, and how
its secret link is created, replaced and turned off."""

from __future__ import annotations

import logging
from datetime import UTC, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar, Event

from practice.models import AuditEvent, Membership, Role
from sessions.feeds import calendar_feed_create, calendar_feed_revoke, initials
from sessions.models import AppointmentStatus, CalendarFeed
from tests.factories import (
    AppointmentFactory,
    MembershipFactory,
    PatientFactory,
    TherapyTypeFactory,
)

PAGE = reverse("sessions:calendar_feed")
CANARIES = (
    "Zebulon",  # the patient's full name, beyond its initials
    "Zeb-preferred",
    "canary-front-desk",
    "canary-meeting",
    "canary-cancel-reason",
    "zebulon@example.com",
)


def ics_url(feed: CalendarFeed) -> str:
    return reverse("sessions:calendar_feed_ics", args=[feed.token])


def fetch(feed: CalendarFeed):
    """Fetch as a phone does: no session, no cookies."""
    return Client().get(ics_url(feed))


def events(response) -> dict[str, Event]:
    assert response.status_code == 200
    calendar = Calendar.from_ical(response.content)
    return {str(event["UID"]): event for event in calendar.walk("VEVENT")}


@pytest.fixture
def reiki(clinic):
    return TherapyTypeFactory(practice=clinic, name="Reiki")


@pytest.fixture
def zeb(clinic, therapist):
    return PatientFactory(
        practice=clinic,
        full_name="Maria Zebulon",
        preferred_name="Zeb-preferred",
        email="zebulon@example.com",
        therapist=therapist,
    )


@pytest.fixture
def feed(clinic, therapist) -> CalendarFeed:
    return calendar_feed_create(practice=clinic, actor=therapist)


def appointment(clinic, therapist, patient, *, days: float = 1, **extra):
    starts = timezone.now().replace(microsecond=0) + timedelta(days=days)
    return AppointmentFactory(
        practice=clinic,
        therapist=therapist,
        patient=patient,
        starts_at=starts,
        ends_at=starts + timedelta(minutes=50),
        **extra,
    )


# --- What the feed holds -------------------------------------------------------------


def test_feed_shows_times_initials_therapy_and_room_and_nothing_else(
    clinic, therapist, zeb, reiki, feed
):
    booked = appointment(
        clinic,
        therapist,
        zeb,
        therapy_type=reiki,
        room="Sala 2",
        front_desk_note="canary-front-desk",
        meeting_url="https://meet.example.com/canary-meeting",
    )
    cancelled = appointment(
        clinic,
        therapist,
        zeb,
        days=2,
        status=AppointmentStatus.CANCELLED,
        cancel_reason="canary-cancel-reason",
        cancelled_at=timezone.now(),
    )
    clinic.name = "Clínica Aurora"
    clinic.save()

    response = fetch(feed)

    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["X-Robots-Tag"] == "noindex"
    assert "private" in response["Cache-Control"] or "no-store" in response["Cache-Control"]
    text = response.content.decode()
    for canary in CANARIES:
        assert canary.lower() not in text.lower(), canary
    assert "X-WR-CALNAME:Clínica Aurora – Holos" in text

    found = events(response)
    event = found[f"appointment-{booked.pk}@holos"]
    assert str(event["SUMMARY"]) == "M.Z. · Reiki"
    assert event.decoded("DTSTART") == booked.starts_at
    assert event.decoded("DTSTART").utcoffset() == timedelta(0)
    assert event.decoded("DTEND") == booked.ends_at
    assert "DTSTAMP" in event
    assert str(event["LOCATION"]) == "Sala 2"
    assert str(event["STATUS"]) == "TENTATIVE"

    gone = found[f"appointment-{cancelled.pk}@holos"]
    assert str(gone["SUMMARY"]) == "M.Z."  # no therapy chosen
    assert str(gone["STATUS"]) == "CANCELLED"
    assert "LOCATION" not in gone
    assert set(found) == {f"appointment-{booked.pk}@holos", f"appointment-{cancelled.pk}@holos"}


def test_statuses_map_to_icalendar(clinic, therapist, zeb, feed):
    expected = {
        AppointmentStatus.SCHEDULED: "TENTATIVE",
        AppointmentStatus.CONFIRMED: "CONFIRMED",
        AppointmentStatus.COMPLETED: "CONFIRMED",
        AppointmentStatus.NO_SHOW: "CONFIRMED",
        AppointmentStatus.CANCELLED: "CANCELLED",
    }
    uids = {
        f"appointment-{appointment(clinic, therapist, zeb, days=i, status=status).pk}@holos": ics
        for i, (status, ics) in enumerate(expected.items(), start=1)
    }
    found = events(fetch(feed))
    assert {uid: str(found[uid]["STATUS"]) for uid in uids} == uids


def test_uids_stay_put_when_an_appointment_moves(clinic, therapist, zeb, feed):
    moved = appointment(clinic, therapist, zeb)
    before = events(fetch(feed))
    moved.starts_at += timedelta(hours=2)
    moved.ends_at += timedelta(hours=2)
    moved.save()
    after = events(fetch(feed))
    assert before.keys() == after.keys()
    assert after[f"appointment-{moved.pk}@holos"].decoded("DTSTART") == moved.starts_at


def test_only_the_members_appointments_in_this_practice_and_window(
    clinic, therapist, other_therapist, zeb, feed, other_practice_objects
):
    mine = appointment(clinic, therapist, zeb)
    recent = appointment(clinic, therapist, zeb, days=-20)
    appointment(clinic, therapist, zeb, days=-40)  # too old
    appointment(clinic, therapist, zeb, days=400)  # too far ahead
    colleague = PatientFactory(practice=clinic, full_name="Colleague Patient")
    appointment(clinic, other_therapist, colleague)
    # The therapist also works in another practice: that calendar stays out of this feed.
    other = other_practice_objects.practice
    MembershipFactory(practice=other, user=therapist, role=Role.THERAPIST)
    appointment(other, therapist, other_practice_objects.patient)

    found = events(fetch(feed))

    assert set(found) == {f"appointment-{mine.pk}@holos", f"appointment-{recent.pk}@holos"}


def test_initials_are_the_first_letter_of_each_name():
    assert initials("Maria Silva") == "M.S."
    assert initials("  ana  de souza ") == "a.d.s."
    assert initials("Cher") == "C."


def test_query_count_does_not_grow_with_appointments(
    clinic, therapist, zeb, reiki, feed, django_assert_max_num_queries
):
    for day in range(60):
        appointment(clinic, therapist, zeb, days=day - 10, therapy_type=reiki, room="Sala 1")
    with django_assert_max_num_queries(2):
        response = fetch(feed)
    assert len(events(response)) == 60


# --- Who reaches the feed ------------------------------------------------------------


def test_feed_needs_no_sign_in_and_answers_only_get(feed):
    assert fetch(feed).status_code == 200
    assert Client().post(ics_url(feed)).status_code == 405


def test_unknown_token_gets_404(db):
    response = Client().get(reverse("sessions:calendar_feed_ics", args=["no-such-token"]))
    assert response.status_code == 404


def test_revoked_token_gets_404(clinic, therapist, feed):
    calendar_feed_revoke(practice=clinic, actor=therapist)
    assert fetch(feed).status_code == 404


def test_replaced_token_stops_and_the_new_one_works(clinic, therapist, feed):
    new = calendar_feed_create(practice=clinic, actor=therapist)
    assert new.token != feed.token
    assert fetch(feed).status_code == 404
    assert fetch(new).status_code == 200
    assert CalendarFeed.objects.filter(user=therapist).count() == 1


def test_deactivated_member_feed_gets_404(clinic, therapist, feed):
    Membership.objects.filter(practice=clinic, user=therapist).update(is_active=False)
    assert fetch(feed).status_code == 404


def test_member_who_became_assistant_feed_gets_404(clinic, therapist, feed):
    Membership.objects.filter(practice=clinic, user=therapist).update(role=Role.ASSISTANT)
    assert fetch(feed).status_code == 404


def test_feed_of_a_member_of_two_practices_needs_the_membership_of_its_own(
    clinic, therapist, feed, other_practice
):
    MembershipFactory(practice=other_practice, user=therapist, role=Role.THERAPIST)
    Membership.objects.filter(practice=clinic, user=therapist).update(is_active=False)
    assert fetch(feed).status_code == 404


def test_a_failed_fetch_does_not_log_the_token(clinic, therapist, feed, caplog):
    calendar_feed_revoke(practice=clinic, actor=therapist)
    with caplog.at_level(logging.DEBUG):
        assert fetch(feed).status_code == 404
    assert feed.token not in caplog.text


def test_fetches_write_no_audit_rows(clinic, feed):
    before = AuditEvent.objects.filter(practice=clinic).count()
    fetch(feed)
    fetch(feed)
    assert AuditEvent.objects.filter(practice=clinic).count() == before


# --- The page with the link ----------------------------------------------------------


def test_therapist_creates_replaces_and_turns_off_the_link(client_for, clinic, therapist):
    client = client_for(therapist)
    page = client.get(PAGE)
    assert page.status_code == 200
    assert page["Cache-Control"] == "no-store"
    assert b"Create link" in page.content

    response = client.post(PAGE, {"action": "create"})
    assert response.status_code == 302
    first = CalendarFeed.objects.get(practice=clinic, user=therapist)
    page = client.get(PAGE)
    assert f'value="http://testserver{ics_url(first)}"'.encode() in page.content
    created = AuditEvent.objects.get(practice=clinic, action="calendar_feed.create")
    assert (created.actor, created.target_id, created.data) == (
        therapist,
        str(first.pk),
        {"replaced": False},
    )
    assert first.token not in str(created.data)

    confirm = client.get(PAGE, {"confirm": "replace"})
    assert b"Replace your calendar link?" in confirm.content
    assert b'name="action" value="create"' in confirm.content
    client.post(PAGE, {"action": "create"})
    second = CalendarFeed.objects.get(practice=clinic, user=therapist)
    assert second.token != first.token
    assert AuditEvent.objects.filter(
        practice=clinic, action="calendar_feed.create", data={"replaced": True}
    ).exists()

    confirm = client.get(PAGE, {"confirm": "revoke"})
    assert b"Turn off your calendar link?" in confirm.content
    assert b'name="action" value="revoke"' in confirm.content
    client.post(PAGE, {"action": "revoke"})
    assert not CalendarFeed.objects.filter(user=therapist).exists()
    revoked = AuditEvent.objects.get(practice=clinic, action="calendar_feed.revoke")
    assert (revoked.actor, revoked.target_id) == (therapist, str(second.pk))


def test_owner_has_a_link_too(client_for, clinic, owner):
    client_for(owner).post(PAGE, {"action": "create"})
    assert CalendarFeed.objects.filter(practice=clinic, user=owner).exists()


def test_unknown_action_is_refused(client_for, therapist):
    response = client_for(therapist).post(PAGE, {"action": "share"})
    assert response.status_code == 400
    assert not CalendarFeed.objects.exists()


def test_turning_off_without_a_link_changes_nothing(client_for, clinic, therapist):
    client_for(therapist).post(PAGE, {"action": "revoke"})
    assert not AuditEvent.objects.filter(action="calendar_feed.revoke").exists()


def test_assistant_gets_404(client_for, assistant):
    client = client_for(assistant)
    assert client.get(PAGE).status_code == 404
    assert client.post(PAGE, {"action": "create"}).status_code == 404
    assert not CalendarFeed.objects.exists()


def test_assistant_cannot_get_a_link_from_the_service(clinic, assistant):
    with pytest.raises(ValidationError):
        calendar_feed_create(practice=clinic, actor=assistant)


def test_user_menu_links_the_page_for_treating_members_only(client_for, therapist, assistant):
    link = f'href="{PAGE}"'.encode()
    assert link in client_for(therapist).get(reverse("sessions:calendar")).content
    assert link not in client_for(assistant).get(reverse("sessions:calendar")).content


def test_visitor_is_sent_to_sign_in(client, feed):
    response = client.get(PAGE)
    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]


def test_outsider_sees_only_their_own_link(client_for, feed, outsider, other_practice):
    client = client_for(outsider)
    page = client.get(PAGE)
    assert page.status_code == 200
    assert feed.token.encode() not in page.content
    client.post(PAGE, {"action": "revoke"})
    assert CalendarFeed.objects.filter(pk=feed.pk).exists()
    client.post(PAGE, {"action": "create"})
    own = CalendarFeed.objects.get(user=outsider)
    assert own.practice == other_practice
    assert own.token != feed.token
    assert CalendarFeed.objects.filter(pk=feed.pk).exists()


def test_feed_times_are_utc(clinic, therapist, zeb, feed):
    clinic.time_zone = "America/Sao_Paulo"
    clinic.save()
    booked = appointment(clinic, therapist, zeb)
    start = events(fetch(feed))[f"appointment-{booked.pk}@holos"].decoded("DTSTART")
    assert start.tzinfo is not None
    assert start.astimezone(UTC) == booked.starts_at
    assert f"DTSTART:{booked.starts_at.astimezone(UTC):%Y%m%dT%H%M%S}Z" in fetch(feed).text
