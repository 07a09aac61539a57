"""Sessions end after SESSION_IDLE_MINUTES without activity and SESSION_ABSOLUTE_HOURS after
sign-in; a page polling in the background does not keep one alive; signing in gives a new
session key; deactivating a member ends their open sessions at once."""

from __future__ import annotations

import time

from django.urls import reverse

from practice.middleware import BACKGROUND_HEADER, SEEN_AT, SIGNED_IN_AT
from practice.models import Membership
from practice.services import membership_set_active
from tests.conftest import login
from tests.factories import PASSWORD


def _shift(client, key: str, seconds: float) -> None:
    session = client.session
    session[key] = session[key] - seconds
    session.save()


def _signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_thirty_idle_minutes_end_the_session(client, therapist, settings):
    login(client, therapist)
    _shift(client, SEEN_AT, settings.SESSION_IDLE_SECONDS + 1)
    response = client.get(reverse("sessions:calendar"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login") + "?next=")
    assert not _signed_in(client)
    page = client.get(response.url).content.decode()
    assert "signed out after a while without activity" in page


def test_activity_keeps_it_alive_but_background_polls_do_not(client, therapist, settings):
    login(client, therapist)
    _shift(client, SEEN_AT, settings.SESSION_IDLE_SECONDS - 60)
    before = client.session[SEEN_AT]
    poll = client.get(reverse("sessions:calendar"), headers={BACKGROUND_HEADER: "true"})
    assert poll.status_code == 200 and client.session[SEEN_AT] == before
    client.get(reverse("sessions:calendar"))
    assert client.session[SEEN_AT] > before + 60
    assert _signed_in(client)


def test_a_background_poll_after_the_idle_time_sends_htmx_to_sign_in(client, therapist, settings):
    login(client, therapist)
    _shift(client, SEEN_AT, settings.SESSION_IDLE_SECONDS + 1)
    response = client.get(
        reverse("sessions:calendar"), headers={"HX-Request": "true", BACKGROUND_HEADER: "true"}
    )
    assert response.status_code == 204 and response["HX-Redirect"] == reverse("accounts:login")
    assert not _signed_in(client)


def test_twelve_hours_end_the_session_however_active(client, therapist, settings):
    login(client, therapist)
    _shift(client, SIGNED_IN_AT, settings.SESSION_ABSOLUTE_SECONDS + 1)
    response = client.get(reverse("sessions:calendar"), follow=True)
    assert not _signed_in(client)
    assert "a session lasts at most 12 hours" in response.content.decode()


def test_signing_in_gives_a_new_session_key(client, therapist):
    session = client.session
    session["before"] = True
    session.save()
    before = session.session_key
    response = client.post(
        reverse("accounts:login"), {"username": therapist.email, "password": PASSWORD}
    )
    assert response.status_code == 302 and _signed_in(client)
    assert client.session.session_key != before
    assert abs(client.session[SIGNED_IN_AT] - time.time()) < 60


def test_deactivating_a_member_ends_their_sessions_at_once(client, clinic, owner, therapist):
    login(client, therapist)
    assert client.get(reverse("sessions:calendar")).status_code == 200
    membership = Membership.objects.get(practice=clinic, user=therapist)
    membership_set_active(practice=clinic, actor=owner, membership=membership, active=False)
    response = client.get(reverse("sessions:calendar"))
    assert response.status_code == 302 and not _signed_in(client)
    # Reactivated, they sign in again and stay signed in.
    membership_set_active(practice=clinic, actor=owner, membership=membership, active=True)
    time.sleep(0.01)
    login(client, therapist)
    assert client.get(reverse("sessions:calendar")).status_code == 200
