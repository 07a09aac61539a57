"""The audit of signing in: passwords accepted and refused, signing out, lockouts and the
second factor, written once in each practice where the user is an active member, with the
client's address and ids only; a failed sign-in for an email that is no one's account is
left to django-axes. The Owner sees these rows on the audit page, and the chain holds."""

from __future__ import annotations

import json
import time

from axes.models import AccessAttempt
from django.contrib.auth.signals import user_logged_in
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from practice.audit import ACTIONS, verify_chain
from practice.models import AuditEvent, Membership, Role
from practice.sign_in_audit import UID_IN
from tests.conftest import login
from tests.factories import PASSWORD, PracticeFactory, authenticator, authenticator_code

CLINIC_NETWORK = "203.0.113.7"
SETUP = reverse("accounts:two_factor_setup")
VERIFY = reverse("accounts:two_factor")
SIGN_IN_CODES = (
    "sign_in.login",
    "sign_in.fail",
    "sign_in.logout",
    "sign_in.lockout",
    "two_factor.setup",
    "two_factor.replace",
    "two_factor.verify",
    "two_factor.fail",
    "two_factor.reset",
)


def _sign_in(client, email: str, password: str, ip: str = CLINIC_NETWORK):
    return client.post(
        reverse("accounts:login"), {"username": email, "password": password}, REMOTE_ADDR=ip
    )


def _rows(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("practice_id", "pk"))


def _row_label(code: str) -> str:
    return f'<td class="audit-what">{ACTIONS[code]}</td>'


def test_every_code_has_a_label():
    assert all(code in ACTIONS for code in SIGN_IN_CODES)


def test_a_sign_in_and_out_is_written_to_each_practice_of_the_user(
    client, clinic, other_practice, owner
):
    Membership.objects.create(practice=other_practice, user=owner, role=Role.THERAPIST)
    former = PracticeFactory(name="Antiga")
    Membership.objects.create(practice=former, user=owner, role=Role.OWNER, is_active=False)
    device = authenticator(owner)

    assert _sign_in(client, owner.email, PASSWORD).status_code == 302
    logins = _rows("sign_in.login")
    assert [row.practice_id for row in logins] == sorted([clinic.pk, other_practice.pk])
    for row in logins:  # not in the practice where the membership ended
        assert row.actor == owner and row.ip == CLINIC_NETWORK
        assert (row.target_type, row.target_id) == ("practice.user", str(owner.pk))
        assert row.data == {}

    code = authenticator_code(device)
    assert client.post(VERIFY, {"code": code}, REMOTE_ADDR=CLINIC_NETWORK).status_code == 302
    verified = _rows("two_factor.verify")
    assert [row.practice_id for row in verified] == sorted([clinic.pk, other_practice.pk])
    assert all(row.data == {"device": device.pk} for row in verified)

    assert client.post(reverse("accounts:logout"), REMOTE_ADDR=CLINIC_NETWORK).status_code == 302
    assert len(_rows("sign_in.logout")) == 2
    assert not AuditEvent.objects.filter(practice=former).exists()
    # Nothing typed is kept: neither the password nor the code.
    for row in AuditEvent.objects.all():
        assert PASSWORD not in json.dumps(row.data) and code not in json.dumps(row.data)


def test_a_wrong_password_is_written_without_the_password(client, clinic, owner):
    assert _sign_in(client, owner.email.upper(), "hunter2 is my secret").status_code == 200
    (row,) = _rows("sign_in.fail")
    assert row.practice_id == clinic.pk and row.actor == owner and row.ip == CLINIC_NETWORK
    assert row.data == {"locked_out": False}
    assert "hunter2" not in json.dumps(row.data)


def test_a_failed_sign_in_for_no_ones_email_is_left_to_axes(client, clinic, owner):
    assert _sign_in(client, "nobody@example.com", "guess").status_code == 200
    assert not AuditEvent.objects.exists()
    assert AccessAttempt.objects.get().username == "nobody@example.com"


def test_a_user_without_an_active_membership_leaves_no_row(client, clinic, therapist):
    Membership.objects.filter(user=therapist).update(is_active=False)
    assert _sign_in(client, therapist.email, PASSWORD).status_code == 302
    _sign_in(client, therapist.email, "wrong")
    assert not AuditEvent.objects.exists()


def test_a_lockout_is_written_once_and_attempts_during_it_say_so(client, clinic, owner):
    statuses = [_sign_in(client, owner.email, "wrong").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429]
    assert len(_rows("sign_in.fail")) == 5
    (lockout,) = _rows("sign_in.lockout")
    assert lockout.actor == owner and lockout.ip == CLINIC_NETWORK
    # The right password during the pause is refused, and written as such.
    assert _sign_in(client, owner.email, PASSWORD).status_code == 429
    assert not _rows("sign_in.login")
    assert _rows("sign_in.fail")[-1].data == {"locked_out": True}


def test_setting_up_replacing_and_wrong_codes(client, clinic, therapist):
    response = client.post(
        reverse("accounts:login"), {"username": therapist.email, "password": PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0].startswith(SETUP)
    assert client.post(SETUP, {"code": "000000"}).status_code == 422
    (wrong,) = _rows("two_factor.fail")
    assert wrong.data == {"step": "setup", "reason": "wrong"} and wrong.actor == therapist
    assert client.post(SETUP, {"code": "12"}).status_code == 422  # a typo, not an attempt
    assert len(_rows("two_factor.fail")) == 1
    time.sleep(1.1)  # a wrong code makes the next one wait a second
    from tests.practice.test_two_factor import _key_on

    app = _key_on(client.get(SETUP).content.decode())
    assert client.post(SETUP, {"code": authenticator_code(app)}).status_code == 302
    (set_up,) = _rows("two_factor.setup")
    assert set_up.actor == therapist and set_up.practice_id == clinic.pk

    page = client.get(SETUP).content.decode()  # replacing it, from a verified session
    new_app = _key_on(page)
    replaced = client.post(SETUP, {"password": PASSWORD, "code": authenticator_code(new_app)})
    assert replaced.status_code == 302
    (replace,) = _rows("two_factor.replace")
    assert replace.actor == therapist
    assert not _rows("two_factor.verify")  # setting up is not entering a code at sign-in


def test_a_wrong_code_at_sign_in(client, clinic, owner):
    authenticator(owner)
    _sign_in(client, owner.email, PASSWORD)
    assert client.post(VERIFY, {"code": "000000"}).status_code == 422
    assert client.post(VERIFY, {"code": "000000"}).status_code == 422  # now throttled
    assert [row.data for row in _rows("two_factor.fail")] == [
        {"step": "sign_in", "reason": "wrong"},
        {"step": "sign_in", "reason": "throttled"},
    ]
    assert not _rows("two_factor.verify")


def test_a_reset_from_the_console_has_no_actor(clinic, therapist):
    authenticator(therapist)
    call_command("two_factor_reset", therapist.email)
    (row,) = _rows("two_factor.reset")
    assert row.actor is None and row.target_id == str(therapist.pk)
    assert row.data == {"removed": 1} and row.ip is None


def test_the_login_fixture_signs_in_unaudited_but_a_real_sign_in_is(client, clinic, owner):
    login(client, owner)  # tests/conftest.py: a test's audit rows are its own
    assert not AuditEvent.objects.exists()
    assert any(key[0] == UID_IN for key, *_ in user_logged_in.receivers)  # connected again
    Client().force_login(owner)  # Django's own login() fires it
    assert len(_rows("sign_in.login")) == 1


def test_the_owner_sees_them_and_the_chain_holds(client, clinic, owner, therapist, outsider):
    authenticator(therapist)
    other = Client()
    _sign_in(other, therapist.email, "wrong")
    _sign_in(other, therapist.email, PASSWORD)
    time.sleep(0.01)
    other.post(reverse("accounts:logout"))
    _sign_in(Client(), outsider.email, PASSWORD)  # another practice's member

    login(client, owner)
    page = client.get(reverse("practice:audit")).content.decode()
    for code in ("sign_in.fail", "sign_in.login", "sign_in.logout"):
        assert _row_label(code) in page
    assert "Theo" in page and "Oscar" not in page
    only = client.get(reverse("practice:audit"), {"action": "sign_in.fail"}).content.decode()
    assert _row_label("sign_in.fail") in only and _row_label("sign_in.logout") not in only
    for report in verify_chain():
        assert report.problems == []
    assert {r.practice_id for r in verify_chain()} >= {clinic.pk}
