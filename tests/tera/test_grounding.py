"""The check of what the model wrote against what was said (tera/grounding.py): terms and
numbers in English and Portuguese, and the flag's precision and recall on a labelled set
of statements that are and are not supported by their lines (tests/tera/data/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tera import grounding
from tera.drafting import Line, ground_sentences

LABELLED = Path(__file__).parent / "data" / "grounding_set.json"


def test_numbers_are_read_in_words_and_digits_in_both_languages():
    assert grounding.terms("I woke at three, four nights, 25 minutes", "en").numbers >= {3, 4, 25}
    assert grounding.terms("vinte e cinco anos, três noites", "pt-br").numbers >= {25, 3}
    assert 5.5 in grounding.terms("about five and a half hours", "en").numbers
    assert 5.5 in grounding.terms("umas cinco e meia horas", "pt-br").numbers
    assert 7 not in grounding.terms("saio sete e meia, oito horas", "pt-br").numbers
    # "uma semana" is an article, not a claim of the number one; "1 semana" is.
    assert 1 not in grounding.terms("Uma semana difícil.", "pt-br").claimed
    assert 1 in grounding.terms("Há 1 semana.", "pt-br").claimed


def test_stems_ignore_accents_and_the_scribes_template_words():
    said = grounding.terms("A paciente relata insônia e ansiedade no trabalho.", "pt-br")
    assert said.stems == {"inson", "ansiedad", "trabalh"}
    english = grounding.terms("The patient reports sleeping badly.", "en")
    assert english.stems == {"sleep", "bad"} and not english.negated
    assert grounding.terms("The patient denies suicidal thoughts.", "en").negated
    assert grounding.terms("Não tomou o remédio.", "pt-br").negated


def test_support_needs_the_words_the_numbers_and_the_denial():
    lines = [
        grounding.terms("I wake up at three in the morning, four nights this week.", "en"),
        grounding.terms("Any thoughts of hurting yourself? No, never.", "en"),
    ]

    def check(text: str) -> grounding.Support:
        return grounding.support(grounding.terms(text, "en"), lines)

    assert check("The patient wakes at 3 a.m. on 4 nights.").supported
    assert check("The patient wakes at 3 a.m. on 4 nights.").sources == [0]
    assert not check("The patient wakes at 2 a.m.").supported  # a number nobody said
    assert check("The patient wakes at 2 a.m.").missing_numbers == [2]
    assert not check("The patient swims every morning.").supported  # nothing of it said
    assert check("No thoughts of hurting themselves.").supported
    assert not check("The patient reports.").supported  # says nothing


def test_affirming_what_the_lines_deny_is_left_to_the_model():
    """ "Reports feeling hopeless" shares every word with "No, I'm not hopeless": the word
    match cannot tell, so the model is asked (tera.drafting.judge)."""
    lines = [
        grounding.terms("Do you ever feel hopeless, or think about hurting yourself?", "en"),
        grounding.terms("No. Tired, yes, but not hopeless.", "en"),
    ]
    flipped = grounding.support(grounding.terms("The patient feels hopeless.", "en"), lines)
    assert flipped.contradicted and grounding.settled(flipped) is None
    denial = grounding.support(grounding.terms("The patient denies feeling hopeless.", "en"), lines)
    assert not denial.contradicted and grounding.settled(denial) is True
    tired = grounding.support(grounding.terms("The patient feels tired.", "en"), lines)
    assert not tired.contradicted  # said outside the denial's clause
    tomou = [grounding.terms("Não tomei o remédio. Guardei de volta na caixa.", "pt-br")]
    took = grounding.support(grounding.terms("A paciente tomou o remédio.", "pt-br"), tomou)
    assert took.contradicted and grounding.settled(took) is None
    switched = [grounding.terms("Work stress: she cannot switch off at night.", "en")]
    kept = grounding.terms("Work stress kept her from switching off at night.", "en")
    assert grounding.support(kept, switched).supported  # the words agree; the model reads it


def test_the_language_of_a_text_is_told_by_its_commonest_words():
    assert grounding.detect_language("Eu não consigo dormir, e isso é muito difícil.") == "pt-br"
    assert grounding.detect_language("I can't sleep and that is what worries me.") == "en"
    assert grounding.detect_language("Clara Luz") is None


def _flags(items: list[dict], ask: int) -> tuple[float, float]:
    """Precision and recall of the flag (a statement not supported) on labelled items, as
    a draft checks its statements (`tera.drafting.ground_sentences`), the model reading up
    to `ask` of each item's statements."""
    tp = fp = fn = 0
    for item in items:
        lines = [
            Line(n, n, *line.split(": ", 1)) if ": " in line else Line(n, n, "", line)
            for n, line in enumerate(item["lines"], start=1)
        ]
        checked = ground_sentences([item["statement"]], lines, "", item["language"], ask=ask)
        flagged = not checked[0]["supported"]
        truly = not item["supported"]
        tp += flagged and truly
        fp += flagged and not truly
        fn += truly and not flagged
    return tp / (tp + fp), tp / (tp + fn)


def _labelled(language: str) -> list[dict]:
    items = [i for i in json.loads(LABELLED.read_text()) if i["language"] == language]
    assert len(items) == 60 and sum(not i["supported"] for i in items) == 27
    return items


@pytest.mark.parametrize("language", ["en", "pt-br"])
def test_the_word_match_alone_on_the_labelled_set(language, capsys):
    precision, recall = _flags(_labelled(language), ask=0)
    with capsys.disabled():
        print(f"\ngrounding flag, words only, {language}: P {precision:.2f} R {recall:.2f}")
    assert precision >= WORDS_PRECISION and recall >= WORDS_RECALL


@pytest.mark.slow
@pytest.mark.parametrize("language", ["en", "pt-br"])
def test_the_flag_as_drafts_check_on_the_labelled_set(language, default_llm, capsys):
    """The shipped check: the word match, and the default model reading what it cannot
    settle."""
    precision, recall = _flags(_labelled(language), ask=1)
    with capsys.disabled():
        print(f"\ngrounding flag, as drafted, {language}: P {precision:.2f} R {recall:.2f}")
    assert precision >= PRECISION[language] and recall >= RECALL[language]


# Bounds a little below what was measured (2026-12-07, 2 cores; the model at temperature
# 0): words only P 0.45/0.44, R 0.74/0.78 (en/pt-br); as drafted P 0.61/0.70, R 0.81/0.85.
WORDS_PRECISION, WORDS_RECALL = 0.40, 0.70
PRECISION = {"en": 0.58, "pt-br": 0.62}
RECALL = {"en": 0.78, "pt-br": 0.78}
