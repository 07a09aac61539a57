"""Reads of payments that other apps show (the patient profile's Payments tab) and that
the receivables pages share. Every read starts from `Payment.objects.visible_to()`."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import Count, QuerySet, Sum

from payments.models import Payment, PaymentStatus

if TYPE_CHECKING:
    from patients.models import Patient
    from practice.models import Membership

# What a payment row shows: the session's administrative facts, never its note.
ROW_RELATED = ("session__patient", "session__therapist", "session__therapy_type")


@dataclass
class StatusTotal:
    """How many payments have one status, and what they add up to in each currency (a
    practice that changed its currency has payments in both)."""

    status: str
    label: str
    count: int = 0
    amounts: list[tuple[str, Decimal]] = field(default_factory=list)


def totals_by_status(payments: QuerySet[Payment], currency: str) -> list[StatusTotal]:
    """Count and sum of `payments` for every status, in one query. Statuses without
    payments are listed too, with 0 in `currency`, so the summary keeps its shape."""
    totals = {
        status: StatusTotal(status=status, label=str(status.label)) for status in PaymentStatus
    }
    rows = (
        payments.order_by()
        .values("status", "currency")
        .annotate(count=Count("pk"), total=Sum("amount"))
        .order_by("status", "currency")
    )
    for row in rows:
        total = totals[PaymentStatus(row["status"])]
        total.count += row["count"]
        total.amounts.append((row["currency"], row["total"]))
    for total in totals.values():
        if not total.amounts:
            total.amounts.append((currency, Decimal("0")))
    return list(totals.values())


def patient_payments(membership: Membership, patient: Patient) -> dict[str, Any]:
    """The patient's payments that `membership` may see, newest session first, and their
    totals per status: the context of `templates/payments/patient_payments.html`."""
    payments = (
        Payment.objects.visible_to(membership)
        .filter(session__patient=patient)
        .select_related(*ROW_RELATED)
    )
    return {
        "patient_payments": list(payments.order_by("-session__starts_at", "-pk")),
        "patient_payment_totals": totals_by_status(payments, membership.practice.currency),
    }
