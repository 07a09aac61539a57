"""How patient input is normalised: accent folding for search, phone numbers and tags.

The folding map is defined here once: the database folds the stored columns with it
(`Patient.search_text`, a generated column) and `fold()` folds the query with it, so the
two sides always agree. The embedded PostgreSQL has no `unaccent` extension.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

import phonenumbers
from babel.core import get_global
from django.core.exceptions import ValidationError
from django.db.models import Expression, Func, TextField, Value
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

_FOLDS = {
    "a": "áàâãäåāÁÀÂÃÄÅĀ",
    "c": "çćčÇĆČ",
    "e": "éèêëēÉÈÊËĒ",
    "i": "íìîïīÍÌÎÏĪ",
    "n": "ñÑ",
    "o": "óòôõöøōÓÒÔÕÖØŌ",
    "s": "šŠ",
    "u": "úùûüūÚÙÛÜŪ",
    "y": "ýÿÝŸ",
    "z": "žŽ",
}
# Upper-case letters are listed too: a database whose lower() is ASCII-only (LC_CTYPE=C)
# must still fold "JOÃO" to "joao".
FOLD_FROM = "".join(_FOLDS.values())
FOLD_TO = "".join(plain * len(accented) for plain, accented in _FOLDS.items())
_FOLD_TABLE = str.maketrans(FOLD_FROM, FOLD_TO)


def fold(text: str) -> str:
    """Lower-case `text` and strip the accents of `FOLD_FROM`, as `folded()` does in SQL."""
    return unicodedata.normalize("NFC", text).lower().translate(_FOLD_TABLE)


def folded(expression: Expression) -> Func:
    """SQL `translate(lower(expression), FOLD_FROM, FOLD_TO)`: immutable, so it can back a
    stored generated column. A plain Func, so migrations spell the map out and notice when
    it changes."""
    return Func(
        Lower(expression),
        Value(FOLD_FROM),
        Value(FOLD_TO),
        function="translate",
        output_field=TextField(),
    )


# --- Phone numbers ----------------------------------------------------------------------

FALLBACK_REGION = "BR"
_PHONE_LIKE = re.compile(r"[\d\s()+.\-/]+")


def phone_region(time_zone: str) -> str:
    """The country whose numbers may be typed without +country code: the territory of
    the practice's time zone (per CLDR), or Brazil when the zone names no country."""
    region = get_global("zone_territories").get(time_zone, "")
    if region in phonenumbers.SUPPORTED_REGIONS:
        return str(region)
    return FALLBACK_REGION


def phone_example(region: str) -> str:
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        return "+55 11 91234-5678"
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def format_phone(raw: str, region: str) -> str:
    """The international form of a valid phone number ("+55 11 91234-5678"), or "" for
    blank input. Raises ValidationError for anything that is not a real number."""
    raw = raw.strip()
    if not raw:
        return ""
    message = _("Enter a valid phone number, for example %(example)s.")
    params = {"example": phone_example(region)}
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise ValidationError(message, code="invalid_phone", params=params) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(message, code="invalid_phone", params=params)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def phone_digits(query: str) -> str:
    """The digits of a search query that looks like (part of) a phone number, else ""."""
    query = query.strip()
    if not _PHONE_LIKE.fullmatch(query):
        return ""
    return re.sub(r"\D", "", query)


# --- Tags -------------------------------------------------------------------------------

TAG_MAX_LENGTH = 30
TAGS_MAX = 12


def parse_tags(raw: str | Iterable[str]) -> list[str]:
    """Comma-separated text (or a list) as a list of tags: trimmed, inner spaces collapsed,
    empty ones dropped, duplicates removed ignoring case (the first spelling wins)."""
    parts = raw.split(",") if isinstance(raw, str) else list(raw)
    tags: list[str] = []
    seen: set[str] = set()
    for part in parts:
        tag = " ".join(unicodedata.normalize("NFC", part).split())
        if tag and tag.casefold() not in seen:
            seen.add(tag.casefold())
            tags.append(tag)
    return tags


def validate_tags(tags: list[str]) -> None:
    if len(tags) > TAGS_MAX:
        raise ValidationError(
            _("Use at most %(max)d tags."), code="too_many_tags", params={"max": TAGS_MAX}
        )
    too_long = [tag for tag in tags if len(tag) > TAG_MAX_LENGTH]
    if too_long:
        raise ValidationError(
            _("Keep each tag to %(max)d characters or fewer: “%(tag)s” is longer."),
            code="tag_too_long",
            params={"max": TAG_MAX_LENGTH, "tag": too_long[0]},
        )
