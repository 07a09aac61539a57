from __future__ import annotations

import pytest
from django.urls import reverse


@pytest.mark.parametrize("persona", ["owner", "therapist", "assistant", "outsider"])
def test_practice_members_are_not_let_into_django_admin(client_for, request, persona, clinic):
    client = client_for(request.getfixturevalue(persona))
    for url in (
        reverse("admin:index"),
        reverse("admin:practice_practice_changelist"),
        reverse("admin:practice_practice_change", args=[clinic.pk]),
        reverse("admin:practice_auditevent_changelist"),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("admin:login"))
