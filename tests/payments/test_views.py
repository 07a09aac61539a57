"""Payment pages: the receivables list (roles, filters, totals, pages, htmx), mark paid,
the payment's page and its corrections, and the 404s for people who must not see one."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.template.loader import render_to_string
from django.urls import reverse

from payments.models import Payment, PaymentStatus
from payments.selectors import patient_payments
from practice.models import AuditEvent, Membership
from tests.factories import PatientFactory, practice_today
from tests.payments.conftest import paid

URL = reverse("payments:index")
HTMX = {"HX-Request": "true"}


def rows(response) -> list[str]:
    """The patient names in the list, in order."""
    html = response.content.decode()
    return re.findall(r'<td class="payment-patient"><a href="[^"]+">([^<]+)</a>', html)


def total(response, status: str) -> tuple[str, str]:
    """(amount, count) shown for `status` above the list."""
    html = response.content.decode()
    block = html.split(f'class="payment-total total-{status}"')[1].split("</div>")[0]
    amount = re.search(r'<strong class="total-amount">(.*?)</strong>', block, re.S)
    count = re.search(r'<span class="muted small">([^<]+)</span>', block)
    assert amount and count
    return re.sub(r"<[^>]+>", "", amount.group(1)), count.group(1)


def state(payment: Payment) -> tuple:
    return Payment.objects.filter(pk=payment.pk).values_list(
        "status", "amount", "method", "due_date", "paid_on", "updated_at"
    )[0]


@pytest.fixture
def two_payments(clinic, therapist, other_therapist, make_payment):
    """Ana, the therapist's patient, owes; Bia, another therapist's, has paid."""
    mine = make_payment(clinic, therapist, "Ana Mine", amount=Decimal("150.00"))
    theirs = make_payment(
        clinic,
        other_therapist,
        "Bia Theirs",
        amount=Decimal("90.50"),
        **paid(practice_today(), "cash"),
    )
    return mine, theirs


# --- Who sees which rows ------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["owner", "assistant"])
def test_owner_and_assistant_list_the_whole_practice(
    client_for, request, persona, two_payments, other_practice_objects
):
    response = client_for(request.getfixturevalue(persona)).get(URL)

    assert response.status_code == 200
    assert sorted(rows(response)) == ["Ana Mine", "Bia Theirs"]
    html = response.content.decode()
    assert other_practice_objects.patient.full_name not in html
    assert 'name="therapist"' in html
    assert 'hx-history="false"' in html


def test_therapist_lists_only_payments_of_their_own_patients(
    client_for, therapist, other_therapist, two_payments
):
    response = client_for(therapist).get(URL)

    assert rows(response) == ["Ana Mine"]
    assert "Bia Theirs" not in response.content.decode()
    assert total(response, "paid") == ("R$0.00", "0 payments")
    # Nothing to filter by therapist when you only see your own.
    assert 'name="therapist"' not in response.content.decode()


def test_therapist_cannot_filter_their_way_to_another_therapists_payments(
    client_for, therapist, other_therapist, two_payments
):
    client = client_for(therapist)
    for params in ({"q": "Bia"}, {"therapist": other_therapist.pk}, {"status": "paid"}):
        assert rows(client.get(URL, params)) == []


def test_outsider_sees_none_of_the_practices_payments(client_for, outsider, two_payments):
    response = client_for(outsider).get(URL)
    assert response.status_code == 200
    assert rows(response) == []
    assert "No payments yet" in response.content.decode()


def test_empty_practice_says_no_payments_yet(client_for, owner, clinic):
    html = client_for(owner).get(URL).content.decode()
    assert "No payments yet" in html
    assert "payment-totals" not in html


# --- Filters ------------------------------------------------------------------------------


@pytest.fixture
def varied(clinic, therapist, other_therapist, make_payment):
    """Four payments that differ in status, method, session day and therapist."""
    today = practice_today()
    return {
        "pending": make_payment(
            clinic, therapist, "Ana Pending", starts_at=datetime(2026, 1, 10, 13, tzinfo=UTC)
        ),
        "overdue": make_payment(
            clinic,
            therapist,
            "Caio Overdue",
            starts_at=datetime(2026, 1, 20, 13, tzinfo=UTC),
            status=PaymentStatus.OVERDUE,
            due_date=today - timedelta(days=3),
        ),
        "pix": make_payment(
            clinic,
            other_therapist,
            "Dora Pix",
            starts_at=datetime(2026, 2, 5, 13, tzinfo=UTC),
            **paid(today, "pix"),
        ),
        "cash": make_payment(
            clinic,
            other_therapist,
            "Edu Cash",
            starts_at=datetime(2026, 2, 6, 13, tzinfo=UTC),
            **paid(today, "cash"),
        ),
    }


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "pending"}, ["Ana Pending"]),
        ({"status": "overdue"}, ["Caio Overdue"]),
        ({"status": "paid"}, ["Edu Cash", "Dora Pix"]),
        ({"method": "pix"}, ["Dora Pix"]),
        ({"start": "2026-02-01"}, ["Edu Cash", "Dora Pix"]),
        ({"end": "2026-01-31"}, ["Caio Overdue", "Ana Pending"]),
        ({"start": "2026-01-15", "end": "2026-02-05"}, ["Dora Pix", "Caio Overdue"]),
        ({"q": "caio"}, ["Caio Overdue"]),
        ({"status": "paid", "method": "cash"}, ["Edu Cash"]),
    ],
)
def test_filters(client_for, assistant, varied, params, expected):
    assert rows(client_for(assistant).get(URL, params)) == expected


def test_therapist_filter(client_for, assistant, therapist, other_therapist, varied):
    client = client_for(assistant)
    assert rows(client.get(URL, {"therapist": therapist.pk})) == ["Caio Overdue", "Ana Pending"]
    assert rows(client.get(URL, {"therapist": other_therapist.pk})) == ["Edu Cash", "Dora Pix"]


def test_period_is_the_session_day_in_the_practices_time_zone(
    client_for, owner, clinic, therapist, make_payment
):
    # 01:30 UTC on the 10th is 22:30 on the 9th in São Paulo.
    make_payment(
        clinic, therapist, "Late Evening", starts_at=datetime(2026, 1, 10, 1, 30, tzinfo=UTC)
    )
    client = client_for(owner)
    assert rows(client.get(URL, {"start": "2026-01-09", "end": "2026-01-09"})) == ["Late Evening"]
    assert rows(client.get(URL, {"start": "2026-01-10"})) == []


def test_invalid_filter_values_are_ignored_not_errors(client_for, owner, varied):
    params = {"status": "gone", "method": "gold", "start": "soon", "therapist": "x", "page": "z"}
    response = client_for(owner).get(URL, params)
    assert response.status_code == 200
    assert len(rows(response)) == 4


def test_no_match_says_so_and_offers_to_clear_the_filters(client_for, owner, varied):
    html = client_for(owner).get(URL, {"q": "Zuleica"}).content.decode()
    assert "No payments match these filters" in html
    assert f'href="{URL}">Clear the filters' in html


# --- Totals and pages ---------------------------------------------------------------------


def test_totals_per_status_follow_the_filters(client_for, owner, clinic, therapist, make_payment):
    today = practice_today()
    make_payment(clinic, therapist, "Ana", amount=Decimal("100.00"))
    make_payment(clinic, therapist, "Bia", amount=Decimal("50.25"))
    make_payment(clinic, therapist, "Caio", amount=Decimal("80.00"), **paid(today))
    make_payment(
        clinic,
        therapist,
        "Dora",
        amount=Decimal("1200.00"),
        status=PaymentStatus.OVERDUE,
        due_date=today - timedelta(days=1),
    )
    client = client_for(owner)

    response = client.get(URL)
    assert total(response, "pending") == ("R$150.25", "2 payments")
    assert total(response, "paid") == ("R$80.00", "1 payment")
    assert total(response, "overdue") == ("R$1,200.00", "1 payment")

    response = client.get(URL, {"q": "Ana"})
    assert total(response, "pending") == ("R$100.00", "1 payment")
    assert total(response, "overdue") == ("R$0.00", "0 payments")


def test_25_per_page_and_the_pages_keep_the_filters(
    client_for, owner, clinic, therapist, make_payment
):
    for n in range(27):
        make_payment(
            clinic,
            therapist,
            f"Patient {n:02d}",
            starts_at=datetime(2026, 1, 1, 12, tzinfo=UTC) + timedelta(days=n),
        )
    make_payment(clinic, therapist, "Paid One", **paid(practice_today()))
    client = client_for(owner)

    first = client.get(URL, {"status": "pending"})
    assert len(rows(first)) == 25
    assert rows(first)[0] == "Patient 26"
    html = first.content.decode()
    assert 'href="?status=pending&amp;page=2"' in html
    assert total(first, "pending")[1] == "27 payments"  # the totals count every page

    second = client.get(URL, {"status": "pending", "page": 2})
    assert rows(second) == ["Patient 01", "Patient 00"]


def test_csv_link_carries_the_filters(client_for, owner, varied):
    html = client_for(owner).get(URL, {"status": "paid", "page": 1}).content.decode()
    assert f'href="{reverse("payments:export")}?status=paid"' in html


def test_list_is_a_fixed_number_of_queries(
    client_for, owner, clinic, therapist, make_payment, django_assert_max_num_queries
):
    for n in range(30):
        patient = PatientFactory(practice=clinic, full_name=f"P{n}", therapist=therapist)
        make_payment(clinic, therapist, patient=patient)
    client = client_for(owner)
    params = {"status": "pending", "therapist": therapist.pk, "q": "P"}
    client.get(URL)  # the first request after signing in saves the session

    # Session, user, membership, the therapist filter's value and menu, totals, count, page.
    with django_assert_max_num_queries(8):
        response = client.get(URL, params)
    assert len(rows(response)) == 25
    with django_assert_max_num_queries(7):  # no menu
        response = client.get(URL, params, headers=HTMX)
    assert len(rows(response)) == 25


# --- htmx -----------------------------------------------------------------------------------


def test_htmx_filter_answers_only_the_rows(client_for, owner, varied):
    response = client_for(owner).get(URL, {"status": "paid"}, headers=HTMX)

    html = response.content.decode()
    assert html.lstrip().startswith('<div id="payment-rows">')
    assert "<html" not in html and "payment-filters" not in html
    assert rows(response) == ["Edu Cash", "Dora Pix"]
    assert 'id="payment-totals"' in html
    assert "HX-Request" in response["Vary"]


def test_totals_refresh_alone(client_for, owner, varied):
    headers = {**HTMX, "HX-Target": "payment-totals"}
    response = client_for(owner).get(URL, {"status": "paid"}, headers=headers)

    html = response.content.decode()
    assert html.lstrip().startswith('<section id="payment-totals"')
    assert rows(response) == []
    assert total(response, "paid")[1] == "2 payments"


def test_history_restore_gets_the_whole_page(client_for, owner, varied):
    headers = {**HTMX, "HX-History-Restore-Request": "true"}
    html = client_for(owner).get(URL, headers=headers).content.decode()
    assert "<html" in html


# --- Mark paid ------------------------------------------------------------------------------


def test_mark_paid_from_the_list_over_htmx_answers_the_row(client_for, assistant, two_payments):
    mine, _ = two_payments
    today = practice_today()
    headers = {**HTMX, "HX-Target": f"payment-{mine.pk}"}

    response = client_for(assistant).post(
        reverse("payments:mark_paid", args=[mine.pk]),
        {"method": "pix", "paid_on": today.isoformat(), "next": URL},
        headers=headers,
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(f'<tr id="payment-{mine.pk}"')
    assert "<html" not in html
    assert 'class="status pay-paid"' in html
    assert "mark-paid-form" not in html
    assert json.loads(response["HX-Trigger"]) == {"payments-changed": {}}
    mine.refresh_from_db()
    assert (mine.status, mine.method, mine.paid_on) == (PaymentStatus.PAID, "pix", today)
    event = AuditEvent.objects.get(action="payment.update")
    assert event.actor == assistant


def test_mark_paid_without_javascript_goes_back_to_the_list(client_for, assistant, two_payments):
    mine, _ = two_payments
    back = f"{URL}?status=pending"

    response = client_for(assistant).post(
        reverse("payments:mark_paid", args=[mine.pk]),
        {"method": "cash", "paid_on": practice_today().isoformat(), "next": back},
    )

    assert response.status_code == 302
    assert response["Location"] == back
    assert Payment.objects.get(pk=mine.pk).status == PaymentStatus.PAID


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/x", ""])
def test_mark_paid_never_redirects_off_site(client_for, owner, two_payments, next_url):
    mine, _ = two_payments
    response = client_for(owner).post(
        reverse("payments:mark_paid", args=[mine.pk]),
        {"method": "card", "paid_on": practice_today().isoformat(), "next": next_url},
    )
    assert response["Location"] == reverse("payments:detail", args=[mine.pk])


def test_mark_paid_from_another_page_over_htmx_redirects_the_browser(
    client_for, owner, two_payments
):
    mine, _ = two_payments
    detail = reverse("payments:detail", args=[mine.pk])
    response = client_for(owner).post(
        reverse("payments:mark_paid", args=[mine.pk]),
        {"method": "card", "paid_on": practice_today().isoformat(), "next": detail},
        headers={**HTMX, "HX-Target": "main"},
    )
    assert response["HX-Redirect"] == detail
    assert Payment.objects.get(pk=mine.pk).status == PaymentStatus.PAID


def test_therapist_marks_their_own_patients_payment_paid(client_for, therapist, two_payments):
    mine, _ = two_payments
    response = client_for(therapist).post(
        reverse("payments:mark_paid", args=[mine.pk]),
        {"method": "pix", "paid_on": practice_today().isoformat()},
    )
    assert response.status_code == 302
    assert Payment.objects.get(pk=mine.pk).status == PaymentStatus.PAID


BAD_MARK_PAID = [
    {"method": "pix", "paid_on": (practice_today() + timedelta(days=3)).isoformat()},
    {"method": "gold", "paid_on": "2026-01-01"},
    {"method": "pix", "paid_on": "yesterday"},
    {"paid_on": "2026-01-01"},
]


@pytest.mark.parametrize("data", BAD_MARK_PAID)
def test_bad_mark_paid_input_changes_nothing(client_for, assistant, two_payments, data):
    mine, _ = two_payments
    before = state(mine)
    client = client_for(assistant)
    url = reverse("payments:mark_paid", args=[mine.pk])

    row = client.post(url, data, headers={**HTMX, "HX-Target": f"payment-{mine.pk}"})
    assert row.status_code == 422
    html = row.content.decode()
    assert html.lstrip().startswith(f'<tr id="payment-{mine.pk}"')
    assert 'class="errorlist"' in html

    page = client.post(url, data)
    assert page.status_code == 422
    assert 'class="errorlist"' in page.content.decode()
    assert "<html" in page.content.decode()

    assert state(mine) == before
    assert not AuditEvent.objects.exists()


def test_marking_a_paid_payment_paid_again_is_refused(client_for, owner, two_payments):
    _, theirs = two_payments
    before = state(theirs)
    response = client_for(owner).post(
        reverse("payments:mark_paid", args=[theirs.pk]),
        {"method": "pix", "paid_on": "2026-01-01"},
        headers={**HTMX, "HX-Target": f"payment-{theirs.pk}"},
    )
    assert response.status_code == 422
    assert "already paid" in response.content.decode()
    assert state(theirs) == before


def test_mark_paid_is_post_only(client_for, owner, two_payments):
    mine, _ = two_payments
    response = client_for(owner).get(reverse("payments:mark_paid", args=[mine.pk]))
    assert response.status_code == 405


# --- The payment's page -----------------------------------------------------------------------


def test_detail_shows_the_payment_and_its_sessions_facts(client_for, assistant, two_payments):
    mine, theirs = two_payments
    client = client_for(assistant)

    html = client.get(reverse("payments:detail", args=[mine.pk])).content.decode()
    session = mine.session
    assert session.patient.full_name in html
    assert session.therapist.display_name in html
    assert session.therapy_type.name in html
    assert "50 minutes" in html
    assert "R$150.00" in html
    assert f'href="{reverse("sessions:detail", args=[session.pk])}"' in html
    assert f'action="{reverse("payments:mark_paid", args=[mine.pk])}"' in html
    assert reverse("payments:receipt", args=[mine.pk]) not in html

    html = client.get(reverse("payments:detail", args=[theirs.pk])).content.decode()
    assert reverse("payments:receipt", args=[theirs.pk]) in html
    assert reverse("payments:mark_paid", args=[theirs.pk]) not in html


def test_detail_edit_saves_and_audits(client_for, owner, two_payments):
    mine, _ = two_payments
    url = reverse("payments:detail", args=[mine.pk])
    data = {
        "payment-amount": "175.00",
        "payment-status": "pending",
        "payment-method": "",
        "payment-due_date": mine.due_date.isoformat(),
        "payment-paid_on": "",
    }

    response = client_for(owner).post(url, data)

    assert response.status_code == 302
    assert response["Location"] == url
    assert Payment.objects.get(pk=mine.pk).amount == Decimal("175.00")
    event = AuditEvent.objects.get(action="payment.update")
    assert event.data["fields"] == ["amount"]


@pytest.mark.parametrize(
    "changes",
    [
        {"payment-amount": "-5"},
        {"payment-amount": "abc"},
        {"payment-status": "paid"},  # paid needs a method and a day
        {"payment-status": "overdue"},  # due in the future cannot be overdue
        {"payment-status": "pending", "payment-due_date": ""},
        {"payment-status": "refunded"},
    ],
)
def test_detail_edit_with_bad_input_changes_nothing(client_for, owner, two_payments, changes):
    mine, _ = two_payments
    before = state(mine)
    data = {
        "payment-amount": "175.00",
        "payment-status": "pending",
        "payment-method": "",
        "payment-due_date": mine.due_date.isoformat(),
        "payment-paid_on": "",
        **changes,
    }

    response = client_for(owner).post(reverse("payments:detail", args=[mine.pk]), data)

    assert response.status_code == 422
    assert 'class="errorlist"' in response.content.decode()
    assert state(mine) == before
    assert not AuditEvent.objects.exists()


# --- Nobody else reaches a payment ----------------------------------------------------------

ROUTES = ["detail", "mark_paid", "receipt"]


def _assert_404_everywhere(client, payment: Payment) -> None:
    before = state(payment)
    data = {"method": "pix", "paid_on": "2026-01-01", "payment-amount": "1"}
    for route in ROUTES:
        url = reverse(f"payments:{route}", args=[payment.pk])
        for headers in ({}, HTMX, {**HTMX, "HX-Target": f"payment-{payment.pk}"}):
            assert client.get(url, headers=headers).status_code == 404, (route, headers)
            assert client.post(url, data, headers=headers).status_code == 404, (route, headers)
    assert state(payment) == before
    assert not AuditEvent.objects.filter(action__startswith="payment.").exists()


def test_outsider_gets_404_on_every_payment_url(client_for, outsider, two_payments):
    mine, theirs = two_payments
    client = client_for(outsider)
    _assert_404_everywhere(client, mine)
    _assert_404_everywhere(client, theirs)


def test_therapist_gets_404_for_another_therapists_patients_payment(
    client_for, therapist, two_payments
):
    _, theirs = two_payments
    _assert_404_everywhere(client_for(therapist), theirs)


def test_missing_payment_is_404(client_for, owner, two_payments):
    client = client_for(owner)
    for route in ROUTES:
        url = reverse(f"payments:{route}", args=[999999])
        assert client.get(url).status_code == 404
        assert client.post(url).status_code == 404


def test_signed_out_visitor_is_sent_to_sign_in(client, two_payments):
    mine, _ = two_payments
    for url in (URL, reverse("payments:export"), reverse("payments:detail", args=[mine.pk])):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login"))


# --- The patient profile's Payments tab (payments.selectors + its fragment) ----------------


def test_patient_payments_lists_the_patients_visible_payments_with_totals(
    clinic, therapist, other_therapist, make_payment
):
    today = practice_today()
    older = make_payment(
        clinic,
        therapist,
        "Ana",
        amount=Decimal("100.00"),
        starts_at=datetime(2026, 1, 5, tzinfo=UTC),
    )
    patient = older.session.patient
    newer = make_payment(
        clinic,
        therapist,
        patient=patient,
        amount=Decimal("120.00"),
        starts_at=datetime(2026, 2, 5, tzinfo=UTC),
        **paid(today),
    )
    make_payment(clinic, therapist, "Someone Else")

    mine = Membership.objects.get(practice=clinic, user=therapist)
    context = patient_payments(mine, patient)
    assert context["patient_payments"] == [newer, older]
    totals = {t.status: (t.count, t.amounts) for t in context["patient_payment_totals"]}
    assert totals["pending"] == (1, [("BRL", Decimal("100.00"))])
    assert totals["paid"] == (1, [("BRL", Decimal("120.00"))])
    assert totals["overdue"] == (0, [("BRL", Decimal("0"))])

    html = render_to_string("payments/patient_payments.html", {**context, "patient": patient})
    assert html.count('class="payment-row') == 2
    assert reverse("payments:detail", args=[newer.pk]) in html
    assert "R$120.00" in html
    assert "Private words" not in html

    # Another therapist of the practice sees none of them; the fragment says so.
    theirs = Membership.objects.get(practice=clinic, user=other_therapist)
    context = patient_payments(theirs, patient)
    assert context["patient_payments"] == []
    html = render_to_string("payments/patient_payments.html", {**context, "patient": patient})
    assert "No payments yet" in html
