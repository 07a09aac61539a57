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
from django.utils.translation import gettext, gettext_noop
from guardian.shortcuts import assign_perm

from patients.models import Patient
from patients.services import patient_consent_set
from payments.models import PaymentMethod, PaymentStatus
from payments.services import Charge
from practice.models import Language, Membership, Plan, Practice, Role, User
from sessions.models import Appointment, AppointmentStatus
from sessions.services import Record, session_record
from therapies.formbuilder import validate_values
from therapies.models import TherapyType
from therapies.schema import Kind
from therapies.starters import starter

DEMO_PASSWORD = "holos-demo"  # published in the README  # nosec
PRACTICE = {
    "slug": "espaco-holos",
    "name": "Espaço Holos",
    "time_zone": "America/Sao_Paulo",
    "currency": "BRL",
    "language": Language.PORTUGUESE_BRAZIL,
    # On Pro, so the demo shows Tera's insights (the Owner can switch it back to Free).
    "plan": Plan.PRO,
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
HISTORY_WEEKS = 3
METHODS = [PaymentMethod.PIX, PaymentMethod.CARD, PaymentMethod.CASH]
# Demo notes, in the practice's language (they are in the catalogue for that).
NOTES = [
    gettext_noop(
        "Arrived tired after a long week at work. Slept badly; tension in the shoulders. "
        "Left calmer and said the breathing helped."
    ),
    gettext_noop(
        "Talked about a parent's illness. Cried at the start, then relaxed. "
        "We agreed to try the evening exercise before the next session."
    ),
    gettext_noop(
        "Reports sleeping better since the last session. Less anxiety on the way to work. "
        "Wants to keep the weekly rhythm."
    ),
    gettext_noop(
        "Difficult week: an argument with a sibling. Restless during the first part, "
        "settled in the second half. Follow up on family topics."
    ),
]

THEMES = [gettext_noop("Relationship with the mother"), gettext_noop("Career and money")]
OBSERVATIONS = [
    gettext_noop("Warmth in the hands, deep breathing."),
    gettext_noop("Tingling in the feet; some tears, then calm."),
]


def demo_values(schema: list[dict[str, Any]], n: int) -> dict[str, Any]:
    """Plausible, valid answers for a therapy's custom fields."""
    values: dict[str, Any] = {}
    for field in schema:
        kind = field["kind"]
        if kind == Kind.MULTIPLE_CHOICE:
            choices = field["choices"]
            values[field["key"]] = [choices[n % len(choices)], choices[(n + 3) % len(choices)]]
        elif kind == Kind.SINGLE_CHOICE:
            values[field["key"]] = field["choices"][n % len(field["choices"])]
        elif kind == Kind.SCALE:
            values[field["key"]] = 4 + n % 5
        elif kind == Kind.YES_NO:
            values[field["key"]] = n % 2 == 0
        elif kind == Kind.NUMBER:
            low = field.get("min") or 0
            values[field["key"]] = low + 1 + n % 4
        elif kind == Kind.SHORT_TEXT:
            values[field["key"]] = gettext(THEMES[n % len(THEMES)])
        elif kind == Kind.LONG_TEXT:
            values[field["key"]] = gettext(OBSERVATIONS[n % len(OBSERVATIONS)])
    return validate_values(schema, values)


class Command(BaseCommand):
    help = "Create or refresh the demo practice Espaço Holos, its members, patients and week."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            practice, users = self.seed()
        self.stdout.write(self.style.SUCCESS(f"Demo practice “{practice.name}” is ready."))
        self.stdout.write(f"Sign in at http://localhost:8000 with (password: {DEMO_PASSWORD}):")
        for user, role in users:
            self.stdout.write(f"  {role.label:<10} {user.email}")
        self.stdout.write(
            "Owners and Therapists set up two-factor authentication at their first sign-in "
            "(any authenticator app)."
        )

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
        # The weeks before this one are recorded sessions (notes, fields, payments); this
        # week's past appointments are left for the demo's users to record.
        for weeks_ago in (*range(HISTORY_WEEKS, 0, -1), 0):
            week = monday - timedelta(weeks=weeks_ago)
            for t_index, therapist in enumerate(therapists):
                patients = caseload[therapist.pk]
                for s_index, (weekday, hour, minutes) in enumerate(SLOTS):
                    starts = datetime.combine(
                        week + timedelta(days=weekday), time(hour + t_index), tzinfo=tz
                    )
                    appointment, _ = Appointment.objects.update_or_create(
                        practice=practice,
                        therapist=therapist,
                        starts_at=starts,
                        defaults={
                            "patient": patients[s_index % len(patients)],
                            "therapy_type": therapy_types[(s_index + t_index) % len(therapy_types)],
                            "room": f"{room} {t_index + 1}",
                            "ends_at": starts + timedelta(minutes=minutes),
                        },
                    )
                    if appointment.status != AppointmentStatus.COMPLETED:
                        appointment.status = (
                            AppointmentStatus.CONFIRMED
                            if starts < now
                            else AppointmentStatus.SCHEDULED
                        )
                        appointment.save(update_fields=["status"])
                    if weeks_ago and appointment.status != AppointmentStatus.COMPLETED:
                        self.record(practice, appointment, weeks_ago, s_index)
        return practice, users

    @staticmethod
    def record(practice: Practice, appointment: Appointment, weeks_ago: int, n: int) -> None:
        """Record a past appointment's session through the service a therapist uses."""
        therapy = appointment.therapy_type
        assert therapy is not None
        today = timezone.localdate(timezone=zoneinfo.ZoneInfo(practice.time_zone))
        session_day = timezone.localtime(
            appointment.starts_at, zoneinfo.ZoneInfo(practice.time_zone)
        ).date()
        if weeks_ago >= 2 or n % 3 == 0:
            charge = Charge(
                therapy.price, PaymentStatus.PAID, METHODS[n % len(METHODS)], None, session_day
            )
        else:
            # Some were due last weekend (now overdue), some are due later.
            due = session_day + timedelta(days=2 if n % 3 == 1 else 10)
            status = PaymentStatus.OVERDUE if due < today else PaymentStatus.PENDING
            charge = Charge(therapy.price, status, "", due, None)
        with translation.override(practice.language):
            record = Record(
                therapy_type=therapy,
                minutes=appointment.minutes,
                text=gettext(NOTES[n % len(NOTES)]),
                custom_values=demo_values(therapy.custom_fields, n),
            )
        session_record(
            practice=practice,
            actor=appointment.therapist,
            appointment=appointment,
            record=record,
            charge=charge,
        )

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
