"""Payment writes: what a charge needs per status, marking paid, corrections that audit
only what changed, and the overdue job across time zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from payments import services
from payments.models import Payment, PaymentStatus
from payments.services import Charge
from payments.tasks import payments_overdue
from practice.models import AuditEvent
from sessions.models import Session
from tests.factories import (
    AppointmentFactory,
    PatientFactory,
    PracticeFactory,
    TherapyTypeFactory,
    UserFactory,
)
from tests.payments.conftest import paid

TODAY = date(2026, 3, 10)


def errors_of(charge: Charge) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        charge.checked()
    return caught.value.message_dict


# --- Charge: what each status needs ----------------------------------------------------


def test_paid_charge_needs_method_and_day_and_drops_the_due_date():
    today = timezone.localdate()
    assert set(errors_of(Charge(Decimal("10"), PaymentStatus.PAID))) == {"method", "paid_on"}

    checked = Charge(Decimal("10"), PaymentStatus.PAID, "pix", today, today).checked()
    assert (checked.method, checked.paid_on, checked.due_date) == ("pix", today, None)


def test_paid_charge_cannot_be_paid_in_the_future():
    tomorrow = timezone.localdate() + timedelta(days=1)
    errors = errors_of(Charge(Decimal("10"), PaymentStatus.PAID, "cash", None, tomorrow))
    assert errors == {"paid_on": ["The payment date can’t be in the future."]}


def test_pending_charge_needs_a_due_date_and_drops_the_paid_day():
    today = timezone.localdate()
    assert errors_of(Charge(Decimal("10"), PaymentStatus.PENDING)) == {
        "due_date": ["Say when it is due."]
    }
    checked = Charge(Decimal("10"), PaymentStatus.PENDING, "", today, today).checked()
    assert (checked.due_date, checked.paid_on) == (today, None)


def test_overdue_charge_must_be_due_before_today():
    today = timezone.localdate()
    assert set(errors_of(Charge(Decimal("10"), PaymentStatus.OVERDUE, due_date=today))) == {
        "due_date"
    }
    yesterday = today - timedelta(days=1)
    assert Charge(Decimal("10"), PaymentStatus.OVERDUE, due_date=yesterday).checked()


def test_negative_amount_and_unknown_status_are_refused():
    today = timezone.localdate()
    assert "amount" in errors_of(Charge(Decimal("-1"), PaymentStatus.PENDING, due_date=today))
    assert "status" in errors_of(Charge(Decimal("1"), "refunded", due_date=today))


# --- Marking paid and correcting --------------------------------------------------------


def test_mark_paid_sets_method_and_day_and_audits(clinic, owner, therapist, make_payment):
    payment = make_payment(clinic, therapist)
    today = timezone.localdate()

    services.payment_mark_paid(
        practice=clinic, actor=owner, payment=payment, method="card", paid_on=today
    )

    payment.refresh_from_db()
    assert (payment.status, payment.method, payment.paid_on, payment.due_date) == (
        PaymentStatus.PAID,
        "card",
        today,
        None,
    )
    event = AuditEvent.objects.get(action="payment.update")
    assert event.actor == owner
    assert event.patient_id == payment.session.patient_id
    assert event.session_id == payment.session_id
    assert sorted(event.data["fields"]) == ["due_date", "method", "paid_on", "status"]


def test_mark_paid_refuses_a_paid_payment(clinic, owner, therapist, make_payment):
    payment = make_payment(clinic, therapist, **paid(timezone.localdate()))
    with pytest.raises(ValidationError):
        services.payment_mark_paid(
            practice=clinic, actor=owner, payment=payment, method="cash", paid_on=date(2026, 1, 1)
        )
    assert not AuditEvent.objects.filter(action="payment.update").exists()


def test_update_records_only_the_changed_fields(clinic, assistant, therapist, make_payment):
    payment = make_payment(clinic, therapist, amount=Decimal("150.00"))
    charge = Charge(Decimal("180.00"), payment.status, "", payment.due_date, None)

    changed = services.payment_update(
        practice=clinic,
        actor=assistant,
        payment=payment,
        charge=charge,
        ip="198.51.100.7",
    )

    assert changed == ["amount"]
    assert Payment.objects.get(pk=payment.pk).amount == Decimal("180.00")
    event = AuditEvent.objects.get(action="payment.update")
    assert event.data == {"fields": ["amount"], "status": "pending"}
    assert (event.patient_id, event.session_id, event.ip) == (
        payment.session.patient_id,
        payment.session_id,
        "198.51.100.7",
    )
    assert (event.target_type, event.target_id) == ("payments.payment", str(payment.pk))


def test_update_without_changes_writes_nothing(clinic, assistant, therapist, make_payment):
    payment = make_payment(clinic, therapist)
    before = Payment.objects.get(pk=payment.pk).updated_at
    charge = Charge(payment.amount, payment.status, payment.method, payment.due_date, None)

    changed = services.payment_update(
        practice=clinic,
        actor=assistant,
        payment=payment,
        charge=charge,
        ip="198.51.100.7",
    )

    assert changed == []
    assert Payment.objects.get(pk=payment.pk).updated_at == before
    assert not AuditEvent.objects.exists()


def test_update_refuses_a_bad_charge_and_changes_nothing(
    clinic, assistant, therapist, make_payment
):
    payment = make_payment(clinic, therapist)
    with pytest.raises(ValidationError):
        services.payment_update(
            practice=clinic,
            actor=assistant,
            payment=payment,
            charge=Charge(Decimal("1"), PaymentStatus.PAID),
            ip="198.51.100.7",
        )
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.PENDING
    assert not AuditEvent.objects.exists()


# --- The overdue job --------------------------------------------------------------------


@pytest.fixture
def at_noon_utc(monkeypatch):
    """2026-03-10 12:00 UTC: already 11 March in Auckland (UTC+13), still the 10th in
    São Paulo (UTC-3)."""
    moment = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    monkeypatch.setattr(timezone, "now", lambda: moment)
    return moment


def test_overdue_job_follows_each_practices_own_date(db, at_noon_utc, make_payment):
    auckland = PracticeFactory(time_zone="Pacific/Auckland")
    sao_paulo = PracticeFactory(time_zone="America/Sao_Paulo")
    therapist = UserFactory()
    due_10th_auckland = make_payment(auckland, therapist, due_date=TODAY)
    due_11th_auckland = make_payment(auckland, therapist, due_date=TODAY + timedelta(days=1))
    due_10th_sao_paulo = make_payment(sao_paulo, therapist, due_date=TODAY)
    due_9th_sao_paulo = make_payment(sao_paulo, therapist, due_date=TODAY - timedelta(days=1))
    paid_long_ago = make_payment(
        sao_paulo,
        therapist,
        status=PaymentStatus.PAID,
        method="cash",
        paid_on=TODAY - timedelta(days=30),
        due_date=TODAY - timedelta(days=40),
    )
    later = make_payment(auckland, therapist, due_date=TODAY + timedelta(days=30))

    assert payments_overdue.delay().get() == 2

    def status(payment: Payment) -> str:
        return Payment.objects.get(pk=payment.pk).status

    assert status(due_10th_auckland) == PaymentStatus.OVERDUE  # the 11th there
    assert status(due_9th_sao_paulo) == PaymentStatus.OVERDUE
    assert status(due_10th_sao_paulo) == PaymentStatus.PENDING  # still the 10th there
    assert status(due_11th_auckland) == PaymentStatus.PENDING
    assert status(paid_long_ago) == PaymentStatus.PAID
    assert status(later) == PaymentStatus.PENDING
    events = {e.practice_id: e for e in AuditEvent.objects.filter(action="payment.overdue")}
    assert events[auckland.pk].data == {"payments": [due_10th_auckland.pk]}
    assert events[sao_paulo.pk].data == {"payments": [due_9th_sao_paulo.pk]}
    assert events[auckland.pk].actor is None


def test_overdue_job_is_idempotent(db, at_noon_utc, make_payment):
    practice = PracticeFactory(time_zone="America/Sao_Paulo")
    make_payment(practice, UserFactory(), due_date=TODAY - timedelta(days=3))

    assert payments_overdue.delay().get() == 1
    audit_rows = AuditEvent.objects.count()
    updated = list(Payment.objects.values_list("pk", "status", "updated_at"))

    assert payments_overdue.delay().get() == 0
    assert AuditEvent.objects.count() == audit_rows
    assert list(Payment.objects.values_list("pk", "status", "updated_at")) == updated


def test_overdue_job_turns_pending_overdue_the_day_after_it_was_due(db, monkeypatch, make_payment):
    practice = PracticeFactory(time_zone="America/Sao_Paulo")
    payment = make_payment(practice, UserFactory(), due_date=TODAY)
    # 23:59 on the due day in São Paulo (02:59 UTC on the 11th): not yet overdue.
    monkeypatch.setattr(timezone, "now", lambda: datetime(2026, 3, 11, 2, 59, tzinfo=UTC))
    assert payments_overdue.delay().get() == 0
    # 00:01 the next day there: overdue.
    monkeypatch.setattr(timezone, "now", lambda: datetime(2026, 3, 11, 3, 1, tzinfo=UTC))
    assert payments_overdue.delay().get() == 1
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.OVERDUE


def test_payments_are_numbered_one_by_one_within_each_practice(
    clinic, other_practice, therapist, outsider
):
    def recorded(practice, user):
        patient = PatientFactory(practice=practice, therapist=user)
        start = timezone.now() - timedelta(days=1)
        appointment = AppointmentFactory(
            practice=practice, patient=patient, therapist=user, starts_at=start
        )
        session = Session.objects.create(
            practice=practice,
            appointment=appointment,
            patient=patient,
            therapist=user,
            therapy_type=TherapyTypeFactory(practice=practice),
            starts_at=start,
            minutes=50,
        )
        charge = Charge(Decimal("10"), "pending", due_date=timezone.localdate())
        return services.payment_create(
            practice=practice, actor=user, session_id=session.pk, charge=charge
        )

    numbers = [recorded(clinic, therapist).receipt_number for _ in range(3)]
    assert numbers == ["000001", "000002", "000003"]
    assert recorded(other_practice, outsider).receipt_number == "000001"
