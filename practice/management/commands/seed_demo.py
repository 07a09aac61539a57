"""Seed the demo practice "Espaço Holos". Safe to run any number of times."""

from __future__ import annotations

import unicodedata
import zoneinfo
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext
from guardian.shortcuts import assign_perm

from patients.models import Patient
from patients.services import patient_consent_set
from practice.models import Language, Membership, Practice, Role, User
from sessions.models import Appointment, AppointmentStatus
from therapies.models import TherapyType
from therapies.starters import starter

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
PREFERRED_NAMES = {
    "Beatriz Costa": "Bia", "Eduardo Pires": "Edu", "Heloísa Martins": "Helô",
    "Júlia Rocha": "Ju", "Nicolas Araújo": "Nico", "Rafael Dias": "Rafa",
}  # fmt: skip
MEN = {"Caio", "Eduardo", "Gabriel", "Igor", "Lucas", "Nicolas", "Paulo", "Rafael", "Tiago"}
PATIENT_TAGS = [
    ["Reiki"], ["Constelação familiar", "Manhãs"], ["Access Bars"], [],
    ["Reiki", "Noites"], ["Convênio"], ["Constelação familiar"],
]  # fmt: skip
# Starter template → (price in the practice's currency, calendar colour).
THERAPIES = {
    "reiki": (Decimal("150.00"), "#7b5ea7"),
    "family-constellation": (Decimal("280.00"), "#e07a1f"),
    "access-bars": (Decimal("180.00"), "#1f78b4"),
}
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

        therapy_types = self.seed_therapies(practice)

        therapists = [u for u, role in users if role == Role.THERAPIST]
        caseload: dict[int, list[Patient]] = {t.pk: [] for t in therapists}
        owner = next(u for u, role in users if role == Role.OWNER)
        for i, name in enumerate(PATIENTS):
            # Looked up by email: two real patients may share a name.
            patient, _ = Patient.objects.update_or_create(
                practice=practice,
                email=self.patient_email(name),
                defaults={
                    "full_name": name,
                    "phone": f"+55 11 9{8000 + i:04d}-{1000 + i * 37:04d}",
                    "preferred_name": PREFERRED_NAMES.get(name, ""),
                    "pronouns": "ele/dele" if name.split()[0] in MEN else "ela/dela",
                    "tags": PATIENT_TAGS[i % len(PATIENT_TAGS)],
                    "birth_date": date(1958 + (i * 7) % 45, 1 + i % 12, 1 + (i * 5) % 28),
                },
            )
            therapist = therapists[i % len(therapists)]
            assign_perm("patients.treat_patient", therapist, patient)
            caseload[therapist.pk].append(patient)
            if i % 2 == 0:  # about half agreed to audio recording; a no-op when re-run
                patient_consent_set(practice=practice, actor=owner, patient=patient, given=True)

        tz = zoneinfo.ZoneInfo(practice.time_zone)
        monday = current_week_monday(timezone.localdate(timezone=tz))
        now = timezone.now()
        with translation.override(practice.language):
            room = gettext("Room")
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
                        "therapy_type": therapy_types[(s_index + t_index) % len(therapy_types)],
                        "room": f"{room} {t_index + 1}",
                        "ends_at": starts + timedelta(minutes=minutes),
                        "status": AppointmentStatus.CONFIRMED
                        if starts < now
                        else AppointmentStatus.SCHEDULED,
                    },
                )
        return practice, users

    @staticmethod
    def seed_therapies(practice: Practice) -> list[TherapyType]:
        """The three starter templates, named and labelled in the practice's language."""
        therapy_types = []
        with translation.override(practice.language):
            for slug, (price, colour) in THERAPIES.items():
                details = starter(slug).build()  # type: ignore[union-attr]
                therapy_type, _ = TherapyType.objects.update_or_create(
                    practice=practice,
                    name=details["name"],
                    defaults={
                        "description": details["description"],
                        "default_duration": details["default_duration"],
                        "custom_fields": details["custom_fields"],
                        "price": price,
                        "currency": practice.currency,
                        "colour": colour,
                        "is_active": True,
                    },
                )
                therapy_types.append(therapy_type)
        return therapy_types

    @staticmethod
    def patient_email(name: str) -> str:
        ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
        return ascii_name.lower().replace(" ", ".") + "@example.com"


def current_week_monday(today: date) -> date:
    return today - timedelta(days=today.weekday())
