from __future__ import annotations

import re
from decimal import Decimal

from babel.numbers import format_currency
from django import template
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe
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


@register.filter
def highlight(text: str, query: str) -> str:
    """`text`, escaped, with each case-insensitive occurrence of `query` in <mark>."""
    if not query:
        return conditional_escape(text)
    pieces = re.split(f"({re.escape(query)})", str(text), flags=re.IGNORECASE)
    return mark_safe(  # noqa: S308 - every piece is escaped
        "".join(
            format_html("<mark>{}</mark>", piece) if i % 2 else conditional_escape(piece)
            for i, piece in enumerate(pieces)
        )
    )


@register.filter
def clock(seconds: float | int | None) -> str:
    """Seconds as m:ss, or h:mm:ss from an hour on."""
    total = int(seconds or 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
