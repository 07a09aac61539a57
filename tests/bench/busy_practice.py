"""A busy practice for benchmarks, seeded through the ORM into an empty database.

10 therapists, an Owner and an Assistant, ~150 patients (15 per therapist), 300
appointments over the current week (Monday to Friday, 8:00-20:00 in the practice's time
zone, 50-minute slots, no therapist booked twice at once) and extra members to sign in
as, so every simulated user is a different person.

Call `seed()` after `django.setup()`. Nothing runs on import.
"""

from __future__ import annotations

import random
import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

PASSWORD = "holos-bench-password-7"
TIME_ZONE = "America/Sao_Paulo"
THERAPISTS = 10
PATIENTS_PER_THERAPIST = 15
APPOINTMENTS = 300
SLOT_MINUTES = 50
DAY_STARTS, DAY_ENDS = time(8), time(20)
# Roles of the extra sign-in accounts, repeated in this order: mostly Therapists and
# Assistants, now and then an Owner.
EXTRA_ROLES = ["therapist", "assistant", "therapist", "assistant", "therapist", "owner"]
THERAPIES = [("Reiki", "150.00", "#7b5ea7"), ("Psychotherapy", "220.00", "#1f78b4")]
ROOMS = ["Room 1", "Room 2", "Room 3", "Online"]


@dataclass(frozen=True)
class Account:
    email: str
    role: str
    has_appointments: bool


def seed(*, extra_accounts: int = 20, rng_seed: int = 20) -> list[Account]:
    """Create the practice and return every account that can sign in, the busiest first:
    the 10 therapists whose week is full, the Owner, the Assistant, then the extras."""
    from django.db import transaction

    with transaction.atomic():
        return _seed(extra_accounts=extra_accounts, rng=random.Random(rng_seed))


def _seed(*, extra_accounts: int, rng: random.Random) -> list[Account]:
    from django.contrib.auth.hashers import make_password
    from guardian.shortcuts import assign_perm

    from patients.models import Patient
    from practice.models import Membership, Practice, Role, User
    from therapies.models import TherapyType

    practice = Practice.objects.create(
        name="Clínica Movimentada", slug="clinica-movimentada", time_zone=TIME_ZONE
    )
    # One hash for everyone: hashing the same password 30+ times would cost ~10 s.
    password_hash = make_password(PASSWORD)

    def member(email: str, first: str, last: str, role: str) -> User:
        user = User.objects.create(
            email=email, first_name=first, last_name=last, password=password_hash
        )
        Membership.objects.create(practice=practice, user=user, role=role)
        return user

    therapists = [
        member(f"therapist{i:02d}@bench.test", "Therapist", f"{i:02d}", Role.THERAPIST)
        for i in range(1, THERAPISTS + 1)
    ]
    owner = member("owner@bench.test", "Olga", "Owner", Role.OWNER)
    assistant = member("assistant@bench.test", "Artur", "Assistant", Role.ASSISTANT)
    accounts = [Account(t.email, Role.THERAPIST, True) for t in therapists]
    accounts += [Account(owner.email, Role.OWNER, False)]
    accounts += [Account(assistant.email, Role.ASSISTANT, False)]

    caseloads: dict[int, list[Patient]] = {}
    for t_index, therapist in enumerate(therapists):
        caseloads[therapist.pk] = []
        for p_index in range(PATIENTS_PER_THERAPIST):
            n = t_index * PATIENTS_PER_THERAPIST + p_index + 1
            patient = Patient.objects.create(
                practice=practice,
                full_name=f"Patient {n:03d} of {therapist.last_name}",
                email=f"patient{n:03d}@example.com",
                phone=f"+55 11 9{8000 + n:04d}-{1000 + n:04d}",
            )
            assign_perm("patients.treat_patient", therapist, patient)
            caseloads[therapist.pk].append(patient)

    for i in range(extra_accounts):
        role = EXTRA_ROLES[i % len(EXTRA_ROLES)]
        user = member(f"member{i + 1:02d}@bench.test", "Member", f"{i + 1:02d}", role)
        if role == Role.THERAPIST:
            # A co-therapist: shares one colleague's caseload.
            for patient in caseloads[therapists[i % THERAPISTS].pk]:
                assign_perm("patients.treat_patient", user, patient)
        accounts.append(Account(user.email, role, False))

    therapy_types = [
        TherapyType.objects.create(
            practice=practice,
            name=name,
            price=Decimal(price),
            currency=practice.currency,
            colour=colour,
            default_duration=SLOT_MINUTES,
        )
        for name, price, colour in THERAPIES
    ]
    _seed_week(practice, therapists, caseloads, therapy_types, booked_by=assistant, rng=rng)
    return accounts


def _seed_week(
    practice: Any,
    therapists: list[Any],
    caseloads: dict[int, list[Any]],
    therapy_types: list[Any],
    *,
    booked_by: Any,
    rng: random.Random,
) -> None:
    from django.utils import timezone

    from sessions import models as session_models

    appointment_model = session_models.Appointment
    tz = zoneinfo.ZoneInfo(practice.time_zone)
    today = timezone.localdate(timezone=tz)
    monday = today - timedelta(days=today.weekday())
    starts_of_day = _slot_starts(monday, tz)
    # Every (therapist, start) pair is one free slot; a sample of them can never book a
    # therapist twice at the same time.
    free = [(t, start) for t in therapists for start in starts_of_day]
    chosen = sorted(rng.sample(free, APPOINTMENTS), key=lambda pair: (pair[1], pair[0].pk))

    # Fields the calendar grows over time are filled only when the model has them, so
    # this keeps working (and keeps the page realistic) as Appointment gains fields.
    fields = {f.name for f in appointment_model._meta.get_fields()}
    status_choices = getattr(session_models, "AppointmentStatus", None)
    now = timezone.now()
    appointments = []
    for index, (therapist, starts_at) in enumerate(chosen):
        extra: dict[str, Any] = {}
        if "therapy_type" in fields:
            extra["therapy_type"] = therapy_types[index % len(therapy_types)]
        if "room" in fields:
            extra["room"] = ROOMS[index % len(ROOMS)]
        if "created_by" in fields:
            extra["created_by"] = booked_by
        if "status" in fields and status_choices is not None:
            past = starts_at < now
            extra["status"] = status_choices.CONFIRMED if past else status_choices.SCHEDULED
        appointments.append(
            appointment_model(
                practice=practice,
                patient=rng.choice(caseloads[therapist.pk]),
                therapist=therapist,
                starts_at=starts_at,
                ends_at=starts_at + timedelta(minutes=SLOT_MINUTES),
                **extra,
            )
        )
    appointment_model.objects.bulk_create(appointments)


def _slot_starts(monday: date, tz: zoneinfo.ZoneInfo) -> list[datetime]:
    """Starts of the 50-minute slots that end by 20:00, Monday to Friday."""
    starts = []
    for day in range(5):
        start = datetime.combine(monday + timedelta(days=day), DAY_STARTS, tzinfo=tz)
        day_ends = datetime.combine(monday + timedelta(days=day), DAY_ENDS, tzinfo=tz)
        while start + timedelta(minutes=SLOT_MINUTES) <= day_ends:
            starts.append(start)
            start += timedelta(minutes=SLOT_MINUTES)
    return starts
