"""What leaves the app: the CSV of the receivables list and the receipt PDF, their audit
rows, and the note barrier: nothing a session's note says appears in any payment page."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from pypdf import PdfReader

from payments.models import Payment, PaymentStatus
from practice.models import AuditEvent
from tests.factories import practice_today
from tests.payments.conftest import CANARY, CANARY_FIELD, paid

EXPORT = reverse("payments:export")
HTMX = {"HX-Request": "true"}


def read_csv(response) -> list[list[str]]:
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")  # for Excel
    return list(csv.reader(io.StringIO(text[1:])))


def pdf_text(response) -> str:
    """The PDF's words with single spaces: where a line wraps depends on the lengths of
    names the factories number, and a wrap must not break an assertion."""
    reader = PdfReader(io.BytesIO(response.content))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


@pytest.fixture
def ledger(clinic, therapist, other_therapist, make_payment):
    """A pending payment of the therapist's patient; a paid one of another therapist's."""
    pending = make_payment(
        clinic,
        therapist,
        "João Mine",
        starts_at=datetime(2026, 1, 10, 13, 30, tzinfo=UTC),
        amount=Decimal("150.00"),
        due_date=date(2026, 1, 20),
    )
    settled = make_payment(
        clinic,
        other_therapist,
        "Bia Theirs",
        starts_at=datetime(2026, 1, 12, 1, 0, tzinfo=UTC),
        amount=Decimal("1234.50"),
        **paid(date(2026, 1, 13), "pix"),
    )
    return pending, settled


# --- CSV ------------------------------------------------------------------------------------


def test_csv_has_every_matching_row_with_plain_values(
    client_for, assistant, therapist, other_therapist, ledger
):
    pending, settled = ledger
    response = client_for(assistant).get(EXPORT)

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="payments-')
    header, *body = read_csv(response)
    assert header == [
        "Session date",
        "Patient",
        "Therapist",
        "Therapy",
        "Amount",
        "Currency",
        "Status",
        "Method",
        "Due date",
        "Paid on",
        "Receipt number",
    ]
    assert body == [
        [
            # 01:00 UTC on the 12th is 22:00 on the 11th in São Paulo.
            "2026-01-11 22:00",
            "Bia Theirs",
            other_therapist.display_name,
            settled.session.therapy_type.name,
            "1234.50",
            "BRL",
            "Paid",
            "PIX",
            "",
            "2026-01-13",
            f"{settled.number:06d}",
        ],
        [
            "2026-01-10 10:30",
            "João Mine",
            therapist.display_name,
            pending.session.therapy_type.name,
            "150.00",
            "BRL",
            "Pending",
            "",
            "2026-01-20",
            "",
            "",
        ],
    ]


def test_csv_follows_the_filters_and_has_no_pages(
    client_for, owner, clinic, therapist, make_payment, ledger
):
    for n in range(30):
        make_payment(clinic, therapist, f"Extra {n}", **paid(practice_today()))
    client = client_for(owner)

    assert len(read_csv(client.get(EXPORT))) == 1 + 32
    rows = read_csv(client.get(EXPORT, {"status": "pending", "page": 2}))
    assert [row[1] for row in rows[1:]] == ["João Mine"]
    rows = read_csv(client.get(EXPORT, {"q": "bia"}))
    assert [row[1] for row in rows[1:]] == ["Bia Theirs"]


def test_therapist_exports_only_their_own_patients(client_for, therapist, ledger):
    rows = read_csv(client_for(therapist).get(EXPORT))
    assert [row[1] for row in rows[1:]] == ["João Mine"]


def test_outsider_exports_nothing_of_the_practice(client_for, outsider, ledger):
    rows = read_csv(client_for(outsider).get(EXPORT))
    assert rows[1:] == []


def test_csv_export_is_audited_once(client_for, assistant, clinic, ledger):
    client_for(assistant).get(EXPORT, {"status": "paid"})

    event = AuditEvent.objects.get(action="payment.export")
    assert event.practice == clinic
    assert event.actor == assistant
    assert event.data == {"count": 1}
    assert event.ip == "127.0.0.1"


def test_csv_cells_never_become_spreadsheet_formulas(
    client_for, owner, clinic, therapist, make_payment
):
    make_payment(clinic, therapist, '=HYPERLINK("http://evil.example","Click")')
    rows = read_csv(client_for(owner).get(EXPORT))
    assert rows[1][1] == '\'=HYPERLINK("http://evil.example","Click")'


# --- Receipt --------------------------------------------------------------------------------


def test_receipt_of_a_paid_payment(client_for, assistant, clinic, other_therapist, ledger):
    clinic.legal_name = "Clínica Aurora Terapias Ltda"
    clinic.tax_id = "12.345.678/0001-90"
    clinic.address = "Rua das Flores, 12\nSão Paulo - SP"
    clinic.phone = "+55 11 3456-7890"
    clinic.email = "contato@aurora.example"
    clinic.save()
    _, settled = ledger

    response = client_for(assistant).get(reverse("payments:receipt", args=[settled.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    number = f"{settled.number:06d}"
    assert response["Content-Disposition"] == f'attachment; filename="receipt-{number}.pdf"'
    assert "no-store" in response["Cache-Control"]
    text = pdf_text(response)
    for expected in (
        "Clínica Aurora Terapias Ltda",
        "12.345.678/0001-90",
        "Rua das Flores, 12",
        "contato@aurora.example",
        f"Receipt No. {number}",
        "Bia Theirs",
        "R$1,234.50",
        # The session's day in the practice's time zone (the 11th, not the UTC 12th).
        f"{settled.session.therapy_type.name} session on 01/11/2026",
        other_therapist.display_name,
        "50 min",
        "PIX",
        "São Paulo - SP,",
    ):
        assert expected in text, expected

    event = AuditEvent.objects.get(action="payment.receipt")
    assert (event.actor, event.patient_id, event.session_id) == (
        assistant,
        settled.session.patient_id,
        settled.session_id,
    )
    assert event.target_id == str(settled.pk)


def test_receipt_without_legal_name_uses_the_practice_name(client_for, owner, clinic, ledger):
    _, settled = ledger
    text = pdf_text(client_for(owner).get(reverse("payments:receipt", args=[settled.pk])))
    assert clinic.name in text


def test_unpaid_payment_has_no_receipt(client_for, owner, ledger):
    pending, _ = ledger
    client = client_for(owner)

    response = client.get(reverse("payments:receipt", args=[pending.pk]), follow=True)

    assert response.redirect_chain == [(reverse("payments:detail", args=[pending.pk]), 302)]
    assert "Only paid payments have a receipt." in response.content.decode()
    assert not AuditEvent.objects.filter(action="payment.receipt").exists()


def test_receipt_of_a_payment_marked_paid_today(client_for, assistant, ledger):
    pending, _ = ledger
    client = client_for(assistant)
    client.post(
        reverse("payments:mark_paid", args=[pending.pk]),
        {"method": "cash", "paid_on": practice_today().isoformat()},
    )
    assert Payment.objects.get(pk=pending.pk).status == PaymentStatus.PAID
    response = client.get(reverse("payments:receipt", args=[pending.pk]))
    assert "João Mine" in pdf_text(response)


# --- The note barrier -----------------------------------------------------------------------


def _assert_no_canary(text: str, where: str) -> None:
    assert CANARY not in text, where
    assert CANARY_FIELD not in text, where
    assert "Private words" not in text, where


@pytest.mark.parametrize(
    "persona", ["owner", "therapist", "other_therapist", "assistant", "outsider"]
)
def test_no_page_export_or_receipt_shows_what_a_note_says(client_for, request, persona, ledger):
    client = client_for(request.getfixturevalue(persona))
    responses = {"list": client.get(reverse("payments:index"))}
    responses["fragment"] = client.get(reverse("payments:index"), headers=HTMX)
    responses["csv"] = client.get(EXPORT)
    for payment in ledger:
        for route in ("detail", "receipt"):
            response = client.get(reverse(f"payments:{route}", args=[payment.pk]))
            responses[f"{route} {payment.pk}"] = response
        responses[f"mark_paid {payment.pk}"] = client.post(
            reverse("payments:mark_paid", args=[payment.pk]),
            {"method": "gold", "paid_on": "x"},
            headers={**HTMX, "HX-Target": f"payment-{payment.pk}"},
        )

    seen = 0
    for where, response in responses.items():
        if response["Content-Type"] == "application/pdf":
            text = pdf_text(response)
            seen += 1
        else:
            text = response.content.decode()
        _assert_no_canary(text, f"{persona}: {where}")
    # The owner sees and prints the paid payment: the check read a real receipt.
    if persona == "owner":
        assert seen == 1
        assert re.search(r"João Mine", responses["list"].content.decode())
