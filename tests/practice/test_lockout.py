"""Sign-in lockout (django-axes): five failures for one account from one address pause
that account from that address; the email counts whatever its case; colleagues behind the
same clinic network, and the same account from elsewhere, keep signing in; the pause ends
after LOGIN_LOCKOUT_MINUTES, and a successful sign-in clears the count."""

from __future__ import annotations

from datetime import timedelta

from axes.models import AccessAttempt
from django.urls import reverse
from django.utils import timezone

from tests.factories import PASSWORD

CLINIC_NETWORK = "203.0.113.7"
HOME = "198.51.100.20"


def _sign_in(client, email: str, password: str, ip: str = CLINIC_NETWORK):
    return client.post(
        reverse("accounts:login"), {"username": email, "password": password}, REMOTE_ADDR=ip
    )


def _fail(client, email: str, times: int, ip: str = CLINIC_NETWORK) -> list[int]:
    return [_sign_in(client, email, "wrong password", ip).status_code for _ in range(times)]


def test_five_failures_pause_the_account_even_with_the_right_password(client, owner):
    # The same account, typed in any case; the fifth failure already pauses it.
    assert _fail(client, owner.email, 3) + _fail(client, owner.email.upper(), 2) == [
        200,
        200,
        200,
        200,
        429,
    ]
    response = _sign_in(client, owner.email, PASSWORD)
    html = response.content.decode()
    assert response.status_code == 429
    assert "too many failed sign-ins" in html and "15 minutes" in html
    assert reverse("accounts:password_reset") in html
    assert "_auth_user_id" not in client.session
    attempt = AccessAttempt.objects.get()  # one count for both spellings
    assert attempt.username == owner.email.lower() and attempt.ip_address == CLINIC_NETWORK


def test_four_failures_do_not(client, owner):
    assert _fail(client, owner.email, 4) == [200] * 4
    assert _sign_in(client, owner.email, PASSWORD).status_code == 302


def test_colleagues_on_the_same_network_and_the_owner_elsewhere_still_sign_in(
    client, owner, therapist
):
    _fail(client, owner.email, 5)
    assert _sign_in(client, owner.email, PASSWORD).status_code == 429
    assert _sign_in(client, therapist.email, PASSWORD).status_code == 302
    client.logout()
    assert _sign_in(client, owner.email, PASSWORD, ip=HOME).status_code == 302


def test_the_pause_ends_after_the_cool_off(client, owner, settings):
    _fail(client, owner.email, 5)
    assert _sign_in(client, owner.email, PASSWORD).status_code == 429
    AccessAttempt.objects.update(
        attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    )
    assert _sign_in(client, owner.email, PASSWORD).status_code == 302


def test_a_successful_sign_in_clears_the_count(client, owner):
    _fail(client, owner.email, 4)
    assert _sign_in(client, owner.email, PASSWORD).status_code == 302
    client.logout()
    _fail(client, owner.email, 4)
    assert _sign_in(client, owner.email, PASSWORD).status_code == 302


def test_an_unknown_account_is_paused_the_same_way(client, db):
    """No difference tells an attacker whether the account exists."""
    _fail(client, "nobody@example.com", 5)
    response = _sign_in(client, "nobody@example.com", "anything")
    assert response.status_code == 429 and "too many failed sign-ins" in response.content.decode()
