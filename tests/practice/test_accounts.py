from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from practice.models import AuditEvent, Membership, Practice, Role, User
from tests.conftest import login
from tests.factories import PASSWORD, InvitationFactory, MembershipFactory, UserFactory

SIGNUP = {
    "first_name": "Marta",
    "last_name": "Lima",
    "email": "Marta@Example.com",
    "password1": "a-long-unusual-passphrase",
    "password2": "a-long-unusual-passphrase",
    "practice_name": "Espaço Lua",
    "time_zone": "America/Sao_Paulo",
    "language": "pt-br",
}


def test_signup_creates_practice_with_creator_as_owner(client, db):
    response = client.post(reverse("accounts:signup"), SIGNUP)

    assert response.status_code == 302
    user = User.objects.get(email="marta@example.com")
    practice = Practice.objects.get(name="Espaço Lua")
    membership = Membership.objects.get(user=user, practice=practice)
    assert membership.role == Role.OWNER and membership.is_active
    assert (practice.currency, practice.time_zone, practice.slug) == (
        "BRL",
        "America/Sao_Paulo",
        "espaco-lua",
    )
    assert get_user(client).pk == user.pk
    assert AuditEvent.objects.filter(practice=practice, action="practice.create").exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"password2": "something-else-entirely"}, "password2"),
        ({"password1": "123", "password2": "123"}, "password2"),
        ({"email": "not-an-email"}, "email"),
        ({"practice_name": ""}, "practice_name"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ],
)
def test_signup_with_bad_input_shows_errors_and_creates_nothing(client, db, change, field):
    response = client.post(reverse("accounts:signup"), {**SIGNUP, **change})

    assert response.status_code == 200
    assert response.context["form"].errors[field]
    assert not User.objects.exists() and not Practice.objects.exists()


def test_signup_refuses_an_email_already_registered_in_any_case(client, owner):
    response = client.post(reverse("accounts:signup"), {**SIGNUP, "email": owner.email.upper()})

    assert "already exists" in response.context["form"].errors["email"][0]
    assert User.objects.count() == 1


def test_login_by_email_is_case_insensitive_and_logout_needs_post(client, owner):
    response = client.post(
        reverse("accounts:login"), {"username": owner.email.upper(), "password": PASSWORD}
    )
    assert response.status_code == 302
    assert get_user(client).pk == owner.pk

    assert client.get(reverse("accounts:logout")).status_code == 405
    client.post(reverse("accounts:logout"))
    assert not get_user(client).is_authenticated


def test_login_with_wrong_password_says_so(client, owner):
    response = client.post(
        reverse("accounts:login"), {"username": owner.email, "password": "wrong"}
    )
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert not get_user(client).is_authenticated


def test_password_reset_sends_a_working_link(client, owner):
    client.post(reverse("accounts:password_reset"), {"email": owner.email})

    assert len(mail.outbox) == 1
    link = re.search(r"http://\S+/accounts/password/reset/\S+/", mail.outbox[0].body)
    assert link
    form_page = client.get(link.group(0), follow=True)
    assert form_page.context["validlink"]
    client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "brand-new-passphrase-7", "new_password2": "brand-new-passphrase-7"},
    )
    owner.refresh_from_db()
    assert owner.check_password("brand-new-passphrase-7")


def test_password_reset_for_unknown_email_reveals_nothing(client, db):
    response = client.post(reverse("accounts:password_reset"), {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert mail.outbox == []


def test_password_reset_with_a_forged_token_changes_nothing(client, owner):
    url = reverse("accounts:password_reset_confirm", kwargs={"uidb64": "MQ", "token": "bad-x"})
    response = client.post(url, {"new_password1": "x-y-z-123456", "new_password2": "x-y-z-123456"})
    assert response.status_code == 200 and not response.context["validlink"]
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)


# --- Invitations ----------------------------------------------------------------------


def test_new_person_accepts_invitation_by_creating_an_account(client, clinic, owner):
    invitation = InvitationFactory(practice=clinic, email="new@example.com", role=Role.ASSISTANT)
    url = reverse("accounts:invitation", kwargs={"token": invitation.token})

    assert client.get(url).status_code == 200
    response = client.post(
        url,
        {
            "first_name": "Nina",
            "last_name": "",
            "language": "en",
            "password1": "nina-secure-pass-42",
            "password2": "nina-secure-pass-42",
        },
    )

    assert response.status_code == 302
    user = User.objects.get(email="new@example.com")
    assert Membership.objects.get(user=user, practice=clinic).role == Role.ASSISTANT
    invitation.refresh_from_db()
    assert invitation.accepted_at is not None
    assert client.get(url).status_code == 404  # used once


def test_existing_user_accepts_invitation_after_signing_in(client, clinic, outsider):
    invitation = InvitationFactory(practice=clinic, email=outsider.email, role=Role.THERAPIST)
    url = reverse("accounts:invitation", kwargs={"token": invitation.token})

    response = client.get(url)
    assert response.status_code == 302 and reverse("accounts:login") in response.url

    login(client, outsider)
    client.post(url)
    assert Membership.objects.get(user=outsider, practice=clinic).role == Role.THERAPIST
    assert client.session["practice_id"] == clinic.pk


def test_invitation_for_someone_else_is_404_for_a_signed_in_user(client_for, clinic, therapist):
    invitation = InvitationFactory(practice=clinic, email="someone@example.com")
    client = client_for(therapist)
    url = reverse("accounts:invitation", kwargs={"token": invitation.token})

    assert client.get(url).status_code == 404
    assert client.post(url).status_code == 404
    invitation.refresh_from_db()
    assert invitation.accepted_at is None


def test_expired_invitation_is_404(client, clinic):
    invitation = InvitationFactory(
        practice=clinic, expires_at=timezone.now() - timedelta(minutes=1)
    )
    url = reverse("accounts:invitation", kwargs={"token": invitation.token})
    assert client.get(url).status_code == 404


def test_invitation_with_bad_password_creates_no_account(client, clinic):
    invitation = InvitationFactory(practice=clinic, email="weak@example.com")
    url = reverse("accounts:invitation", kwargs={"token": invitation.token})
    response = client.post(
        url,
        {"first_name": "W", "language": "en", "password1": "123", "password2": "123"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["password2"]
    assert not User.objects.filter(email="weak@example.com").exists()


def test_user_with_several_practices_switches_between_them(client_for, clinic, outsider):
    MembershipFactory(practice=clinic, user=outsider, role=Role.ASSISTANT)
    client = client_for(outsider)
    home = client.get(reverse("home"), follow=True)
    first = home.context["practice"]

    other = next(m.practice for m in home.context["user_memberships"] if m.practice != first)
    client.post(reverse("practice:switch", kwargs={"pk": other.pk}))
    page = client.get(reverse("sessions:calendar"))

    assert page.context["practice"] == other
    assert page.context["membership"].practice == other


def test_user_without_practice_is_offered_to_start_one(client, db):
    user = UserFactory()
    client.force_login(user)

    assert client.get(reverse("sessions:calendar")).url == reverse("no_practice")
    response = client.post(
        reverse("practice:new"),
        {"name": "Novo Espaço", "time_zone": "Europe/Lisbon", "currency": "eur", "language": "en"},
    )
    assert response.status_code == 302
    practice = Practice.objects.get(name="Novo Espaço")
    assert practice.currency == "EUR"
    assert Membership.objects.get(user=user, practice=practice).role == Role.OWNER


def test_account_page_changes_language(client_for, therapist):
    client = client_for(therapist)
    client.post(
        reverse("accounts:account"), {"first_name": "Theo", "last_name": "S", "language": "pt-br"}
    )
    therapist.refresh_from_db()
    assert therapist.language == "pt-br"
