"""The note assistant: a section (or each section) of a note rewritten as the therapist
asks, checked that it did what was asked before the therapist reviews it.

The quick actions are more than their wording: "Expand" must come back longer with the
facts it had, "Shorten" shorter, "Translate" in the other language with one sentence for
each of the section's (it is shown the section alone, not the transcript), and any answer
that repeats the request instead of rewriting the section (a small model asked to "Rewrite
the plan" once answered exactly that), or hands the section back as it was, is refused. A
refused answer is asked again once with the reason; a second one fails the request, and
the note stays as it was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from tera import drafting, grounding, llm
from tera.drafting import Line
from tera.llm import InvalidAnswer

EXPAND, SHORTEN, DIFFERENTIALS = "expand", "shorten", "differentials"
TRANSLATE = {"translate_pt": "pt-br", "translate_en": "en"}
MIN_GROWTH = 1.15  # "Expand": at least this many times the words
MIN_KEPT = 0.6  # "Expand": at least this share of the section's words still there


@dataclass(frozen=True)
class Request:
    """What the assistant was asked: the therapist's words and, for a quick action, its key
    (`ACTIONS` of sessions.forms)."""

    instruction: str
    action: str = ""

    @property
    def target_language(self) -> str | None:
        return TRANSLATE.get(self.action)


RULES = {
    "en": {
        EXPAND: "Write the section again, longer: keep every statement and add the details "
        "the transcript gives that it leaves out.",
        SHORTEN: "Write the section again, shorter: keep only its essential statements, in "
        "fewer words.",
        DIFFERENTIALS: "Write the section again and add the differential diagnoses to "
        "consider, each resting on what the transcript says.",
        "translate": "Translate the section into {language}, sentence by sentence, without "
        "adding or leaving out anything.",
        "": "Write the section again as the therapist asks. Write the section itself, not "
        "the request.",
    },
    "pt": {
        EXPAND: "Escreva a seção de novo, mais longa: mantenha cada afirmação e acrescente os "
        "detalhes da transcrição que ela deixa de fora.",
        SHORTEN: "Escreva a seção de novo, mais curta: só as afirmações essenciais, em menos "
        "palavras.",
        DIFFERENTIALS: "Escreva a seção de novo e acrescente os diagnósticos diferenciais a "
        "considerar, cada um apoiado no que a transcrição diz.",
        "translate": "Traduza a seção para {language}, frase por frase, sem acrescentar nem "
        "deixar de fora nada.",
        "": "Escreva a seção de novo como o terapeuta pede. Escreva a própria seção, não o pedido.",
    },
}
FRAME = {
    "en": 'The section "{title}" of the note reads now:\n{current}\n\n'
    "The therapist asks: {instruction}\n{rule}",
    "pt": 'A seção "{title}" da nota diz agora:\n{current}\n\n'
    "O terapeuta pede: {instruction}\n{rule}",
}
TARGET_NAMES = {
    "en": {"en": "English", "pt-br": "Brazilian Portuguese"},
    "pt": {"en": "inglês", "pt-br": "português do Brasil"},
}


def section_messages(
    context: str,
    section: Mapping[str, Any],
    request: Request,
    language: str,
) -> llm.Messages:
    """Ask for one section anew. The frame is in the language the answer is to be written
    in (the target of a translation)."""
    target = request.target_language or language
    lang = grounding.base_language(target)
    words = drafting.wording(target)
    rules = RULES[lang]
    rule = rules.get(request.action, rules[""])
    if request.target_language:
        rule = rules["translate"].format(language=TARGET_NAMES[lang][target])
    current = "\n".join(f"- {s['text']}" for s in section["statements"]) or words.empty
    ask = FRAME[lang].format(
        title=section["title"], current=current, instruction=request.instruction, rule=rule
    )
    return [
        {"role": "system", "content": words.system},
        {"role": "user", "content": context + ask},
    ]


def _words(texts: Sequence[str]) -> int:
    return sum(len(t.split()) for t in texts)


def _said(texts: Sequence[str], language: str) -> tuple[frozenset[str], frozenset[float]]:
    """What sentences say, as their stems and numbers (not their punctuation)."""
    said = grounding.terms(" ".join(texts), language)
    return said.stems, said.numbers


def check(
    sentences: list[str], before: Sequence[str], request: Request, language: str
) -> list[str]:
    """The answer, if it does what was asked; InvalidAnswer saying what is wrong if not."""
    target = request.target_language or language
    asked = grounding.terms(request.instruction, target)
    if before and not sentences:
        raise InvalidAnswer("the section came back empty")
    for sentence in sentences:
        said = grounding.terms(sentence, target)
        if said.stems and said.stems <= asked.stems:
            raise InvalidAnswer(
                "it repeats the request instead of writing the section: write the section"
            )
    if not request.action and before and _said(before, target) == _said(sentences, target):
        raise InvalidAnswer("it is the section as it was: change it as the therapist asks")
    if request.action == EXPAND:
        if _words(sentences) < _words(before) * MIN_GROWTH:
            raise InvalidAnswer("it is not longer than the section: add the missing details")
        had = grounding.terms(" ".join(before), language).stems
        has = grounding.terms(" ".join(sentences), language).stems
        if had and len(had & has) < MIN_KEPT * len(had):
            raise InvalidAnswer("it leaves out statements of the section: keep every one")
    if request.action == SHORTEN and before and _words(sentences) >= _words(before):
        raise InvalidAnswer("it is not shorter than the section: use fewer words")
    if request.target_language:
        said_in = grounding.detect_language(" ".join(sentences))
        if said_in is not None and said_in != request.target_language:
            raise InvalidAnswer(
                f"it is not in {TARGET_NAMES['en'][request.target_language]}: translate it"
            )
        if len(sentences) != len(before):
            raise InvalidAnswer(
                f"it has {len(sentences)} sentences and the section {len(before)}: "
                "translate each sentence of the section, one for one, and add none"
            )
    return sentences


def rewrite(
    *,
    sections: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    request: Request,
    lines: Sequence[Line],
    quick_notes: str,
    language: str,
    on_progress: drafting.Progress | None = None,
) -> tuple[list[dict[str, Any]], llm.Stats]:
    """The sections named by `keys`, rewritten and grounded, in the note's order."""
    report = on_progress or (lambda stage, done, total: None)
    target = request.target_language or language
    # A translation reads the section alone: shown the transcript, the small model wrote
    # what the session said instead of translating the section.
    context = (
        "" if request.target_language else drafting.context_message(lines, quick_notes, language)
    )
    spoken = drafting.spoken_sentences(lines)
    stats = llm.Stats()
    chosen = [s for s in sections if s["key"] in keys]
    written: list[grounding.Terms] = []
    out = []
    for number, section in enumerate(chosen):
        report("writing", number, len(chosen))
        before = [s["text"] for s in section["statements"]]

        def checked(answer: dict[str, Any], before: list[str] = before) -> list[str]:
            return check(drafting.sentences_of(answer), before, request, language)

        sentences, used = llm.ask_json(
            section_messages(context, section, request, language),
            drafting.sentences_schema(),
            checked,
            stop=drafting.repeating("sentences"),
            repair=drafting.salvage("sentences"),
        )
        stats.add(used)
        kept = drafting.clean_sentences(sentences, section, target, written, spoken)
        if request.target_language and len(kept) == len(section["statements"]):
            # A translation keeps each statement's sources and verdict, in order.
            statements = [
                {**old, "text": text, "origin": old.get("origin", "ai")}
                for old, text in zip(section["statements"], kept, strict=True)
            ]
        else:
            statements = drafting.ground_sentences(
                kept, lines, quick_notes, target, ask=settings.LLM_JUDGE_MAX
            )
        out.append({**section, "statements": statements})
    return out, stats
