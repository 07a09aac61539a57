"""validate_values: the service's own guard that stored custom-field values obey the
schema, with the same rules (and messages) as the form a therapist fills in."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from therapies.formbuilder import validate_values
from therapies.schema import validate_schema

SCHEMA = validate_schema(
    [
        {"key": "note", "label": "Short", "kind": "short_text", "required": True},
        {"key": "score", "label": "Score", "kind": "number", "required": False,
         "min": 0, "max": 10},
        {"key": "mood", "label": "Mood", "kind": "single_choice", "required": False,
         "choices": ["Calm", "Tense"]},
        {"key": "areas", "label": "Areas", "kind": "multiple_choice", "required": False,
         "choices": ["Head", "Feet"]},
        {"key": "slept", "label": "Slept well", "kind": "yes_no", "required": False},
        {"key": "pain", "label": "Pain", "kind": "scale", "required": False},
        {"key": "next", "label": "Next visit", "kind": "date", "required": False},
    ]
)  # fmt: skip
GOOD = {
    "note": "ok",
    "score": 2.5,
    "mood": "Calm",
    "areas": ["Feet", "Head"],
    "slept": False,
    "pain": 0,
    "next": "2026-12-01",
}


def test_valid_values_come_back_canonical_and_removed_fields_stay():
    canonical = {**GOOD, "areas": ["Head", "Feet"]}  # the schema's order
    assert validate_values(SCHEMA, {**GOOD, "gone": "kept"}) == {**canonical, "gone": "kept"}


@pytest.mark.parametrize(
    ("key", "bad", "message"),
    [
        ("note", None, "Short: This field is required."),
        ("score", 11, "Score: Ensure this value is less than or equal to 10."),
        ("score", "3", "Score: this kind of value cannot be stored here."),
        ("score", True, "Score: this kind of value cannot be stored here."),
        ("mood", "Angry", "Mood: Select a valid choice."),
        ("areas", ["Knees"], "Areas: Select a valid choice."),
        ("areas", "Head", "Areas: this kind of value cannot be stored here."),
        ("areas", [1], "Areas: this kind of value cannot be stored here."),
        ("slept", "yes", "Slept well: this kind of value cannot be stored here."),
        ("pain", 11, "Pain: Select a valid choice."),
        ("next", "2026-02-31", "Next visit: Enter a valid date."),
    ],
)
def test_invalid_values_are_refused_naming_the_field(key, bad, message):
    values = {**GOOD, key: bad}
    if bad is None:
        del values[key]
    with pytest.raises(ValidationError) as refused:
        validate_values(SCHEMA, values)
    assert any(message in m for m in refused.value.messages), refused.value.messages


def test_a_choice_removed_from_the_schema_passes_only_if_already_stored():
    with pytest.raises(ValidationError):
        validate_values(SCHEMA, {**GOOD, "mood": "Sleepy"})
    kept = validate_values(SCHEMA, {**GOOD, "mood": "Sleepy"}, stored={"mood": "Sleepy"})
    assert kept["mood"] == "Sleepy"
