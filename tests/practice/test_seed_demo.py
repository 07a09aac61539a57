from __future__ import annotations

from io import StringIO

from django.core.management import call_command
from guardian.shortcuts import get_objects_for_user

from patients.models import Patient
from payments.models import Payment, PaymentStatus
from practice.models import Membership, Practice, Role, User
from sessions.models import Appointment, AppointmentStatus, Session


def snapshot() -> dict[str, object]:
    return {
        "practices": list(Practice.objects.values_list("slug", "name", "time_zone", "currency")),
        "users": list(User.objects.order_by("email").values_list("email", "first_name")),
        "memberships": sorted(Membership.objects.values_list("user__email", "role", "is_active")),
        "patients": sorted(Patient.objects.values_list("full_name", "email", "phone")),
        "appointments": sorted(
            Appointment.objects.values_list(
                "therapist__email", "patient__full_name", "starts_at", "status"
            )
        ),
        "sessions": sorted(Session.objects.values_list("appointment__starts_at", "note__text")),
        "payments": sorted(Payment.objects.values_list("session__starts_at", "status", "amount")),
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


def test_seed_demo_records_the_past_weeks_through_the_session_service(db):
    call_command("seed_demo", stdout=StringIO())

    sessions = Session.objects.select_related("appointment", "note", "payment")
    assert sessions.count() == 3 * 2 * 7  # three weeks, two therapists, seven slots
    for session in sessions:
        assert session.appointment.status == AppointmentStatus.COMPLETED
        assert session.note.text
        assert session.note.custom_values
    statuses = set(Payment.objects.values_list("status", flat=True))
    assert statuses == {PaymentStatus.PAID, PaymentStatus.PENDING, PaymentStatus.OVERDUE}
    # This week's past appointments are left for the demo's users to record.
    this_week = Appointment.objects.filter(session__isnull=True)
    assert this_week.count() == 2 * 7
    assert not this_week.filter(status=AppointmentStatus.COMPLETED).exists()
