"""A helper to make one session with its payment, for a patient of a given therapist."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pytest

from payments.models import Payment, PaymentStatus
from tests.factories import PatientFactory, SessionFactory

CANARY = "CANARY-7f3a9c-note"
CANARY_FIELD = "CANARY-4b21d8-custom"


def paid(on: date, method: str = "pix") -> dict[str, Any]:
    return {"status": PaymentStatus.PAID, "paid_on": on, "method": method, "due_date": None}


@pytest.fixture
def make_payment() -> Callable[..., Payment]:
    """make_payment(practice, therapist, "Ana", starts_at=..., amount=..., status=...):
    a new patient of `therapist` with one recorded session (its note carries the canary)
    and the payment given by the keyword arguments."""

    def make(
        practice,
        therapist,
        name: str = "Ana Lima",
        *,
        starts_at: datetime | None = None,
        patient=None,
        **payment: Any,
    ) -> Payment:
        if patient is None:
            patient = PatientFactory(practice=practice, full_name=name, therapist=therapist)
        extra: dict[str, Any] = {f"payment__{key}": value for key, value in payment.items()}
        if starts_at is not None:
            extra["starts_at"] = starts_at
        session = SessionFactory(
            practice=practice,
            patient=patient,
            therapist=therapist,
            note__text=f"Private words {CANARY}",
            note__custom_values={"sensations": CANARY_FIELD, "energy": 7},
            **extra,
        )
        return Payment.objects.select_related("session__patient").get(session=session)

    return make
