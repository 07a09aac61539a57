"""Two-factor authentication: required of Owners and Therapists (set up on first sign-in,
a code at every sign-in after), optional for Assistants; used codes are refused, wrong
codes slow the next try, nothing but the two-factor pages opens before it; replacing the
app asks for the password and ends the other sessions."""

from __future__ import annotations

import re
import time
from base64 import b32decode

from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from practice.two_factor import VERIFIED
from tests.conftest import login
from tests.factories import PASSWORD, authenticator, authenticator_code

SETUP = reverse("accounts:two_factor_setup")
VERIFY = reverse("accounts:two_factor")


def _password(client, user, next_url: str = ""):
    data = {"username": user.email, "password": PASSWORD}
    url = reverse("accounts:login") + (f"?next={next_url}" if next_url else "")
    return client.post(url, data, follow=True)


def _code(client, url: str, code: str, **extra):
    return client.post(url, {"code": code, **extra})


def _verified(client) -> bool:
    return VERIFIED in client.session


def _key_on(page: str) -> TOTPDevice:
    key = re.search(r'class="totp-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")
    return TOTPDevice(key=b32decode(key + "=" * (-len(key) % 8)).hex())


def test_a_therapist_sets_the_app_up_at_first_sign_in(client, therapist):
    response = _password(client, therapist, next_url="/patients/")
    assert response.redirect_chain[-1][0].startswith(SETUP + "?next=")
    page = response.content.decode()
    assert "<svg" in page and "otpauth" not in page  # the QR code is drawn, not linked
    assert 'class="mainnav"' not in page  # nothing to go to before the second factor
    app = _key_on(page)
    wrong = _code(client, SETUP, "000000")
    assert wrong.status_code == 422 and "isn’t right" in wrong.content.decode()
    assert not _verified(client)
    time.sleep(1.1)  # a wrong code makes the next one wait a second
    done = _code(client, SETUP, authenticator_code(app), next="/patients/")
    assert done.status_code == 302 and done.url == "/patients/"
    assert _verified(client)
    assert TOTPDevice.objects.get(user=therapist).confirmed
    assert client.get("/patients/").status_code == 200


def test_every_later_sign_in_asks_for_a_fresh_code(client, owner):
    device = authenticator(owner)
    response = _password(client, owner)
    assert response.redirect_chain[-1][0].startswith(VERIFY)
    code = authenticator_code(device)
    assert _code(client, VERIFY, code).status_code == 302 and _verified(client)
    # The same code again, in another browser: refused.
    other = Client()
    _password(other, owner)
    replay = _code(other, VERIFY, code)
    assert replay.status_code == 422 and "used already" in replay.content.decode()
    assert not _verified(other)
    device.refresh_from_db()
    time.sleep(1.1)  # the refused code counts as a wrong one: a second's wait
    assert _code(other, VERIFY, authenticator_code(device)).status_code == 302


def test_wrong_codes_slow_the_next_try(client, owner):
    device = authenticator(owner)
    _password(client, owner)
    assert _code(client, VERIFY, "111111").status_code == 422
    # Straight after a failure the next try must wait, even with the right code.
    throttled = _code(client, VERIFY, authenticator_code(device))
    assert throttled.status_code == 422 and "Too many wrong codes" in throttled.content.decode()
    assert not _verified(client)


def test_nothing_opens_before_the_second_factor(client, owner):
    authenticator(owner)
    _password(client, owner)
    for url in ("/calendar/", "/patients/", reverse("tera:index"), reverse("practice:audit")):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith(VERIFY), url
    htmx = client.get("/calendar/", headers={"HX-Request": "true"})
    assert htmx.status_code == 204 and htmx["HX-Redirect"] == VERIFY
    assert client.post(reverse("accounts:logout")).status_code == 302


def test_an_assistant_may_go_without_and_may_turn_it_on(client, assistant):
    response = _password(client, assistant)
    assert response.redirect_chain[-1][0] == "/calendar/" or response.status_code == 200
    assert client.get("/calendar/").status_code == 200
    account = client.get(reverse("accounts:account")).content.decode()
    assert "Optional for your role" in account
    app = _key_on(client.get(SETUP).content.decode())
    assert _code(client, SETUP, authenticator_code(app)).status_code == 302
    # From now on the assistant's sign-ins ask for the code too.
    other = Client()
    assert _password(other, assistant).redirect_chain[-1][0].startswith(VERIFY)


def test_replacing_the_app_asks_for_the_password_and_ends_other_sessions(client, therapist):
    elsewhere = login(Client(), therapist)
    login(client, therapist)
    page = client.get(SETUP).content.decode()
    assert "Replace your authenticator app" in page
    new_app = _key_on(page)
    wrong = _code(client, SETUP, authenticator_code(new_app), password="not it")
    assert wrong.status_code == 422 and "password isn’t right" in wrong.content.decode()
    assert TOTPDevice.objects.filter(user=therapist, confirmed=True).count() == 1
    right = _code(client, SETUP, authenticator_code(new_app), password=PASSWORD)
    assert right.status_code == 302
    assert TOTPDevice.objects.filter(user=therapist).count() == 1  # the old one is gone
    assert client.get("/calendar/").status_code == 200
    assert elsewhere.get("/calendar/").status_code == 302  # signed out


def test_a_foreign_next_address_is_ignored(client, owner):
    device = authenticator(owner)
    _password(client, owner)
    response = _code(client, VERIFY, authenticator_code(device), next="https://evil.example/")
    assert response.status_code == 302 and response.url == reverse("home")


def test_a_lost_phone_is_reset_from_the_command_line(client, therapist):
    import io

    from django.core.management import call_command

    login(client, therapist)
    out = io.StringIO()
    call_command("two_factor_reset", therapist.email.upper(), stdout=out)
    assert "Removed 1 authenticator app(s)" in out.getvalue()
    assert not TOTPDevice.objects.filter(user=therapist).exists()
    assert client.get("/calendar/").status_code == 302  # signed out
    assert _password(client, therapist).redirect_chain[-1][0].startswith(SETUP)
