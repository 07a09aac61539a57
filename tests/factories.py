from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone
from guardian.shortcuts import assign_perm

from patients.models import Patient
from practice.models import Invitation, Membership, Practice, Role, User
from sessions.models import Appointment
from therapies.models import TherapyType

PASSWORD = "correct-horse-battery-9"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj: User, create: bool, extracted: object, **kwargs: object) -> None:  # noqa: N805
        if create:
            obj.save()


class PracticeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Practice

    name = factory.Sequence(lambda n: f"Practice {n}")
    slug = factory.Sequence(lambda n: f"practice-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    practice = factory.SubFactory(PracticeFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.THERAPIST


class InvitationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Invitation

    practice = factory.SubFactory(PracticeFactory)
    email = factory.Sequence(lambda n: f"invitee{n}@example.com")
    role = Role.THERAPIST
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient
        skip_postgeneration_save = True

    practice = factory.SubFactory(PracticeFactory)
    full_name = factory.Faker("name")
    email = factory.Sequence(lambda n: f"patient{n}@example.com")

    @factory.post_generation
    def therapist(obj: Patient, create: bool, extracted: User | None, **kwargs: object) -> None:  # noqa: N805
        if create and extracted is not None:
            assign_perm("patients.treat_patient", extracted, obj)


class AppointmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Appointment

    practice = factory.SubFactory(PracticeFactory)
    patient = factory.SubFactory(PatientFactory, practice=factory.SelfAttribute("..practice"))
    therapist = factory.SubFactory(UserFactory)
    starts_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=1))
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + timedelta(minutes=50))


class TherapyTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TherapyType

    practice = factory.SubFactory(PracticeFactory)
    name = factory.Sequence(lambda n: f"Therapy {n}")
    default_duration = 60
    price = factory.LazyFunction(lambda: Decimal("150.00"))
    custom_fields = factory.LazyFunction(
        lambda: [
            {
                "key": "chakras",
                "label": "Chakras worked on",
                "kind": "multiple_choice",
                "help_text": "",
                "required": False,
                "order": 0,
                "choices": ["Root", "Heart", "Crown"],
                "min": None,
                "max": None,
                "unit": "",
            },
            {
                "key": "sensations",
                "label": "Perceived sensations",
                "kind": "long_text",
                "help_text": "",
                "required": False,
                "order": 1,
                "choices": [],
                "min": None,
                "max": None,
                "unit": "",
            },
            {
                "key": "energy",
                "label": "Energy level",
                "kind": "scale",
                "help_text": "",
                "required": True,
                "order": 2,
                "choices": [],
                "min": None,
                "max": None,
                "unit": "",
            },
        ]
    )
