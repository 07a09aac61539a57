from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

from babel.numbers import format_currency
from django import template
from django.utils.dateparse import parse_date
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
    return mark_safe(  # noqa: S308 - every piece is escaped  # nosec
        "".join(
            format_html("<mark>{}</mark>", piece) if i % 2 else conditional_escape(piece)
            for i, piece in enumerate(pieces)
        )
    )


@register.filter
def highlight_words(text: str, query: str) -> str:
    """`text`, escaped, with the words that begin with a word of `query` (3 letters or
    more: "sleep" marks "sleeping") in <mark>: a semantic match shares meaning, not always
    a phrase, so each word the two share is shown."""
    stems = sorted(set(re.findall(r"\w{3,}", query.lower())), key=len, reverse=True)
    if not stems:
        return conditional_escape(text)
    pattern = re.compile(r"\b(?:" + "|".join(map(re.escape, stems)) + r")\w*", re.IGNORECASE)
    out, last = [], 0
    for match in pattern.finditer(str(text)):
        out.append(conditional_escape(str(text)[last : match.start()]))
        out.append(format_html("<mark>{}</mark>", match.group(0)))
        last = match.end()
    out.append(conditional_escape(str(text)[last:]))
    return mark_safe("".join(out))  # noqa: S308 - every piece is escaped  # nosec


@register.filter
def clock(seconds: float | int | None) -> str:
    """Seconds as m:ss, or h:mm:ss from an hour on."""
    total = int(seconds or 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@register.filter
def iso_date(value: str | None) -> date | None:
    """A day kept in JSON as "YYYY-MM-DD", back as a date for the `date` filter."""
    return parse_date(value) if value else None


@register.filter
def whole_minutes(value: timedelta | None) -> int:
    """A duration in whole minutes, rounded up (a 90-second pause is 2 minutes away)."""
    if not value:
        return 0
    return -(-int(value.total_seconds()) // 60)
