"""Payments in a browser, as the front desk works them: the overdue ones, correcting one
(a wrong amount first), its receipt, the CSV of the list; and the list on a phone."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect
from pypdf import PdfReader

from payments.models import Payment, PaymentStatus
from practice.models import Practice, User
from sessions.models import SessionNote
from tests.e2e.conftest import shot, sign_in

DEMO_PASSWORD = "holos-demo"
ASSISTANT = "carla@holos.demo"
CSV_HEADER = [
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


@pytest.fixture
def demo(transactional_db) -> None:
    call_command("seed_demo", stdout=io.StringIO())
    # Assertions read English labels; the demo assistant works in Portuguese.
    User.objects.filter(email=ASSISTANT).update(language="en")


def pdf_text(path: Path) -> str:
    text = " ".join(page.extract_text() or "" for page in PdfReader(path).pages)
    return " ".join(text.split())


def test_assistant_corrects_an_overdue_payment_and_downloads_receipt_and_csv(
    demo, new_page
) -> None:
    practice = Practice.objects.get()
    today = timezone.localdate(timezone=ZoneInfo(practice.time_zone))
    overdue = Payment.objects.filter(status=PaymentStatus.OVERDUE)
    assert overdue.exists(), "the demo's last week always leaves some payments overdue"

    page = new_page()
    sign_in(page, ASSISTANT, DEMO_PASSWORD)
    page.locator("nav.mainnav a[data-nav=payments]").click()
    expect(page).to_have_url(re.compile(r"/payments/$"))
    page.locator("select[name=status]").select_option(label="Overdue")
    expect(page).to_have_url(re.compile(r"status=overdue"))
    rows = page.locator("#payment-rows tr.payment-row")
    expect(rows).to_have_count(overdue.count())
    expect(page.locator("#payment-rows tr.payment-row:not(.row-overdue)")).to_have_count(0)
    expect(page.locator(".results-count")).to_contain_text(f"{overdue.count()} payment")
    shot(page, "payments-overdue")

    # Open the first one's page.
    row_id = rows.first.get_attribute("id")
    assert row_id and row_id.startswith("payment-")
    payment = Payment.objects.select_related("session__patient").get(pk=int(row_id[8:]))
    patient_name = payment.session.patient.full_name
    rows.first.locator(".payment-date a").click()
    expect(page).to_have_url(re.compile(rf"/payments/{payment.pk}/$"))
    expect(page.get_by_role("heading", name=f"Payment of {patient_name}")).to_be_visible()
    expect(page.locator(".payment-headline .status")).to_have_text(re.compile("Overdue"))
    # No receipt for an unpaid payment.
    expect(page.get_by_role("link", name="Receipt (PDF)")).to_have_count(0)
    shot(page, "payments-detail")

    # A wrong amount first: refused, with the reason, and nothing saved.
    correct = page.locator("section.payment-edit form")
    expect(correct.locator("input[name=payment-amount]")).to_have_value(f"{payment.amount:.2f}")
    correct.locator("input[name=payment-amount]").fill("-50")
    correct.locator("input[name=payment-status][value=paid]").check()
    correct.locator("select[name=payment-method]").select_option(label="Card")
    correct.locator("input[name=payment-paid_on]").fill(today.isoformat())
    correct.get_by_role("button", name="Save").click()
    amount_field = page.locator(
        "section.payment-edit .field.has-error", has=page.locator("input[name=payment-amount]")
    )
    expect(amount_field.locator(".errorlist")).to_contain_text(
        "Ensure this value is greater than or equal to 0."
    )
    expect(page.locator(".message-success")).to_have_count(0)
    before = Payment.objects.get(pk=payment.pk)
    assert (before.amount, before.status, before.method, before.paid_on) == (
        payment.amount,
        PaymentStatus.OVERDUE,
        "",
        None,
    )
    # What was typed is still there; only the amount needs fixing.
    correct = page.locator("section.payment-edit form")
    expect(correct.locator("input[name=payment-status][value=paid]")).to_be_checked()
    expect(correct.locator("select[name=payment-method]")).to_have_value("card")
    expect(correct.locator("input[name=payment-paid_on]")).to_have_value(today.isoformat())
    correct.locator("input[name=payment-amount]").fill("200.00")
    correct.get_by_role("button", name="Save").click()

    expect(page).to_have_url(re.compile(rf"/payments/{payment.pk}/$"))
    expect(page.locator(".message-success")).to_contain_text("Payment saved.")
    expect(page.locator(".payment-headline .status")).to_have_text(re.compile("Paid"))
    expect(page.locator(".payment-headline-amount")).to_contain_text("200.00")
    payment.refresh_from_db()
    assert payment.amount == Decimal("200.00")
    assert payment.status == PaymentStatus.PAID
    assert payment.method == "card" and payment.paid_on == today
    expect(page.locator(".payment-grid")).to_contain_text(str(payment.receipt_number))

    # The receipt.
    with page.expect_download() as download_info:
        page.locator(".header-actions").get_by_role("link", name="Receipt (PDF)").click()
    receipt = download_info.value
    assert receipt.suggested_filename.endswith(".pdf")
    receipt_path = receipt.path()
    assert receipt_path.read_bytes()[:5] == b"%PDF-"
    text = pdf_text(receipt_path)
    assert patient_name in text
    assert "Receipt No." in text
    assert "200.00" in text

    # The CSV of the list: back to Payments and download.
    page.get_by_role("link", name="← Payments").click()
    expect(page).to_have_url(re.compile(r"/payments/$"))
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    export = download_info.value
    assert export.suggested_filename == f"payments-{today.isoformat()}.csv"
    content = export.path().read_text(encoding="utf-8-sig")
    table = list(csv.reader(io.StringIO(content)))
    assert table[0] == CSV_HEADER
    assert len(table) == 1 + Payment.objects.count()
    corrected = [r for r in table[1:] if r[10] == str(payment.receipt_number)]
    assert len(corrected) == 1
    assert corrected[0][1] == patient_name
    assert corrected[0][4:8] == ["200.00", "BRL", "Paid", "Card"]
    assert corrected[0][9] == today.isoformat()
    # Payments are administrative: not a word of any session note.
    notes = [t for t in SessionNote.objects.values_list("text", flat=True) if t.strip()]
    assert notes
    for note in notes:
        assert note not in content
        assert note[:40] not in content


def test_payments_list_fits_a_phone(demo, new_page) -> None:
    page = new_page(viewport={"width": 390, "height": 844})
    sign_in(page, ASSISTANT, DEMO_PASSWORD)
    page.locator("nav.mainnav a[data-nav=payments]").click()
    expect(page).to_have_url(re.compile(r"/payments/$"))
    expect(page.locator("#payment-rows tr.payment-row").first).to_be_visible()
    shot(page, "payments-phone")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the payments list is {width}px wide on a 390px screen"
