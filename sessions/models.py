from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from practice.models import PracticeOwned
from practice.querysets import PracticeQuerySet
from sessions.querysets import AppointmentQuerySet


class AppointmentStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    CONFIRMED = "confirmed", _("Confirmed")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")
    NO_SHOW = "no_show", _("No-show")


OPEN_STATUSES = (AppointmentStatus.SCHEDULED, AppointmentStatus.CONFIRMED)
# A cancelled appointment frees its slot; every other status keeps it taken.
FREE_STATUSES = (AppointmentStatus.CANCELLED,)


class AppointmentSeries(PracticeOwned):
    """A recurring appointment: the rule it was booked with. Each occurrence is an
    Appointment of its own (so one can be moved or cancelled alone); editing "this and
    following" changes the open occurrences from one date on."""

    every_weeks = models.PositiveSmallIntegerField(_("every (weeks)"), default=1)
    count = models.PositiveSmallIntegerField(_("times"), null=True, blank=True)
    until = models.DateField(_("until"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PracticeQuerySet.as_manager()

    class Meta:
        verbose_name_plural = _("appointment series")
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=models.Q(count__isnull=False) | models.Q(until__isnull=False),
                name="series_ends",
            ),
            models.CheckConstraint(condition=models.Q(every_weeks__gte=1), name="series_every"),
        ]

    def __str__(self) -> str:
        return f"series {self.pk}"


class Appointment(PracticeOwned):
    """A slot in the calendar: a patient with a therapist. Times are stored in UTC.

    Everything here is administrative: the front-desk note is never clinical (the session
    record, written after the appointment, holds the clinical notes)."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="appointments"
    )
    therapist = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="appointments"
    )
    therapy_type = models.ForeignKey(
        "therapies.TherapyType",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="appointments",
        verbose_name=_("therapy"),
    )
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=AppointmentStatus.choices,
        default=AppointmentStatus.SCHEDULED,
    )
    room = models.CharField(_("room or location"), max_length=80, blank=True)
    meeting_url = models.URLField(_("online meeting link"), max_length=500, blank=True)
    front_desk_note = models.TextField(
        _("front-desk note"),
        max_length=500,
        blank=True,
        help_text=_("Administrative only (parking, payment, reminders). Never clinical."),
    )
    cancel_reason = models.CharField(_("reason for cancelling"), max_length=200, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    series = models.ForeignKey(
        AppointmentSeries,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="appointments",
    )
    # Set when the patient's reminder email is claimed for sending; cleared when the
    # appointment moves to another time (the patient is reminded of the new one).
    reminder_sent_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AppointmentQuerySet.as_manager()

    class Meta:
        ordering = ("starts_at",)
        indexes: ClassVar = [
            models.Index(fields=["practice", "starts_at"]),
            models.Index(fields=["therapist", "starts_at"], name="appointment_therapist_start"),
        ]
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="appointment_ends_after_start",
            )
        ]

    def __str__(self) -> str:
        return f"{self.patient_id} @ {self.starts_at:%Y-%m-%d %H:%M}"

    @property
    def duration(self) -> timedelta:
        return self.ends_at - self.starts_at

    @property
    def minutes(self) -> int:
        return int(self.duration.total_seconds() // 60)

    @property
    def is_cancelled(self) -> bool:
        return self.status == AppointmentStatus.CANCELLED

    @property
    def is_open(self) -> bool:
        """Still to happen or to be recorded: it can be edited, cancelled or marked."""
        return self.status in OPEN_STATUSES


class CalendarFeed(PracticeOwned):
    """A therapist's secret iCalendar address for phone calendars. Whoever holds the URL
    reads the therapist's appointment times, patient initials and therapies (nothing
    clinical), so it can be revoked (the row is deleted) and replaced at any time."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feeds"
    )
    token = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PracticeQuerySet.as_manager()

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["practice", "user"], name="one_feed_per_member")
        ]

    def __str__(self) -> str:
        return f"feed of {self.user_id} in {self.practice_id}"
