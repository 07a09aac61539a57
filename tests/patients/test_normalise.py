from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from patients.normalise import (
    FOLD_FROM,
    FOLD_TO,
    fold,
    format_phone,
    parse_tags,
    phone_digits,
    phone_region,
    validate_tags,
)


def test_the_fold_map_pairs_every_accented_letter_with_a_plain_one():
    assert len(FOLD_FROM) == len(FOLD_TO) == len(set(FOLD_FROM))
    assert FOLD_TO.isascii() and FOLD_TO.islower()


@pytest.mark.parametrize(
    ("text", "folded"),
    [("João", "joao"), ("JOÃO", "joao"), ("Conceição", "conceicao"), ("Ñandú", "nandu")],
)
def test_fold_ignores_case_and_accents(text, folded):
    assert fold(text) == folded


def test_fold_treats_decomposed_accents_like_composed_ones():
    assert fold("Jo\u0061\u0303o") == "joao"  # "a" + combining tilde, as macOS may send it


@pytest.mark.parametrize(
    ("time_zone", "region"),
    [
        ("America/Sao_Paulo", "BR"),
        ("Europe/Lisbon", "PT"),
        ("America/New_York", "US"),
        ("UTC", "BR"),
        ("Etc/GMT+3", "BR"),
    ],
)
def test_phone_region_follows_the_practice_time_zone_else_brazil(time_zone, region):
    assert phone_region(time_zone) == region


@pytest.mark.parametrize(
    ("raw", "region", "formatted"),
    [
        ("(11) 98765-4321", "BR", "+55 11 98765-4321"),
        ("11987654321", "BR", "+55 11 98765-4321"),
        ("+351 912 345 678", "BR", "+351 912 345 678"),
        ("912345678", "PT", "+351 912 345 678"),
        ("  ", "BR", ""),
    ],
)
def test_phone_numbers_are_stored_in_international_form(raw, region, formatted):
    assert format_phone(raw, region) == formatted


@pytest.mark.parametrize("raw", ["12", "not a phone", "+55 11 1234", "(11) 0000-0000"])
def test_invalid_phone_numbers_are_refused_with_an_example(raw):
    with pytest.raises(ValidationError) as error:
        format_phone(raw, "BR")
    assert "valid phone number" in error.value.messages[0]
    assert "+55" in error.value.messages[0]


@pytest.mark.parametrize(
    ("query", "digits"),
    [("(11) 98000-1000", "11980001000"), ("+55 11", "5511"), ("João 11", ""), ("", "")],
)
def test_only_phone_like_queries_search_phone_digits(query, digits):
    assert phone_digits(query) == digits


def test_tags_are_trimmed_and_deduplicated_ignoring_case():
    assert parse_tags(" Reiki , reiki,  Manhãs  de  sábado ,, REIKI,Ansiedade ") == [
        "Reiki",
        "Manhãs de sábado",
        "Ansiedade",
    ]
    assert parse_tags("") == []


def test_too_many_or_too_long_tags_are_refused():
    validate_tags([f"t{n}" for n in range(12)])
    with pytest.raises(ValidationError, match="at most 12"):
        validate_tags([f"t{n}" for n in range(13)])
    with pytest.raises(ValidationError, match="30 characters"):
        validate_tags(["x" * 31])
