from __future__ import annotations

from io import StringIO

from django.core.management import call_command
from guardian.shortcuts import get_objects_for_user

from patients.models import Patient
from practice.models import Membership, Practice, Role, User
from sessions.models import Appointment


def snapshot() -> dict[str, object]:
    return {
        "practices": list(Practice.objects.values_list("slug", "name", "time_zone", "currency")),
        "users": list(User.objects.order_by("email").values_list("email", "first_name")),
        "memberships": sorted(Membership.objects.values_list("user__email", "role", "is_active")),
        "patients": sorted(Patient.objects.values_list("full_name", "email", "phone")),
        "appointments": sorted(
            Appointment.objects.values_list("therapist__email", "patient__full_name", "starts_at")
        ),
    }


def test_seed_demo_twice_gives_the_same_data(db):
    out = StringIO()
    call_command("seed_demo", stdout=out)
    first = snapshot()
    call_command("seed_demo", stdout=StringIO())

    assert snapshot() == first
    practice = Practice.objects.get()
    assert practice.name == "Espaço Holos"
    roles = sorted(Membership.objects.values_list("role", flat=True))
    assert roles == sorted([Role.OWNER, Role.THERAPIST, Role.THERAPIST, Role.ASSISTANT])
    assert Patient.objects.count() == 20
    assert Appointment.objects.count() >= 10
    for email in ("owner@holos.demo", "ana@holos.demo", "bruno@holos.demo", "carla@holos.demo"):
        assert email in out.getvalue()
        assert User.objects.get(email=email).check_password("holos-demo")


def test_seed_demo_assigns_every_patient_to_one_therapist(db):
    call_command("seed_demo", stdout=StringIO())
    therapists = User.objects.filter(memberships__role=Role.THERAPIST)
    caseloads = [
        set(get_objects_for_user(t, "patients.treat_patient", klass=Patient)) for t in therapists
    ]
    assert len(caseloads) == 2
    assert caseloads[0].isdisjoint(caseloads[1])
    assert len(caseloads[0] | caseloads[1]) == 20
    for therapist, caseload in zip(therapists, caseloads, strict=True):
        booked = {a.patient for a in Appointment.objects.filter(therapist=therapist)}
        assert booked <= caseload
