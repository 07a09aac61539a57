"""Writes of payments. Each writes its audit row in the same transaction; none carries
clinical text."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from payments.models import UNPAID_STATUSES, Payment, PaymentStatus
from practice.models import Practice, User
from practice.services import audit_record


@dataclass(frozen=True)
class Charge:
    """What a session costs and where its payment stands, as the forms ask for it."""

    amount: Decimal
    status: str
    method: str = ""
    due_date: date | None = None
    paid_on: date | None = None

    def checked(self) -> Charge:
        """The charge with only the fields its status uses; ValidationError (one message
        per field, keyed by field name) when a field the status needs is missing."""
        errors: dict[str, str] = {}
        if self.amount < 0:
            errors["amount"] = _("An amount cannot be negative.")
        if self.status == PaymentStatus.PAID:
            if not self.method:
                errors["method"] = _("Say how it was paid.")
            if self.paid_on is None:
                errors["paid_on"] = _("Say when it was paid.")
            elif self.paid_on > timezone.localdate():
                errors["paid_on"] = _("The payment date can’t be in the future.")
            checked = Charge(self.amount, self.status, self.method, None, self.paid_on)
        elif self.status in UNPAID_STATUSES:
            if self.due_date is None:
                errors["due_date"] = _("Say when it is due.")
            elif self.status == PaymentStatus.OVERDUE and self.due_date >= timezone.localdate():
                errors["due_date"] = _("Only a payment due before today can be overdue.")
            checked = Charge(self.amount, self.status, self.method, self.due_date, None)
        else:
            errors["status"] = _("Choose paid, pending or overdue.")
        if errors:
            raise ValidationError(errors)
        return checked


CHARGE_FIELDS = ("amount", "status", "method", "due_date", "paid_on")


def payment_create(*, practice: Practice, actor: User, session_id: int, charge: Charge) -> Payment:
    """The payment of a new session; called inside the session's own transaction."""
    charge = charge.checked()
    # Numbers follow each other within the practice: lock it while taking the next one.
    Practice.objects.select_for_update().only("pk").get(pk=practice.pk)
    last = Payment.objects.for_practice(practice).aggregate(last=Max("number"))["last"]
    payment = Payment.objects.create(
        practice=practice,
        number=(last or 0) + 1,
        session_id=session_id,
        currency=practice.currency,
        **{name: getattr(charge, name) for name in CHARGE_FIELDS},
    )
    audit_record(
        practice=practice,
        actor=actor,
        action="payment.create",
        target=payment,
        session_id=session_id,
        data={"status": payment.status},
    )
    return payment


@transaction.atomic
def payment_update(
    *, practice: Practice, actor: User, payment: Payment, charge: Charge, ip: str | None = None
) -> list[str]:
    """Change a payment's amount, status, method or dates. Returns the changed fields."""
    charge = charge.checked()
    changed = [name for name in CHARGE_FIELDS if getattr(payment, name) != getattr(charge, name)]
    if not changed:
        return []
    for name in changed:
        setattr(payment, name, getattr(charge, name))
    payment.save(update_fields=[*changed, "updated_at"])
    audit_record(
        practice=practice,
        actor=actor,
        action="payment.update",
        target=payment,
        patient_id=payment.session.patient_id,
        session_id=payment.session_id,
        ip=ip,
        data={"fields": changed, "status": payment.status},
    )
    return changed


@transaction.atomic
def payment_mark_paid(
    *,
    practice: Practice,
    actor: User,
    payment: Payment,
    method: str,
    paid_on: date,
    ip: str | None = None,
) -> None:
    """The front desk's daily job: a Pending or Overdue payment was paid. The row is
    locked first, so two people taking the same payment cannot both record it."""
    current = Payment.objects.for_practice(practice).select_for_update().get(pk=payment.pk)
    if current.is_paid:
        raise ValidationError(_("This payment is already paid."), code="paid")
    payment_update(
        practice=practice,
        actor=actor,
        payment=payment,
        charge=Charge(payment.amount, PaymentStatus.PAID, method, None, paid_on),
        ip=ip,
    )


def payments_mark_overdue() -> int:
    """Pending payments whose due date has passed in their practice's time zone become
    Overdue. Idempotent: a second run finds nothing more. Returns how many changed."""
    changed = 0
    time_zones = Practice.objects.order_by().values_list("time_zone", flat=True).distinct()
    for name in time_zones:
        today = timezone.localdate(timezone=zoneinfo.ZoneInfo(name))
        with transaction.atomic():
            due = list(
                Payment.objects.select_for_update(skip_locked=True)
                .filter(
                    practice__time_zone=name,
                    status=PaymentStatus.PENDING,
                    due_date__lt=today,
                )
                .values_list("pk", "practice_id")
            )
            if not due:
                continue
            Payment.objects.filter(pk__in=[pk for pk, _ in due]).update(
                status=PaymentStatus.OVERDUE, updated_at=timezone.now()
            )
            by_practice: dict[int, list[int]] = {}
            for pk, practice_id in due:
                by_practice.setdefault(practice_id, []).append(pk)
            for practice in Practice.objects.filter(pk__in=by_practice):
                audit_record(
                    practice=practice,
                    actor=None,
                    action="payment.overdue",
                    data={"payments": by_practice[practice.pk]},
                )
            changed += len(due)
    return changed
