"""Starter templates offered when an Owner creates a therapy type (and used by seed_demo).

Labels are translated when the starter is built, so build it with the practice's language
active (`translation.override(practice.language)`): the stored schema is plain text in
the language the practice works in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from therapies.schema import Field, Kind, validate_schema


@dataclass(frozen=True)
class Starter:
    slug: str
    title: str | Promise
    summary: str | Promise

    def build(self) -> dict[str, Any]:
        """Name, description, duration and the validated custom fields, in the active
        language."""
        details = BUILDERS[self.slug]()
        details["custom_fields"] = validate_schema(details["custom_fields"])
        return details


def _field(key: str, label: str, kind: Kind, **extra: Any) -> Field:
    return {
        "key": key,
        "label": label,
        "kind": kind.value,
        "help_text": extra.pop("help_text", ""),
        "required": extra.pop("required", False),
        "choices": extra.pop("choices", []),
        "min": extra.pop("min", None),
        "max": extra.pop("max", None),
        "unit": extra.pop("unit", ""),
    }


def chakras() -> list[str]:
    return [
        _("Root (Muladhara)"),
        _("Sacral (Svadhisthana)"),
        _("Solar plexus (Manipura)"),
        _("Heart (Anahata)"),
        _("Throat (Vishuddha)"),
        _("Third eye (Ajna)"),
        _("Crown (Sahasrara)"),
    ]


def _reiki() -> dict[str, Any]:
    return {
        "name": _("Reiki"),
        "description": _("Hands-on energy work through the seven main chakras."),
        "default_duration": 60,
        "custom_fields": [
            _field("chakras", _("Chakras worked on"), Kind.MULTIPLE_CHOICE, choices=chakras()),
            _field("sensations", _("Perceived sensations"), Kind.LONG_TEXT),
            _field(
                "energy_before",
                _("Energy level before"),
                Kind.SCALE,
                help_text=_("As the patient describes it: 0 exhausted, 10 full of energy."),
            ),
            _field("energy_after", _("Energy level after"), Kind.SCALE),
        ],
    }


def _family_constellation() -> dict[str, Any]:
    return {
        "name": _("Family Constellation"),
        "description": _("A constellation of the patient's family system with representatives."),
        "default_duration": 90,
        "custom_fields": [
            _field("theme", _("Theme of the constellation"), Kind.SHORT_TEXT, required=True),
            _field("dynamics", _("Observed dynamics"), Kind.LONG_TEXT),
            _field(
                "representatives",
                _("Representatives used"),
                Kind.NUMBER,
                min=0,
                max=100,
                unit=_("people"),
            ),
        ],
    }


def _access_bars() -> dict[str, Any]:
    return {
        "name": _("Access Bars"),
        "description": _("Light touch on the 32 points of the head known as the Bars."),
        "default_duration": 60,
        "custom_fields": [
            _field(
                "bars",
                _("Activated bars"),
                Kind.MULTIPLE_CHOICE,
                choices=[_("Bar %(number)d") % {"number": n} for n in range(1, 33)],
                help_text=_("Numbered as on your Bars chart."),
            ),
            _field("reactions", _("Patient reactions"), Kind.LONG_TEXT),
        ],
    }


BUILDERS = {
    "reiki": _reiki,
    "family-constellation": _family_constellation,
    "access-bars": _access_bars,
}
STARTERS = (
    Starter(
        "reiki",
        gettext_lazy("Reiki"),
        gettext_lazy("Chakras worked on, perceived sensations, energy before and after."),
    ),
    Starter(
        "family-constellation",
        gettext_lazy("Family Constellation"),
        gettext_lazy("Theme, observed dynamics, representatives used."),
    ),
    Starter(
        "access-bars",
        gettext_lazy("Access Bars"),
        gettext_lazy("Which of the 32 bars were activated, and the patient's reactions."),
    ),
)


def starter(slug: str | None) -> Starter | None:
    return next((s for s in STARTERS if s.slug == slug), None)
