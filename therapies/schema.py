"""The schema of a therapy type's custom fields: what a therapist fills in after a session.

A schema is a JSON list of field definitions, in display order::

    {"key": "chakras", "label": "Chakras worked on", "kind": "multiple_choice",
     "help_text": "", "required": false, "order": 0, "choices": ["Root", "Heart"],
     "min": null, "max": null, "unit": ""}

`validate_schema()` is the only way in: it checks every definition with the same form the
Owner's editor uses, so a schema saved from the app, a starter template or a test obeys the
same rules, and it returns the canonical form that is stored. The editing operations below
are pure functions over that list; therapies/services.py saves their results.

A key never changes once saved: relabelling keeps it, and the key of a removed field is not
reused, so values stored under it keep their meaning (formbuilder.describe_values shows
them as "(field removed)").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

Field = dict[str, Any]


class Kind(models.TextChoices):
    SHORT_TEXT = "short_text", _("Short text")
    LONG_TEXT = "long_text", _("Long text")
    NUMBER = "number", _("Number")
    SINGLE_CHOICE = "single_choice", _("Single choice")
    MULTIPLE_CHOICE = "multiple_choice", _("Multiple choice")
    YES_NO = "yes_no", _("Yes / no")
    SCALE = "scale", _("Scale 0–10")
    DATE = "date", _("Date")


CHOICE_KINDS = frozenset({Kind.SINGLE_CHOICE, Kind.MULTIPLE_CHOICE})
MAX_FIELDS = 40
MAX_LABEL = 120
MAX_HELP = 300
MAX_KEY = 40
MAX_CHOICES = 60
MAX_CHOICE = 80
MAX_UNIT = 20
# Bounds for a number field's min/max: generous, but finite and exact in JSON.
NUMBER_LIMIT = Decimal("1000000000")
KEY_RE = re.compile(r"^[a-z][a-z0-9_]*$")
KEYS = ("key", "label", "kind", "help_text", "required", "order", "choices", "min", "max", "unit")


def json_number(value: Decimal) -> int | float:
    """A Decimal as the JSON number it stands for: 3 stays an int, 2.5 becomes a float."""
    return int(value) if value == value.to_integral_value() else float(value)


def _bound_field(label: StrOrPromise) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=False,
        max_digits=14,
        decimal_places=4,
        min_value=-NUMBER_LIMIT,
        max_value=NUMBER_LIMIT,
    )


class FieldDefinitionForm(forms.Form):
    """One field definition, as the Owner enters it. Also validates stored definitions."""

    label = forms.CharField(label=_("Label"), max_length=MAX_LABEL)
    kind = forms.ChoiceField(label=_("Kind"), choices=Kind.choices, initial=Kind.SHORT_TEXT)
    key = forms.CharField(
        label=_("Key"),
        max_length=MAX_KEY,
        required=False,
        help_text=_(
            "Lower-case letters, digits and underscores; leave empty to derive it from the "
            "label. It never changes once saved."
        ),
    )
    help_text = forms.CharField(label=_("Help text"), max_length=MAX_HELP, required=False)
    required = forms.BooleanField(label=_("Required"), required=False)
    choices = forms.CharField(
        label=_("Choices"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("One choice per line."),
    )
    min = _bound_field(_("Minimum"))
    max = _bound_field(_("Maximum"))
    unit = forms.CharField(
        label=_("Unit"),
        max_length=MAX_UNIT,
        required=False,
        help_text=_("Shown beside the number, e.g. “people” or “min”."),
    )

    def __init__(self, *args: Any, key_locked: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_locked = key_locked
        if key_locked:
            # The key and the kind of a saved field are fixed: old values depend on both.
            for name in ("key", "kind"):
                self.fields[name].disabled = True
                self.fields[name].help_text = _("Fixed once saved, so older records keep it.")

    def clean_key(self) -> str:
        key = self.cleaned_data["key"].strip()
        if key and not KEY_RE.match(key):
            raise ValidationError(
                _("Use lower-case letters, digits and underscores, starting with a letter.")
            )
        return key

    def clean_choices(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data["choices"].splitlines()]
        choices = [line for line in lines if line]
        seen: set[str] = set()
        for choice in choices:
            if len(choice) > MAX_CHOICE:
                raise ValidationError(
                    _("“%(choice)s…” is too long: a choice has at most %(max)d characters."),
                    params={"choice": choice[:30], "max": MAX_CHOICE},
                )
            folded = choice.casefold()
            if folded in seen:
                raise ValidationError(
                    _("“%(choice)s” appears twice; each choice must be different."),
                    params={"choice": choice},
                )
            seen.add(folded)
        if len(choices) > MAX_CHOICES:
            raise ValidationError(
                _("At most %(max)d choices; this has %(count)d."),
                params={"max": MAX_CHOICES, "count": len(choices)},
            )
        return choices

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        kind = data.get("kind")
        if kind in CHOICE_KINDS:
            if "choices" in data and len(data["choices"]) < 2:
                self.add_error("choices", _("Add at least two choices, one per line."))
        else:
            data["choices"] = []
        if kind == Kind.NUMBER:
            low, high = data.get("min"), data.get("max")
            if low is not None and high is not None and low > high:
                self.add_error("max", _("The maximum must not be below the minimum."))
        else:
            data["min"] = data["max"] = None
            data["unit"] = ""
        return data

    def definition(self, *, key: str, order: int) -> Field:
        """The canonical stored definition of the cleaned field."""
        data = self.cleaned_data
        return {
            "key": key,
            "label": data["label"],
            "kind": data["kind"],
            "help_text": data["help_text"],
            "required": data["required"],
            "order": order,
            "choices": data["choices"],
            "min": None if data["min"] is None else json_number(data["min"]),
            "max": None if data["max"] is None else json_number(data["max"]),
            "unit": data["unit"],
        }

    def new_definition(self, fields: list[Field], removed_keys: Iterable[str]) -> Field | None:
        """The definition of a field being added to `fields`, with a fresh key when none was
        given; None, with the error on the key field, if the key is taken."""
        taken = {f["key"] for f in fields} | set(removed_keys)
        key = self.cleaned_data["key"]
        if not key:
            key = key_from_label(self.cleaned_data["label"], taken)
        elif key in taken:
            self.add_error("key", _("This key is already used in this therapy; choose another."))
            return None
        return self.definition(key=key, order=len(fields))

    @classmethod
    def initial_for(cls, field: Mapping[str, Any]) -> dict[str, Any]:
        """Form initial data for a stored definition (for editing it)."""
        return {
            "label": field["label"],
            "kind": field["kind"],
            "key": field["key"],
            "help_text": field.get("help_text", ""),
            "required": field.get("required", False),
            "choices": "\n".join(field.get("choices", [])),
            "min": field.get("min"),
            "max": field.get("max"),
            "unit": field.get("unit", ""),
        }


def _label(name: str) -> str:
    return str(FieldDefinitionForm.base_fields[name].label)


def _form_data(item: Any, position: int) -> dict[str, Any]:
    """A stored definition as the data the definition form takes; refuses wrong types."""
    if not isinstance(item, Mapping):
        raise ValidationError(_("Field %(n)d is not a field definition."), params={"n": position})

    def wrong(message: str) -> ValidationError:
        return ValidationError(
            _("Field %(n)d, %(what)s: %(message)s"),
            params={"n": position, "what": _label(name), "message": message},
        )

    for name in ("key", "label", "kind"):
        if not isinstance(item.get(name), str) or not item.get(name):
            raise wrong(gettext("This field is required."))
    for name in ("help_text", "unit"):
        if not isinstance(item.get(name, ""), str):
            raise wrong(gettext("Enter text."))
    name = "choices"
    choices = item.get(name, [])
    if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        raise wrong(gettext("Enter a list of texts."))
    if any("".join(c.splitlines()) != c for c in choices):
        raise wrong(gettext("A choice cannot span lines."))
    bounds = {}
    for name in ("min", "max"):
        value = item.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise wrong(gettext("Enter a number."))
        bounds[name] = "" if value is None else str(value)
    name = "required"
    if not isinstance(item.get(name, False), bool):
        raise wrong(gettext("Enter true or false."))
    return {
        "label": item["label"],
        "kind": item["kind"],
        "key": item["key"],
        "help_text": item.get("help_text", ""),
        "required": "on" if item.get("required") else "",
        "choices": "\n".join(choices),
        "unit": item.get("unit", ""),
        **bounds,
    }


def _order_of(item: Mapping[str, Any], position: int) -> tuple[int, int]:
    order = item.get("order") if isinstance(item, Mapping) else None
    if isinstance(order, int) and not isinstance(order, bool):
        return (order, position)
    return (position, position)


def validate_schema(raw: Any, *, removed_keys: Iterable[str] = ()) -> list[Field]:
    """Check a whole schema and return its canonical form, ordered, with order 0..n-1.

    Raises ValidationError with every problem found, each naming the field it is about;
    never any other exception, whatever `raw` is.
    """
    if not isinstance(raw, list):
        raise ValidationError(_("The custom fields must be a list."))
    if len(raw) > MAX_FIELDS:
        raise ValidationError(
            _("A therapy type can have at most %(max)d fields."), params={"max": MAX_FIELDS}
        )
    errors: list[ValidationError] = []
    canonical: list[Field] = []
    removed = set(removed_keys)
    seen: set[str] = set()
    positions = sorted(range(len(raw)), key=lambda i: _order_of(raw[i], i))
    for position, index in enumerate(positions, start=1):
        try:
            data = _form_data(raw[index], position)
        except ValidationError as error:
            errors.append(error)
            continue
        form = FieldDefinitionForm(data)
        name = data["label"][:40]
        key = data["key"]
        if key in seen:
            errors.append(
                ValidationError(
                    _("Two fields share the key “%(key)s”; keys must be unique."),
                    params={"key": key},
                )
            )
        elif key in removed:
            errors.append(
                ValidationError(
                    _(
                        "The key “%(key)s” belonged to a removed field; choose another so "
                        "that older records keep their meaning."
                    ),
                    params={"key": key},
                )
            )
        seen.add(key)
        if not form.is_valid():
            for field_name, messages in form.errors.items():
                label = form.fields[field_name].label if field_name in form.fields else ""
                for message in messages:
                    errors.append(
                        ValidationError(
                            _("Field %(n)d (“%(name)s”), %(what)s: %(message)s"),
                            params={"n": position, "name": name, "what": label, "message": message},
                        )
                    )
            continue
        if not form.cleaned_data["key"]:
            errors.append(
                ValidationError(
                    _("Field %(n)d (“%(name)s”) has no key."), params={"n": position, "name": name}
                )
            )
            continue
        canonical.append(form.definition(key=form.cleaned_data["key"], order=len(canonical)))

    if errors:
        raise ValidationError(errors)
    return canonical


# --- Editing operations: each returns a new list; validate_schema() checks the result ----


def key_from_label(label: str, taken: Iterable[str]) -> str:
    """A new, unused key derived from a label: "Energy level (before)" → energy_level_before."""
    ascii_label = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "_", ascii_label.lower()).strip("_")
    if not base or not base[0].isalpha():
        base = f"field_{base}".rstrip("_")
    base = base[: MAX_KEY - 4].rstrip("_")
    taken = set(taken)
    key, n = base, 2
    while key in taken:
        key, n = f"{base}_{n}", n + 1
    return key


def add_field(fields: list[Field], definition: Field) -> list[Field]:
    return [*fields, {**definition, "order": len(fields)}]


def _require(fields: list[Field], key: str) -> None:
    if not any(f["key"] == key for f in fields):
        raise ValidationError(
            _("That field was removed meanwhile. Reload the page to see the current fields.")
        )


def replace_field(fields: list[Field], key: str, definition: Field) -> list[Field]:
    """Swap in a new definition for `key`, keeping the key, the kind and the position."""
    _require(fields, key)
    return [
        {**definition, "key": f["key"], "kind": f["kind"], "order": f["order"]}
        if f["key"] == key
        else f
        for f in fields
    ]


def remove_field(fields: list[Field], key: str) -> tuple[list[Field], Field]:
    _require(fields, key)
    removed = next(f for f in fields if f["key"] == key)
    return [f for f in fields if f["key"] != key], removed


def reorder(fields: list[Field], keys: list[str]) -> list[Field]:
    """The fields in the order of `keys`, which must name each field exactly once."""
    by_key = {f["key"]: f for f in fields}
    if sorted(keys) != sorted(by_key):
        raise ValidationError(
            _("The fields changed while you were reordering them. Reload the page and try again.")
        )
    return [{**by_key[key], "order": i} for i, key in enumerate(keys)]


def move_field(fields: list[Field], key: str, delta: int) -> list[Field]:
    """Move one field up (delta -1) or down (+1); at either end it stays where it is."""
    _require(fields, key)
    keys = [f["key"] for f in fields]
    i = keys.index(key)
    j = min(max(i + delta, 0), len(keys) - 1)
    keys.insert(j, keys.pop(i))
    return reorder(fields, keys)
