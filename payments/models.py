from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from payments.querysets import PaymentQuerySet
from practice.models import PracticeOwned, validate_currency


class PaymentStatus(models.TextChoices):
    PAID = "paid", _("Paid")
    PENDING = "pending", _("Pending")
    OVERDUE = "overdue", _("Overdue")


# Still to be paid: a due date says when.
UNPAID_STATUSES = (PaymentStatus.PENDING, PaymentStatus.OVERDUE)


class PaymentMethod(models.TextChoices):
    CASH = "cash", _("Cash")
    PIX = "pix", _("PIX")
    CARD = "card", _("Card")
    OTHER = "other", _("Other")


class Payment(PracticeOwned):
    """What a session costs the patient and whether it is paid. Administrative: Owners,
    Assistants and the patient's therapists see it; it never carries clinical text.

    A paid payment has the day it was paid and the method; an unpaid one (Pending, or
    Overdue once its due date has passed) has a due date. The database holds to both."""

    session = models.OneToOneField(
        "therapy_sessions.Session", on_delete=models.PROTECT, related_name="payment"
    )
    # 1, 2, 3… within the practice: the receipt's number (a global id would tell a
    # patient how many payments other practices record).
    number = models.PositiveIntegerField(_("number"), editable=False)
    amount = models.DecimalField(
        _("amount"),
        max_digits=10,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0"))],
    )
    currency = models.CharField(_("currency"), max_length=3, validators=[validate_currency])
    status = models.CharField(
        _("status"), max_length=8, choices=PaymentStatus.choices, default=PaymentStatus.PENDING
    )
    method = models.CharField(_("method"), max_length=8, choices=PaymentMethod.choices, blank=True)
    due_date = models.DateField(_("due date"), null=True, blank=True)
    paid_on = models.DateField(_("paid on"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PaymentQuerySet.as_manager()

    class Meta:
        indexes: ClassVar = [
            models.Index(fields=["practice", "status", "due_date"], name="payment_status_due"),
        ]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["practice", "number"], name="payment_number_unique"),
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="payment_amount_gte_0"),
            models.CheckConstraint(
                condition=(
                    models.Q(status=PaymentStatus.PAID, paid_on__isnull=False)
                    & ~models.Q(method="")
                )
                | (
                    models.Q(status__in=UNPAID_STATUSES)
                    & models.Q(due_date__isnull=False, paid_on__isnull=True)
                ),
                name="payment_paid_or_due",
            ),
        ]

    def __str__(self) -> str:
        return f"payment {self.pk} ({self.status})"

    @property
    def is_paid(self) -> bool:
        return self.status == PaymentStatus.PAID

    @property
    def receipt_number(self) -> str:
        return f"{self.number:06d}"
