"""Receivables: the payment list with its filters and totals, the CSV export, a payment's
page, "mark paid" and the receipt.

Every payment is fetched through `Payment.objects.visible_to()` before the method is
looked at, so another practice's payment, a payment of another therapist's patient and a
missing id all answer the same 404 to GET and POST alike. Payments are administrative:
nothing here reads a session's note."""

from __future__ import annotations

import csv
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from payments import services
from payments.forms import ChargeForm, MarkPaidForm, PaymentFilter
from payments.models import Payment
from payments.selectors import ROW_RELATED, totals_by_status
from practice.http import PracticeRequest, client_ip, spreadsheet_safe, wants_fragment
from practice.pdf import pdf_response
from practice.permissions import practice_required
from practice.services import audit_record

PAGE_SIZE = 25
# Sent after a payment changes from the list, so the totals above it refresh themselves.
CHANGED_EVENT = "payments-changed"


def _payments(request: PracticeRequest) -> QuerySet[Payment]:
    return Payment.objects.visible_to(request.membership).select_related(*ROW_RELATED)


def _payment(request: PracticeRequest, pk: int) -> Payment:
    return get_object_or_404(_payments(request), pk=pk)


def _filtered(request: PracticeRequest) -> tuple[PaymentFilter, QuerySet[Payment]]:
    """The list's filters (invalid values are ignored, not errors) and what they match,
    newest session first."""
    filters = PaymentFilter(request.GET, queryset=_payments(request), membership=request.membership)
    return filters, filters.qs.order_by("-session__starts_at", "-pk")


def _mark_paid_form(payment: Payment, data: Any = None) -> MarkPaidForm:
    # Ids of its own: the list has one of these forms per unpaid row.
    return MarkPaidForm(
        data, auto_id=f"paid-{payment.pk}-%s", initial={"paid_on": timezone.localdate()}
    )


def _row_id(payment: Payment) -> str:
    return f"payment-{payment.pk}"


# --- The list -------------------------------------------------------------------------


@practice_required
@vary_on_headers("HX-Request", "HX-Target")
def index(request: PracticeRequest) -> HttpResponse:
    filters, payments = _filtered(request)
    fragment = wants_fragment(request)
    totals = totals_by_status(payments, request.practice.currency)
    if fragment and request.htmx.target == "payment-totals":
        # The totals refresh after a row was marked paid; nothing else changed.
        return render(request, "payments/index.html#payment-totals", {"totals": totals})

    page = Paginator(payments, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "form": filters.form,
        "page": page,
        "rows": [
            (payment, None if payment.is_paid else _mark_paid_form(payment))
            for payment in page.object_list
        ],
        "totals": totals,
        # Where "Mark paid" without JavaScript comes back to: this page, these filters.
        "list_url": request.get_full_path(),
        # Only asked when the page is empty: "no payments yet" or "none match"?
        "has_payments": page.paginator.count > 0
        or Payment.objects.visible_to(request.membership).exists(),
    }
    template = "payments/index.html#payment-rows" if fragment else "payments/index.html"
    return render(request, template, context)


@practice_required
def export_csv(request: PracticeRequest) -> HttpResponse:
    """The filtered list, every page of it, as CSV for a spreadsheet. Audited."""
    payments = _filtered(request)[1]
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    day = timezone.localdate().isoformat()
    response["Content-Disposition"] = f'attachment; filename="payments-{day}.csv"'
    add_never_cache_headers(response)
    # The byte-order mark tells Excel the file is UTF-8 (accents in names).
    response.write("\ufeff")
    writer = csv.writer(response)
    writer.writerow(
        [
            _("Session date"),
            _("Patient"),
            _("Therapist"),
            _("Therapy"),
            _("Amount"),
            _("Currency"),
            _("Status"),
            _("Method"),
            _("Due date"),
            _("Paid on"),
            _("Receipt number"),
        ]
    )
    count = 0
    for payment in payments.iterator(chunk_size=500):
        session = payment.session
        writer.writerow(
            [
                timezone.localtime(session.starts_at).strftime("%Y-%m-%d %H:%M"),
                spreadsheet_safe(session.patient.full_name),
                spreadsheet_safe(session.therapist.display_name),
                spreadsheet_safe(session.therapy_type.name),
                f"{payment.amount:.2f}",
                payment.currency,
                payment.get_status_display(),
                payment.get_method_display() if payment.method else "",
                payment.due_date.isoformat() if payment.due_date else "",
                payment.paid_on.isoformat() if payment.paid_on else "",
                payment.receipt_number if payment.is_paid else "",
            ]
        )
        count += 1
    audit_record(
        practice=request.practice,
        actor=request.user,
        action="payment.export",
        data={"count": count},
        ip=client_ip(request),
    )
    return response


# --- One payment ----------------------------------------------------------------------


def _detail(
    request: PracticeRequest,
    payment: Payment,
    *,
    charge_form: ChargeForm | None = None,
    mark_paid_form: MarkPaidForm | None = None,
    status: int = 200,
) -> HttpResponse:
    if charge_form is None:
        charge_form = ChargeForm(currency=payment.currency, initial=ChargeForm.initial_for(payment))
    if mark_paid_form is None and not payment.is_paid:
        mark_paid_form = _mark_paid_form(payment)
    context = {
        "payment": payment,
        "session": payment.session,
        "charge_form": charge_form,
        "mark_paid_form": mark_paid_form,
    }
    return render(request, "payments/detail.html", context, status=status)


@practice_required
def detail(request: PracticeRequest, pk: int) -> HttpResponse:
    """The payment, its session's administrative facts, and a form to correct it."""
    payment = _payment(request, pk)
    if request.method != "POST":
        return _detail(request, payment)
    form = ChargeForm(
        request.POST, currency=payment.currency, initial=ChargeForm.initial_for(payment)
    )
    if form.is_valid():
        try:
            changed = services.payment_update(
                practice=request.practice,
                actor=request.user,
                payment=payment,
                charge=form.charge(),
                ip=client_ip(request),
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            if changed:
                messages.success(request, _("Payment saved."))
            else:
                messages.info(request, _("Nothing was changed."))
            return redirect("payments:detail", pk=payment.pk)
    return _detail(request, payment, charge_form=form, status=422)


def _safe_next(request: PracticeRequest) -> str | None:
    url = request.POST.get("next", "")
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return None


@practice_required
def mark_paid(request: PracticeRequest, pk: int) -> HttpResponse:
    """POST: the payment was paid, by `method` on `paid_on`.

    From a row of the list over htmx the answer is the updated row (with the form's errors
    and status 422 when the input is wrong); otherwise a redirect to `next` or to the
    payment's page, which also shows the errors of a wrong input."""
    payment = _payment(request, pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    row = wants_fragment(request) and request.htmx.target == _row_id(payment)
    form = _mark_paid_form(payment, request.POST)
    if form.is_valid():
        try:
            services.payment_mark_paid(
                practice=request.practice,
                actor=request.user,
                payment=payment,
                method=form.cleaned_data["method"],
                paid_on=form.cleaned_data["paid_on"],
                ip=client_ip(request),
            )
        except ValidationError as error:
            form.add_error(None, error)
    if not form.errors:
        if row:
            response = render(
                request, "payments/index.html#payment-row", {"payment": payment, "paid_form": None}
            )
            return trigger_client_event(response, CHANGED_EVENT)
        messages.success(
            request,
            _("Payment of %(name)s marked as paid.") % {"name": payment.session.patient.full_name},
        )
        destination = _safe_next(request) or reverse("payments:detail", args=[payment.pk])
        if request.htmx:
            return HttpResponseClientRedirect(destination)
        return redirect(destination)

    if row:
        context = {"payment": payment, "paid_form": form, "list_url": _safe_next(request)}
        return render(request, "payments/index.html#payment-row", context, status=422)
    if request.htmx:
        # Some other page's htmx form: show the errors on the payment's own page.
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        return HttpResponseClientRedirect(reverse("payments:detail", args=[payment.pk]))
    return _detail(request, payment, mark_paid_form=form, status=422)


@practice_required
def receipt(request: PracticeRequest, pk: int) -> HttpResponse:
    """A paid payment's receipt as a PDF on the practice's letterhead. Audited."""
    payment = _payment(request, pk)
    if not payment.is_paid:
        messages.error(request, _("Only paid payments have a receipt."))
        return redirect("payments:detail", pk=payment.pk)
    session = payment.session
    practice = request.practice
    address_lines = [line.strip() for line in practice.address.splitlines() if line.strip()]
    issued_on = timezone.localdate()
    response = pdf_response(
        "payments/receipt_pdf.html",
        {
            "practice": practice,
            "address_lines": address_lines,
            # "São Paulo, 23/11/2026": the letterhead's last address line names the town.
            "place": address_lines[-1] if address_lines else "",
            "issued_on": issued_on,
            "payment": payment,
            "session": session,
            "session_day": timezone.localtime(session.starts_at).date(),
            "patient": session.patient,
            "therapist": session.therapist,
        },
        filename=f"receipt-{payment.receipt_number}.pdf",
    )
    audit_record(
        practice=practice,
        actor=request.user,
        action="payment.receipt",
        target=payment,
        patient_id=session.patient_id,
        session_id=session.pk,
        ip=client_ip(request),
    )
    return response
