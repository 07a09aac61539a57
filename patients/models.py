from __future__ import annotations

from datetime import date
from typing import ClassVar

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models.functions import Concat
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from patients.normalise import TAG_MAX_LENGTH, folded
from patients.querysets import TREAT_PATIENT, ConsentEventQuerySet, PatientQuerySet
from practice.models import PracticeOwned, User


class Patient(PracticeOwned):
    """A person treated by the practice: contact and administrative data, never clinical.

    Therapists are assigned with the object permission `patients.treat_patient`
    (django-guardian, stored in PatientUserObjectPermission); change it only through
    `patients.services.patient_assign_therapists`."""

    full_name = models.CharField(_("full name"), max_length=200)
    preferred_name = models.CharField(
        _("preferred name"),
        max_length=100,
        blank=True,
        help_text=_("What they like to be called, if not their full name."),
    )
    pronouns = models.CharField(
        _("pronouns"), max_length=40, blank=True, help_text=_("For example: she/her, they/them.")
    )
    birth_date = models.DateField(_("date of birth"), null=True, blank=True)
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    email_reminders = models.BooleanField(
        _("email appointment reminders"),
        default=True,
        help_text=_("Untick if the patient asked not to get reminders."),
    )
    address = models.TextField(_("address"), max_length=500, blank=True)
    emergency_contact_name = models.CharField(_("emergency contact"), max_length=200, blank=True)
    emergency_contact_phone = models.CharField(
        _("emergency contact phone"), max_length=40, blank=True
    )
    tags = ArrayField(
        models.CharField(max_length=TAG_MAX_LENGTH),
        verbose_name=_("tags"),
        default=list,
        blank=True,
    )
    admin_notes = models.TextField(
        _("administrative notes"),
        max_length=2000,
        blank=True,
        help_text=_(
            "Scheduling, billing and contact practicalities only. Never clinical information: "
            "everyone in the practice, assistants included, can read these notes."
        ),
    )

    archived_at = models.DateTimeField(_("archived at"), null=True, blank=True)
    archived_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Erased under the patient's data rights (patients.services.patient_erase): the row
    # stays, anonymised, for the payments and bare sessions the law makes us keep.
    erased_at = models.DateTimeField(_("erased at"), null=True, blank=True)
    erased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The current consent, kept beside its history (ConsentEvent) for quick checks.
    audio_consent_at = models.DateTimeField(_("audio recording consent given at"), null=True)
    audio_consent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Search columns, folded by the database itself (see patients/normalise.py).
    search_text = models.GeneratedField(
        expression=folded(
            Concat(
                "full_name",
                models.Value(" "),
                "preferred_name",
                models.Value(" "),
                "email",
                output_field=models.TextField(),
            )
        ),
        output_field=models.TextField(),
        db_persist=True,
    )
    phone_digits = models.GeneratedField(
        expression=models.Func(
            "phone",
            models.Value(r"\D"),
            models.Value(""),
            models.Value("g"),
            function="regexp_replace",
            output_field=models.TextField(),
        ),
        output_field=models.TextField(),
        db_persist=True,
    )

    objects = PatientQuerySet.as_manager()

    class Meta:
        ordering = ("full_name", "pk")
        permissions: ClassVar = [(TREAT_PATIENT, _("Can treat this patient"))]
        indexes: ClassVar = [
            models.Index(fields=["practice", "search_text"], name="patient_practice_name"),
            models.Index(fields=["practice", "-created_at"], name="patient_practice_newest"),
            GinIndex(fields=["tags"], name="patient_tags_gin"),
        ]

    def __str__(self) -> str:
        return self.full_name

    @property
    def display_name(self) -> str:
        return self.preferred_name or self.full_name

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    @property
    def is_erased(self) -> bool:
        return self.erased_at is not None

    @property
    def has_audio_consent(self) -> bool:
        return self.audio_consent_at is not None

    @cached_property
    def therapists(self) -> list[User]:
        """The assigned therapists; prefetch them with `PatientQuerySet.with_therapists()`
        when showing many patients."""
        grants = getattr(self, "therapist_grants", None)
        if grants is None:
            grants = (
                self.user_permissions.filter(permission__codename=TREAT_PATIENT)
                .select_related("user")
                .order_by("user__first_name", "user__last_name", "user__email")
            )
        return [grant.user for grant in grants]

    def age_on(self, day: date) -> int | None:
        if self.birth_date is None:
            return None
        before_birthday = (day.month, day.day) < (self.birth_date.month, self.birth_date.day)
        return day.year - self.birth_date.year - before_birthday


class PatientUserObjectPermission(UserObjectPermissionBase):
    """guardian's per-user object permissions on patients, with a real foreign key, so
    "the patients assigned to X" is an indexed join rather than a text-keyed lookup."""

    content_object = models.ForeignKey(
        Patient, on_delete=models.CASCADE, related_name="user_permissions"
    )

    # The unique (user, permission, content_object) index of the base class serves
    # "whom is X assigned", the foreign key's own index "who treats this patient".
    class Meta(UserObjectPermissionBase.Meta):
        pass


class PatientGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(
        Patient, on_delete=models.CASCADE, related_name="group_permissions"
    )

    class Meta(GroupObjectPermissionBase.Meta):
        pass


class Consent(models.TextChoices):
    AUDIO_RECORDING = "audio_recording", _("Audio recording of sessions")


class ConsentEvent(PracticeOwned):
    """One giving or withdrawal of a patient's consent. Rows are only ever added, so the
    history stays; `Patient.audio_consent_at` holds the current state."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="consent_events")
    consent = models.CharField(_("consent"), max_length=32, choices=Consent.choices)
    given = models.BooleanField(_("given"))
    at = models.DateTimeField(_("when"), default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    objects = ConsentEventQuerySet.as_manager()

    class Meta:
        ordering = ("-at", "-pk")
        indexes: ClassVar = [models.Index(fields=["patient", "consent", "-at"])]

    def __str__(self) -> str:
        return f"{self.patient_id} {self.consent} {'given' if self.given else 'withdrawn'}"
