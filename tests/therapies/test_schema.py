"""Schema validation and the form builder, property-based: random valid schemas and values
round-trip; random invalid ones are refused with a ValidationError, never a crash."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.http import QueryDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from therapies import schema
from therapies.formbuilder import CustomFieldsForm, describe_values, merge_values
from therapies.schema import Kind, validate_schema

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- strategies ---------------------------------------------------------------------------

# Printable text as people type it: no control characters and no surrogates.
CHARS = st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"))


def clean_text(max_size: int, min_size: int = 0) -> st.SearchStrategy[str]:
    """Text as Django's CharField leaves it: stripped."""
    return (
        st.text(CHARS, min_size=min_size, max_size=max_size)
        .map(str.strip)
        .filter(lambda s: len(s) >= min_size)
    )


keys = st.from_regex(r"[a-z][a-z0-9_]{0,39}", fullmatch=True)
labels = clean_text(schema.MAX_LABEL, min_size=1)
choice_lists = st.lists(
    clean_text(schema.MAX_CHOICE, min_size=1), min_size=2, max_size=12, unique_by=str.casefold
)
bounds = st.one_of(
    st.none(),
    st.integers(-1000, 1000),
    st.decimals(-1000, 1000, places=2, allow_nan=False, allow_infinity=False).map(
        schema.json_number
    ),
)


@st.composite
def field_definitions(draw: st.DrawFn, key: str) -> dict[str, Any]:
    kind = draw(st.sampled_from(list(Kind)))
    low = high = None
    unit = ""
    choices: list[str] = []
    if kind in schema.CHOICE_KINDS:
        choices = draw(choice_lists)
    if kind == Kind.NUMBER:
        low, high = draw(bounds), draw(bounds)
        if low is not None and high is not None and low > high:
            low, high = high, low
        unit = draw(clean_text(schema.MAX_UNIT))
    return {
        "key": key,
        "label": draw(labels),
        "kind": kind.value,
        "help_text": draw(clean_text(schema.MAX_HELP)),
        "required": draw(st.booleans()),
        "choices": choices,
        "min": low,
        "max": high,
        "unit": unit,
    }


@st.composite
def schemas(draw: st.DrawFn, max_fields: int = 8) -> list[dict[str, Any]]:
    field_keys = draw(st.lists(keys, max_size=max_fields, unique=True))
    return [{**draw(field_definitions(key)), "order": i} for i, key in enumerate(field_keys)]


def number_values(field: dict[str, Any]) -> st.SearchStrategy[Decimal]:
    low = Decimal(str(field["min"])) if field["min"] is not None else Decimal("-1e6")
    high = Decimal(str(field["max"])) if field["max"] is not None else Decimal("1e6")
    return st.decimals(low, high, places=4, allow_nan=False, allow_infinity=False)


@st.composite
def answers(draw: st.DrawFn, fields: list[dict[str, Any]]) -> dict[str, Any]:
    """Valid stored values for a schema; optional fields are sometimes left empty."""
    values: dict[str, Any] = {}
    for field in fields:
        if not field["required"] and draw(st.booleans()):
            continue
        kind = field["kind"]
        if kind == Kind.SHORT_TEXT:
            value: Any = draw(clean_text(300, min_size=1))
        elif kind == Kind.LONG_TEXT:
            value = draw(clean_text(2000, min_size=1))
        elif kind == Kind.NUMBER:
            value = schema.json_number(draw(number_values(field)))
        elif kind == Kind.SINGLE_CHOICE:
            value = draw(st.sampled_from(field["choices"]))
        elif kind == Kind.MULTIPLE_CHOICE:
            value = draw(st.lists(st.sampled_from(field["choices"]), min_size=1, unique=True))
        elif kind == Kind.YES_NO:
            value = draw(st.booleans())
        elif kind == Kind.SCALE:
            value = draw(st.integers(0, 10))
        else:
            value = draw(st.dates()).isoformat()
        values[field["key"]] = value
    return values


def posted(form: CustomFieldsForm) -> QueryDict:
    """What a browser submits for an unbound form as rendered with its initial values."""
    data = QueryDict(mutable=True)
    for bound in form:
        value = bound.value()
        if value is None or value == "":
            continue
        if isinstance(value, list):
            data.setlist(bound.html_name, value)
        else:
            data[bound.html_name] = str(value)
    return data


# --- properties ---------------------------------------------------------------------------


@PROPERTY
@given(schemas())
def test_valid_schemas_validate_to_themselves(fields):
    assert validate_schema(fields) == fields
    assert validate_schema(json.loads(json.dumps(fields))) == fields


@PROPERTY
@given(st.data())
def test_values_round_trip_through_the_form(data):
    fields = data.draw(schemas())
    values = data.draw(answers(fields))

    form = CustomFieldsForm(fields, values=values)
    bound = CustomFieldsForm(fields, data=posted(form))

    assert bound.is_valid(), bound.errors
    cleaned = bound.cleaned_values()
    # The same answers, with multiple choices in the schema's order (stored canonically).
    order = {f["key"]: f["choices"] for f in fields}
    expected = {
        key: sorted(value, key=order[key].index) if isinstance(value, list) else value
        for key, value in values.items()
    }
    assert cleaned == expected
    assert json.loads(json.dumps(cleaned)) == cleaned


@PROPERTY
@given(schemas(), st.dictionaries(st.text(max_size=20), st.lists(st.text(max_size=30), max_size=3)))
def test_any_posted_data_is_answered_without_a_crash(fields, junk):
    data = QueryDict(mutable=True)
    for name, items in junk.items():
        data.setlist(name, items)
    for field in fields:  # aim some of the junk at the real field names
        data.setlist(f"custom-{field['key']}", next(iter(junk.values()), ["x"]))
    form = CustomFieldsForm(fields, data=data)
    if form.is_valid():
        json.dumps(form.cleaned_values())
    else:
        assert form.errors


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=20,
)


@PROPERTY
@given(JSONISH)
def test_random_json_is_refused_cleanly_or_accepted(raw):
    try:
        result = validate_schema(raw)
    except ValidationError as error:
        assert error.messages
    else:
        assert validate_schema(result) == result


BREAKAGES = {
    "duplicate key": lambda f: [*f, {**f[0], "order": len(f)}],
    "too few choices": lambda f: [{**f[0], "kind": "single_choice", "choices": ["only"]}],
    "duplicate choices": lambda f: [{**f[0], "kind": "multiple_choice", "choices": ["A", "a"]}],
    "min above max": lambda f: [{**f[0], "kind": "number", "min": 5, "max": 1}],
    "unknown kind": lambda f: [{**f[0], "kind": "colour"}],
    "long label": lambda f: [{**f[0], "label": "x" * (schema.MAX_LABEL + 1)}],
    "empty label": lambda f: [{**f[0], "label": "  "}],
    "bad key": lambda f: [{**f[0], "key": "Not A Key"}],
    "long choice": lambda f: [
        {**f[0], "kind": "single_choice", "choices": ["a", "b" * (schema.MAX_CHOICE + 1)]}
    ],
    "choice list of numbers": lambda f: [{**f[0], "kind": "single_choice", "choices": [1, 2]}],
    "label not text": lambda f: [{**f[0], "label": 7}],
    "required not boolean": lambda f: [{**f[0], "required": "yes"}],
    "too many fields": lambda f: [{**f[0], "key": f"k{i}", "order": i} for i in range(41)],
    "not a list": lambda f: f[0],
}


@PROPERTY
@given(schemas(max_fields=3).filter(bool), st.sampled_from(sorted(BREAKAGES)))
def test_broken_schemas_are_refused_with_a_message(fields, breakage):
    with pytest.raises(ValidationError) as caught:
        validate_schema(BREAKAGES[breakage](fields))
    assert all(isinstance(m, str) and m for m in caught.value.messages)


@PROPERTY
@given(schemas(max_fields=4).filter(bool))
def test_a_removed_fields_key_is_never_reused(fields):
    rest, removed = schema.remove_field(fields, fields[0]["key"])
    with pytest.raises(ValidationError, match="removed field"):
        validate_schema([*rest, {**removed, "order": 99}], removed_keys=[removed["key"]])


# --- examples -----------------------------------------------------------------------------


def test_messages_name_the_field_and_the_problem():
    with pytest.raises(ValidationError) as caught:
        validate_schema(
            [
                {"key": "mood", "label": "Mood", "kind": "single_choice", "choices": ["Calm"]},
                {"key": "count", "label": "Count", "kind": "number", "min": 9, "max": 2},
                {"key": "mood", "label": "Mood again", "kind": "short_text"},
            ]
        )
    messages = caught.value.messages
    assert any("Field 1" in m and "Mood" in m and "at least two choices" in m for m in messages)
    assert any("Field 2" in m and "maximum must not be below the minimum" in m for m in messages)
    assert any("share the key “mood”" in m for m in messages)


def test_settings_of_other_kinds_are_dropped():
    (field,) = validate_schema(
        [{"key": "t", "label": "T", "kind": "short_text", "choices": ["a", "b"], "min": 1}]
    )
    assert field["choices"] == [] and field["min"] is None


def test_relabelling_keeps_the_key_the_kind_and_the_position():
    fields = validate_schema(
        [
            {"key": "a", "label": "A", "kind": "short_text"},
            {"key": "b", "label": "B", "kind": "scale"},
        ]
    )
    changed = schema.replace_field(fields, "b", {**fields[1], "label": "Energy", "kind": "date"})
    assert changed[1] == {**fields[1], "label": "Energy"}


def test_key_from_label_is_ascii_unique_and_valid():
    assert schema.key_from_label("Nível de energia (antes)", []) == "nivel_de_energia_antes"
    assert schema.key_from_label("Theme", ["theme", "theme_2"]) == "theme_3"
    assert schema.key_from_label("123", []) == "field_123"
    assert schema.KEY_RE.match(schema.key_from_label("☯", []))


def test_moving_past_either_end_keeps_the_order():
    fields = validate_schema(
        [{"key": k, "label": k, "kind": "short_text"} for k in ("a", "b", "c")]
    )
    assert [f["key"] for f in schema.move_field(fields, "a", -1)] == ["a", "b", "c"]
    assert [f["key"] for f in schema.move_field(fields, "a", 1)] == ["b", "a", "c"]
    assert [f["key"] for f in schema.move_field(fields, "c", 1)] == ["a", "b", "c"]
    with pytest.raises(ValidationError):
        schema.reorder(fields, ["a", "b"])


CHAKRAS = {
    "key": "chakras",
    "label": "Chakras",
    "kind": "multiple_choice",
    "choices": ["Root", "Heart", "Crown"],
}


def test_server_side_validation_of_each_kind():
    fields = validate_schema(
        [
            CHAKRAS,
            {
                "key": "n",
                "label": "People",
                "kind": "number",
                "min": 0,
                "max": 10,
                "required": True,
            },
            {"key": "s", "label": "Energy", "kind": "scale"},
            {"key": "d", "label": "When", "kind": "date"},
            {"key": "y", "label": "Again?", "kind": "yes_no", "required": True},
        ]
    )
    form = CustomFieldsForm(
        fields,
        data={
            "custom-chakras": ["Spleen"],
            "custom-n": "11",
            "custom-s": "12",
            "custom-d": "31/02/2024",
        },
    )
    assert not form.is_valid()
    assert set(form.errors) == {"chakras", "n", "s", "d", "y"}


def test_values_of_removed_fields_and_choices_stay_and_are_shown():
    fields = validate_schema([CHAKRAS, {"key": "notes", "label": "Notes", "kind": "long_text"}])
    stored = {"chakras": ["Heart"], "notes": "Felt warmth"}
    kept, removed = schema.remove_field(fields, "notes")
    kept = schema.replace_field(kept, "chakras", {**kept[0], "choices": ["Root", "Crown"]})

    shown = describe_values(kept, [removed], stored)
    assert [(v.label, v.text, v.removed) for v in shown] == [
        ("Chakras", "Heart", False),
        ("Notes (field removed)", "Felt warmth", True),
    ]

    # The removed choice stays selectable for the old record, so it is not refused.
    form = CustomFieldsForm(kept, values=stored)
    assert ("Heart", "Heart (choice removed)") in form.fields["chakras"].choices
    resubmitted = CustomFieldsForm(kept, data=posted(form), values=stored)
    assert resubmitted.is_valid(), resubmitted.errors
    assert merge_values(kept, stored, resubmitted.cleaned_values()) == stored
