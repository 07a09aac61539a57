from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_currency
from django import template
from django.utils.translation import get_language, to_locale

register = template.Library()


@register.filter
def money(amount: Decimal | int | str | None, currency: str = "BRL") -> str:
    """Format an amount in `currency` for the active language: R$ 1.234,50 / R$1,234.50."""
    if amount is None or amount == "":
        return ""
    return format_currency(Decimal(str(amount)), currency, locale=to_locale(get_language() or "en"))


@register.filter
def tz_label(name: str) -> str:
    """How time zones read in the app's menus: "America/Sao Paulo"."""
    return name.replace("_", " ")
