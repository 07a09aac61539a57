"""The form builder: a therapy type's schema (therapies/schema.py) as a Django form.

The one place that knows how each kind of custom field is entered, validated, stored and
shown. The Owner's preview and the session record form both use it:

    form = CustomFieldsForm(therapy_type.custom_fields, data=request.POST, values=stored)
    if form.is_valid():
        stored = merge_values(therapy_type.custom_fields, stored, form.cleaned_values())

Stored values are JSON: text as strings, numbers as int/float, choices as strings (lists
for multiple choice), yes/no as booleans, the scale as an int, dates as ISO strings.
Empty answers are not stored.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.datastructures import MultiValueDict
from django.utils.formats import date_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from therapies.schema import Field, Kind, json_number

JSON = str | int | float | bool | list[str]
MAX_SHORT_TEXT = 300
MAX_LONG_TEXT = 20_000
RADIO_MAX_CHOICES = 6
SCALE = range(0, 11)
YES, NO = "yes", "no"


def _removed_choice_label(value: str) -> str:
    return gettext("%(choice)s (choice removed)") % {"choice": value}


def _form_field(field: Field, stored: Any) -> forms.Field:
    """The Django form field for one definition. `stored` is the value already saved, so a
    choice removed from the schema since then stays selectable instead of failing."""
    kind, required = field["kind"], field["required"]
    common: dict[str, Any] = {
        "label": field["label"],
        "required": required,
        "help_text": field.get("help_text", ""),
    }
    if kind == Kind.SHORT_TEXT:
        return forms.CharField(max_length=MAX_SHORT_TEXT, **common)
    if kind == Kind.LONG_TEXT:
        return forms.CharField(
            max_length=MAX_LONG_TEXT, widget=forms.Textarea(attrs={"rows": 4}), **common
        )
    if kind == Kind.NUMBER:
        low, high = field.get("min"), field.get("max")
        unit = field.get("unit", "")
        if unit:
            common["label"] = f"{field['label']} ({unit})"
        return forms.DecimalField(
            max_digits=18,
            decimal_places=4,
            min_value=None if low is None else Decimal(str(low)),
            max_value=None if high is None else Decimal(str(high)),
            widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
            **common,
        )
    if kind in (Kind.SINGLE_CHOICE, Kind.MULTIPLE_CHOICE):
        choices: list[tuple[str, Any]] = [(c, c) for c in field["choices"]]
        kept = stored if isinstance(stored, list) else [stored]
        current = set(field["choices"])
        choices += [
            (v, _removed_choice_label(v)) for v in kept if isinstance(v, str) and v not in current
        ]
        if kind == Kind.MULTIPLE_CHOICE:
            return forms.MultipleChoiceField(
                choices=choices, widget=forms.CheckboxSelectMultiple, **common
            )
        if required and len(choices) <= RADIO_MAX_CHOICES:
            return forms.ChoiceField(choices=choices, widget=forms.RadioSelect, **common)
        return forms.ChoiceField(choices=[("", "—"), *choices], **common)
    if kind == Kind.YES_NO:
        options = [(YES, _("Yes")), (NO, _("No"))]
        if not required:
            options.append(("", _("Not recorded")))
        return forms.TypedChoiceField(
            choices=options,
            coerce=lambda v: v == YES,
            empty_value=None,
            widget=forms.RadioSelect(attrs={"class": "choice-row"}),
            **common,
        )
    if kind == Kind.SCALE:
        steps = [(str(i), str(i)) for i in SCALE]
        if not required:
            steps.append(("", "—"))
        return forms.TypedChoiceField(
            choices=steps,
            coerce=int,
            empty_value=None,
            widget=forms.RadioSelect(attrs={"class": "scale"}),
            **common,
        )
    if kind == Kind.DATE:
        return forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), **common)
    raise ValueError(f"unknown custom field kind {kind!r}")  # validate_schema rules this out


def _initial(kind: str, value: Any) -> Any:
    """A stored value as the form field's initial value."""
    if value is None:
        return None
    if kind == Kind.YES_NO:
        return YES if value is True else NO if value is False else None
    if kind == Kind.SCALE:
        return str(value)
    if kind == Kind.NUMBER:
        try:
            return Decimal(str(value))
        except InvalidOperation:
            return None
    if kind == Kind.DATE:
        try:
            return datetime.date.fromisoformat(value)
        except (TypeError, ValueError):
            return None
    return value


def _stored(kind: str, value: Any) -> JSON | None:
    """A cleaned form value as the JSON value stored; None for an empty answer."""
    if value is None or value == "" or value == []:
        return None
    if kind == Kind.NUMBER:
        return json_number(value)
    if kind == Kind.DATE:
        return value.isoformat()
    if kind == Kind.MULTIPLE_CHOICE:
        return list(value)
    return value


class CustomFieldsForm(forms.Form):
    """The custom fields of one therapy type, with server-side validation for every kind."""

    def __init__(
        self,
        schema: list[Field],
        *args: Any,
        values: Mapping[str, Any] | None = None,
        prefix: str = "custom",
        **kwargs: Any,
    ) -> None:
        values = values or {}
        kwargs.setdefault(
            "initial", {f["key"]: _initial(f["kind"], values.get(f["key"])) for f in schema}
        )
        kwargs["prefix"] = prefix
        super().__init__(*args, **kwargs)
        self.schema = schema
        for field in schema:
            self.fields[field["key"]] = _form_field(field, values.get(field["key"]))

    def cleaned_values(self) -> dict[str, JSON]:
        """The answers as JSON-serialisable values, keyed by field key; empty ones left out.
        Multiple choices are kept in the schema's order (removed choices last), so the same
        answers are always stored the same way."""
        values = {}
        for field in self.schema:
            value = _stored(field["kind"], self.cleaned_data.get(field["key"]))
            if isinstance(value, list):
                order = {choice: i for i, choice in enumerate(field["choices"])}
                value = sorted(value, key=lambda v: order.get(v, len(order)))
            if value is not None:
                values[field["key"]] = value
        return values


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    Kind.SHORT_TEXT: (str,),
    Kind.LONG_TEXT: (str,),
    Kind.NUMBER: (int, float),
    Kind.SINGLE_CHOICE: (str,),
    Kind.MULTIPLE_CHOICE: (list,),
    Kind.YES_NO: (bool,),
    Kind.SCALE: (int,),
    Kind.DATE: (str,),
}


def _as_data(kind: str, value: Any) -> str | list[str]:
    """A stored value as the POST data a person would have sent for it."""
    if kind == Kind.MULTIPLE_CHOICE:
        return [str(v) for v in value]
    if kind == Kind.DATE:
        return str(value)  # parsed (and refused when invalid) by the form's DateField
    initial = _initial(kind, value)
    return "" if initial is None else str(initial)


def validate_values(
    schema: list[Field], values: Mapping[str, Any], *, stored: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Check JSON values (as `CustomFieldsForm.cleaned_values()` gives them) against a
    schema with the very rules of the form, so no caller can store what the form would
    refuse. Raises ValidationError naming each field; returns the values in their
    canonical form. Values of keys no longer in the schema (removed fields) pass as they
    are, and so does a choice removed from the schema if it is already `stored`."""
    errors = []
    data: MultiValueDict[str, str] = MultiValueDict()
    for field in schema:
        kind, value = field["kind"], values.get(field["key"])
        if value is None:
            continue
        types = _JSON_TYPES[kind]
        wrong = not isinstance(value, types) or (isinstance(value, bool) and bool not in types)
        if wrong or (kind == Kind.MULTIPLE_CHOICE and not all(isinstance(v, str) for v in value)):
            errors.append(
                ValidationError(
                    gettext("%(label)s: this kind of value cannot be stored here.")
                    % {"label": field["label"]}
                )
            )
            continue
        as_data = _as_data(kind, value)
        name = f"custom-{field['key']}"
        if isinstance(as_data, list):
            data.setlist(name, as_data)
        else:
            data[name] = as_data
    if errors:
        raise ValidationError(errors)
    form = CustomFieldsForm(schema, data, values=stored or {})
    if not form.is_valid():
        raise ValidationError(
            [
                ValidationError(f"{form.fields[key].label}: {message}")
                for key, messages in form.errors.items()
                for message in messages
            ]
        )
    return merge_values(schema, values, form.cleaned_values())


def merge_values(
    schema: list[Field], stored: Mapping[str, Any], answers: Mapping[str, JSON]
) -> dict[str, Any]:
    """New answers over the stored values. Values of fields no longer in the schema stay."""
    current = {f["key"] for f in schema}
    return {**{k: v for k, v in stored.items() if k not in current}, **answers}


@dataclass(frozen=True)
class ShownValue:
    key: str
    label: str
    text: str
    removed: bool


def value_text(kind: str | None, value: Any) -> str:
    if isinstance(value, bool):
        return str(_("Yes") if value else _("No"))
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if kind == Kind.DATE and isinstance(value, str):
        try:
            return date_format(datetime.date.fromisoformat(value), "SHORT_DATE_FORMAT")
        except ValueError:
            return value
    return str(value)


def describe_values(
    schema: list[Field], removed_fields: list[Field], values: Mapping[str, Any]
) -> list[ShownValue]:
    """Stored values to show, in schema order; values of removed fields come last, labelled
    "(field removed)" under the label they had."""
    shown = []
    for field in schema:
        if field["key"] in values:
            text = value_text(field["kind"], values[field["key"]])
            if field["kind"] == Kind.NUMBER and field.get("unit"):
                text = f"{text} {field['unit']}"
            shown.append(ShownValue(field["key"], field["label"], text, removed=False))
    current = {f["key"] for f in schema}
    former = {f["key"]: f for f in removed_fields}
    for key, value in values.items():
        if key in current:
            continue
        old = former.get(key)
        label = gettext("%(label)s (field removed)") % {"label": old["label"] if old else key}
        shown.append(
            ShownValue(key, label, value_text(old["kind"] if old else None, value), removed=True)
        )
    return shown
