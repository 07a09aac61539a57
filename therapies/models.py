from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from practice.models import PracticeOwned, validate_currency
from therapies.querysets import TherapyTypeQuerySet

validate_colour = RegexValidator(
    r"^#[0-9a-fA-F]{6}$", _("Use a colour such as #2f6f62."), code="invalid_colour"
)
MIN_DURATION, MAX_DURATION = 5, 480


class TherapyType(PracticeOwned):
    """A therapy the practice offers, with the custom fields recorded after its sessions.

    `custom_fields` is the schema in therapies/schema.py, written only through
    therapies/services.py after `validate_schema()`. `removed_fields` keeps the definitions
    of removed fields so their stored values can still be shown under their old label.
    Types are deactivated, never deleted: sessions keep pointing at them.
    """

    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True, max_length=1000)
    default_duration = models.PositiveSmallIntegerField(
        _("default duration (minutes)"),
        default=60,
        validators=[MinValueValidator(MIN_DURATION), MaxValueValidator(MAX_DURATION)],
    )
    price = models.DecimalField(
        _("price"),
        max_digits=10,
        decimal_places=2,
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    currency = models.CharField(
        _("currency"), max_length=3, default="BRL", validators=[validate_currency]
    )
    colour = models.CharField(
        _("colour"), max_length=7, default="#2f6f62", validators=[validate_colour]
    )
    is_active = models.BooleanField(
        _("active"),
        default=True,
        help_text=_("Inactive types are not offered for new appointments; records keep them."),
    )
    custom_fields = models.JSONField(default=list, blank=True)
    removed_fields = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TherapyTypeQuerySet.as_manager()

    class Meta:
        ordering = ("name",)
        constraints: ClassVar = [
            models.UniqueConstraint(
                "practice", Lower("name"), name="therapy_type_name_unique_in_practice"
            ),
            models.CheckConstraint(condition=models.Q(price__gte=0), name="therapy_price_gte_0"),
            models.CheckConstraint(
                condition=models.Q(default_duration__gte=MIN_DURATION)
                & models.Q(default_duration__lte=MAX_DURATION),
                name="therapy_duration_in_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def removed_keys(self) -> list[str]:
        return [f["key"] for f in self.removed_fields]

    def field(self, key: str) -> dict | None:
        return next((f for f in self.custom_fields if f["key"] == key), None)
