from __future__ import annotations

import time
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import factory
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from guardian.shortcuts import assign_perm

from patients.models import Patient
from payments.models import Payment, PaymentStatus
from practice import crypto
from practice.models import Invitation, Membership, Practice, Role, User
from sessions.models import (
    Appointment,
    AppointmentStatus,
    ClinicalNote,
    ClinicalNoteStatus,
    ClinicalNoteVersion,
    NoteTemplate,
    NoteVersionKind,
    Recording,
    RecordingSource,
    RecordingStatus,
    Session,
    SessionNote,
    Speaker,
    TranscriptSegment,
)
from sessions.note_templates import BUILTINS
from therapies.models import TherapyType

PASSWORD = "correct-horse-battery-9"


def practice_today() -> date:
    """Today in the factories' practice's time zone: the day a request of its members runs
    in. The test process's own zone is UTC, a day ahead of São Paulo from 21:00 there."""
    zone = Practice._meta.get_field("time_zone").get_default()
    return timezone.localdate(timezone=ZoneInfo(zone))


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


class SessionNoteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SessionNote

    practice = factory.SelfAttribute("session.practice")
    text = "Relaxed quickly; warmth in the hands."
    custom_values = factory.LazyFunction(lambda: {"chakras": ["Heart"], "energy": 7})


class PaymentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Payment

    practice = factory.SelfAttribute("session.practice")
    number = factory.Sequence(lambda n: n + 1)
    amount = factory.LazyFunction(lambda: Decimal("150.00"))
    currency = "BRL"
    status = PaymentStatus.PENDING
    due_date = factory.LazyFunction(lambda: timezone.localdate() + timedelta(days=7))


class SessionFactory(factory.django.DjangoModelFactory):
    """A recorded session: a completed appointment (yesterday), its note and its payment.
    `SessionFactory(practice=p, patient=x, therapist=t, note__text="…",
    payment__status=PaymentStatus.PAID, payment__paid_on=…, payment__method="pix",
    payment__due_date=None)`."""

    class Meta:
        model = Session
        skip_postgeneration_save = True

    practice = factory.SubFactory(PracticeFactory)
    patient = factory.SubFactory(PatientFactory, practice=factory.SelfAttribute("..practice"))
    therapist = factory.SubFactory(UserFactory)
    therapy_type = factory.SubFactory(
        TherapyTypeFactory, practice=factory.SelfAttribute("..practice")
    )
    starts_at = factory.LazyFunction(
        lambda: (timezone.now() - timedelta(days=1)).replace(second=0, microsecond=0)
    )
    minutes = 50
    appointment = factory.SubFactory(
        AppointmentFactory,
        practice=factory.SelfAttribute("..practice"),
        patient=factory.SelfAttribute("..patient"),
        therapist=factory.SelfAttribute("..therapist"),
        therapy_type=factory.SelfAttribute("..therapy_type"),
        starts_at=factory.SelfAttribute("..starts_at"),
        status=AppointmentStatus.COMPLETED,
    )
    note = factory.RelatedFactory(SessionNoteFactory, factory_related_name="session")
    payment = factory.RelatedFactory(PaymentFactory, factory_related_name="session")


class RecordingFactory(factory.django.DjangoModelFactory):
    """A browser recording of an appointment, still open for chunks (status Recording),
    with its own wrapped audio key. A finished one: `status=RecordingStatus.DONE,
    audio_key=b""` plus SpeakerFactory / TranscriptSegmentFactory rows."""

    class Meta:
        model = Recording

    practice = factory.SelfAttribute("appointment.practice")
    appointment = factory.SubFactory(AppointmentFactory)
    patient = factory.SelfAttribute("appointment.patient")
    therapist = factory.SelfAttribute("appointment.therapist")
    started_by = factory.SelfAttribute("appointment.therapist")
    source = RecordingSource.MICROPHONE
    status = RecordingStatus.RECORDING
    audio_key = factory.LazyFunction(crypto.new_wrapped_key)


class SpeakerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Speaker

    practice = factory.SelfAttribute("recording.practice")
    recording = factory.SubFactory(RecordingFactory)
    number = factory.Sequence(lambda n: n)


class TranscriptSegmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TranscriptSegment

    practice = factory.SelfAttribute("recording.practice")
    recording = factory.SubFactory(RecordingFactory, status=RecordingStatus.DONE, audio_key=b"")
    position = factory.Sequence(lambda n: n)
    start = factory.LazyAttribute(lambda o: o.position * 5.0)
    end = factory.LazyAttribute(lambda o: o.start + 4.0)
    text = "I have been sleeping better since last week."
    speaker = factory.SubFactory(
        SpeakerFactory, recording=factory.SelfAttribute("..recording"), number=0
    )


def finished_transcript(
    appointment: Appointment, dialogue: list[tuple[str, str]], **recording: object
) -> Recording:
    """A finished transcript of `appointment`: one segment per (role, text) of `dialogue`,
    said by the therapist's or the patient's named voice."""
    done = RecordingFactory(
        appointment=appointment, status=RecordingStatus.DONE, audio_key=b"", **recording
    )
    voices = {
        "therapist": SpeakerFactory(recording=done, number=0, role="therapist"),
        "patient": SpeakerFactory(recording=done, number=1, role="patient"),
    }
    for position, (who, text) in enumerate(dialogue):
        TranscriptSegmentFactory(recording=done, position=position, text=text, speaker=voices[who])
    return done


def statement(text: str, sources: list[int] | None = None, **extra: object) -> dict:
    """A statement of a clinical note version, as tera.drafting.ground_sentences writes
    it: supported when it has sources, unless `supported` says otherwise."""
    return {
        "text": text,
        "sources": sources or [],
        "from_notes": False,
        "rejected": [],
        "origin": "ai",
        "supported": bool(sources),
        **extra,
    }


class NoteTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NoteTemplate

    practice = factory.SubFactory(PracticeFactory)
    name = factory.Sequence(lambda n: f"Template {n}")
    sections = factory.LazyFunction(
        lambda: [
            {"key": "summary", "title": "Summary", "instruction": "What happened."},
            {"key": "plan", "title": "Plan", "instruction": "What comes next."},
        ]
    )


class ClinicalNoteFactory(factory.django.DjangoModelFactory):
    """A SOAP note of an appointment, drafted from `recording` (a finished transcript of
    the same appointment: pass one, or None for quick notes only). Status Ready; add
    versions with ClinicalNoteVersionFactory."""

    class Meta:
        model = ClinicalNote

    practice = factory.SelfAttribute("appointment.practice")
    appointment = factory.SubFactory(AppointmentFactory)
    patient = factory.SelfAttribute("appointment.patient")
    therapist = factory.SelfAttribute("appointment.therapist")
    recording = None
    builtin = "soap"
    title = "SOAP note"
    sections = factory.LazyFunction(lambda: BUILTINS["soap"].section_dicts())
    language = "en"
    status = ClinicalNoteStatus.READY
    created_by = factory.SelfAttribute("appointment.therapist")


class ClinicalNoteVersionFactory(factory.django.DjangoModelFactory):
    """A version whose every section holds one statement (`text`, unsupported unless
    `content` is given)."""

    class Meta:
        model = ClinicalNoteVersion

    class Params:
        text = "The patient slept badly."

    practice = factory.SelfAttribute("note.practice")
    note = factory.SubFactory(ClinicalNoteFactory)
    number = factory.Sequence(lambda n: n + 1)
    kind = NoteVersionKind.DRAFT
    content = factory.LazyAttribute(
        lambda o: {
            "sections": [
                {"key": s["key"], "title": s["title"], "statements": [statement(o.text)]}
                for s in o.note.sections
            ],
            "truncated": False,
        }
    )
    author = factory.SelfAttribute("note.therapist")


REIKI_FIELDS = [
    {
        "key": "chakras",
        "label": "Chakras worked on",
        "kind": "multiple_choice",
        "choices": ["Root", "Heart", "Crown"],
    },
    {"key": "energy_before", "label": "Energy before", "kind": "scale"},
    {"key": "energy_after", "label": "Energy after", "kind": "scale"},
]


def weekly_treatment(
    practice: Practice, therapist: User, notes: list[str], *, name: str = "Clara Luz"
) -> tuple[Patient, list[Session]]:
    """A patient of `therapist` with one Reiki session a week (the last one a week ago),
    one per note, with chakras and energy before/after that rise over time; each note
    indexed for Tera by the real embedding model."""
    from tera.indexing import index_source
    from tera.models import SourceKind

    patient = PatientFactory(practice=practice, therapist=therapist, full_name=name)
    reiki = TherapyTypeFactory(practice=practice, name="Reiki", custom_fields=REIKI_FIELDS)
    now = timezone.now().replace(second=0, microsecond=0)
    sessions = [
        SessionFactory(
            practice=practice,
            patient=patient,
            therapist=therapist,
            therapy_type=reiki,
            starts_at=now - timedelta(days=7 * (len(notes) - i)),
            note__text=text,
            note__custom_values={
                "chakras": ["Heart"] + (["Crown"] if i else []),
                "energy_before": 3 + i,
                "energy_after": 6 + i,
            },
        )
        for i, text in enumerate(notes)
    ]
    for session in sessions:
        index_source(SourceKind.SESSION_NOTE, session.pk)
    return patient, sessions


def authenticator_code(device: TOTPDevice, *, after_last: bool = True) -> str:
    """The code an authenticator app shows now for `device`; `after_last`: if the
    current one was used already, the next step's (within django-otp's tolerance), as a
    person would wait for it."""
    from django_otp.oath import TOTP

    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    if after_last and totp.t() <= device.last_t:
        totp.time += (device.last_t + 1 - totp.t()) * device.step
    return f"{totp.token():0{device.digits}d}"


def authenticator(user: User) -> TOTPDevice:
    """The user's confirmed authenticator app, set up once."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
