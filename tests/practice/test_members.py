from __future__ import annotations

import pytest
from django.apps import apps
from django.core import mail
from django.test import Client
from django.urls import reverse

from practice.models import AuditEvent, Invitation, Membership, PracticeOwned, Role
from tests.conftest import login
from tests.factories import InvitationFactory, MembershipFactory


def membership(user, practice) -> Membership:
    return Membership.objects.get(user=user, practice=practice)


# --- Who reaches the member pages -----------------------------------------------------


def test_owner_sees_members_and_pending_invitations(
    client_for, owner, therapist, assistant, clinic
):
    InvitationFactory(practice=clinic, email="pending@example.com")
    response = client_for(owner).get(reverse("practice:members"))

    assert response.status_code == 200
    html = response.content.decode()
    for email in (owner.email, therapist.email, assistant.email, "pending@example.com"):
        assert email in html


def test_members_page_query_count_does_not_grow_with_members(
    client_for, owner, clinic, django_assert_max_num_queries
):
    MembershipFactory.create_batch(15, practice=clinic)
    InvitationFactory.create_batch(5, practice=clinic)
    client = client_for(owner)
    with django_assert_max_num_queries(8):
        client.get(reverse("practice:members"))


@pytest.mark.parametrize("persona", ["therapist", "assistant"])
@pytest.mark.parametrize("route", ["practice:members", "practice:settings"])
def test_non_owners_are_refused_member_and_settings_pages(client_for, request, persona, route):
    user = request.getfixturevalue(persona)
    response = client_for(user).get(reverse(route))
    assert response.status_code == 403
    assert "403" in response.content.decode()


@pytest.mark.parametrize("persona", ["therapist", "assistant"])
def test_non_owners_cannot_invite_change_roles_or_deactivate(
    client_for, request, persona, owner, other_therapist, clinic
):
    client = client_for(request.getfixturevalue(persona))
    target = membership(other_therapist, clinic)

    assert (
        client.post(
            reverse("practice:member_invite"), {"email": "x@example.com", "role": Role.OWNER}
        ).status_code
        == 403
    )
    assert (
        client.post(
            reverse("practice:member_role", kwargs={"pk": target.pk}), {"role": Role.OWNER}
        ).status_code
        == 404
    )
    assert (
        client.post(reverse("practice:member_active", kwargs={"pk": target.pk})).status_code == 404
    )

    target.refresh_from_db()
    assert (target.role, target.is_active) == (Role.THERAPIST, True)
    assert not Invitation.objects.exists()


# --- Invitations ----------------------------------------------------------------------


def test_owner_invites_by_email_with_a_role(
    client_for, owner, clinic, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(owner).post(
            reverse("practice:member_invite"), {"email": "New@Example.com", "role": Role.ASSISTANT}
        )

    assert response.status_code == 302
    invitation = Invitation.objects.get(practice=clinic)
    assert (invitation.email, invitation.role, invitation.invited_by) == (
        "new@example.com",
        Role.ASSISTANT,
        owner,
    )
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["new@example.com"]
    assert invitation.token in mail.outbox[0].body
    assert clinic.name in mail.outbox[0].subject


def test_invite_over_htmx_returns_only_the_invitations_fragment(client_for, owner, clinic):
    response = client_for(owner).post(
        reverse("practice:member_invite"),
        {"email": "frag@example.com", "role": Role.THERAPIST},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section class="card" id="invitations">')
    assert "<html" not in html and "frag@example.com" in html


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"email": "nope", "role": Role.THERAPIST}, "valid email"),
        ({"email": "x@example.com", "role": "superuser"}, "valid choice"),
        ({"email": "theo@example.com", "role": Role.THERAPIST}, "already a member"),
    ],
)
def test_bad_invitations_show_an_error_and_change_nothing(
    client_for, owner, therapist, data, message
):
    for headers in ({}, {"HX-Request": "true"}):
        response = client_for(owner).post(reverse("practice:member_invite"), data, headers=headers)
        assert response.status_code == 422
        assert message in response.content.decode()
    assert not Invitation.objects.exists()


def test_reinviting_replaces_the_pending_invitation(client_for, owner, clinic):
    client = client_for(owner)
    for role in (Role.THERAPIST, Role.ASSISTANT):
        client.post(reverse("practice:member_invite"), {"email": "twice@example.com", "role": role})
    assert list(Invitation.objects.values_list("role", flat=True)) == [Role.ASSISTANT]


def test_owner_revokes_a_pending_invitation(client_for, owner, clinic):
    invitation = InvitationFactory(practice=clinic)
    client = client_for(owner)
    assert (
        client.post(reverse("practice:invitation_revoke", kwargs={"pk": invitation.pk})).status_code
        == 302
    )
    assert not Invitation.objects.exists()
    assert AuditEvent.objects.filter(action="invitation.revoke").exists()


# --- Roles and deactivation -----------------------------------------------------------


def test_owner_changes_a_role_effective_on_next_request(client, owner, therapist, clinic):
    target = membership(therapist, clinic)
    login(client, owner).post(
        reverse("practice:member_role", kwargs={"pk": target.pk}), {"role": Role.ASSISTANT}
    )
    target.refresh_from_db()
    assert target.role == Role.ASSISTANT
    event = AuditEvent.objects.get(action="membership.role_change")
    assert event.data == {"from": Role.THERAPIST, "to": Role.ASSISTANT}

    login(client, therapist)
    nav = [item.key for item in client.get(reverse("sessions:calendar")).context["navigation"]]
    assert nav == ["calendar", "patients", "payments"]
    assert client.get(reverse("tera:index")).status_code == 404


def test_role_change_over_htmx_returns_the_members_fragment(client_for, owner, therapist, clinic):
    target = membership(therapist, clinic)
    response = client_for(owner).post(
        reverse("practice:member_role", kwargs={"pk": target.pk}),
        {"role": Role.OWNER},
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card" id="members-card">')
    assert "<html" not in html


def test_invalid_role_changes_nothing(client_for, owner, therapist, clinic):
    target = membership(therapist, clinic)
    response = client_for(owner).post(
        reverse("practice:member_role", kwargs={"pk": target.pk}),
        {"role": "god"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 422
    target.refresh_from_db()
    assert target.role == Role.THERAPIST


def test_last_owner_cannot_demote_or_deactivate_themselves(client_for, owner, clinic):
    mine = membership(owner, clinic)
    client = client_for(owner)
    client.post(reverse("practice:member_role", kwargs={"pk": mine.pk}), {"role": Role.THERAPIST})
    client.post(reverse("practice:member_active", kwargs={"pk": mine.pk}))

    mine.refresh_from_db()
    assert (mine.role, mine.is_active) == (Role.OWNER, True)
    messages = [str(m) for m in client.get(reverse("practice:members")).context["messages"]]
    assert any("at least one active Owner" in m for m in messages)


def test_deactivation_asks_for_confirmation_first(client_for, owner, therapist, clinic):
    target = membership(therapist, clinic)
    response = client_for(owner).get(reverse("practice:member_active", kwargs={"pk": target.pk}))
    assert response.status_code == 200
    assert b'method="post"' in response.content
    target.refresh_from_db()
    assert target.is_active


def test_deactivated_member_loses_access_on_next_request(client, owner, therapist, clinic):
    target = membership(therapist, clinic)
    login(client, therapist)
    assert client.get(reverse("sessions:calendar")).status_code == 200

    # The Owner acts from another browser while the therapist stays signed in: their
    # session ends, and signed in again they have no practice here.
    login(Client(), owner).post(reverse("practice:member_active", kwargs={"pk": target.pk}))

    response = client.get(reverse("sessions:calendar"))
    assert response.status_code == 302 and response.url.startswith(reverse("accounts:login"))
    login(client, therapist)
    assert client.get(reverse("patients:index")).url == reverse("no_practice")

    login(Client(), owner).post(reverse("practice:member_active", kwargs={"pk": target.pk}))
    assert client.get(reverse("sessions:calendar")).status_code == 200


def test_every_practice_owned_model_is_scoped_by_for_practice(clinic, other_practice):
    owned = [m for m in apps.get_models() if issubclass(m, PracticeOwned)]
    assert len(owned) >= 5
    for model in owned:
        queryset = model._default_manager.for_practice(clinic)
        assert f'"practice_id" = {clinic.pk}' in str(queryset.query), model
        field = model._meta.get_field("practice")
        assert field.db_index and field.remote_field.on_delete.__name__ == "PROTECT", model
