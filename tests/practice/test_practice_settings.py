"""Settings → Practice: the letterhead printed on receipts and exported records."""

from __future__ import annotations

from django.urls import reverse

from practice.models import AuditEvent, Practice

BASE = {
    "name": "Clínica Aurora",
    "time_zone": "America/Sao_Paulo",
    "currency": "BRL",
    "language": "pt-br",
    "reminder_hours": "24",
}


def test_owner_saves_the_letterhead(client_for, owner, clinic):
    details = {
        "legal_name": "Clínica Aurora Ltda",
        "tax_id": "12.345.678/0001-90",
        "address": "Rua das Flores, 10\nSão Paulo - SP",
        "phone": "+55 11 3333-4444",
        "email": "contato@aurora.example",
    }
    response = client_for(owner).post(reverse("practice:settings"), {**BASE, **details})

    assert response.status_code == 302
    practice = Practice.objects.get(pk=clinic.pk)
    assert {k: getattr(practice, k) for k in details} == details
    event = AuditEvent.objects.get(action="practice.update")
    assert set(details) <= set(event.data["fields"])


def test_a_bad_email_shows_an_error_and_saves_nothing(client_for, owner, clinic):
    response = client_for(owner).post(
        reverse("practice:settings"), {**BASE, "name": "Renamed", "email": "not-an-email"}
    )

    assert response.status_code == 200
    assert "Enter a valid email address." in response.content.decode()
    assert Practice.objects.get(pk=clinic.pk).name == "Clínica Aurora"


def test_starting_a_practice_asks_only_the_essentials(client_for, owner):
    html = client_for(owner).get(reverse("practice:new")).content.decode()
    assert 'name="name"' in html and 'name="tax_id"' not in html
