from __future__ import annotations

import secrets
import zoneinfo
from typing import ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from practice.querysets import InvitationQuerySet, MembershipQuerySet, PracticeQuerySet


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: object) -> User:
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, username: str | None) -> User:
        # Emails are stored lower-cased; signing in must not depend on their case.
        return self.get(email__iexact=username or "")


class Language(models.TextChoices):
    ENGLISH = "en", _("English")
    PORTUGUESE_BRAZIL = "pt-br", _("Portuguese (Brazil)")


class User(AbstractUser):
    """A person who signs in with an email address; their roles live in Membership."""

    username = None  # type: ignore[assignment]
    email = models.EmailField(_("email address"), unique=True)
    language = models.CharField(
        _("language"), max_length=8, choices=Language.choices, default=Language.ENGLISH
    )
    # Sessions signed in before this moment are ended on their next request (practice.
    # middleware.SessionTimeoutMiddleware): set when the user is deactivated somewhere.
    sessions_valid_after = models.DateTimeField(null=True, blank=True, editable=False)

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.get_full_name() or self.email

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.email


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("“%(value)s” is not a known time zone."), params={"value": value})


def validate_currency(value: str) -> None:
    if len(value) != 3 or not value.isalpha() or not value.isupper():
        raise ValidationError(_("Use a three-letter ISO 4217 code such as BRL or EUR."))


MAX_REMINDER_HOURS = 7 * 24


class Plan(models.TextChoices):
    FREE = "free", _("Free")
    PRO = "pro", _("Pro")


# Transcripts are kept this many days after their recording unless the Owner chose
# otherwise (Practice.transcript_retention_days); None keeps them. Notes stay regardless.
PLAN_TRANSCRIPT_RETENTION_DAYS: dict[str, int | None] = {Plan.FREE: 90, Plan.PRO: 365}
MAX_TRANSCRIPT_RETENTION_DAYS = 3650  # ten years; "keep forever" is 0


class Practice(models.Model):
    """A tenant: one clinic. Nothing of one practice is ever visible from another."""

    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="America/Sao_Paulo", validators=[validate_time_zone]
    )
    currency = models.CharField(
        _("currency"), max_length=3, default="BRL", validators=[validate_currency]
    )
    language = models.CharField(
        _("language"), max_length=8, choices=Language.choices, default=Language.PORTUGUESE_BRAZIL
    )
    plan = models.CharField(_("plan"), max_length=8, choices=Plan.choices, default=Plan.FREE)
    # The letterhead of receipts and exported records.
    legal_name = models.CharField(
        _("legal name"),
        max_length=200,
        blank=True,
        help_text=_("As it should appear on receipts, if not the practice's name."),
    )
    tax_id = models.CharField(
        _("tax ID"), max_length=40, blank=True, help_text=_("CNPJ or CPF, printed on receipts.")
    )
    address = models.TextField(_("address"), max_length=500, blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    email = models.EmailField(_("email"), blank=True)
    reminder_hours = models.PositiveSmallIntegerField(
        _("appointment reminders (hours before)"),
        default=24,
        validators=[MaxValueValidator(MAX_REMINDER_HOURS)],
        help_text=_("Patients get an email this many hours before each appointment. 0 sends none."),
    )
    # None follows the plan (PLAN_TRANSCRIPT_RETENTION_DAYS); 0 keeps transcripts for good.
    transcript_retention_days = models.PositiveSmallIntegerField(
        _("delete transcripts after (days)"),
        null=True,
        blank=True,
        validators=[MaxValueValidator(MAX_TRANSCRIPT_RETENTION_DAYS)],
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name

    @property
    def transcript_retention(self) -> int | None:
        """Days a transcript is kept after its recording, or None: kept for good."""
        days = self.transcript_retention_days
        if days is None:
            days = PLAN_TRANSCRIPT_RETENTION_DAYS.get(self.plan)
        return days or None


class PracticeOwned(models.Model):
    """Abstract base of every tenant-owned model: an indexed, protected link to its practice.

    Each subclass sets `objects` to a PracticeQuerySet subclass's manager, so its rows are
    chosen with `for_practice()`; tests/practice/test_members.py checks every subclass."""

    practice = models.ForeignKey(
        Practice, on_delete=models.PROTECT, related_name="+", db_index=True
    )

    class Meta:
        abstract = True


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    THERAPIST = "therapist", _("Therapist")
    ASSISTANT = "assistant", _("Assistant")


# Owners may treat patients too; assistants never do.
TREATING_ROLES = (Role.OWNER, Role.THERAPIST)


class Membership(PracticeOwned):
    """A user's role in one practice. Inactive memberships give no access at all."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["practice", "user"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} · {self.practice_id}"

    @property
    def is_owner(self) -> bool:
        return self.role == Role.OWNER

    @property
    def is_therapist(self) -> bool:
        return self.role == Role.THERAPIST

    @property
    def is_assistant(self) -> bool:
        return self.role == Role.ASSISTANT

    @property
    def treats_patients(self) -> bool:
        return self.role in TREATING_ROLES


def _invitation_token() -> str:
    return secrets.token_urlsafe(32)


class Invitation(PracticeOwned):
    """An Owner's invitation for an email address to join with a role; used once."""

    email = models.EmailField(_("email address"))
    role = models.CharField(_("role"), max_length=16, choices=Role.choices)
    token = models.CharField(max_length=64, unique=True, default=_invitation_token, editable=False)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.email} → {self.practice_id}"


class AuditEvent(PracticeOwned):
    """Who did what to which object, and from where, written by services in the same
    transaction as the change (or the read) it records.

    Rows are only ever added: a database trigger (migration 0005) refuses UPDATE and
    DELETE, so neither the app nor a bug in it can rewrite history. That is also why the
    patient and the session are plain ids rather than foreign keys (an audit row outlives
    what it names and is never updated), and why a member with audit rows cannot be
    deleted (they are deactivated instead)."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    patient_id = models.BigIntegerField(null=True, blank=True)
    session_id = models.BigIntegerField(null=True, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # The practice's hash chain, filled in by the database as the row goes in (trigger of
    # migration 0006): its number in the practice's chain, the hash of the row before and
    # this row's own hash over both and every column. `manage.py audit_verify` recomputes it.
    seq = models.PositiveBigIntegerField(null=True, editable=False)
    prev_hash = models.CharField(max_length=64, blank=True, editable=False)
    chain_hash = models.CharField(max_length=64, blank=True, editable=False)

    objects = PracticeQuerySet["AuditEvent"].as_manager()

    class Meta:
        ordering = ("-created_at", "-pk")
        indexes: ClassVar = [
            models.Index(fields=["practice", "-created_at"], name="audit_practice_newest"),
            models.Index(fields=["practice", "patient_id"], name="audit_practice_patient"),
        ]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["practice", "seq"], name="audit_one_row_per_seq")
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.target_type}:{self.target_id}"
