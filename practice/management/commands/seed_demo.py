"""Seed the demo practice "Espaço Holos". Safe to run any number of times."""

from __future__ import annotations

import unicodedata
import zoneinfo
from datetime import date, datetime, time, timedelta
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm

from patients.models import Patient
from practice.models import Language, Membership, Practice, Role, User
from sessions.models import Appointment, AppointmentStatus

DEMO_PASSWORD = "holos-demo"
PRACTICE = {
    "slug": "espaco-holos",
    "name": "Espaço Holos",
    "time_zone": "America/Sao_Paulo",
    "currency": "BRL",
    "language": Language.PORTUGUESE_BRAZIL,
}
PEOPLE = [
    ("owner@holos.demo", "Helena", "Duarte", Role.OWNER, Language.PORTUGUESE_BRAZIL),
    ("ana@holos.demo", "Ana", "Ribeiro", Role.THERAPIST, Language.PORTUGUESE_BRAZIL),
    ("bruno@holos.demo", "Bruno", "Matos", Role.THERAPIST, Language.ENGLISH),
    ("carla@holos.demo", "Carla", "Nunes", Role.ASSISTANT, Language.PORTUGUESE_BRAZIL),
]
PATIENTS = [
    "Alice Moreira", "Beatriz Costa", "Caio Fernandes", "Daniela Lopes", "Eduardo Pires",
    "Fernanda Alves", "Gabriel Souza", "Heloísa Martins", "Igor Carvalho", "Júlia Rocha",
    "Kátia Mendes", "Lucas Barbosa", "Marina Teixeira", "Nicolas Araújo", "Olívia Cardoso",
    "Paulo Gomes", "Quitéria Ramos", "Rafael Dias", "Sofia Azevedo", "Tiago Monteiro",
]  # fmt: skip
# (weekday, hour, minutes) slots per therapist; the patient rotates through their list.
SLOTS = [(0, 9, 60), (0, 14, 60), (1, 10, 50), (2, 9, 60), (2, 16, 50), (3, 11, 60), (4, 15, 60)]


class Command(BaseCommand):
    help = "Create or refresh the demo practice Espaço Holos, its members, patients and week."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            practice, users = self.seed()
        self.stdout.write(self.style.SUCCESS(f"Demo practice “{practice.name}” is ready."))
        self.stdout.write(f"Sign in at http://localhost:8000 with (password: {DEMO_PASSWORD}):")
        for user, role in users:
            self.stdout.write(f"  {role.label:<10} {user.email}")

    def seed(self) -> tuple[Practice, list[tuple[User, Role]]]:
        slug = PRACTICE["slug"]
        practice, _ = Practice.objects.update_or_create(
            slug=slug, defaults={k: v for k, v in PRACTICE.items() if k != "slug"}
        )
        users: list[tuple[User, Role]] = []
        for email, first, last, role, language in PEOPLE:
            user = User.objects.filter(email=email).first()
            if user is None:
                user = User.objects.create_user(email=email, password=DEMO_PASSWORD)
            user.first_name, user.last_name, user.language = first, last, language
            user.set_password(DEMO_PASSWORD)
            user.save()
            Membership.objects.update_or_create(
                practice=practice, user=user, defaults={"role": role, "is_active": True}
            )
            users.append((user, role))

        therapists = [u for u, role in users if role == Role.THERAPIST]
        caseload: dict[int, list[Patient]] = {t.pk: [] for t in therapists}
        for i, name in enumerate(PATIENTS):
            email = self.patient_email(name)
            patient, _ = Patient.objects.update_or_create(
                practice=practice,
                full_name=name,
                email=email,
                defaults={"phone": f"+55 11 9{8000 + i:04d}-{1000 + i * 37:04d}"},
            )
            therapist = therapists[i % len(therapists)]
            assign_perm("patients.treat_patient", therapist, patient)
            caseload[therapist.pk].append(patient)

        tz = zoneinfo.ZoneInfo(practice.time_zone)
        monday = current_week_monday(timezone.localdate(timezone=tz))
        now = timezone.now()
        for t_index, therapist in enumerate(therapists):
            patients = caseload[therapist.pk]
            for s_index, (weekday, hour, minutes) in enumerate(SLOTS):
                starts = datetime.combine(
                    monday + timedelta(days=weekday), time(hour + t_index), tzinfo=tz
                )
                Appointment.objects.update_or_create(
                    practice=practice,
                    therapist=therapist,
                    starts_at=starts,
                    defaults={
                        "patient": patients[s_index % len(patients)],
                        "ends_at": starts + timedelta(minutes=minutes),
                        "status": AppointmentStatus.CONFIRMED
                        if starts < now
                        else AppointmentStatus.SCHEDULED,
                    },
                )
        return practice, users

    @staticmethod
    def patient_email(name: str) -> str:
        ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
        return ascii_name.lower().replace(" ", ".") + "@example.com"


def current_week_monday(today: date) -> date:
    return today - timedelta(days=today.weekday())
