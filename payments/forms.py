from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from patients.models import Patient
from payments.models import Payment, PaymentMethod, PaymentStatus
from payments.services import CHARGE_FIELDS, Charge
from practice.models import Membership
from practice.selectors import treating_users

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
METHOD_CHOICES = [("", "—"), *PaymentMethod.choices]


class ChargeForm(forms.Form):
    """A payment's amount and where it stands; the fields a status needs are required by
    `Charge.checked()`, so the messages are the service's own."""

    amount = forms.DecimalField(
        label=_("Amount"),
        max_digits=10,
        decimal_places=2,
        min_value=Decimal("0"),
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
    )
    status = forms.ChoiceField(
        label=_("Payment"),
        choices=PaymentStatus.choices,
        initial=PaymentStatus.PENDING,
        widget=forms.RadioSelect(attrs={"class": "choice-row"}),
    )
    method = forms.ChoiceField(label=_("Method"), choices=METHOD_CHOICES, required=False)
    due_date = forms.DateField(label=_("Due date"), required=False, widget=DATE_INPUT)
    paid_on = forms.DateField(label=_("Paid on"), required=False, widget=DATE_INPUT)

    def __init__(self, *args: Any, currency: str, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "payment")
        super().__init__(*args, **kwargs)
        self.fields["amount"].label = _("Amount (%(currency)s)") % {"currency": currency}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            self.cleaned_charge = Charge(
                amount=data["amount"],
                status=data["status"],
                method=data.get("method") or "",
                due_date=data.get("due_date"),
                paid_on=data.get("paid_on"),
            ).checked()
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                self.add_error(field, messages)
        return data

    def charge(self) -> Charge:
        return self.cleaned_charge

    @classmethod
    def initial_for(cls, payment: Payment) -> dict[str, Any]:
        return {name: getattr(payment, name) for name in CHARGE_FIELDS}


class MarkPaidForm(forms.Form):
    method = forms.ChoiceField(label=_("Method"), choices=PaymentMethod.choices)
    paid_on = forms.DateField(label=_("Paid on"), widget=DATE_INPUT)

    def clean_paid_on(self) -> Any:
        paid_on = self.cleaned_data["paid_on"]
        if paid_on > timezone.localdate():
            raise ValidationError(_("The payment date can’t be in the future."))
        return paid_on


class PaymentFilter(django_filters.FilterSet):
    """The receivables list's filters. Periods are days of the session, in the practice's
    time zone (the middleware activates it)."""

    status = django_filters.ChoiceFilter(
        label=_("Status"), choices=PaymentStatus.choices, empty_label=_("Any status")
    )
    method = django_filters.ChoiceFilter(
        label=_("Method"), choices=PaymentMethod.choices, empty_label=_("Any method")
    )
    start = django_filters.DateFilter(label=_("From"), method="filter_from", widget=DATE_INPUT)
    end = django_filters.DateFilter(label=_("To"), method="filter_to", widget=DATE_INPUT)
    therapist = django_filters.ModelChoiceFilter(
        label=_("Therapist"),
        field_name="session__therapist",
        queryset=None,
        empty_label=_("All therapists"),
    )
    q = django_filters.CharFilter(label=_("Patient"), method="filter_patient")

    class Meta:
        model = Payment
        fields = ("status", "method", "start", "end", "therapist", "q")

    def __init__(self, *args: Any, membership: Membership, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.membership = membership
        therapist = self.filters["therapist"]
        therapist.queryset = treating_users(membership.practice)
        therapist.field.label_from_instance = lambda user: user.display_name
        search = self.form.fields["q"].widget
        search.input_type = "search"
        search.attrs.update({"placeholder": _("Name, email or phone"), "autocomplete": "off"})

    @staticmethod
    def _midnight(day: Any) -> datetime:
        return datetime.combine(day, time(), tzinfo=timezone.get_current_timezone())

    def filter_from(self, queryset: QuerySet[Payment], name: str, value: Any) -> QuerySet[Payment]:
        return queryset.filter(session__starts_at__gte=self._midnight(value))

    def filter_to(self, queryset: QuerySet[Payment], name: str, value: Any) -> QuerySet[Payment]:
        return queryset.filter(session__starts_at__lt=self._midnight(value + timedelta(days=1)))

    def filter_patient(
        self, queryset: QuerySet[Payment], name: str, value: str
    ) -> QuerySet[Payment]:
        patients = Patient.objects.visible_to(self.membership).search(value)
        return queryset.filter(session__patient__in=patients)
